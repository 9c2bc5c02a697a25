"""Seconds per stage of one pass of a pipeline: tokenizer, each component, and inside our
components the encoder's parts (word embedding, character CNN, the recurrent layers) and the
decoding (CRF Viterbi, entity confidences), timed by wrapping the torch modules' forward passes."""
import time
from collections import Counter
from contextlib import contextmanager
from functools import partial
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from spacy_rnn.models.cells import cell_of

class StageTimer:
    """Seconds spent per stage, summed over calls."""

    def __init__(self):
        self.seconds: Counter = Counter()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def wrap(self, function: Callable, stage: str) -> Callable:
        def timed(*args, **kwargs):
            with self(stage):
                return function(*args, **kwargs)

        return timed


class _TimedModel:
    """A component's thinc model whose `predict` is timed; everything else is the model's."""

    def __init__(self, model, timer: StageTimer, stage: str):
        self._model = model
        self.predict = timer.wrap(model.predict, stage)

    def __getattr__(self, name):
        return getattr(self._model, name)


# Modules of the encoder (`spacy_rnn.models.encoder.RNNEncoder`) timed on their own.
ENCODER_PARTS = {"word_embed": "encoder: word embedding", "char_cnn": "encoder: character CNN", "rnn": "encoder: LSTM"}


# Methods of the recognizer's net (`spacy_rnn.models.ner.EntityTaggerNet`) its predict calls.
DECODING_METHODS = {"decode": "decoding: CRF Viterbi", "span_probabilities": "decoding: entity confidences"}


def profile_stages(nlp, texts: Sequence[str], batch_size: int) -> Dict:
    """Where one pass over the texts spends its time (call with one torch thread): the tokenizer,
    then per torch component: featurizing and batching (its model's predict outside the torch
    module), the torch module's parts (forward hooks), decoding (predict after the model: argmax
    and softmax; for a recognizer CRF Viterbi and confidences) and set_annotations; "other" is
    the rest of the pass. Also the distinct word forms per token in the module's batches.
    """
    import torch

    from spacy_rnn.inference import torch_components
    from spacy_rnn.layers import get_inference_net, get_torch_net

    timer = StageTimer()
    counts: Counter = Counter()
    handles, undo = [], []

    def time_module(module: torch.nn.Module, stage: str) -> None:
        starts: List[float] = []
        handles.append(module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter())))
        handles.append(module.register_forward_hook(lambda *_: timer.seconds.update({stage: time.perf_counter() - starts.pop()})))

    def count_forms(_module, args) -> None:
        counts["tokens"] += int(args[0].lengths.sum())
        counts["forms"] += int(args[0].char_ids.shape[0])

    def time_method(obj, method: str, stage: str) -> None:
        setattr(obj, method, timer.wrap(getattr(obj, method), stage))
        undo.append(partial(delattr, obj, method))

    names = torch_components(nlp)
    for name in names:
        pipe = nlp.get_pipe(name)
        net = get_inference_net(pipe.model)  # the module prediction runs
        time_module(net, f"{name}: torch module")
        encoder = getattr(net, "encoder", None)
        # the encoder reads one batch per call (a text classifier's module gets all its batches at once)
        handles.append((encoder or net).register_forward_pre_hook(count_forms))
        for part, stage in ENCODER_PARTS.items():
            if getattr(encoder, part, None) is not None:
                time_module(getattr(encoder, part), f"{name}: {stage}")
        if hasattr(encoder, "run_padded"):  # the float recurrent layers run unpacked, without calling encoder.rnn
            time_method(encoder, "run_padded", f"{name}: {ENCODER_PARTS['rnn']}")
        for head in getattr(net, "heads", {}).values():
            time_module(head, f"{name}: head (linear)")
        trained = get_torch_net(pipe.model)  # decoding reads the trained module's CRF
        for method, stage in DECODING_METHODS.items():
            if hasattr(trained, method):
                time_method(trained, method, f"{name}: {stage}")
        time_method(pipe, "predict", f"{name}: predict")
        time_method(pipe, "set_annotations", f"{name}: set_annotations")
        undo.append(partial(setattr, pipe, "model", pipe.model))
        pipe.model = _TimedModel(pipe.model, timer, f"{name}: model.predict")
    try:
        with timer("total"):
            with timer("tokenizer"):
                docs = [nlp.make_doc(text) for text in texts]
            n_words = sum(len(doc) for doc in nlp.pipe(docs, batch_size=batch_size))
    finally:
        for handle in handles:
            handle.remove()
        for restore in reversed(undo):
            restore()
    return {
        "n_words": n_words,
        "distinct_forms_per_token": round(counts["forms"] / max(counts["tokens"], 1), 3),
        "input_projection_share": input_projection_share(get_torch_net(nlp.get_pipe(names[0]).model)) if names else None,
        "stages": stage_table(timer.seconds, names),
    }


def stage_table(seconds: Dict[str, float], components: Sequence[str]) -> Dict[str, float]:
    """Exclusive seconds per stage from the nested timings of `profile_stages`: each enclosing
    timing minus what its parts account for (in insertion order: tokenizer, then per component
    featurize + batching, the module's parts, its other operations, decoding, set_annotations),
    and "other" for the rest of the total."""
    table = {"tokenizer": seconds["tokenizer"]}
    for name in components:
        module = seconds[f"{name}: torch module"]
        parts = {stage: seconds[f"{name}: {stage}"] for stage in (*ENCODER_PARTS.values(), "head (linear)") if f"{name}: {stage}" in seconds}
        decoding = {stage: seconds[f"{name}: {stage}"] for stage in DECODING_METHODS.values() if f"{name}: {stage}" in seconds}
        table[f"{name}: featurize + batching"] = seconds[f"{name}: model.predict"] - module
        table.update({f"{name}: {stage}": value for stage, value in parts.items()})
        table[f"{name}: encoder: other (concatenation, packing)"] = module - sum(parts.values())
        table.update({f"{name}: {stage}": value for stage, value in decoding.items()})
        table[f"{name}: decoding: other (argmax, softmax, spans)"] = seconds[f"{name}: predict"] - seconds[f"{name}: model.predict"] - sum(decoding.values())
        table[f"{name}: set_annotations"] = seconds[f"{name}: set_annotations"]
    table["other (spaCy's pipe loop)"] = seconds["total"] - sum(table.values())
    return {stage: round(value, 4) for stage, value in table.items()}


def input_projection_share(net) -> Optional[float]:
    """The share of the recurrent layers' multiply-adds per token spent on the first layer's
    input projection (what computing it once per distinct word form would cut); None without a
    float nn.LSTM/GRU/RNN encoder (the trained module has one)."""
    rnn = getattr(getattr(net, "encoder", None), "rnn", None)
    if not hasattr(rnn, "mode"):
        return None
    gates, hidden, directions = cell_of(rnn).gates, rnn.hidden_size, 1 + rnn.bidirectional
    first = gates * hidden * rnn.input_size
    per_direction = first + gates * hidden * hidden + (rnn.num_layers - 1) * gates * hidden * (directions * hidden + hidden)
    return round(first / per_direction, 3)
