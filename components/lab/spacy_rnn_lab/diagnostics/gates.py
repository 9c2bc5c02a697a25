"""Claim 4, the gates: heatmaps of the input, forget and output gates and the cell state of a
trained LSTM, token by token over a text, read with `GatedLSTM` (the same weights, the same
arithmetic as nn.LSTM; the JSON records the largest difference from the model's own states).

Works with a pipeline holding an `torch_lm` (the LSTM reads the word embeddings) or a tagger,
recognizer or classifier whose encoder is an `RNNEncoder` with cell "lstm" (the LSTM reads the
encoder's word + vector + character features, captured with a forward hook on one doc).
"""
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from .gated_lstm import GatedLSTM
from .output import new_figure, save

SHOWN = ("input", "forget", "output", "cell")


def lm_traces(nlp, pipe, text: str) -> Tuple[List[str], Dict, float]:
    """(labels of the tokens read, GatedLSTM traces, max |difference| from nn.LSTM's outputs)
    for an torch_lm pipe: the stream starts with <eos>, so each column is the state after
    reading that token."""
    ids, _ = pipe.doc_stream(nlp(text), end_with_eos=False)
    net = pipe.net.eval()
    with torch.no_grad():
        embedded = net.embed(torch.as_tensor([ids]))
        expected, _ = net.rnn(embedded)
        outputs, _, traces = GatedLSTM.from_lstm(net.rnn)(embedded)
    labels = [pipe.lm_vocab.words[i] for i in ids]
    return labels, traces, float((outputs - expected).abs().max())


def capture_encoder(nlp, pipe, text: str):
    """(doc, inputs, outputs): `nlp(text)` and, captured with forward hooks while `pipe` read it,
    the input features FloatTensor[W, T, I] of its net's RNNEncoder and its outputs
    FloatTensor[W, T, D] (the doc's first window is row 0)."""
    from spacy_rnn.layers import get_torch_net

    encoder = get_torch_net(pipe.model).encoder
    captured = {}
    hooks = [
        encoder.input_dropout.register_forward_hook(lambda m, args, out: captured.__setitem__("inputs", out)),
        encoder.register_forward_hook(lambda m, args, out: captured.__setitem__("outputs", out)),
    ]
    try:
        doc = nlp(text)
    finally:
        for hook in hooks:
            hook.remove()
    return doc, captured["inputs"], captured["outputs"]


def encoder_traces(nlp, pipe, text: str) -> Tuple[List[str], Dict, float]:
    """The same for a pipe whose net has an RNNEncoder `encoder` with an LSTM, reading the
    features the encoder computed for the text (one window: texts up to its window_size)."""
    from spacy_rnn.layers import get_torch_net

    doc, inputs, expected = capture_encoder(nlp, pipe, text)
    n = len(doc)
    with torch.no_grad():
        outputs, _, traces = GatedLSTM.from_lstm(get_torch_net(pipe.model).encoder.rnn)(inputs[:1, :n])
    return [t.text for t in doc], traces, float((outputs - expected[:1, :n]).abs().max())


def top_units(traces: Dict[str, torch.Tensor], n_units: int) -> torch.Tensor:
    """Indices of the n_units units whose cell state varies most (max - min) over the text."""
    cell = traces["cell"][0]  # [T, H]
    spread = cell.max(dim=0).values - cell.min(dim=0).values
    return spread.argsort(descending=True)[:n_units]


def run(model: Path, text: str, output_dir: Path, *, name: str = "gates", layer: str = "", n_units: int = 24) -> Dict:
    """Read `text` with the first LSTM-bearing pipe of the pipeline at `model`; plot the gates
    and cell state of `layer` (e.g. "l0", "l1_reverse"; default: the last forward layer) for
    the n_units units with the widest cell-state range. Writes {name}.json/.png."""
    import spacy

    nlp = spacy.load(model)
    pipe_name, pipe = next((n, p) for n, p in nlp.pipeline if hasattr(p, "model") and hasattr(p.model, "attrs"))
    read = lm_traces if hasattr(pipe, "lm_vocab") else encoder_traces
    labels, all_traces, difference = read(nlp, pipe, text)
    layer = layer or [key for key in all_traces if not key.endswith("_reverse")][-1]
    traces = all_traces[layer]
    units = top_units(traces, n_units)
    results = {
        "claim": "the gates", "model": str(model), "pipe": pipe_name, "text": text, "layer": layer, "tokens": labels,
        "units": units.tolist(), "max_abs_difference_from_nn_lstm": difference,
        "mean_over_units": {key: traces[key][0].mean(dim=1).tolist() for key in SHOWN},
        "shown": {key: traces[key][0][:, units].T.tolist() for key in SHOWN},
    }
    fig, axes = new_figure(len(SHOWN), width=max(8, 0.32 * len(labels)), height=2.4, vertical=True)
    for row, (ax, key) in enumerate(zip(axes, SHOWN)):
        values = traces[key][0][:, units].T.numpy()
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r" if key == "cell" else "viridis",
                          vmin=-abs(values).max() if key == "cell" else 0, vmax=abs(values).max() if key == "cell" else 1)
        ax.set(ylabel=f"{key}\n(unit)", yticks=[])
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels if row == len(SHOWN) - 1 else [], rotation=90, fontsize=8)
        fig.colorbar(image, ax=ax, pad=0.01)
    fig.suptitle(f"{pipe_name} {layer}: {n_units} units with the widest cell-state range (max |GatedLSTM - nn.LSTM| = {difference:.1e})", fontsize=10)
    save(results, fig, output_dir, name)
    return results
