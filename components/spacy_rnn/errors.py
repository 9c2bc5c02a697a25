"""Errors the package raises on purpose (no spaCy or torch import, so every layer can use them)."""

# A training loss above this (per token, or per document for the classifier, where a uniform
# guess costs a few units) means the weights have exploded: training stops instead of saving.
EXPLODED_LOSS = 1e3


class TrainingDiverged(RuntimeError):
    """A loss, gradient norm, weight or dev score became non-finite, or a loss exploded. The
    message names the step; the checkpoints saved before it are kept."""


def diverged(where: str, step: int, problem: str) -> TrainingDiverged:
    return TrainingDiverged(
        f"{where}training diverged at update {step}: {problem}. Training stopped; the checkpoints saved "
        f"before this step are kept. Lower the learning rate (or max_grad_norm) and train again."
    )


def damaged_file(problem: str) -> str:
    """The end of the message for a damaged file of a saved pipeline ('<file>: ' goes before)."""
    return f"the file is damaged ({problem}): copy the pipeline again or train it again."
