"""One truncated-BPTT step of a `LanguageModelNet`, shared by `train-lm` (`lm.trainer`) and the
`torch_lm` component's `spacy train` update (pure PyTorch: no spaCy import)."""
from contextlib import nullcontext
from typing import ContextManager, Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import check_diverged
from ..models.language_model import LanguageModelNet, State, detach_state
from ..models.regularisers import activation_penalty
from .batching import PADDING


def chunk_loss(logits: torch.Tensor, targets: torch.Tensor, n_targets: int) -> torch.Tensor:
    """Cross-entropy of logits FloatTensor[B, T, V] against targets LongTensor[B, T], summed
    over the targets that are not PADDING and divided by n_targets (a scalar tensor). Dividing
    every chunk of a batch by the batch's target count makes the chunks' losses add up to the
    batch's mean loss per token."""
    flat_logits = logits.float().reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1).to(logits.device)
    return F.cross_entropy(flat_logits, flat_targets, ignore_index=PADDING, reduction="sum") / n_targets


def backward_chunk(
    net: LanguageModelNet,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    state: Optional[State],
    n_targets: int,
    autocast: ContextManager = nullcontext(),
    *,
    ar_alpha: float = 0.0,
    tar_beta: float = 0.0,
) -> Tuple[float, State]:
    """Read inputs LongTensor[B, T] from `state`, add the gradients of `chunk_loss` (plus,
    when ar_alpha or tar_beta is set, the chunk's `activation_penalty`) to the parameters'
    .grad, and return (the `chunk_loss`, the state after the chunk, detached)."""
    with autocast:
        outputs, dropped, state = net.hidden(inputs, state)
        logits = net.decoder(dropped)
    loss = chunk_loss(logits, targets, n_targets)
    if ar_alpha or tar_beta:
        (loss + activation_penalty(outputs, dropped, ar_alpha, tar_beta)).backward()
    else:
        loss.backward()
    return float(loss.detach()), detach_state(state)


def train_step(
    net: LanguageModelNet,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    state: Optional[State],
    *,
    max_grad_norm: float,
    autocast: ContextManager = nullcontext(),
    step: int = 0,
    ar_alpha: float = 0.0,
    tar_beta: float = 0.0,
) -> Tuple[float, float, State]:
    """One optimizer step on a chunk (inputs, targets LongTensor[B, T], no padding): the
    gradients of the mean cross-entropy (plus the activation penalties AR and TAR when
    ar_alpha or tar_beta is set), clipped to a global L2 norm of max_grad_norm. Returns (the
    mean cross-entropy per target, the gradient norm before clipping, the detached state to
    carry over).
    Raises `TrainingDiverged` (naming `step`) when the loss, gradient norm or weights are not
    finite or the loss exploded; the weights are not updated from a non-finite gradient."""
    optimizer.zero_grad()
    loss, state = backward_chunk(net, inputs, targets, state, targets.numel(), autocast, ar_alpha=ar_alpha, tar_beta=tar_beta)
    grad_norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm))
    check_diverged("", step, loss=loss, grad_norm=grad_norm)
    optimizer.step()
    check_diverged("", step, weights=net.parameters())
    return loss, grad_norm, state
