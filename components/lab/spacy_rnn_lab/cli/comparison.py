"""comparison-report: the BiLSTM components beside Transformer encoders, per task, from the
reports the train, evaluate-* and benchmark-speed commands wrote (JSON + markdown + PNG)."""
from pathlib import Path

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("comparison-report")
def comparison_report_cmd(
    spec: Path = typer.Option(Path("configs/comparison.yml"), exists=True, dir_okay=False, help="The rows: task, variant, family and runs (model and report folders)"),
    output_dir: Path = typer.Option(Path("reports/comparison"), help="Where README.md, comparison.json and TASK.png go"),
) -> None:
    """Per task and variant: dev and test score (mean ± sd over the runs found; "not run" when none),
    parameters, size on disk with and without the vectors, training wall time and machine, one-thread
    CPU words/s and peak memory on 1M characters, beside the published figures."""
    import srsly

    from ..comparison import comparison_report, write_comparison_report

    try:
        report = comparison_report(srsly.read_yaml(spec))
    except (OSError, ValueError) as err:
        fail(str(err))
    write_comparison_report(report, output_dir)
    for row in report["rows"]:
        test = row.get("scores", {}).get("test")
        typer.echo(f"{row['task']:5s} {row['variant']:40s} " + (f"test {test['mean']:6.2f} (n={test['n']})" if test else "not run"))
    typer.echo(f"report -> {output_dir / 'README.md'}")
