"""A sequence encoder, a pooling over the tokens of each document and a linear head over labels.

Pure PyTorch: no spaCy import. A document is read as one or more windows (rows of the
`SequenceBatch`es). Each window is pooled over its *core* tokens (`batch.token_index`: the
tokens it is responsible for; the cores of a document's windows partition it), then the
window summaries of each document are merged. The merge is exact: a long document read in
windows is pooled as if all its token states had been pooled at once.

Poolings, over the token states h_t of a document:
  "last"      forward state at the last token ++ backward state at the first token (the final
              states of both directions; the forward one only when unidirectional): an encoder
              whose states read the window in order (`TokenEncoder.directions` 1 or 2),
  "max"       element-wise max over tokens,
  "mean"      mean over tokens,
  "attention" sum_t softmax_t(w . tanh(W h_t)) h_t (additive attention, one query).
A document without tokens is pooled to the zero vector, so its logits are the head's bias.
"""
from typing import Dict, Iterable, Tuple

import torch
from torch import nn

from .encoder_contract import TokenEncoder, WindowBatch
from .registry import build_net, net_spec, register_net
from .tagger import grow_linear

POOLINGS = ("last", "max", "mean", "attention")


@register_net
class TextClassifierNet(nn.Module):
    """Any `TokenEncoder` (`spacy_rnn.models.encoder_contract`), a pooling (`POOLINGS`) and `nn.Linear` to `n_labels` logits.

    forward(batches, rows, window_docs, n_docs) -> {"cats": FloatTensor[n_docs, n_labels]}
    unnormalised logits (the loss applies the softmax), where the batches hold W windows in
    all, `rows` LongTensor[W] gives the window number of each batch row (batches one after
    another) and `window_docs` LongTensor[W] the document of each window, windows numbered
    in document order. The batches may be a generator: at prediction time only one batch and
    the [W, width] window summaries are in memory at once.
    `hparams` rebuilds the module (encoder included) before its state dict is loaded.
    "last" pooling needs a recurrent encoder (`directions` 1 or 2: the states' halves).
    """

    def __init__(self, encoder: TokenEncoder, n_labels: int, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "last" and not encoder.directions:
            raise ValueError(f"'last' pooling needs a recurrent encoder (one whose states read in order), not {type(encoder).__name__}: use max, mean or attention")
        self.pooling = pooling
        self.encoder = encoder
        width = self.encoder.output_width
        self.attention = None
        if pooling == "attention":
            self.attention = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.output = nn.Linear(width, n_labels)

    @property
    def hparams(self) -> Dict:
        return {"encoder": net_spec(self.encoder), "n_labels": self.output.out_features, "pooling": self.pooling}

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "TextClassifierNet":
        return cls(build_net(hparams["encoder"]), hparams["n_labels"], hparams["pooling"])

    def add_labels(self, n_new: int) -> None:
        """Grow the output layer by n_new labels (see `grow_linear`)."""
        self.output = grow_linear(self.output, n_new)

    def forward(
        self, batches: Iterable[WindowBatch], rows: torch.Tensor, window_docs: torch.Tensor, n_docs: int
    ) -> Dict[str, torch.Tensor]:
        device = self.output.weight.device
        vectors, scores = [], []
        for batch in batches:
            batch = batch.to(device)
            states = self.encoder(batch)
            core = torch.zeros(states.shape[:2], dtype=torch.bool, device=device)
            core.view(-1)[batch.token_index] = True
            window_vectors, window_scores = self.pool_windows(states, core)
            vectors.append(window_vectors)
            scores.append(window_scores)
        if not vectors:
            vectors.append(self.output.weight.new_zeros((0, self.encoder.output_width)))
            scores.append(self.output.weight.new_zeros((0,)))
        order = rows.to(device).argsort()  # concatenated row of each window
        docs = self.pool_docs(torch.cat(vectors)[order], torch.cat(scores)[order], window_docs.to(device), n_docs)
        return {"cats": self.output(docs)}

    def pool_windows(self, states: torch.Tensor, core: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pool each window over its core tokens.

        states: FloatTensor[W, T, width]; core: BoolTensor[W, T], at least one True per row.
        Returns vectors FloatTensor[W, width] and scores FloatTensor[W]: the log of the
        window's weight in the merge (log core length for "mean", log-sum-exp of the attention
        logits for "attention", 0 otherwise).
        """
        mask = core.unsqueeze(-1)
        if self.pooling == "max":
            return states.masked_fill(~mask, float("-inf")).max(dim=1).values, states.new_zeros(len(states))
        if self.pooling == "mean":
            n_core = core.sum(dim=1, keepdim=True).to(states.dtype)
            return (states * mask).sum(dim=1) / n_core, n_core.squeeze(1).log()
        if self.pooling == "attention":
            logits = self.attention(states).squeeze(-1).masked_fill(~core, float("-inf"))
            weights = logits.softmax(dim=1).unsqueeze(-1)
            return (weights * states).sum(dim=1), logits.logsumexp(dim=1)
        rows = torch.arange(len(states), device=states.device)
        first = core.int().argmax(dim=1)
        last = core.shape[1] - 1 - core.flip(1).int().argmax(dim=1)
        vectors = states[rows, last]
        if self.encoder.directions == 2:
            half = self.encoder.output_width // 2
            vectors = torch.cat([vectors[:, :half], states[rows, first, half:]], dim=1)
        return vectors, states.new_zeros(len(states))

    def pool_docs(self, vectors: torch.Tensor, scores: torch.Tensor, window_docs: torch.Tensor, n_docs: int) -> torch.Tensor:
        """Merge window summaries (`pool_windows`, windows in document order) into
        FloatTensor[n_docs, width]; documents without windows get zeros."""
        pooled = vectors.new_zeros((n_docs, vectors.shape[1]))
        if not len(vectors):
            return pooled
        if self.pooling == "max":
            index = window_docs.unsqueeze(1).expand_as(vectors)
            return pooled.scatter_reduce(0, index, vectors, reduce="amax", include_self=False)
        if self.pooling in ("mean", "attention"):
            # Softmax of the window scores within each document: window weights summing to 1.
            top = scores.new_full((n_docs,), float("-inf")).scatter_reduce(0, window_docs, scores.detach(), reduce="amax")
            exp = (scores - top[window_docs]).exp()
            total = scores.new_zeros((n_docs,)).index_add(0, window_docs, exp)
            return pooled.index_add(0, window_docs, vectors * (exp / total[window_docs]).unsqueeze(1))
        # "last": the forward half from a document's last window, the backward half from its first.
        starts = window_docs[1:] != window_docs[:-1]
        is_first = torch.cat([starts.new_ones(1), starts])
        is_last = torch.cat([starts, starts.new_ones(1)])
        docs = vectors[is_last]
        if self.encoder.directions == 2:
            half = self.encoder.output_width // 2
            docs = torch.cat([docs[:, :half], vectors[is_first, half:]], dim=1)
        return pooled.index_copy(0, window_docs[is_last], docs)
