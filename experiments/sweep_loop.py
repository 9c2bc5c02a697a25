"""The training loop both GPU sweeps share (`experiments/ner/gpu_sweeps`, `experiments/sentiment/sst_pooling_gpu_sweep`):
a pure-torch stand-in for spaCy's loop with the project's settings, run where spaCy is not
installed. Adam with thinc's `warmup_linear` schedule, global gradient clipping, optional
thinc-style parameter averaging (evaluated with the averages), dev/test every `eval_every`
steps and a wall-clock cap."""
import time
from typing import Callable, Dict, Iterable, Tuple

import torch


def train_and_evaluate(
    name: str,
    net: torch.nn.Module,
    batches: Iterable,
    loss_of: Callable[[object], torch.Tensor],
    dev_and_test: Callable[[], Tuple[float, float]],
    *,
    steps: int,
    lr: float,
    warmup: int,
    eval_every: int,
    average: bool,
    max_minutes: float,
    max_grad_norm: float = 5.0,
) -> Dict:
    """Train on `batches` until `steps` or `max_minutes`; returns the best dev score, the test
    score at that evaluation, its step, the steps done, minutes and the evaluation log."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    averages = {n: torch.zeros_like(p) for n, p in net.named_parameters()} if average else None
    start, step, best, log = time.time(), 0, (-1.0, 0.0, 0), []
    for batch in batches:
        step += 1
        factor = step / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss = loss_of(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)
        opt.step()
        if averages is not None:  # thinc's Ops.update_averages
            decay = min((1 + step) / (10 + step), 0.9999)
            with torch.no_grad():
                for n, p in net.named_parameters():
                    averages[n] -= (1 - decay) * (averages[n] - p)
        timeout = (time.time() - start) / 60 > max_minutes
        if step % eval_every == 0 or step >= steps or timeout:
            backup = {n: p.detach().clone() for n, p in net.named_parameters()}
            with torch.no_grad():
                for n, p in net.named_parameters():
                    p.copy_(averages[n] if averages is not None else p)
            net.eval()
            with torch.no_grad():
                dev, test = dev_and_test()
            net.train()
            with torch.no_grad():
                for n, p in net.named_parameters():
                    p.copy_(backup[n])
            log.append({"step": step, "dev": round(dev, 2), "test": round(test, 2), "min": round((time.time() - start) / 60, 2)})
            print(name, log[-1], flush=True)
            if dev > best[0]:
                best = (dev, test, step)
        if step >= steps or timeout:
            break
    return {"name": name, "best_dev": round(best[0], 2), "test_at_best": round(best[1], 2), "best_step": best[2],
            "steps_done": step, "minutes": round((time.time() - start) / 60, 2), "log": log}
