"""What every torch-backed component shares: the training step and global gradient clipping."""
from collections import deque
from typing import Callable, Deque, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from spacy.pipeline import TrainablePipe
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Model, Optimizer, xp2torch

from ..layers import fit_vocabularies, get_torch_net

IGNORE_INDEX = -100


class TorchPipe(TrainablePipe):
    """A TrainablePipe whose model is a `TorchSequenceModel` or `TorchDocModel` (outputs are torch tensors).

    Subclasses implement predict, set_annotations and get_loss(examples, outputs) ->
    (loss, d_outputs). Gradients are clipped to a global L2 norm of `cfg["max_grad_norm"]`
    before the optimizer step. The norms before clipping of the last MAX_KEPT_NORMS steps are
    kept in `grad_norms` (the training logger drains them into the training log).
    """

    MAX_KEPT_NORMS = 100_000

    def __init__(
        self, vocab: Vocab, model: Model, name: str, *, labels, max_grad_norm: float, scorer: Optional[Callable]
    ):
        """labels: the empty label container of the subclass (filled by initialize)."""
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": labels, "max_grad_norm": max_grad_norm}

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch. Dropout rates are part of the model config; `drop` is unused."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        loss = self.accumulate_gradients(examples)
        if loss is None:
            return losses
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def accumulate_gradients(self, examples: List[Example]) -> Optional[float]:
        """Add the batch's loss gradients to the torch module's parameters and return the loss;
        None when the batch holds nothing to learn from (e.g. only empty docs)."""
        docs = [eg.predicted for eg in examples]
        if not any(len(doc) for doc in docs):
            return None
        outputs, backprop = self.model.begin_update(docs)
        loss, d_outputs = self.get_loss(examples, outputs)
        backprop(d_outputs)
        return loss

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        return list(self.cfg["labels"])

    def finish_update(self, sgd: Optimizer) -> None:
        net = get_torch_net(self.model)
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), self.cfg["max_grad_norm"])
        if not hasattr(self, "grad_norms"):
            self.grad_norms: Deque[float] = deque(maxlen=self.MAX_KEPT_NORMS)
        self.grad_norms.append(float(norm))
        self.model.finish_update(sgd)

    def use_params(self, params: Dict):
        """Use averaged weights (thinc's `optimizer.averages`, with `use_averages = true`) until
        the generator is resumed, as spaCy's `Language.use_params` drives it when its training
        loop evaluates or saves a checkpoint (a generator, like `TrainablePipe.use_params`).
        thinc's PyTorchShim.use_params expects string keys and so would ignore the optimizer's
        (shim id, parameter name) keys; this reads them."""
        shim_id = self.model.shims[0].id
        net_params = dict(get_torch_net(self.model).named_parameters())
        averaged = {name: params[(shim_id, name)] for name in net_params if (shim_id, name) in params}
        if not averaged:
            yield
            return
        backup = {name: net_params[name].detach().clone() for name in averaged}
        with torch.no_grad():
            for name, value in averaged.items():
                net_params[name].copy_(xp2torch(value).reshape(net_params[name].shape))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, value in backup.items():
                    net_params[name].copy_(value)

    def fit_model(self, docs: List, heads: Dict[str, int]) -> None:
        """Fit the word/char vocabularies to the training docs and build the torch module."""
        vectors = self.vocab.vectors
        if vectors.mode != "default":
            raise ValueError(f"[{self.name}] only 'default' vectors are supported, not {vectors.mode!r}")
        fit_vocabularies(self.model, docs, vectors_width=vectors.shape[1] if vectors.shape[0] else 0)
        self.model.attrs["heads"] = dict(heads)
        self.model.initialize()

    def drain_grad_norms(self) -> List[float]:
        """The gradient norms recorded since the last call, oldest first."""
        norms = list(getattr(self, "grad_norms", []))
        self.grad_norms = deque(maxlen=self.MAX_KEPT_NORMS)
        return norms


def softmax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> Tuple[float, torch.Tensor]:
    """Mean cross-entropy over targets != IGNORE_INDEX, and its gradient w.r.t. the logits.

    logits: FloatTensor[N, C] (unnormalised); targets: LongTensor[N].
    """
    leaf = logits.detach().requires_grad_()
    n_targets = int((targets != IGNORE_INDEX).sum())
    if n_targets == 0:
        return 0.0, torch.zeros_like(logits)
    loss = F.cross_entropy(leaf, targets.to(leaf.device), ignore_index=IGNORE_INDEX, reduction="sum")
    loss = loss / n_targets
    loss.backward()
    return float(loss.detach()), leaf.grad
