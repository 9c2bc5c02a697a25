"""A word-level recurrent language model (Zaremba et al. 2014; tied weights as in Press & Wolf
2017 and Inan et al. 2017). Pure PyTorch: no spaCy import."""
from typing import Optional, Tuple, Union

import torch
from torch import nn

from .encoder import RNN_CELLS

State = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


class LanguageModelNet(nn.Module):
    """Embedding -> dropout -> multi-layer LSTM/GRU/RNN (dropout between layers) -> dropout ->
    linear decoder whose weight is the embedding matrix when `tied`.

    forward(ids LongTensor[B, T], state) -> (logits FloatTensor[B, T, n_words], state): the
    logits at position t score the token at t + 1; the loss applies the log-softmax.
    state: None (zeros) or what the previous call returned, so a long stream is read in
    consecutive chunks (truncated BPTT detaches it between chunks, see `detach_state`).
    `hparams` holds every constructor argument, so the module is rebuilt before its state dict
    is loaded.
    """

    def __init__(
        self,
        *,
        n_words: int,
        embed_width: int,
        hidden_width: int,
        depth: int,
        cell: str = "lstm",
        tied: bool = True,
        embed_dropout: float = 0.0,
        layer_dropout: float = 0.0,
        output_dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"cell must be one of {sorted(RNN_CELLS)}, not {cell!r}")
        if tied and embed_width != hidden_width:
            raise ValueError(f"tied weights need embed_width == hidden_width ({embed_width} != {hidden_width})")
        self.hparams = {
            "n_words": n_words,
            "embed_width": embed_width,
            "hidden_width": hidden_width,
            "depth": depth,
            "cell": cell,
            "tied": tied,
            "embed_dropout": embed_dropout,
            "layer_dropout": layer_dropout,
            "output_dropout": output_dropout,
        }
        self.embed = nn.Embedding(n_words, embed_width)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.rnn = RNN_CELLS[cell](
            embed_width, hidden_width, depth, batch_first=True, dropout=layer_dropout if depth > 1 else 0.0
        )
        self.output_dropout = nn.Dropout(output_dropout)
        self.decoder = nn.Linear(hidden_width, n_words)
        if tied:
            self.decoder.weight = self.embed.weight
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if not tied:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, state: Optional[State] = None) -> Tuple[torch.Tensor, State]:
        embedded = self.embed_dropout(self.embed(ids.to(self.embed.weight.device)))
        outputs, state = self.rnn(embedded, state)
        return self.decoder(self.output_dropout(outputs)), state

    def initial_state(self, batch_size: int) -> State:
        """The zero state of the recurrent layers for `batch_size` streams."""
        weight = self.embed.weight
        hidden = weight.new_zeros(self.hparams["depth"], batch_size, self.hparams["hidden_width"])
        return (hidden, hidden.clone()) if self.hparams["cell"] == "lstm" else hidden


def detach_state(state: State) -> State:
    """Cut the graph behind a state: truncated BPTT carries values, not gradients, across chunks."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def select_state(state: State, index: torch.Tensor) -> State:
    """The states of the streams at `index` (LongTensor[B']) along the batch dimension."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)
