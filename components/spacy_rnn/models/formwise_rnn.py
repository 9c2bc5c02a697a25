"""An inference-only copy of a trained (Bi)LSTM/GRU/RNN whose first layer's input projection runs
once per distinct word form of a batch instead of once per token.

In `RNNEncoder` the first layer's input is a function of the word form (its embedding, static
vector and character features; dropout is off at inference), and its input projection
(W_ih x + b_ih for every gate and direction) is most of the recurrent layers' multiply-adds:
74% for the recognizer's one 200-unit layer over 584 input features. A batch of sentences has
about one distinct form per four tokens, so projecting the forms and indexing the result by
token does a quarter of that work and gives the same states (float tolerance).

Pure PyTorch; `spacy_rnn.inference` builds it from a loaded pipeline's `RNNEncoder.rnn`.
"""
from typing import List, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .cells import CELLS, cell_of


class FormwiseRNN(nn.Module):
    """The states of a batch_first nn.LSTM, nn.GRU or tanh nn.RNN (`source`), with its first
    layer's input projection computed on the distinct forms.

    forward(form_inputs FloatTensor[U, D], form_index LongTensor[W, T], lengths LongTensor[W])
    -> FloatTensor[W, T, directions * H]: the states `source` gives over the packed windows whose
    token t of window w has the input row form_index[w, t] (zeros at padding). For prediction
    only (no dropout between layers); the weights are copies, so `source` may be discarded.

    Parts (each an nn.Linear or a cell of `source`'s type, so `quantize_dynamic` converts them):
    input_projection: D -> directions * G * H (first layer, both directions, bias b_ih + b_hh;
    GRU: b_ih);
    recurrent[d]: H -> G * H (first layer's hidden-to-hidden weights of direction d, no bias;
    GRU: b_hh);
    upper: the layers above the first, or None for a one-layer RNN.
    LSTM gate rows are reordered to (input, forget, output, candidate) and the candidate's rows
    doubled (`reorder`), so one sigmoid gives all four gates: tanh(x) = 2 sigmoid(2x) - 1.
    """

    def __init__(self, source: nn.RNNBase):
        super().__init__()
        if not source.batch_first or not source.bias or getattr(source, "proj_size", 0):
            raise ValueError("FormwiseRNN copies batch_first recurrent layers with biases and no projection")
        self.cell = cell_of(source).name
        self.hidden_size = source.hidden_size
        self.directions = 1 + source.bidirectional
        suffixes = ("", "_reverse")[: self.directions]
        first = {
            name: [self.reorder(getattr(source, f"{name}_l0{suffix}").detach()) for suffix in suffixes]
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        # b_hh is added to the input projection's bias, except for the GRU, whose reset gate
        # multiplies the candidate's b_hh.
        fold_bias = self.cell != "gru"
        if fold_bias:
            first["bias_ih"] = [b_ih + b_hh for b_ih, b_hh in zip(first["bias_ih"], first["bias_hh"])]
        width = CELLS[self.cell].gates * self.hidden_size
        self.input_projection = nn.Linear(source.input_size, self.directions * width)
        self.recurrent = nn.ModuleList(nn.Linear(self.hidden_size, width, bias=not fold_bias) for _ in suffixes)
        with torch.no_grad():
            self.input_projection.weight.copy_(torch.cat(first["weight_ih"]))
            self.input_projection.bias.copy_(torch.cat(first["bias_ih"]))
            for direction, linear in enumerate(self.recurrent):
                linear.weight.copy_(first["weight_hh"][direction])
                if not fold_bias:
                    linear.bias.copy_(first["bias_hh"][direction])
        self.upper = None
        if source.num_layers > 1:
            self.upper = type(source)(
                self.directions * self.hidden_size,
                self.hidden_size,
                num_layers=source.num_layers - 1,
                bidirectional=source.bidirectional,
                batch_first=True,
            )
            state = source.state_dict()
            self.upper.load_state_dict({
                f"{name}_l{layer - 1}{suffix}": state[f"{name}_l{layer}{suffix}"]
                for layer in range(1, source.num_layers)
                for suffix in suffixes
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            })
        self.eval()

    @torch.no_grad()
    def forward(self, form_inputs: torch.Tensor, form_index: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n_windows, n_steps = form_index.shape
        projected = self.input_projection(form_inputs).float()  # [U, directions * G * H]
        width = projected.shape[-1] // self.directions
        lengths = lengths.cpu()
        order = torch.argsort(lengths, descending=True, stable=True)  # windows still running at step t come first
        batch_sizes = (lengths.unsqueeze(0) > torch.arange(n_steps).unsqueeze(1)).sum(dim=1).tolist()
        outputs = projected.new_zeros((n_windows, n_steps, self.directions * self.hidden_size))
        for direction in range(self.directions):
            gates = projected[:, direction * width : (direction + 1) * width].contiguous()
            self.run_direction(gates, form_index, lengths, order, batch_sizes, direction, outputs)
        if self.upper is not None:
            packed = pack_padded_sequence(outputs, lengths, batch_first=True, enforce_sorted=False)
            outputs = pad_packed_sequence(self.upper(packed)[0], batch_first=True, total_length=n_steps)[0]
        return outputs

    def run_direction(
        self, gates: torch.Tensor, form_index: torch.Tensor, lengths: torch.Tensor, order: torch.Tensor, batch_sizes: List[int], direction: int, outputs: torch.Tensor
    ) -> None:
        """Write one direction's states into outputs[:, :, direction * H : (direction + 1) * H]
        from the forms' input projections FloatTensor[U, G * H]. Windows run in `order`
        (longest first), so the windows still running at step t are the first batch_sizes[t],
        as in a PackedSequence; the backward direction (direction 1) reads each window from its
        last real token. Only real tokens are gathered and written, each once, in the packed
        (time-major) order; each step gathers its own inputs (one gather of all of them is
        slower: it leaves the cache before it is read)."""
        device = gates.device
        order = order.to(device)
        steps = torch.arange(form_index.shape[1], device=device)
        sorted_lengths = lengths.to(device)[order]
        positions = (sorted_lengths.unsqueeze(1) - 1 - steps).clamp(min=0) if direction else steps.expand(len(order), -1)
        running = (steps.unsqueeze(1) < sorted_lengths).flatten()  # time-major [T * W]
        windows = order.expand(len(steps), -1).flatten()[running]
        positions = positions.t().flatten()[running]
        forms = form_index[windows, positions]  # [N] the form read at each (step, window), packed
        recurrent = self.recurrent[direction]
        hidden = gates.new_zeros((len(order), self.hidden_size))
        cell = hidden
        states, offset = [], 0
        for size in batch_sizes:
            if size == 0:
                break
            from_input = gates.index_select(0, forms[offset : offset + size])
            hidden, cell = self.step(from_input, recurrent, hidden[:size], cell[:size])
            states.append(hidden)
            offset += size
        outputs[windows, positions, direction * self.hidden_size : (direction + 1) * self.hidden_size] = torch.cat(states)

    def step(self, from_input: torch.Tensor, recurrent: nn.Module, hidden: torch.Tensor, cell: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One time step of the cell: (hidden, cell) FloatTensor[B, H] each (cell unused and
        returned as hidden for GRU and RNN), from the gates' input part [B, G * H] and the
        direction's `recurrent` layer. torch's CPU tanh is several times slower than its sigmoid,
        so the LSTM computes it as 2 sigmoid(2x) - 1."""
        if self.cell == "gru":
            from_hidden = recurrent(hidden).float()
            input_r, input_z, input_n = from_input.chunk(3, dim=1)
            hidden_r, hidden_z, hidden_n = from_hidden.chunk(3, dim=1)
            reset, update = torch.sigmoid(input_r + hidden_r), torch.sigmoid(input_z + hidden_z)
            new = torch.tanh(input_n + reset * hidden_n)
            hidden = (1 - update) * new + update * hidden
            return hidden, hidden
        if isinstance(recurrent, nn.Linear):  # float weights: one fused multiply-add
            gates = torch.addmm(from_input, hidden, recurrent.weight.t()).float()
        else:  # a quantised layer
            gates = from_input + recurrent(hidden).float()
        if self.cell == "lstm":
            input_gate, forget, output, candidate = torch.sigmoid(gates).split(self.hidden_size, dim=1)
            # f c + i tanh(x) = f c + 2 i sigmoid(2x) - i, the candidate's rows being doubled
            cell = torch.addcmul(forget * cell, input_gate, candidate, value=2).sub_(input_gate)
            return torch.addcmul(output.neg(), output, torch.sigmoid(cell * 2), value=2), cell
        hidden = torch.tanh(gates)
        return hidden, hidden

    def reorder(self, rows: torch.Tensor) -> torch.Tensor:
        """A first-layer weight or bias [G * H, ...] in this module's gate order: for the LSTM,
        (input, forget, output, candidate) with the candidate's rows doubled; unchanged else."""
        if self.cell != "lstm":
            return rows
        input_gate, forget, candidate, output = rows.split(self.hidden_size)
        return torch.cat([input_gate, forget, output, 2 * candidate])


def first_occurrences(form_index: torch.Tensor, lengths: torch.Tensor, n_forms: int) -> torch.Tensor:
    """LongTensor[U]: for each form u < n_forms, a position in the flattened [W * T] grid of a
    real (not padding) token whose form is u. Every form must occur in a real position."""
    real = torch.arange(form_index.shape[1]).unsqueeze(0) < lengths.cpu().unsqueeze(1)
    real = real.to(form_index.device).flatten()
    positions = torch.arange(form_index.numel(), device=form_index.device)[real]
    first = torch.full((n_forms,), -1, dtype=torch.long, device=form_index.device)
    first.scatter_reduce_(0, form_index.flatten()[real], positions, reduce="amin", include_self=False)
    if bool((first < 0).any()):
        raise ValueError("a form of the batch occurs at no real token position")
    return first
