"""train: spaCy's training loop with crash-safe checkpoints, plus wall time, machine and training curves
(the GPU check, `python -m spacy_rnn_lab check-gpu`, is the lab's)."""
import time
from pathlib import Path
from typing import Optional

import typer

from .common import app, fail, spacy_cli_util

CUPY_HINT = "Training on a GPU needs CuPy for the machine's CUDA version, e.g. pip install 'spacy-rnn[cuda12x]' (docs/usage.md)"


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
