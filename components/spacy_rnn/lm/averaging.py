"""NT-ASGD (Merity et al. 2018): SGD until the dev perplexity stops improving, then averaged SGD,
whose model is the mean of the weights since the switch. Pure PyTorch: no spaCy import."""
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
from torch import nn


class IterateAverage:
    """The running mean of a module's parameters after each optimizer step since the switch.

    `observe(dev_perplexity)` after each evaluation switches averaging on, once, when the dev
    perplexity is worse than the best of the evaluations before the last `nonmono` ones (the
    non-monotone trigger of Merity et al.'s code); nonmono=None never switches; `start()`
    switches it on at once (e.g. when a time budget is running out). From then on
    `update()` after each step adds the parameters to the mean (averaged SGD with a constant
    rate is SGD whose model is this mean), `swapped_in()` lends the mean to the module (for
    evaluation and saving) and `load()` keeps it there. Before the switch all are no-ops.
    """

    def __init__(self, net: nn.Module, nonmono: Optional[int]):
        self.params = list(net.parameters())
        self.nonmono = nonmono
        self.history: List[float] = []
        self.mean: Optional[List[torch.Tensor]] = None
        self.n_steps = 0

    @property
    def active(self) -> bool:
        return self.mean is not None

    def observe(self, dev_perplexity: float) -> bool:
        """Record an evaluation; return True when it switches averaging on."""
        earlier = self.history[: -self.nonmono] if self.nonmono is not None else []
        self.history.append(dev_perplexity)
        if not earlier or dev_perplexity <= min(earlier):
            return False
        return self.start()

    def start(self) -> bool:
        """Switch averaging on now; return True when it switches (False if it already had)."""
        if self.active:
            return False
        self.mean = [torch.zeros_like(param) for param in self.params]
        return True

    @torch.no_grad()
    def update(self) -> None:
        """Add the parameters' current values to the mean."""
        if not self.active:
            return
        self.n_steps += 1
        for mean, param in zip(self.mean, self.params):
            mean.add_(param - mean, alpha=1 / self.n_steps)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The module holds the mean inside the block (once at least one step was averaged) and
        its own weights again after it."""
        if not self.n_steps:
            yield
            return
        with torch.no_grad():
            own = [param.detach().clone() for param in self.params]
            self.load()
        try:
            yield
        finally:
            with torch.no_grad():
                for param, value in zip(self.params, own):
                    param.copy_(value)

    @torch.no_grad()
    def load(self) -> None:
        """Copy the mean into the parameters (no-op before the first averaged step)."""
        if not self.n_steps:
            return
        for param, mean in zip(self.params, self.mean):
            param.copy_(mean)
