"""A training budget that fits the corpus: steps, evaluation frequency, patience and warm-up
derived from the number of training words, for a shipped config tuned on a ~200,000-word corpus.

The rule (`budget_for`), with S = ceil(training words / words per batch), the steps of one epoch:

    eval_frequency = min(config's eval_frequency, max(MIN_EVAL_FREQUENCY, max(MIN_STEPS, EPOCHS * S) / EVALUATIONS))
    max_steps      = min(config's max_steps, max(MIN_STEPS, EPOCHS * S) rounded up to a multiple of eval_frequency)
    patience       = min(config's patience, PATIENCE_EVALUATIONS * eval_frequency)
    warmup_steps   = min(config's warmup_steps, max(MIN_EVAL_FREQUENCY, max_steps / WARMUP_SHARE))

(eval_frequency and warm-up rounded to tens; max_steps a multiple of eval_frequency, so the last
step is evaluated: spaCy evaluates, and keeps model-best, only every eval_frequency steps).

A corpus gets EPOCHS passes (chosen on CoNLL-2003 dev: experiments/custom_budget/README.md), about
EVALUATIONS evaluations spread over them, the first when warm-up ends, and early stopping after
PATIENCE_EVALUATIONS evaluations without a better dev score. The config's values are ceilings:
with the shipped configs (8,000 or 7,000 steps of 1,000 words) a corpus of about 300,000 words
or more gets the config's own steps; CoNLL-2003 train (203,621 words) gets 4,900 steps where its
config trains 8,000 (39 epochs, tuned for the last points of F1: give --budget config for them).
"""
import math
from dataclasses import asdict, dataclass
from typing import Dict, Iterable

EPOCHS = 24
MIN_STEPS = 300
EVALUATIONS = 10
MIN_EVAL_FREQUENCY = 20
PATIENCE_EVALUATIONS = 4
WARMUP_SHARE = 10

RULE = (
    f"S = ceil(training words / words per batch); N = max({MIN_STEPS}, {EPOCHS} x S); "
    f"eval_frequency = min(config, max({MIN_EVAL_FREQUENCY}, N / {EVALUATIONS})); "
    f"max_steps = min(config, N rounded up to a multiple of eval_frequency); "
    f"patience = min(config, {PATIENCE_EVALUATIONS} x eval_frequency); "
    f"warmup_steps = min(config, max({MIN_EVAL_FREQUENCY}, max_steps / {WARMUP_SHARE})) (rounded to tens)"
)


@dataclass(frozen=True)
class TrainingBudget:
    """What `budget_for` derived, and from what."""

    train_words: int
    batch_words: int
    steps_per_epoch: int
    max_steps: int
    eval_frequency: int
    patience: int
    warmup_steps: int

    def overrides(self) -> Dict[str, int]:
        """The dotted config settings this budget sets (the schedule ends with the training); a
        config sets those of them it has (a constant learning rate has no warm-up or end)."""
        return {
            "training.max_steps": self.max_steps,
            "training.eval_frequency": self.eval_frequency,
            "training.patience": self.patience,
            "training.optimizer.learn_rate.warmup_steps": self.warmup_steps,
            "training.optimizer.learn_rate.total_steps": self.max_steps,
        }

    def to_dict(self) -> Dict[str, int]:
        return asdict(self)


def _tens(value: float) -> int:
    return max(10, int(round(value / 10.0)) * 10)


def budget_for(train_words: int, batch_words: int, config_training: Dict) -> TrainingBudget:
    """The budget of `train_words` training words in batches of `batch_words` words, capped by the
    config's own [training] settings (`config_training`, with optimizer.learn_rate.warmup_steps)."""
    if train_words < 1 or batch_words < 1:
        raise ValueError(f"a training budget needs training words and a batch size, got {train_words} and {batch_words}")
    caps = {key: config_training.get(key) for key in ("max_steps", "eval_frequency", "patience")}
    if not all(isinstance(value, int) for value in caps.values()):
        raise ValueError(f"[training] {caps} are not all numbers: the budget takes them as ceilings; give --budget config")
    steps_per_epoch = math.ceil(train_words / batch_words)
    wanted = max(MIN_STEPS, EPOCHS * steps_per_epoch)
    eval_frequency = min(config_training["eval_frequency"], _tens(max(MIN_EVAL_FREQUENCY, wanted / EVALUATIONS)))
    max_steps = math.ceil(wanted / eval_frequency) * eval_frequency  # the last step is evaluated
    if config_training["max_steps"] > 0:  # 0: no limit in spaCy
        max_steps = min(config_training["max_steps"], max_steps)
    # 0 in the config: no early stopping, kept
    patience = min(config_training["patience"], PATIENCE_EVALUATIONS * eval_frequency)
    learn_rate = config_training.get("optimizer", {}).get("learn_rate")
    warmup_cap = learn_rate.get("warmup_steps", 0) if isinstance(learn_rate, dict) else 0  # a constant rate: none
    warmup_steps = min(warmup_cap, _tens(max(MIN_EVAL_FREQUENCY, max_steps / WARMUP_SHARE)))
    return TrainingBudget(train_words, batch_words, steps_per_epoch, max_steps, eval_frequency, patience, warmup_steps)


def batch_words(config_training: Dict) -> int:
    """Words (or padded tokens) per batch of a config's [training.batcher]: its `size`, or the
    `stop` of a compounding/decaying size schedule."""
    size = config_training["batcher"].get("size")
    if isinstance(size, dict):
        size = size.get("stop")
    if not isinstance(size, int) or size < 1:
        raise ValueError(
            "[training.batcher] size is neither a number nor a schedule with a `stop`: the budget cannot "
            "count the steps of an epoch; give --budget config and set [training] max_steps yourself"
        )
    return size


def count_words(docs: Iterable) -> int:
    return sum(len(doc) for doc in docs)
