"""An LSTM that shows its gates: the same arithmetic as `torch.nn.LSTM`, one time step at a
time, returning the input, forget and output gates, the candidate and the cell state of every
step. Pure PyTorch: no spaCy import. Slower than nn.LSTM; meant for looking, not for training.

`GatedLSTM.from_lstm(lstm)` copies a trained nn.LSTM's weights (the parameter names are the
same), so what the gates show is what the trained model computes (tested against nn.LSTM,
forward and gradients).
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

GATES = ("input", "forget", "candidate", "output")  # nn.LSTM's order of the 4H gate rows
TRACES = GATES + ("cell", "hidden")


class GatedLSTM(nn.Module):
    """A batch-first, multi-layer, optionally bidirectional LSTM without dropout or projections.

    forward(inputs FloatTensor[B, T, I], state=None) -> (outputs, (h_n, c_n), traces):
      outputs FloatTensor[B, T, H * directions], as nn.LSTM(batch_first=True) returns them;
      h_n, c_n FloatTensor[layers * directions, B, H] (nn.LSTM's order);
      traces: {"l{layer}" or "l{layer}_reverse": {name: FloatTensor[B, T, H]}} for name in
      TRACES, indexed by the token position (the reverse direction's step for token t is
      stored at t). All sequences are read to their full length T: no padding.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self.suffixes:
                self.register_parameter(f"weight_ih_l{layer}{suffix}", nn.Parameter(torch.empty(4 * hidden_size, width)))
                self.register_parameter(f"weight_hh_l{layer}{suffix}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
                self.register_parameter(f"bias_ih_l{layer}{suffix}", nn.Parameter(torch.zeros(4 * hidden_size)))
                self.register_parameter(f"bias_hh_l{layer}{suffix}", nn.Parameter(torch.zeros(4 * hidden_size)))
        bound = hidden_size**-0.5
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def suffixes(self) -> Tuple[str, ...]:
        return ("", "_reverse")[: self.directions]

    @classmethod
    def from_lstm(cls, lstm: nn.LSTM) -> "GatedLSTM":
        """A GatedLSTM with a copy of `lstm`'s weights (which must be batch-first, biased and
        without projections); it computes what `lstm.eval()` computes."""
        if not lstm.batch_first or not lstm.bias or lstm.proj_size:
            raise ValueError("GatedLSTM.from_lstm needs a batch_first nn.LSTM with biases and no projections")
        gated = cls(lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional)
        gated.load_state_dict(lstm.state_dict())
        return gated.to(next(lstm.parameters()).device)

    def forward(
        self, inputs: torch.Tensor, state: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
    ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor], Dict[str, Dict[str, torch.Tensor]]]:
        batch = inputs.shape[0]
        if state is None:
            zeros = inputs.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
            state = (zeros, zeros)
        outputs, finals_h, finals_c, traces = inputs, [], [], {}
        for layer in range(self.num_layers):
            directions = []
            for d, suffix in enumerate(self.suffixes):
                index = layer * self.directions + d
                steps, h, c, traces[f"l{layer}{suffix}"] = self._run(outputs, layer, suffix, state[0][index], state[1][index])
                directions.append(steps)
                finals_h.append(h)
                finals_c.append(c)
            outputs = torch.cat(directions, dim=-1)
        return outputs, (torch.stack(finals_h), torch.stack(finals_c)), traces

    def _run(
        self, inputs: torch.Tensor, layer: int, suffix: str, h: torch.Tensor, c: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """One layer and direction (suffix "" or "_reverse") over inputs [B, T, I] from the
        state h, c [B, H]: (hidden [B, T, H], h_n, c_n, traces)."""
        reverse = suffix == "_reverse"
        w_ih, w_hh = getattr(self, f"weight_ih_l{layer}{suffix}"), getattr(self, f"weight_hh_l{layer}{suffix}")
        bias = getattr(self, f"bias_ih_l{layer}{suffix}") + getattr(self, f"bias_hh_l{layer}{suffix}")
        projected = inputs @ w_ih.T + bias  # [B, T, 4H]: the input's share of every step's gates
        order = range(inputs.shape[1] - 1, -1, -1) if reverse else range(inputs.shape[1])
        records: Dict[str, List[torch.Tensor]] = {key: [] for key in TRACES}
        for t in order:
            i, f, g, o = (projected[:, t] + h @ w_hh.T).chunk(4, dim=-1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            for key, value in zip(TRACES, (i, f, g, o, c, h)):
                records[key].append(value)
        if reverse:
            records = {key: values[::-1] for key, values in records.items()}
        traces = {key: torch.stack(values, dim=1) for key, values in records.items()}
        return traces["hidden"], h, c, traces
