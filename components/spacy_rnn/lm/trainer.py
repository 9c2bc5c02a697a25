"""The truncated-BPTT training loop of a `LanguageModelNet` (pure PyTorch: no spaCy import,
so it also runs where only torch is installed).

The schedule follows Zaremba et al. (2014) and pytorch/examples word_language_model: SGD (or
Adam) with global gradient-norm clipping; after every evaluation on the dev stream the
learning rate is divided by `anneal_factor` when the dev perplexity did not improve; training
stops after `patience` evaluations in a row without improvement, after `max_epochs`, or when
`max_minutes` have passed. Every evaluation is appended to output_dir/training_log.jsonl as it
happens, with the training loss, throughput and gradient norms logged in between.

Two of AWD-LSTM's regularisers (Merity et al. 2018) are training settings: `ar_alpha` and
`tar_beta` add the activation penalties to the loss, and `asgd` (NT-ASGD, `lm.averaging`)
averages the weights from the evaluation when the dev perplexity stops improving on, evaluating
and saving the average. The others are the model's (`LanguageModelSettings`).

The loop is made of `train_step` (lm.step, shared with the component's `spacy train` update),
`DevSchedule` (evaluation and annealing) and `TrainingLog` (log entries and progress).
"""
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy
import torch
from tqdm import tqdm

from ..errors import diverged
from ..models.language_model import LanguageModelNet
from ..precision import MIXED_PRECISIONS, bf16_autocast, use_bf16
from .averaging import IterateAverage
from .batching import batchify, bptt_chunks, n_chunks
from .scoring import stream_log_probs
from .step import train_step


@dataclass
class LMTrainingSettings:
    """The [lm_training] section of a language-model config (batch_size: rows of the training
    stream read in parallel; bptt: tokens per step). ar_alpha, tar_beta: the weights of the
    activation penalties AR and TAR (`models.regularisers.activation_penalty`; 0: off). asgd:
    NT-ASGD, switching to averaged SGD when the dev perplexity is worse than the best one of the
    evaluations before the last `nonmono` (`lm.averaging.IterateAverage`), or at the first
    evaluation after `asgd_start_fraction` of `max_minutes` (0: only the dev trigger): at a
    constant learning rate the dev trigger can come long after a CPU time budget has ended.
    mixed_precision: "auto", "bf16" or "none" (`spacy_rnn.precision.use_bf16`)."""

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
    mixed_precision: str = "auto"
    seed: int = 0
    ar_alpha: float = 0.0
    tar_beta: float = 0.0
    asgd: bool = False
    nonmono: int = 5
    asgd_start_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"lm_training.optimizer must be 'sgd' or 'adam', not {self.optimizer!r}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(f"lm_training.mixed_precision must be one of {MIXED_PRECISIONS}, not {self.mixed_precision!r}")
        if self.ar_alpha < 0 or self.tar_beta < 0:
            raise ValueError(f"lm_training.ar_alpha and tar_beta must be >= 0, not {self.ar_alpha} and {self.tar_beta}")
        if self.asgd and (self.optimizer != "sgd" or self.nonmono < 1):
            raise ValueError(f"lm_training.asgd needs optimizer 'sgd' and nonmono >= 1, not {self.optimizer!r}, {self.nonmono}")
        if not 0 <= self.asgd_start_fraction < 1 or (self.asgd_start_fraction and not (self.asgd and self.max_minutes)):
            raise ValueError(
                f"lm_training.asgd_start_fraction must be in [0, 1) and needs asgd and max_minutes, not {self.asgd_start_fraction}"
            )


def stream_perplexity(net: LanguageModelNet, stream: Sequence[int], chunk_size: int) -> float:
    """exp(mean NLL) of stream[1:] given everything before, read as one sequence."""
    log_probs = stream_log_probs(net, [stream], chunk_size, 1)[0]
    return math.exp(-float(log_probs.mean()))


def make_optimizer(net: LanguageModelNet, settings: LMTrainingSettings) -> torch.optim.Optimizer:
    optimizer = torch.optim.SGD if settings.optimizer == "sgd" else torch.optim.Adam
    return optimizer(net.parameters(), lr=settings.learning_rate)


