"""The truncated-BPTT training loop of a `LanguageModelNet` (pure PyTorch: no spaCy import,
so it also runs where only torch is installed).

The schedule follows Zaremba et al. (2014) and pytorch/examples word_language_model: SGD (or
Adam) with global gradient-norm clipping; after every evaluation on the dev stream the
learning rate is divided by `anneal_factor` when the dev perplexity did not improve; training
stops after `patience` evaluations in a row without improvement, after `max_epochs`, or when
`max_minutes` have passed. Every evaluation is appended to output_dir/training_log.jsonl as it
happens, with the training loss, throughput and gradient norms logged in between.
"""
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Sequence

import numpy
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.language_model import LanguageModelNet, detach_state
from .batching import batchify, bptt_chunks, n_chunks
from .scoring import stream_log_probs


@dataclass
class LMTrainingSettings:
    """The [lm_training] section of a language-model config."""

    batch_size: int = 20
    bptt: int = 35
    optimizer: str = "sgd"
    learning_rate: float = 20.0
    anneal_factor: float = 4.0
    patience: int = 3
    max_epochs: int = 40
    max_minutes: float = 0.0
    evals_per_epoch: int = 1
    log_every: int = 200
    mixed_precision: str = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"lm_training.optimizer must be 'sgd' or 'adam', not {self.optimizer!r}")
        if self.mixed_precision not in ("none", "bf16"):
            raise ValueError(f"lm_training.mixed_precision must be 'none' or 'bf16', not {self.mixed_precision!r}")


def stream_perplexity(net: LanguageModelNet, stream: Sequence[int], window_size: int) -> float:
    """exp(mean NLL) of stream[1:] given everything before, read as one sequence."""
    log_probs = stream_log_probs(net, [stream], window_size, 1)[0]
    return math.exp(-float(log_probs.mean()))


def fit_language_model(
    net: LanguageModelNet,
    train_stream: torch.Tensor,
    dev_stream: Sequence[int],
    settings: LMTrainingSettings,
    output_dir: Path,
    *,
    max_grad_norm: float,
    window_size: int,
    on_improve: Callable[[], None],
    device: str = "cpu",
) -> Dict:
    """Train `net` on train_stream (LongTensor[N]: the token ids, starting with an <eos>
    context), evaluating the perplexity of dev_stream[1:] `evals_per_epoch` times an epoch;
    `on_improve()` is called after each new best (to save a checkpoint). Returns the record:
    settings, timings, stop reason and every evaluation."""
    random.seed(settings.seed)
    numpy.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    net.to(device)
    rows = batchify(train_stream, settings.batch_size).to(device)
    chunks_per_epoch = n_chunks(rows, settings.bptt)
    eval_points = {round(chunks_per_epoch * (i + 1) / settings.evals_per_epoch) for i in range(settings.evals_per_epoch)}
    if settings.optimizer == "sgd":
        optimizer = torch.optim.SGD(net.parameters(), lr=settings.learning_rate)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = output_dir / "training_log.jsonl"
    log_path.write_text("")
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=settings.mixed_precision == "bf16")
    record: Dict = {
        "settings": asdict(settings),
        "n_parameters": sum(p.numel() for p in net.parameters()),
        "train_tokens": len(train_stream) - 1,
        "dev_tokens": len(dev_stream) - 1,
        "device": str(device),
        "output_dir": str(output_dir),
        "evaluations": [],
    }
    best_ppl, bad_evals, step, tokens_seen = math.inf, 0, 0, 0
    start = time.perf_counter()
    deadline = start + settings.max_minutes * 60 if settings.max_minutes else math.inf
    window_loss, window_tokens, window_start, grad_norms = 0.0, 0, start, []
    stop_reason = "max_epochs"

    def log(entry: Dict) -> None:
        with log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    for epoch in range(1, settings.max_epochs + 1):
        net.train()
        state = None
        progress = tqdm(bptt_chunks(rows, settings.bptt), total=chunks_per_epoch, desc=f"epoch {epoch}", leave=False)
        for chunk_index, (inputs, targets) in enumerate(progress, 1):
            with autocast:
                logits, state = net(inputs, state)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            grad_norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), max_grad_norm)))
            optimizer.step()
            state = detach_state(state)
            step += 1
            n = targets.numel()
            tokens_seen += n
            window_loss += float(loss.detach()) * n
            window_tokens += n
            if step % settings.log_every == 0:
                now = time.perf_counter()
                entry = {
                    "type": "train",
                    "step": step,
                    "epoch": epoch,
                    "tokens": tokens_seen,
                    "minutes": (now - start) / 60,
                    "loss": window_loss / window_tokens,
                    "perplexity": math.exp(window_loss / window_tokens),
                    "tokens_per_second": window_tokens / (now - window_start),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                    "grad_norm_mean": float(numpy.mean(grad_norms)),
                    "grad_norm_max": float(numpy.max(grad_norms)),
                    "clip": max_grad_norm,
                }
                log(entry)
                progress.set_postfix(ppl=f"{entry['perplexity']:.1f}", tok_s=f"{entry['tokens_per_second']:.0f}")
                window_loss, window_tokens, window_start, grad_norms = 0.0, 0, now, []
            out_of_time = time.perf_counter() > deadline
            if chunk_index in eval_points or out_of_time:
                dev_ppl = stream_perplexity(net, dev_stream, window_size)
                improved = dev_ppl < best_ppl
                entry = {
                    "type": "eval",
                    "step": step,
                    "epoch": epoch,
                    "tokens": tokens_seen,
                    "minutes": (time.perf_counter() - start) / 60,
                    "dev_perplexity": dev_ppl,
                    "learning_rate": optimizer.param_groups[0]["lr"],
                    "improved": improved,
                }
                if improved:
                    best_ppl, bad_evals = dev_ppl, 0
                    on_improve()
                else:
                    bad_evals += 1
                    for group in optimizer.param_groups:
                        group["lr"] /= settings.anneal_factor
                log(entry)
                record["evaluations"].append(entry)
                tqdm.write(
                    f"epoch {epoch} step {step}: dev perplexity {dev_ppl:.2f} (best {best_ppl:.2f}), "
                    f"lr {entry['learning_rate']:g}, {entry['minutes']:.1f} min"
                )
                net.train()
                if out_of_time:
                    stop_reason = "max_minutes"
                    break
                if bad_evals >= settings.patience:
                    stop_reason = "patience"
                    break
        progress.close()
        if stop_reason != "max_epochs":
            break
    record.update(
        best_dev_perplexity=best_ppl,
        train_minutes=(time.perf_counter() - start) / 60,
        steps=step,
        epochs=epoch,
        tokens_seen=tokens_seen,
        tokens_per_second=tokens_seen / (time.perf_counter() - start),
        stop_reason=stop_reason,
    )
    return record
