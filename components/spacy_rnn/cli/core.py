"""A trained pipeline as a whole: prune-vectors (prune its table to its first N rows, every
removed word mapped to its nearest kept row, as `spacy init vectors --prune` does, and save it)
and demo (what `nlp(text)` gives)."""
from pathlib import Path
from typing import Optional

import typer

from .common import app, fail, load_pipeline

ROWS_HELP = "Rows of the vectors table to keep (the first ones: GloVe lists the most frequent words first)"


@app.command("prune-vectors")
def prune_vectors_cmd(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    output: Path = typer.Argument(..., help="Where the pruned pipeline is saved"),
    rows: int = typer.Option(..., "--rows", min=1, help=ROWS_HELP),
    batch_size: int = typer.Option(1024, min=1, help="Removed rows compared with the kept ones at a time (memory: batch x rows floats)"),
) -> None:
    """Keep the first ROWS rows of the pipeline's static vectors, map every removed word to the
    kept row nearest to it by cosine, record the new table in the components that read it, and
    save the pipeline to OUTPUT."""
    from tqdm import tqdm

    from ..vectors_pruning import prune_pipeline_vectors

    nlp = load_pipeline(pipeline)
    try:
        with tqdm(total=max(nlp.vocab.vectors.shape[0] - rows, 0), desc="pruning", unit="row") as bar:
            stats = prune_pipeline_vectors(nlp, rows, batch_size, bar.update)
    except ValueError as err:
        fail(str(err))
    nlp.to_disk(output)
    cosine = "" if stats["mean_cosine"] is None else f", mean cosine with their replacement {stats['mean_cosine']}"
    typer.echo(
        f"{stats['rows_before']:,} -> {stats['rows_after']:,} rows; {stats['remapped_keys']:,} of {stats['keys']:,} keys "
        f"remapped{cosine}; read by {', '.join(stats['readers']) or 'no component'}"
    )
    typer.echo(f"pipeline -> {output}")


DEMO_TEXT = ("Angela Merkel met Emmanuel Macron in Paris on Tuesday. "
             "The talks went surprisingly well, and both leaders praised the agreement.")


@app.command("demo")
def demo_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name"),
    text: str = typer.Argument(DEMO_TEXT, help="Text to annotate"),
    note: Optional[str] = typer.Option(None, help="A line printed after the annotations"),
) -> None:
    """What `nlp(text)` gives: tags with their confidence, entities with theirs, `doc.cats` and
    each token's surprisal under the language model (for whichever of them the pipeline has)."""
    from ..pipes.text import check_text

    try:
        check_text(text, "the TEXT argument")
    except ValueError as err:
        fail(str(err))
    nlp = load_pipeline(model)
    doc = nlp(text)
    typer.echo(f"pipeline: {', '.join(nlp.pipe_names)}")
    if doc.has_annotation("POS"):
        typer.echo("tags (UPOS/XPOS, p):  " + "  ".join(
            f"{t.text}/{t.pos_}/{t.tag_}" + (f" {t._.pos_confidence:.2f}" if _has(t, "pos_confidence") else "") for t in doc))
    if doc.has_annotation("ENT_IOB"):
        typer.echo("entities (label, p):  " + ("  ".join(
            f"[{e.text}] {e.label_}" + (f" {e._.confidence:.2f}" if _has(e, "confidence") else "") for e in doc.ents) or "none"))
    if doc.cats:
        typer.echo("sentiment (doc.cats): " + "  ".join(f"{label} {p:.2f}" for label, p in doc.cats.items()))
    if any(_has(token, "surprisal") for token in doc):
        typer.echo("surprisal (bits):     " + "  ".join(f"{t.text} {t._.surprisal:.1f}" for t in doc if t._.surprisal is not None))
        typer.echo(f"perplexity:           {doc._.perplexity:.1f}")
    if note:
        typer.echo(note)


def _has(obj, extension: str) -> bool:
    return obj.has_extension(extension) and obj._.get(extension) is not None
