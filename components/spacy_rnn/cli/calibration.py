"""calibration-report: how far a pipeline's confidences can be trusted (entity probabilities or
tag probabilities against gold), and what filtering at a threshold gives; JSON + markdown + PNG."""
from pathlib import Path
from typing import List

import typer

from .common import app, fail, load_pipeline, split_arg


@app.command("calibration-report")
def calibration_report_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    task: str = typer.Option(..., "--task", help="ner (ent._.confidence) or tagger (token._.pos_confidence / tag_confidence)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin, e.g. dev=corpus/conll2003/dev.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(Path("reports/calibration"), help="Where TASK_calibration.json/.md and TASK_reliability.png go"),
) -> None:
    """Reliability diagram (10 bins), expected calibration error, and per threshold the share of
    predictions kept with their precision (and, for entities, recall), on gold tokens."""
    from ..evaluation.calibration import TASKS, calibration_report, write_calibration_report
    from ..extras import require

    require("matplotlib", "reports", "calibration-report (its reliability diagram)")  # fail now, not after scoring
    if task not in TASKS:
        fail(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    paths = dict(split_arg(arg) for arg in splits)
    nlp = load_pipeline(model)
    try:
        report = calibration_report(nlp, task, paths, model)
    except (OSError, ValueError) as err:
        fail(str(err))
    for split, entry in report["splits"].items():
        for measure, result in entry["measures"].items():
            typer.echo(f"{split} {measure}: {result['n']:,} predictions, ECE {100 * result['ece']:.2f}")
        for measure, why in entry["not_scored"].items():
            typer.echo(f"{split} {measure}: not calibrated ({why})")
    for path in write_calibration_report(report, output_dir):
        typer.echo(f"report -> {path}")
