"""Synthetic long-range tasks, a small recurrent model and a guarded training loop, shared by
the vanishing-gradient, exploding-gradient and long-range diagnostics. Pure PyTorch.

The adding problem (Hochreiter & Schmidhuber 1997, as set up by Le et al. 2015): two channels,
T values drawn from U(0, 1) and a marker that is 1 at two positions (one in each half); the
target is the sum of the two marked values. Always answering 1 gives MSE = Var(u1 + u2) = 1/6.

The copy (recall) task (Arjovsky et al. 2016): n_copy symbols from n_symbols, `delay` blanks,
a delimiter, then the model must output the n_copy symbols; it is scored on those positions.
Guessing gives accuracy 1 / n_symbols.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from spacy_rnn.errors import check_diverged
from spacy_rnn.models.cells import CELLS

ADDING_BASELINE_MSE = 1 / 6


def adding_batch(batch_size: int, length: int, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """(inputs FloatTensor[B, T, 2], targets FloatTensor[B]): channel 0 the values, channel 1
    the two markers (one in each half of the sequence)."""
    values = torch.rand(batch_size, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, length)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(dim=1)


def copy_batch(
    batch_size: int, delay: int, generator: torch.Generator, n_symbols: int = 8, n_copy: int = 5
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(inputs FloatTensor[B, T, n_symbols + 2] one-hot, targets LongTensor[B, T]) with
    T = delay + 2 * n_copy; symbol ids 1..n_symbols, 0 the blank, n_symbols + 1 the delimiter.
    targets are the blank except at the last n_copy positions, which hold the copied symbols."""
    length = delay + 2 * n_copy
    symbols = torch.randint(1, n_symbols + 1, (batch_size, n_copy), generator=generator)
    ids = torch.zeros(batch_size, length, dtype=torch.long)
    ids[:, :n_copy] = symbols
    ids[:, length - n_copy - 1] = n_symbols + 1
    targets = torch.zeros(batch_size, length, dtype=torch.long)
    targets[:, -n_copy:] = symbols
    return F.one_hot(ids, n_symbols + 2).float(), targets


class SequenceModel(nn.Module):
    """One recurrent layer (cell "rnn" (tanh), "gru" or "lstm") and a linear readout.

    forward(inputs FloatTensor[B, T, I]) -> FloatTensor[B, T, n_outputs], the readout of
    every step's hidden state.
    """

    def __init__(self, cell: str, n_inputs: int, hidden_width: int, n_outputs: int):
        super().__init__()
        self.cell = cell
        self.rnn = CELLS[cell].module(n_inputs, hidden_width, batch_first=True)
        self.readout = nn.Linear(hidden_width, n_outputs)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.rnn(inputs)[0])


def adding_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MSE of the last step's output against the sum."""
    return F.mse_loss(model(inputs)[:, -1, 0], targets)


def copy_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every step (blanks included, as in Arjovsky et al. 2016)."""
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def copy_accuracy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, n_copy: int = 5) -> float:
    """Accuracy on the n_copy recalled symbols."""
    predicted = model(inputs)[:, -n_copy:].argmax(dim=-1)
    return float((predicted == targets[:, -n_copy:]).float().mean())


@dataclass
class TrainingSettings:
    """steps: the most updates; learning_rate; optimizer "adam" or "sgd"; clip: the global L2
    norm gradients are clipped to (None: no clipping); eval_every: updates between
    evaluations on the held-out batch; checkpoint: where the last good weights are saved
    (a state dict, at each evaluation that beats the best score so far), or None."""

    steps: int = 1000
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    clip: Optional[float] = 1.0
    eval_every: int = 50
    checkpoint: Optional[Path] = None


def train_sequence_model(
    model: nn.Module,
    batches: Callable[[], Tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    evaluate: Callable[[nn.Module], float],
    settings: TrainingSettings,
    solved: Callable[[float], bool] = lambda score: False,
    curve: Optional[List[Dict[str, float]]] = None,
) -> Dict[str, object]:
    """Train until `solved(evaluate(model))` or settings.steps updates; a lower score is better.
    Every update checks the loss and the gradient norm: a non-finite one raises
    `spacy_rnn.errors.TrainingDiverged` naming the update (counted from 1) and the last good
    checkpoint (the best finite score so far), which is left as it was.

    Returns {"curve": [{"step", "loss", "grad_norm", "score"}] at each evaluation (score =
    evaluate(model)), "steps_to_solve": the first evaluated update where solved, else None}.
    `curve`, when given, is the list the points are appended to (kept when training diverges).
    """
    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    optimizer = optimizers[settings.optimizer](model.parameters(), lr=settings.learning_rate)
    curve = [] if curve is None else curve
    last_good, best = "none saved yet", math.inf
    for step in range(1, settings.steps + 1):
        model.train()
        loss = loss_fn(model, *batches())
        optimizer.zero_grad()
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(model.parameters(), settings.clip or math.inf))
        value = loss.item()
        # No loss is too large here: the exploding-gradient diagnostic watches the loss grow.
        check_diverged("", step, loss=value, grad_norm=norm, max_loss=math.inf, note=f"; last good checkpoint: {last_good}")
        optimizer.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            model.eval()
            with torch.no_grad():
                score = evaluate(model)
            curve.append({"step": step, "loss": value, "grad_norm": norm, "score": score})
            if settings.checkpoint is not None and score < best:
                best = score
                settings.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save(model.state_dict(), settings.checkpoint)
                last_good = f"{settings.checkpoint} (update {step})"
            if solved(score):
                return {"curve": curve, "steps_to_solve": step}
    return {"curve": curve, "steps_to_solve": None}
