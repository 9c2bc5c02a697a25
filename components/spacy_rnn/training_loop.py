"""`python -m spacy_rnn train`: spaCy's training loop with checkpoints that survive a crash.

It runs spaCy's own step generator (`spacy.training.loop.train_while_improving`), batching and
evaluation exactly as `spacy train` does, and differs only in how it saves:
- the config is loaded and the pipeline initialized before anything in the output directory is
  touched, so a wrong path or setting fails without deleting the previous run (whose
  checkpoints a run that starts replaces, as in `spacy train`);
- model-last and model-best are written with `save_atomically` (spaCy deletes model-best and
  then copies model-last over it: a kill in between leaves no model-best);
- a run that fails (e.g. `TrainingDiverged`) saves nothing more, so the checkpoints on disk are
  the last good ones (spaCy saves model-last after an error too);
- the learning-rate schedule follows an overridden max_steps (`schedule_follows_max_steps`), and
  the pipeline's [training.optimizer] is saved interpolated, so a loaded pipeline can create its
  optimizer (`nlp.create_optimizer()`, `nlp.update` without sgd: spaCy resolves that block alone).
"""
import shutil
import sys
from pathlib import Path
from typing import IO, Dict, Optional

from spacy import util
from spacy.language import Language
from spacy.training.initialize import init_nlp
from spacy.training.loop import (
    DIR_MODEL_BEST,
    DIR_MODEL_LAST,
    create_before_to_disk_callback,
    create_evaluation_callback,
    create_train_batches,
    train_while_improving,
    update_meta,
)
from spacy.schemas import ConfigSchemaTraining
from thinc.api import Config, fix_random_seed, set_gpu_allocator

from .checkpoints import recover_checkpoint, save_atomically


def train_pipeline(
    config_path: Path, output_dir: Path, *, overrides: Dict, use_gpu: int = -1, stdout: IO = sys.stdout
) -> Language:
    """Initialize the pipeline of `config_path` (with dotted `overrides`), train it, and keep
    output_dir/model-best (best dev score) and output_dir/model-last. Returns the trained nlp."""
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    schedule_follows_max_steps(config, overrides, stdout)
    nlp = init_nlp(config, use_gpu=use_gpu)
    # spaCy resolves nlp.config["training"]["optimizer"] on its own (create_optimizer): no references.
    nlp.config["training"]["optimizer"] = nlp.config.interpolate()["training"]["optimizer"]
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in (DIR_MODEL_BEST, DIR_MODEL_LAST):
        recover_checkpoint(output_dir / name)
        shutil.rmtree(output_dir / name, ignore_errors=True)
    return _train(nlp, output_dir, use_gpu, stdout)


def schedule_follows_max_steps(config: Config, overrides: Dict, stdout: IO = sys.stdout) -> None:
    """The rule that keeps a learning-rate schedule's end with the training's: when `overrides`
    set training.max_steps (> 0) and not training.optimizer.learn_rate.total_steps, a schedule
    with a total_steps (e.g. warmup_linear.v1) gets max_steps as its total_steps (in `config`, a
    loaded, uninterpolated config). A schedule that still ends elsewhere is reported on stdout."""
    training = config["training"]
    learn_rate = training.get("optimizer", {}).get("learn_rate")
    if not isinstance(learn_rate, dict) or "total_steps" not in learn_rate:
        return
    max_steps = overrides.get("training.max_steps")
    if isinstance(max_steps, int) and max_steps > 0 and "training.optimizer.learn_rate.total_steps" not in overrides:
        learn_rate["total_steps"] = max_steps
    total, steps = learn_rate["total_steps"], training.get("max_steps")
    if isinstance(total, int) and isinstance(steps, int) and steps > 0 and total != steps:
        stdout.write(
            f"Note: the learning-rate schedule ends at step {total} ([training.optimizer.learn_rate] total_steps), "
            f"the training at step {steps} ([training] max_steps).\n"
        )


def _train(nlp: Language, output_dir: Path, use_gpu: int, stdout: IO) -> Language:
    config = nlp.config.interpolate()
    if config["training"]["seed"] is not None:
        fix_random_seed(config["training"]["seed"])
    if use_gpu >= 0 and config["training"]["gpu_allocator"]:
        set_gpu_allocator(config["training"]["gpu_allocator"])
    T = util.registry.resolve(config["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = util.resolve_dot_names(config, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    before_to_disk = create_before_to_disk_callback(T["before_to_disk"])
    frozen = T["frozen_components"]
    steps = train_while_improving(
        nlp,
        optimizer,
        create_train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"]),
        create_evaluation_callback(nlp, dev_corpus, T["score_weights"]),
        dropout=T["dropout"],
        accumulate_gradient=T["accumulate_gradient"],
        patience=T["patience"],
        max_steps=T["max_steps"],
        eval_frequency=T["eval_frequency"],
        exclude=frozen,
        annotating_components=T["annotating_components"],
        before_update=T["before_update"],
    )

    def save(name: str) -> None:
        with nlp.use_params(optimizer.averages):
            save_atomically(before_to_disk(nlp), output_dir / name)

    stdout.write(f"Pipeline: {nlp.pipe_names}; initial learn rate: {optimizer.learn_rate}\n")
    with nlp.select_pipes(disable=frozen):
        log_step, finalize_logger = T["logger"](nlp, stdout, sys.stderr)
    info: Optional[Dict] = None
    last_saved: Optional[int] = None
    try:
        for _batch, info, is_best in steps:
            if is_best is not None:
                with nlp.select_pipes(disable=frozen):
                    update_meta(T, nlp, info)
                save(DIR_MODEL_LAST)
                if is_best:
                    save(DIR_MODEL_BEST)
                last_saved = info["step"]
                info["output_path"] = str(output_dir / DIR_MODEL_LAST)
            log_step(info if is_best is not None else None)
        if info is not None and last_saved != info["step"]:
            save(DIR_MODEL_LAST)
    finally:
        finalize_logger()
    return nlp