class DevSchedule:
    """Evaluation on the dev stream and annealing: after an evaluation without a new best dev
    perplexity every learning rate is divided by anneal_factor; `exhausted` after `patience`
    such evaluations in a row."""

    def __init__(self, dev_stream: Sequence[int], chunk_size: int, anneal_factor: float, patience: int):
        self.dev_stream, self.chunk_size = dev_stream, chunk_size
        self.anneal_factor, self.patience = anneal_factor, patience
        self.best_perplexity, self.bad_evals = math.inf, 0

    def evaluate(self, net: LanguageModelNet, optimizer: torch.optim.Optimizer, step: int = 0) -> Dict:
        """Measure the dev perplexity, then anneal when it is no new best (the module is left in
        training mode). Returns {"dev_perplexity", "learning_rate" (before annealing), "improved"}."""
        dev_ppl = stream_perplexity(net, self.dev_stream, self.chunk_size)
        if not math.isfinite(dev_ppl):
            raise diverged("", step, f"the dev perplexity is {dev_ppl:g}")
        improved = dev_ppl < self.best_perplexity
        result = {"dev_perplexity": dev_ppl, "learning_rate": optimizer.param_groups[0]["lr"], "improved": improved}
        if improved:
            self.best_perplexity, self.bad_evals = dev_ppl, 0
        else:
            self.bad_evals += 1
            for group in optimizer.param_groups:
                group["lr"] /= self.anneal_factor
        net.train()
        return result

    @property
    def exhausted(self) -> bool:
        return self.bad_evals >= self.patience


