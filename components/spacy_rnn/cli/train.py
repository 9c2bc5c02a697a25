"""init-config: a training config for the user's corpus (paths, vectors, labels, a budget that fits
its size); train: spaCy's training loop with crash-safe checkpoints, plus wall time, machine and
training curves; add-labels: a trained component taught new labels from new data, old-label data mixed back in
(the GPU check, `python -m spacy_rnn_lab check-gpu`, is the lab's)."""
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .common import app, fail, label_names, spacy_cli_util

CUPY_HINT = "Training on a GPU needs CuPy for the machine's CUDA version, e.g. pip install 'spacy-rnn[cuda12x]' (docs/usage.md)"


@app.command("init-config")
def init_config_cmd(
    base: Path = typer.Argument(..., exists=True, dir_okay=False, help="The config to start from, e.g. configs/ner_bilstm_crf.cfg"),
    output: Path = typer.Argument(..., dir_okay=False, help="The config to write, e.g. configs/custom/my_ner.cfg"),
    train: Path = typer.Option(..., exists=True, dir_okay=False, help="Training DocBin (from a convert-* command)"),
    dev: Path = typer.Option(..., exists=True, dir_okay=False, help="Dev DocBin"),
    vectors: Optional[str] = typer.Option(None, help="Static vectors (a folder from init-vectors; '' for none); default: the base config's"),
    labels: Optional[str] = typer.Option(None, help="Recognizer or text classifier: its labels, comma-separated, covering TRAIN's (default or empty: TRAIN's)"),
    budget: str = typer.Option("auto", help="auto: steps, evaluation frequency, patience and warm-up from TRAIN's size (docs/usage.md states the rule); config: the base config's"),
    component: Optional[str] = typer.Option(None, help="The component the labels are for (default: the base config's only one)"),
) -> None:
    """Write a training config for your corpus: BASE with TRAIN, DEV and the vectors as its paths,
    the labels TRAIN has (or --labels) and a training budget that fits TRAIN's size. `python -m
    spacy_rnn train`, `spacy train` and `spacy debug data` read it."""
    from ..corpus_config import config_for_corpus, config_text

    try:
        made = config_for_corpus(
            base, train, dev, vectors=vectors, labels=label_names("--labels", labels or None), budget=budget, component=component
        )
    except ValueError as err:
        fail(str(err))
    summary = made["summary"]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(config_text(made["config"], summary), encoding="utf8")
    typer.echo(f"{summary['component']}: {summary['train_docs']:,} training docs, labels {', '.join(summary['labels'])}")
    if summary["dev_labels_not_in_train"]:
        typer.echo(f"warning: DEV has labels TRAIN lacks (never predicted): {', '.join(summary['dev_labels_not_in_train'])}")
    plan = summary.get("budget")
    if plan:
        typer.echo(
            f"budget: {plan['train_words']:,} words = {plan['steps_per_epoch']} steps an epoch -> max_steps {plan['max_steps']}, "
            f"eval_frequency {plan['eval_frequency']}, patience {plan['patience']}, warmup_steps {plan['warmup_steps']}"
        )
    typer.echo(f"config -> {output}")


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config (.cfg)"),
    output_dir: Path = typer.Argument(..., help="Where model-best and model-last go"),
    report_dir: Optional[Path] = typer.Option(None, help="Write training.json/.md and training_curves.png here"),
    name: Optional[str] = typer.Option(None, help="The training report's title (default: OUTPUT_DIR's folder name)"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    """`spacy train`'s loop with checkpoints a crash cannot destroy (`spacy_rnn.training_loop`),
    plus wall time, machine and training curves. Extra `--section.key value` arguments (and
    $SPACY_CONFIG_OVERRIDES) override the config as in `spacy train`. A run that diverges stops
    with a message naming the update and a non-zero exit, keeping its last good checkpoints."""
    from ..errors import TrainingDiverged
    from ..evaluation.training_report import write_training_report
    from ..extras import require
    from ..training_loop import train_pipeline

    if report_dir is not None:  # fail now, not after training
        require("matplotlib", "reports", "train --report-dir (its training curves)")
    spacy_cli = spacy_cli_util()
    overrides = spacy_cli.parse_config_overrides(ctx.args)
    log_path = output_dir / "training_log.jsonl"
    overrides["training.logger.output_file"] = str(log_path)
    try:
        spacy_cli.setup_gpu(gpu_id)
    except ValueError as err:  # thinc: no CuPy, no GPU
        fail(f"{err}. {CUPY_HINT}")
    start = time.perf_counter()
    try:
        with spacy_cli.show_validation_error(config_path, hint_fill=False):
            train_pipeline(config_path, output_dir, overrides=overrides, use_gpu=gpu_id)
    except TrainingDiverged as err:
        fail(str(err))
    seconds = time.perf_counter() - start
    typer.echo(f"model-best and model-last -> {output_dir}")
    if report_dir is not None:
        write_training_report(config_path, output_dir, log_path, seconds, overrides, report_dir, name or "")
        typer.echo(f"training report -> {report_dir}")


@app.command("add-labels")
def add_labels_cmd(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    new: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin of gold docs with the new labels"),
    output_dir: Path = typer.Argument(..., help="Where model-best and model-last go"),
    dev: Path = typer.Option(..., exists=True, dir_okay=False, help="Dev DocBin with every label, old and new"),
    rehearsal: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="DocBin of gold docs with the old labels, mixed back in"),
    ratio: float = typer.Option(1.0, min=0, help="Rehearsal docs per new doc (as many as there are, at most)"),
    component: str = typer.Option("ner", help="The component that learns the new labels"),
    steps: int = typer.Option(500, min=1, help="Training steps"),
    learn_rate: float = typer.Option(0.0005, min=0, help="Adam's constant learning rate (a quarter of the shipped configs' peak)"),
    seed: int = typer.Option(0, help="Seed of the rehearsal sample and of the training"),
    work_dir: Optional[Path] = typer.Option(None, help="Keep the grown pipeline, the training data and the config here (default: OUTPUT_DIR/continuation)"),
) -> None:
    """Teach a trained component the labels NEW has and it lacks: add them, mix RATIO x len(NEW)
    old-label docs from REHEARSAL back in (so it keeps the old labels), and continue training
    for STEPS steps with a fresh optimizer (`spacy_rnn.new_labels`); dev scores are logged as
    in `train`."""
    from spacy.tokens import DocBin

    from ..checkpoints import load_pipeline
    from ..errors import TrainingDiverged
    from ..new_labels import continue_training

    nlp = load_pipeline(pipeline)
    new_docs = list(DocBin().from_disk(new).get_docs(nlp.vocab))
    old_docs = list(DocBin().from_disk(rehearsal).get_docs(nlp.vocab)) if rehearsal else []
    try:
        done = continue_training(
            nlp, component, new_docs, old_docs, dev, work_dir or output_dir / "continuation", output_dir,
            rehearsal=ratio, steps=steps, learn_rate=learn_rate, seed=seed, stdout=sys.stdout,
        )
    except (ValueError, TrainingDiverged) as err:
        fail(str(err))
    added = ", ".join(done["labels_added"]) or "none (every label of NEW was known)"
    typer.echo(f"labels added: {added}; trained on {done['new_docs']:,} new + {done['rehearsal_docs']:,} rehearsal docs")
    typer.echo(f"model-best and model-last -> {output_dir}")
