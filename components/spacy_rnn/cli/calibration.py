"""calibrate: fit the temperatures of a pipeline's confidences on a dev set and save the pipeline
with them; calibration-report: how far a pipeline's confidences can be trusted (entity
probabilities or tag probabilities against gold), and what filtering at a threshold gives; JSON
+ markdown (+ PNG)."""
from pathlib import Path
from typing import List

import typer

from .common import app, fail, load_pipeline, split_arg


@app.command("calibrate")
def calibrate_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    dev: Path = typer.Argument(..., help="Gold DocBin to fit on, e.g. corpus/conll2003/dev.spacy (not the test file)"),
    output: Path = typer.Argument(..., help="Where the pipeline with the fitted temperatures is saved"),
    components: List[str] = typer.Option(
        [], "--component", help="Fit only this component (repeatable; default: every tagger, recognizer and text "
        "classifier whose gold DEV has)"
    ),
    report_dir: Path = typer.Option(Path("reports/calibration"), help="Where temperature.json and temperature.md go"),
) -> None:
    """Temperature scaling: per component (per head for the tagger), the temperature T that makes
    the confidences fit the DEV gold best (lowest negative log-likelihood), saved in the
    pipeline's config (the component's temperature; the tagger's pos_temperature and
    tag_temperature). Only the confidences change
    (ent._.confidence, token._.pos_confidence / tag_confidence, doc.cats), not the predictions.
    The report gives T and the dev ECE and NLL before and after."""
    from ..evaluation.reports import write_json
    from ..evaluation.temperature import calibrate_pipeline, temperature_markdown

    if not dev.is_file():
        fail(f"DEV {dev} is not a file: give a gold DocBin (.spacy)")
    if output.exists() and (not output.is_dir() or output.resolve() == Path(model).resolve()):
        fail(f"OUTPUT {output} is {'a file' if not output.is_dir() else 'the pipeline itself'}: give a new folder")
    nlp = load_pipeline(model)
    try:
        report = calibrate_pipeline(nlp, dev, model, components or None)
        output.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(output)
    except (OSError, ValueError) as err:
        fail(str(err))
    report["output"] = str(output)
    write_json(report, report_dir / "temperature.json")
    (report_dir / "temperature.md").write_text(temperature_markdown(report), encoding="utf-8")
    for name, entry in report["components"].items():
        for setting, fit in entry["fits"].items():
            before, after = fit["before"], fit["after"]
            typer.echo(
                f"{name} {setting} ({fit['measure']}): T {before['temperature']:g} -> {after['temperature']:g}, dev ECE "
                f"{100 * before['ece']:.2f} -> {100 * after['ece']:.2f}, NLL {before['nll']:.4f} -> {after['nll']:.4f}"
            )
        for setting, why in entry["not_fitted"].items():
            typer.echo(f"{name} {setting}: not fitted ({why})")
    for name, why in report["skipped"].items():
        typer.echo(f"{name}: not fitted ({why})")
    typer.echo(f"pipeline -> {output}")
    typer.echo(f"report -> {report_dir / 'temperature.md'}")


@app.command("calibration-report")
def calibration_report_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    task: str = typer.Option(..., "--task", help="ner (ent._.confidence), tagger (token._.pos_confidence / tag_confidence) or textcat (doc.cats)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin, e.g. dev=corpus/conll2003/dev.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(Path("reports/calibration"), help="Where TASK_calibration.json/.md and TASK_reliability.png go"),
) -> None:
    """Reliability diagram (10 bins), expected calibration error, and per threshold the share of
    predictions kept with their precision (and, for entities, recall), on gold tokens."""
    from ..evaluation.calibration import TASKS, calibration_report, temperatures_text, write_calibration_report
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
    typer.echo(f"temperatures: {temperatures_text(report['temperatures'])}")
    for split, entry in report["splits"].items():
        for measure, result in entry["measures"].items():
            typer.echo(f"{split} {measure}: {result['n']:,} predictions, ECE {100 * result['ece']:.2f}")
        for measure, why in entry["not_scored"].items():
            typer.echo(f"{split} {measure}: not calibrated ({why})")
    for path in write_calibration_report(report, output_dir):
        typer.echo(f"report -> {path}")
