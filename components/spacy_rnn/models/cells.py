"""The recurrent cell types, in one table: what the configs name ("lstm", "gru", "rnn") and what
each place needs to know about a cell. Pure PyTorch: no spaCy import."""
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple, Type

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

    def run_layer(self, inputs: torch.Tensor, hx, weights: List[torch.Tensor], training: bool) -> Tuple[torch.Tensor, ...]:
        """One layer, one direction of this cell over batch-first inputs FloatTensor[B, T, I] from
        the state hx (h0 FloatTensor[1, B, H]; the LSTM's (h0, c0)), with `weights` [weight_ih,
        weight_hh, bias_ih, bias_hh] (nn.LSTM/GRU/RNN's names): (outputs FloatTensor[B, T, H],
        h_n), and c_n for the LSTM.

        `function` (`torch.lstm`/`gru`/`rnn_tanh`, the ops nn.LSTM/GRU/RNN's forward runs) is
        undocumented, and this is the only place that calls it. The modules run every layer and
        direction over the same input, but `RNNEncoder.run_padded` reverses each window within
        its length between directions and `regularisers.run_layers` applies dropout between
        layers; the public way to run given weights, `torch.func.functional_call` on a one-layer
        module, gives the same values but adds about 0.1 ms a call (torch 2.13, CPU), several
        calls a batch. The arguments are named as in the ops' schema in torch's
        native_functions.yaml (lstm.input, gru.input, rnn_tanh.input), the same throughout torch
        2.x: known to work with torch 2.13 (the tests' machine), within the project's bounds
        torch>=2.2,<2.14.
        """
        return self.function(
            input=inputs, hx=hx, params=weights, has_biases=True, num_layers=1, dropout=0.0, train=training,
            bidirectional=False, batch_first=True,
        )


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
