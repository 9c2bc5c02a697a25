"""The recurrent cell types, in one table: what the configs name ("lstm", "gru", "rnn") and what
each place needs to know about a cell. Pure PyTorch: no spaCy import."""
from dataclasses import dataclass
from typing import Callable, Dict, Type

import torch
from torch import nn


@dataclass(frozen=True)
class Cell:
    """name: the configs' `cell` setting; title: how reports name it; module: the torch module
    (batch_first, multi-layer, optionally bidirectional); mode: that module's `mode` attribute;
    function: one layer and direction of it, torch.lstm/gru/rnn_tanh(input, hx, params,
    has_biases, num_layers, dropout, train, bidirectional, batch_first) -> (outputs, *final
    state); gates: the rows per hidden unit of its weights (W_ih is [gates * H, I]);
    quantizable: whether dynamic int8 quantisation (`spacy_rnn.inference`) converts the module."""

    name: str
    title: str
    module: Type[nn.RNNBase]
    mode: str
    function: Callable
    gates: int
    quantizable: bool


CELLS: Dict[str, Cell] = {
    cell.name: cell
    for cell in (
        Cell("lstm", "LSTM", nn.LSTM, "LSTM", torch.lstm, gates=4, quantizable=True),
        Cell("gru", "GRU", nn.GRU, "GRU", torch.gru, gates=3, quantizable=True),
        Cell("rnn", "tanh RNN", nn.RNN, "RNN_TANH", torch.rnn_tanh, gates=1, quantizable=False),
    )
}


def cell_of(rnn: nn.RNNBase) -> Cell:
    """The cell of an nn.LSTM, nn.GRU or tanh nn.RNN; ValueError for another (a ReLU nn.RNN)."""
    for cell in CELLS.values():
        if cell.mode == rnn.mode:
            return cell
    raise ValueError(f"no recurrent cell of mode {rnn.mode} (the cells: {sorted(CELLS)})")
