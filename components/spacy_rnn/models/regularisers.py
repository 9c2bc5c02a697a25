"""The regularisers of AWD-LSTM (Merity et al. 2018) for `LanguageModelNet`: locked (variational)
dropout, embedding dropout over word types, DropConnect on the hidden-to-hidden weights, and
the activation penalties AR and TAR. Each is the identity (or zero) outside training or at rate
0. Pure PyTorch: no spaCy import."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .cells import cell_of

State = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]  # (h, c) for an LSTM, h otherwise


def check_rate(name: str, p: float) -> None:
    """ValueError unless 0 <= p < 1 (a rate of 1 would scale the kept units by 1/0)."""
    if not 0 <= p < 1:
        raise ValueError(f"{name} must be in [0, 1), not {p}")


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016) of batch-first x FloatTensor[B, T, D]: in
    training, each row b draws one mask over the D units that all T steps share, and the kept
    units are scaled by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        check_rate("a locked dropout rate", p)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def embedding_dropout(embed: nn.Embedding, ids: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """embed(ids) FloatTensor[*ids.shape, E], except that in training each word type's row is
    zeroed with probability p, for all its occurrences in ids at once, and the kept rows are
    scaled by 1 / (1 - p). Only the lookup sees the mask: a decoder tied to embed.weight reads
    the unmasked matrix."""
    if not training or p == 0:
        return embed(ids)
    mask = embed.weight.new_empty(embed.weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return F.embedding(ids, embed.weight * mask, embed.padding_idx)


def drop_connect(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """DropConnect (Wan et al. 2013): in training, `weight` with each entry zeroed with
    probability p and the others scaled by 1 / (1 - p) (a new mask every call, gradients flow
    to `weight`); `weight` itself in eval mode or at p = 0."""
    return F.dropout(weight, p, training) if p > 0 else weight


def run_layers(
    rnn: nn.RNNBase,
    inputs: torch.Tensor,
    state: Optional[State],
    *,
    between: nn.Module,
    weight_dropout: float,
) -> Tuple[torch.Tensor, State]:
    """What `rnn(inputs, state)` computes for a batch-first, one-directional nn.LSTM/GRU/RNN
    with biases, run one layer at a time so that `between` (a dropout module) is applied to a
    layer's outputs before the next layer reads them and, in training, each layer reads its
    hidden-to-hidden weight `weight_hh_l{k}` through `drop_connect` (one mask per call, shared
    by all time steps). The parameters stay those of `rnn`, under their own names.

    inputs FloatTensor[B, T, I]; state as nn.LSTM/GRU/RNN take it (None: zeros).
    Returns (outputs FloatTensor[B, T, H], state) as `rnn` does.
    """
    cell = cell_of(rnn)
    is_lstm = cell.name == "lstm"
    if state is None:
        zeros = inputs.new_zeros(rnn.num_layers, inputs.shape[0], rnn.hidden_size)
        state = (zeros, zeros) if is_lstm else zeros
    outputs, finals = inputs, []
    for layer in range(rnn.num_layers):
        if layer:
            outputs = between(outputs)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = [getattr(rnn, f"{name}_l{layer}") for name in names]
        weights[1] = drop_connect(weights[1], weight_dropout, rnn.training)
        hx = tuple(s[layer : layer + 1] for s in state) if is_lstm else state[layer : layer + 1]
        outputs, *final = cell.run_layer(outputs, hx, weights, rnn.training)
        finals.append(final)
    final_state = [torch.cat(parts) for parts in zip(*finals)]
    return outputs, tuple(final_state) if is_lstm else final_state[0]


def activation_penalty(outputs: torch.Tensor, dropped: torch.Tensor, ar_alpha: float, tar_beta: float) -> torch.Tensor:
    """AR + TAR (Merity et al. 2018) of the last layer's outputs FloatTensor[B, T, H] before
    (`outputs`) and after (`dropped`) the output dropout: ar_alpha * mean(dropped ** 2) +
    tar_beta * mean((outputs[:, t] - outputs[:, t - 1]) ** 2) over t >= 1 (no TAR term for T = 1).
    A scalar float32 tensor."""
    penalty = ar_alpha * dropped.float().pow(2).mean()
    if outputs.shape[1] > 1:
        outputs = outputs.float()
        penalty = penalty + tar_beta * (outputs[:, 1:] - outputs[:, :-1]).pow(2).mean()
    return penalty
