"""Errors the package raises on purpose (no spaCy or torch import, so every layer can use them)."""
import math
from typing import Iterable, Optional

# A training loss above this (per token, or per document for the classifier, where a uniform
# guess costs a few units) means the weights have exploded: training stops instead of saving.
EXPLODED_LOSS = 1e3


class TrainingDiverged(RuntimeError):
    """A loss, gradient norm, weight or dev score became non-finite, or a loss exploded. The
    message names the step; the checkpoints saved before it are kept."""


def first_line(err: BaseException) -> str:
    """The first non-blank line of an exception's message (or its type's name)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def diverged(where: str, step: int, problem: str) -> TrainingDiverged:
    return TrainingDiverged(
        f"{where}training diverged at update {step}: {problem}. Training stopped; the checkpoints saved "
        f"before this step are kept. Lower the learning rate (or max_grad_norm) and train again."
    )


def check_diverged(
    where: str,
    step: int,
    *,
    loss: Optional[float] = None,
    grad_norm: Optional[float] = None,
    weights: Optional[Iterable] = None,
    max_loss: float = EXPLODED_LOSS,
    note: str = "",
) -> None:
    """The divergence guard of every training loop: raise `TrainingDiverged` (`diverged(where,
    step, ...)`, `note` added to the problem) when the loss is not finite or above max_loss (the
    weights exploded), else when the gradient norm is not finite, else when a tensor of
    `weights` (torch tensors) has a non-finite value. What is left None is not checked."""
    if loss is not None and (not math.isfinite(loss) or loss > max_loss):
        problem = f"the loss is {loss:g}"
    elif grad_norm is not None and not math.isfinite(grad_norm):
        problem = f"the gradient norm is {grad_norm:g}"
    elif weights is not None and not all(bool(tensor.isfinite().all()) for tensor in weights):
        problem = "the weights became non-finite"
    else:
        return
    raise diverged(where, step, problem + note)


def damaged_file(problem: str) -> str:
    """The end of the message for a damaged file of a saved pipeline ('<file>: ' goes before)."""
    return f"the file is damaged ({problem}): copy the pipeline again or train it again."
