"""compact-vectors-report: what storing a vectors table as int8 costs and saves (size, errors,
nearest-neighbour agreement)."""
from pathlib import Path
from typing import List

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("compact-vectors-report")
def compact_vectors_report_cmd(
    vectors: List[Path] = typer.Argument(..., exists=True, file_okay=False, help="Vectors folders (init-vectors) or pipelines with float32 vectors"),
    output_dir: Path = typer.Option(Path("reports/core"), help="Where compact_vectors.json/.md go"),
    max_rows: int = typer.Option(0, help="Measure only each table's first N rows (0: all)"),
    queries: int = typer.Option(200, min=1, help="Most frequent words (first rows) whose neighbours are compared"),
    neighbours: int = typer.Option(10, min=1, help="Neighbours compared per word"),
) -> None:
    """Size on disk (float32 against int8), errors, cosines and nearest-neighbour agreement of
    each table stored as int8; JSON + markdown."""
    import shlex
    import sys

    from ..compact_vectors import compact_vectors_reports, write_compact_vectors_report

    try:
        report = compact_vectors_reports(vectors, max_rows, queries, neighbours)
    except ValueError as err:
        fail(str(err))
    command = "python -m spacy_rnn " + " ".join(shlex.quote(arg) for arg in sys.argv[1:]) if sys.argv[1:2] == ["compact-vectors-report"] else None
    for path in write_compact_vectors_report(report, output_dir, command):
        typer.echo(f"-> {path}")
