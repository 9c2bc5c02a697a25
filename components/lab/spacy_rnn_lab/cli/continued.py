"""continued-training: a trained recognizer learns a new label (NORP, made from CoNLL-2003's
demonym MISC entities) by continued training through a config that sources it, with and without
old data mixed back in; per-label dev F1 before and after. JSON + markdown + PNG."""
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("continued-training")
def continued_training_cmd(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline with a CoNLL-2003 `ner` (PER, LOC, ORG, MISC)"),
    train: Path = typer.Option(Path("corpus/conll2003/train.spacy"), exists=True, dir_okay=False, help="Training DocBin the sentences are sampled from"),
    dev: Path = typer.Option(Path("corpus/conll2003/dev.spacy"), exists=True, dir_okay=False, help="Dev DocBin the models are scored on"),
    config: Path = typer.Option(Path("configs/continue/ner_add_norp.cfg"), exists=True, dir_okay=False, help="Training config sourcing the grown pipeline"),
    output_dir: Path = typer.Option(Path("reports/continued"), help="Where README.md, continued.json and continued.png go"),
    n_sentences: int = typer.Option(500, help="Training sentences with a NORP entity (both variants)"),
    rehearsal: float = typer.Option(1.0, help="Old-data sentences per new-label sentence in variant B"),
    steps: Optional[int] = typer.Option(None, help="Training steps of each variant (default: the config's max_steps)"),
    seed: int = typer.Option(0, help="Seed of the sampling and of the training"),
    work_dir: Optional[Path] = typer.Option(
        None, help="Keep the grown pipeline, the training sets and both variants' checkpoints here (default: a temporary folder, deleted)"
    ),
) -> None:
    """Relabel demonym MISC entities NORP, grow the trained `ner` by NORP, continue training it
    (A: on N sentences with NORP; B: the same plus REHEARSAL x N old sentences; same config,
    steps and seed) and report per-label dev F1 of the model before, A and B: on the relabelled
    dev, with gold NORP masked out (old labels), and on the original labels."""
    from spacy_rnn.errors import TrainingDiverged
    from ..continued_report import write_continued_report
    from ..continued_training import continued_training_report
    from spacy_rnn.extras import require

    require("matplotlib", "reports", "continued-training (its figure)")  # fail now, not after training
    scratch = Path(tempfile.mkdtemp(prefix="continued-")) if work_dir is None else work_dir
    try:
        report = continued_training_report(
            model, train, dev, config, scratch, n_sentences=n_sentences, rehearsal=rehearsal, steps=steps, seed=seed
        )
    except (OSError, ValueError, TrainingDiverged) as err:
        fail(str(err))
    finally:
        if work_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    write_continued_report(report, output_dir)
    typer.echo(f"report -> {output_dir / 'README.md'}")
