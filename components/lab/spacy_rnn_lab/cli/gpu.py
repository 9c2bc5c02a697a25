"""check-gpu: every component trained on a GPU, then loaded on the CPU and compared."""
from pathlib import Path
from typing import List, Optional

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("check-gpu")
def check_gpu_cmd(
    output_dir: Path = typer.Argument(Path("reports/gpu"), help="Where gpu_check.json and gpu_check.md go"),
    gpu_id: int = typer.Option(0, help="CUDA device id"),
    steps: int = typer.Option(100, help="Training steps per component"),
    n_train: int = typer.Option(500, help="Training docs per component (the first ones)"),
    n_texts: int = typer.Option(300, help="Dev texts whose GPU and CPU predictions are compared"),
    corpus_root: Path = typer.Option(Path("corpus"), help="Folder of the converted corpora (ud_en_ewt, conll2003, sst2)"),
    lm_train: Optional[Path] = typer.Option(None, help="PTB training text: also check the language model"),
    lm_dev: Optional[Path] = typer.Option(None, help="PTB validation text"),
    only: Optional[List[str]] = typer.Option(None, help="Check only these components (repeatable)"),
) -> None:
    """Train every component on a CUDA device for a few steps (the committed configs, the project's
    training loop), load each saved pipeline on the GPU and, in a fresh process that sees no GPU,
    on the CPU, and compare their predictions on the same dev texts. Fails unless every component
    trained and loaded on the GPU and the CPU predicts the same within float tolerance."""
    from ..gpu_check import run_gpu_check

    try:
        report = run_gpu_check(output_dir, gpu_id, steps, n_train, n_texts, corpus_root, lm_train, lm_dev, only)
    except RuntimeError as err:
        fail(str(err))
    typer.echo(f"report -> {output_dir / 'gpu_check.md'}")
    if not report["passed"]:
        fail("the GPU check failed: see the report")
