"""A word-level recurrent language model (Zaremba et al. 2014; tied weights as in Press & Wolf
2017 and Inan et al. 2017). Pure PyTorch: no spaCy import."""
from dataclasses import asdict, dataclass, fields
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from .cells import CELLS
from .encoder import check_settings
from .registry import register_net
from .regularisers import LockedDropout, State, check_rate, embedding_dropout, run_layers


@dataclass(frozen=True)
class LanguageModelSettings:
    """Hyper-parameters of `LanguageModelNet` (the vocabulary size comes separately).

    cell: "lstm", "gru" or "rnn" (tanh); embed_width-wide embeddings, depth layers of
    hidden_width units. tied: the decoder reuses the embedding matrix (needs embed_width ==
    hidden_width). Dropout on the embeddings, between layers and on the outputs.

    The AWD-LSTM regularisers (Merity et al. 2018), off by default (and in a model saved
    without them): locked_dropout makes those three dropouts variational (one mask per
    sequence, shared by all its time steps); word_type_dropout drops whole word types from the
    embedding lookup; weight_dropout is DropConnect on every layer's hidden-to-hidden weights.
    All act in training only: in eval mode the module computes what it computes without them.
    """

    embed_width: int = 400
    hidden_width: int = 400
    depth: int = 2
    cell: str = "lstm"
    tied: bool = True
    embed_dropout: float = 0.4
    layer_dropout: float = 0.4
    output_dropout: float = 0.4
    locked_dropout: bool = False
    word_type_dropout: float = 0.0
    weight_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_settings(self, ("embed_width", "hidden_width", "depth"))
        check_rate("word_type_dropout", self.word_type_dropout)
        check_rate("weight_dropout", self.weight_dropout)
        if self.tied and self.embed_width != self.hidden_width:
            raise ValueError(f"tied weights need embed_width == hidden_width ({self.embed_width} != {self.hidden_width})")

    @classmethod
    def take(cls, values: Dict) -> "LanguageModelSettings":
        """The settings among `values` (a dict of these and other settings)."""
        return cls(**{field.name: values[field.name] for field in fields(cls) if field.name in values})


@register_net
class LanguageModelNet(nn.Module):
    """Embedding -> dropout -> multi-layer LSTM/GRU/RNN (dropout between layers) -> dropout ->
    linear decoder whose weight is the embedding matrix when `tied`.

    forward(ids LongTensor[B, T], state) -> (logits FloatTensor[B, T, n_words], state): the
    logits at position t score the token at t + 1; the loss applies the log-softmax.
    state: None (zeros) or what the previous call returned, so a long stream is read in
    consecutive chunks (truncated BPTT detaches it between chunks, see `detach_state`).
    `hidden` gives the last layer's outputs the decoder reads (for the activation penalties).
    With locked_dropout or weight_dropout, training runs the layers one at a time
    (`regularisers.run_layers`) on the same parameters; eval mode always runs `self.rnn`.
    `hparams` ({"n_words", **settings}, flat as saved since the first release) rebuilds the
    module before its state dict is loaded.
    """

    def __init__(self, settings: LanguageModelSettings, *, n_words: int):
        super().__init__()
        self.settings = settings
        self.hparams = {"n_words": n_words, **asdict(settings)}
        dropout = LockedDropout if settings.locked_dropout else nn.Dropout
        self.embed = nn.Embedding(n_words, settings.embed_width)
        self.embed_dropout = dropout(settings.embed_dropout)
        self.rnn = CELLS[settings.cell].module(
            settings.embed_width,
            settings.hidden_width,
            settings.depth,
            batch_first=True,
            dropout=settings.layer_dropout if settings.depth > 1 else 0.0,
        )
        self.layer_dropout = dropout(settings.layer_dropout)  # between layers when run one at a time
        self.output_dropout = dropout(settings.output_dropout)
        self.decoder = nn.Linear(settings.hidden_width, n_words)
        if settings.tied:
            self.decoder.weight = self.embed.weight
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if not settings.tied:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "LanguageModelNet":
        settings = {key: value for key, value in hparams.items() if key != "n_words"}
        return cls(LanguageModelSettings(**settings), n_words=hparams["n_words"])

    def forward(self, ids: torch.Tensor, state: Optional[State] = None) -> Tuple[torch.Tensor, State]:
        _, dropped, state = self.hidden(ids, state)
        return self.decoder(dropped), state

    def hidden(self, ids: torch.Tensor, state: Optional[State] = None) -> Tuple[torch.Tensor, torch.Tensor, State]:
        """(the last layer's outputs FloatTensor[B, T, hidden_width], the same after the output
        dropout, the state) for ids LongTensor[B, T] read from `state`."""
        settings = self.settings
        ids = ids.to(self.embed.weight.device)
        embedded = self.embed_dropout(embedding_dropout(self.embed, ids, settings.word_type_dropout, self.training))
        if self.training and (settings.locked_dropout or settings.weight_dropout > 0):
            outputs, state = run_layers(
                self.rnn, embedded, state, between=self.layer_dropout, weight_dropout=settings.weight_dropout
            )
        else:
            outputs, state = self.rnn(embedded, state)
        return outputs, self.output_dropout(outputs), state


def detach_state(state: State) -> State:
    """Cut the graph behind a state: truncated BPTT carries values, not gradients, across chunks."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()

