"""A word-level recurrent language model (Zaremba et al. 2014; tied weights as in Press & Wolf
2017 and Inan et al. 2017). Pure PyTorch: no spaCy import."""
from dataclasses import asdict, dataclass, fields
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn

from .encoder import RNN_CELLS, check_settings
from .registry import register_net

State = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class LanguageModelSettings:
    """Hyper-parameters of `LanguageModelNet` (the vocabulary size comes separately).

    cell: "lstm", "gru" or "rnn" (tanh); embed_width-wide embeddings, depth layers of
    hidden_width units. tied: the decoder reuses the embedding matrix (needs embed_width ==
    hidden_width). Dropout on the embeddings, between layers and on the outputs.
    """

    embed_width: int = 400
    hidden_width: int = 400
    depth: int = 2
    cell: str = "lstm"
    tied: bool = True
    embed_dropout: float = 0.4
    layer_dropout: float = 0.4
    output_dropout: float = 0.4

    def __post_init__(self) -> None:
        check_settings(self, ("embed_width", "hidden_width", "depth"))
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
    `hparams` ({"n_words", **settings}, flat as saved since the first release) rebuilds the
    module before its state dict is loaded.
    """

    def __init__(self, settings: LanguageModelSettings, *, n_words: int):
        super().__init__()
        self.settings = settings
        self.hparams = {"n_words": n_words, **asdict(settings)}
        self.embed = nn.Embedding(n_words, settings.embed_width)
        self.embed_dropout = nn.Dropout(settings.embed_dropout)
        self.rnn = RNN_CELLS[settings.cell](
            settings.embed_width,
            settings.hidden_width,
            settings.depth,
            batch_first=True,
            dropout=settings.layer_dropout if settings.depth > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(settings.output_dropout)
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
        embedded = self.embed_dropout(self.embed(ids.to(self.embed.weight.device)))
        outputs, state = self.rnn(embedded, state)
        return self.decoder(self.output_dropout(outputs)), state


def detach_state(state: State) -> State:
    """Cut the graph behind a state: truncated BPTT carries values, not gradients, across chunks."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()

