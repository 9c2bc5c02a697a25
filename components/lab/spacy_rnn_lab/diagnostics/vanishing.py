"""Claim 1, vanishing gradients: the norm of dJ_T/dh_t against the distance T - t for a tanh
RNN, a GRU and an LSTM of the same width, at initialisation and after training on the adding
problem, with the fitted decay factor per step (Bengio et al. 1994; Pascanu et al. 2013)."""
import math
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy
import torch
from torch import nn

from spacy_rnn.models.cells import CELLS

from .output import new_figure, save, seed_everything
from .tasks import SequenceModel, TrainingSettings, adding_batch, adding_loss, train_sequence_model

Step = Callable[[torch.Tensor, object], Tuple[torch.Tensor, object]]


def hidden_gradient_norms(step: Step, inputs: torch.Tensor, state, loss_of_last: Callable[[torch.Tensor], torch.Tensor]) -> numpy.ndarray:
    """Unroll `step(x_t FloatTensor[B, I], state) -> (h_t, state)` over inputs
    FloatTensor[B, T, I], where h_t FloatTensor[..., B, H] is the hidden state as the next step
    reads it (part of `state`), and return float64[T]: entry t - 1 is the mean over the batch of
    ||dJ/dh_t||_2 for t = 1..T, where J = loss_of_last(h_T) summed over the batch (so each
    sequence's gradient is its own). dJ/dh_t is the total derivative through h_t only (for an
    LSTM, the cell state is held fixed)."""
    hiddens: List[torch.Tensor] = []
    for t in range(inputs.shape[1]):
        hidden, state = step(inputs[:, t], state)
        hidden.retain_grad() if hidden.requires_grad else hidden.requires_grad_()  # the latter: a leaf
        hiddens.append(hidden)
    loss_of_last(hiddens[-1]).sum().backward()
    return numpy.array([float(h.grad.norm(dim=-1).mean()) for h in hiddens])


def module_step(rnn: nn.Module) -> Step:
    """A `Step` that runs a one-layer batch-first nn.RNN/GRU/LSTM one time step at a time, so
    each step's hidden state (FloatTensor[1, B, H]) is a tensor in the graph."""

    def step(x: torch.Tensor, state):
        _, state = rnn(x.unsqueeze(1), state)
        return (state[0] if isinstance(state, tuple) else state), state

    return step


def fit_decay(norms: Sequence[float]) -> Dict[str, float]:
    """Least-squares fit of log ||dJ/dh_t|| = a + b (T - t) over the finite, non-zero norms:
    {"factor_per_step": exp(b), "log10_per_step": b / ln 10}. A factor < 1 is a decay."""
    distances = numpy.arange(len(norms))[::-1].astype(float)
    norms = numpy.asarray(norms, dtype=float)
    keep = numpy.isfinite(norms) & (norms > 0)
    slope = numpy.polyfit(distances[keep], numpy.log(norms[keep]), 1)[0]
    return {"factor_per_step": float(math.exp(slope)), "log10_per_step": float(slope / math.log(10))}


def measure(model: SequenceModel, inputs: torch.Tensor, targets: torch.Tensor) -> numpy.ndarray:
    """hidden_gradient_norms of the adding-problem loss (squared error of the last step)."""
    model.eval()
    return hidden_gradient_norms(
        module_step(model.rnn), inputs, None, lambda h: (model.readout(h[0])[:, 0] - targets) ** 2
    )


def run(
    output_dir: Path, *, seed: int = 0, length: int = 100, hidden_width: int = 32, train_steps: int = 1500,
    batch_size: int = 32, learning_rate: float = 0.01, cells: Sequence[str] = ("rnn", "gru", "lstm"),
) -> Dict:
    """Measure each cell at initialisation, train it on the adding problem of `length` until
    solved (held-out MSE < 0.01) or `train_steps` Adam updates (clipped to norm 1), measure
    again; write vanishing.json/.png."""
    results: Dict = {"claim": "vanishing gradients", "seed": seed, "length": length, "hidden_width": hidden_width,
                     "train_steps": train_steps, "cells": {}}
    probe = adding_batch(64, length, torch.Generator().manual_seed(seed + 1000))
    for cell in cells:
        generator = seed_everything(seed)
        model = SequenceModel(cell, 2, hidden_width, 1)
        entry = {"init": measure(model, *probe).tolist()}
        held_out = adding_batch(256, length, torch.Generator().manual_seed(seed + 2000))
        trained = train_sequence_model(
            model, lambda: adding_batch(batch_size, length, generator), adding_loss,
            lambda m: float(adding_loss(m, *held_out)),
            TrainingSettings(steps=train_steps, learning_rate=learning_rate, eval_every=max(1, min(50, train_steps // 10))),
            solved=lambda mse: mse < 0.01,
        )
        entry["updates"] = trained["curve"][-1]["step"]
        entry["trained"] = measure(model, *probe).tolist()
        entry["held_out_mse"] = trained["curve"][-1]["score"]
        entry["fit"] = {when: fit_decay(entry[when]) for when in ("init", "trained")}
        results["cells"][cell] = entry
    fig, axes = new_figure(2)
    for ax, when in zip(axes, ("init", "trained")):
        for cell, entry in results["cells"].items():
            norms = entry[when]
            factor = entry["fit"][when]["factor_per_step"]
            label = f"{CELLS[cell].title}: x{factor:.3f}/step"
            if when == "trained":
                label += f" ({entry['updates']} updates, MSE {entry['held_out_mse']:.3f})"
            ax.semilogy(range(len(norms))[::-1], norms, label=label)
        ax.set_title(f"{'at initialisation' if when == 'init' else 'after training'} (T = {length})")
        ax.set_xlabel("distance T - t (steps)")
        ax.set_ylabel("mean ||dJ_T / dh_t||")
        ax.legend()
    save(results, fig, output_dir, "vanishing")
    return results
