"""custom-route: the library's `custom` workflow timed from a fresh clone on a CoNLL-2003 subset
played as a user's own corpus, per seed, with its scores and calibration (issue 35's targets)."""
import sys
from pathlib import Path
from typing import Optional

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("custom-route")
def custom_route_cmd(
    corpora: Path = typer.Option(Path("../shared/corpora/conll2003"), exists=True, file_okay=False, help="Folder with eng.train, eng.testa, eng.testb"),
    repo: Path = typer.Option(Path("."), exists=True, file_okay=False, help="The repository to clone (its committed state)"),
    sentences: int = typer.Option(3000, min=1, help="Training sentences: the first N of eng.train"),
    seeds: str = typer.Option("2,0,1", help="Comma-separated seeds, one fresh-clone run each (2: the config's own)"),
    work_dir: Optional[Path] = typer.Option(None, help="Where the clones go (default: a folder under the system's temporary folder, kept)"),
    output_dir: Path = typer.Option(Path("reports/custom"), help="Where route.json and route.md go"),
) -> None:
    """Per seed: clone REPO, write the first N sentences of eng.train (and eng.testa, eng.testb) as
    the user's column files, run every step of `spacy project run custom` with one torch thread
    and time it; then report the time per step, dev/test F1 and the entity ECE before and after
    temperature scaling."""
    import tempfile

    from ..custom_route import custom_route_report, write_custom_route_report

    try:
        seed_list = [int(seed) for seed in seeds.split(",")]
    except ValueError:
        fail(f"--seeds {seeds!r}: give comma-separated integers")
    work = work_dir or Path(tempfile.mkdtemp(prefix="custom_route_"))
    try:
        report = custom_route_report(repo.resolve(), corpora.resolve(), work, sentences, seed_list)
    except (RuntimeError, ValueError) as err:
        fail(str(err))
    command = " ".join(["python -m spacy_rnn_lab custom-route", *sys.argv[2:]])
    for path in write_custom_route_report(report, output_dir, command):
        typer.echo(f"-> {path}")