class TrainingLog:
    """output_dir/training_log.jsonl (emptied at the start): "train" entries with the loss,
    throughput and gradient norms of the steps since the previous one, and "eval" entries."""

    def __init__(self, output_dir: Path):
        output_dir.mkdir(parents=True, exist_ok=True)
        self.path = output_dir / "training_log.jsonl"
        self.path.write_text("")
        self.start = self.window_start = time.perf_counter()
        self.window_loss, self.window_tokens, self.grad_norms = 0.0, 0, []
        self.step, self.tokens_seen = 0, 0

    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60

    def add_step(self, loss: float, n_tokens: int, grad_norm: float) -> None:
        """Count one step of mean loss `loss` over n_tokens targets."""
        self.step += 1
        self.tokens_seen += n_tokens
        self.window_loss += loss * n_tokens
        self.window_tokens += n_tokens
        self.grad_norms.append(grad_norm)

    def train_entry(self, epoch: int, learning_rate: float, clip: float) -> Dict:
        """Write the "train" entry of the steps since the last one and start a new window."""
        now = time.perf_counter()
        mean_loss = self.window_loss / self.window_tokens
        entry = {
            **self._position(epoch),
            "minutes": (now - self.start) / 60,
            "loss": mean_loss,
            "perplexity": math.exp(mean_loss),
            "tokens_per_second": self.window_tokens / (now - self.window_start),
            "learning_rate": learning_rate,
            "grad_norm_mean": float(numpy.mean(self.grad_norms)),
            "grad_norm_max": float(numpy.max(self.grad_norms)),
            "clip": clip,
        }
        self.write({"type": "train", **entry})
        self.window_loss, self.window_tokens, self.window_start, self.grad_norms = 0.0, 0, now, []
        return entry

    def eval_entry(self, epoch: int, evaluation: Dict) -> Dict:
        """Write an "eval" entry for a `DevSchedule.evaluate` result."""
        entry = {"type": "eval", **self._position(epoch), "minutes": self.minutes(), **evaluation}
        self.write(entry)
        return entry

    def _position(self, epoch: int) -> Dict:
        return {"step": self.step, "epoch": epoch, "tokens": self.tokens_seen}

    def write(self, entry: Dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


def fit_language_model(
    net: LanguageModelNet,
    train_stream: torch.Tensor,
    dev_stream: Sequence[int],
    settings: LMTrainingSettings,
    output_dir: Path,
    *,
    max_grad_norm: float,
    chunk_size: int,
    on_improve: Callable[[], None],
    device: str = "cpu",
) -> Dict:
    """Train `net` on train_stream (LongTensor[N]: the token ids, starting with an <eos>
    context), evaluating the perplexity of dev_stream[1:] (read chunk_size tokens at a time)
    `evals_per_epoch` times an epoch; `on_improve()` is called after each new best (to save a
    checkpoint). Once NT-ASGD has switched, the evaluations and checkpoints use the averaged
    weights, and `net` keeps them at the end. Returns the record: settings, timings, stop
    reason, every evaluation and the step after which averaging started (None: never)."""
    random.seed(settings.seed)
    numpy.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    net.to(device)
    rows = batchify(train_stream, settings.batch_size).to(device)
    chunks_per_epoch = n_chunks(rows, settings.bptt)
    eval_points = {round(chunks_per_epoch * (i + 1) / settings.evals_per_epoch) for i in range(settings.evals_per_epoch)}
    optimizer = make_optimizer(net, settings)
    bf16 = use_bf16(settings.mixed_precision, device, name="lm_training.mixed_precision")
    autocast = bf16_autocast(bf16, device)
    log = TrainingLog(Path(output_dir))
    schedule = DevSchedule(dev_stream, chunk_size, settings.anneal_factor, settings.patience)
    averaging = IterateAverage(net, settings.nonmono if settings.asgd else None)
    averaging_from = None
    evaluations: List[Dict] = []
    deadline = log.start + settings.max_minutes * 60 if settings.max_minutes else math.inf
    averaging_time = log.start + settings.asgd_start_fraction * settings.max_minutes * 60 if settings.asgd_start_fraction else math.inf
    stop_reason = "max_epochs"
    for epoch in range(1, settings.max_epochs + 1):
        net.train()
        state = None
        progress = tqdm(bptt_chunks(rows, settings.bptt), total=chunks_per_epoch, desc=f"epoch {epoch}", leave=False)
        for chunk_index, (inputs, targets) in enumerate(progress, 1):
            loss, grad_norm, state = train_step(
                net,
                optimizer,
                inputs,
                targets,
                state,
                max_grad_norm=max_grad_norm,
                autocast=autocast,
                step=log.step + 1,
                ar_alpha=settings.ar_alpha,
                tar_beta=settings.tar_beta,
            )
            averaging.update()
            log.add_step(loss, targets.numel(), grad_norm)
            if log.step % settings.log_every == 0:
                entry = log.train_entry(epoch, optimizer.param_groups[0]["lr"], max_grad_norm)
                progress.set_postfix(ppl=f"{entry['perplexity']:.1f}", tok_s=f"{entry['tokens_per_second']:.0f}")
            out_of_time = time.perf_counter() > deadline
            if chunk_index in eval_points or out_of_time:
                with averaging.swapped_in():
                    evaluation = {**schedule.evaluate(net, optimizer, log.step), "averaged": averaging.n_steps > 0}
                    if evaluation["improved"]:
                        on_improve()
                evaluations.append(log.eval_entry(epoch, evaluation))
                reason = averaging.observe(evaluation["dev_perplexity"]) and "the dev perplexity stopped improving"
                if not reason and time.perf_counter() >= averaging_time:
                    reason = averaging.start() and f"{settings.asgd_start_fraction:.0%} of the time budget has passed"
                if reason:
                    averaging_from = log.step
                    tqdm.write(f"step {log.step}: {reason}, averaging the weights from here on")
                tqdm.write(
                    f"epoch {epoch} step {log.step}: dev perplexity {evaluation['dev_perplexity']:.2f} "
                    f"(best {schedule.best_perplexity:.2f}), lr {evaluation['learning_rate']:g}, {log.minutes():.1f} min"
                )
                if out_of_time or schedule.exhausted:
                    stop_reason = "max_minutes" if out_of_time else "patience"
                    break
        progress.close()
        if stop_reason != "max_epochs":
            break
    averaging.load()
    return {
        "settings": asdict(settings),
        "n_parameters": sum(p.numel() for p in net.parameters()),
        "train_tokens": len(train_stream) - 1,
        "dev_tokens": len(dev_stream) - 1,
        "device": str(device),
        "precision": "bf16 autocast" if bf16 else "float32",
        "output_dir": str(output_dir),
        "evaluations": evaluations,
        "best_dev_perplexity": schedule.best_perplexity,
        "train_minutes": log.minutes(),
        "steps": log.step,
        "epochs": epoch,
        "tokens_seen": log.tokens_seen,
        "tokens_per_second": log.tokens_seen / (time.perf_counter() - log.start),
        "stop_reason": stop_reason,
        "averaging_from_step": averaging_from,
    }
