"""Pruning the static vectors table of a trained pipeline, as `spacy init vectors --prune` does.

`prune_vectors(vectors, n_rows)` keeps the first n_rows rows of a table (GloVe and word2vec
files list the most frequent words first) and maps every key of a removed row to the kept row
nearest to it by cosine, so a rare word still gets a vector: that of its nearest frequent
neighbour. This is what spaCy's `Vocab.prune_vectors` does (which orders rows by lexeme
probability, then row: the row order for tables without probabilities). It is done here on the
table's keys because `Vocab.prune_vectors` looks up the string of every key, which the
pipelines built from `spacy_rnn.vectors` tables do not store (it raises KeyError E018 on them),
and because the argmax below is about twice as fast as the sorted top-n of
`Vectors.most_similar`. The table keeps float32 values (spaCy's and thinc's vector code expects
them) and its class: a table stored as int8 on disk (`spacy_rnn.vectors_storage`) stays so.

The components record the fingerprint of the table they were trained with and refuse another
one (`spacy_rnn.encoders.check_vectors`). `prune_pipeline_vectors(nlp, n_rows)` checks that
they were trained with nlp's table, prunes it, and installs the pruned table with
`use_vectors`, which re-records its fingerprint in every model that reads static vectors (their
attrs, saved with the weights): the pruned pipeline saves, loads and predicts like the
original, only the vectors of the removed words change.
"""
from typing import Callable, Dict, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.vectors import Vectors
from thinc.api import Model
from thinc.util import to_numpy

from .encoders import check_vectors
from .featurize import vectors_fingerprint


def prune_vectors(
    vectors: Vectors, n_rows: int, batch_size: int = 1024, progress: Optional[Callable[[int], None]] = None
) -> Tuple[Vectors, Dict]:
    """A new table holding the first `n_rows` rows of `vectors` and all its keys: the keys of a
    removed row point to the kept row of highest cosine with it. `vectors` is unchanged (the
    table itself is returned when it has at most n_rows rows). `progress(n)` is called after
    each batch of `batch_size` removed rows.

    Also returns rows_before, rows_after, keys, remapped_keys and mean_cosine: the mean cosine of
    the removed keys' vectors with their replacements (None when no key was remapped)."""
    if vectors.mode != "default":
        raise ValueError(f"only 'default' vectors can be pruned, not {vectors.mode!r}")
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    if batch_size < 1:  # range(0, n, -1) is empty: every removed row would map to row 0
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n_before = vectors.shape[0]
    keys = numpy.fromiter(vectors.key2row.keys(), dtype="uint64", count=len(vectors.key2row))
    rows = numpy.fromiter(vectors.key2row.values(), dtype="int64", count=len(vectors.key2row))
    stats = {"rows_before": n_before, "rows_after": min(n_rows, n_before), "keys": len(keys), "remapped_keys": 0, "mean_cosine": None}
    if n_before <= n_rows:
        return vectors, stats
    data = to_numpy(vectors.data)
    removed = rows >= n_rows
    removed_rows, inverse = numpy.unique(rows[removed], return_inverse=True)
    nearest, cosines = nearest_rows(data, removed_rows, n_rows, batch_size, progress)
    rows[removed] = nearest[inverse]
    # The table's own class: an int8 table (spacy_rnn.vectors_storage.Int8Vectors) stays int8.
    pruned = type(vectors)(strings=vectors.strings, data=numpy.ascontiguousarray(data[:n_rows]), name=vectors.name)
    for key, row in zip(keys.tolist(), rows.tolist()):
        pruned.add(key, row=row)
    stats["remapped_keys"] = int(removed.sum())
    stats["mean_cosine"] = round(float(cosines[inverse].mean()), 4) if removed.any() else None
    return pruned, stats


def nearest_rows(
    data: numpy.ndarray, queries: numpy.ndarray, n_rows: int, batch_size: int, progress: Optional[Callable[[int], None]] = None
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """For each row index in `queries`, the row among data[:n_rows] of highest cosine with
    data[query] and that cosine: (IntArray[Q], FloatArray[Q]). Zero rows have cosine 0 with
    every row, as in `Vectors.most_similar`."""
    kept = unit_rows(data[:n_rows])
    best = numpy.zeros(len(queries), dtype="int64")
    cosines = numpy.zeros(len(queries), dtype="float32")
    for start in range(0, len(queries), batch_size):
        batch = slice(start, start + batch_size)
        sims = unit_rows(data[queries[batch]]) @ kept.T
        best[batch] = sims.argmax(axis=1)
        cosines[batch] = sims[numpy.arange(len(sims)), best[batch]]
        if progress is not None:
            progress(len(sims))
    return best, cosines


def unit_rows(matrix: numpy.ndarray) -> numpy.ndarray:
    """The rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    norms = numpy.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (matrix / norms).astype("float32", copy=False)


def vector_readers(nlp: Language) -> List[Tuple[str, Model]]:
    """(component name, model) of every model in the pipeline (disabled components included)
    that reads static vectors: those whose attrs record a non-zero vectors_width."""
    readers = []
    for name, pipe in nlp.components:
        model = getattr(pipe, "model", None)
        if isinstance(model, Model):
            readers += [(name, node) for node in model.walk() if node.attrs.get("vectors_width")]
    return readers


def check_vector_readers(nlp: Language) -> None:
    """Raise a ValueError (naming the component) unless every model that reads static vectors
    was trained with nlp's current table."""
    for name, model in vector_readers(nlp):
        try:
            check_vectors(nlp.vocab.vectors, model.attrs["vectors_width"], model.attrs.get("vectors_fingerprint", ""))
        except ValueError as err:
            raise ValueError(f"[{name}] {err}") from None


def use_vectors(nlp: Language, vectors: Vectors) -> List[str]:
    """Replace nlp's table by `vectors` and record its fingerprint in every model that reads
    static vectors; returns their component names. `vectors` must be derived from the table
    they were trained with (`check_vector_readers` before pruning it) and have its width (a
    ValueError otherwise)."""
    readers = vector_readers(nlp)
    for name, model in readers:
        if model.attrs["vectors_width"] != vectors.shape[1]:
            raise ValueError(f"[{name}] reads vectors of width {model.attrs['vectors_width']}, not {vectors.shape[1]}")
    nlp.vocab.vectors = vectors
    fingerprint = vectors_fingerprint(vectors)
    for _, model in readers:
        model.attrs["vectors_fingerprint"] = fingerprint
    return sorted({name for name, _ in readers})


def prune_pipeline_vectors(
    nlp: Language, n_rows: int, batch_size: int = 1024, progress: Optional[Callable[[int], None]] = None
) -> Dict:
    """Prune nlp's vectors table in place to its first `n_rows` rows (`prune_vectors`) and let
    its components read the pruned table (`use_vectors`). Returns the pruning statistics and
    the names of the components that read the vectors (`readers`)."""
    check_vector_readers(nlp)
    pruned, stats = prune_vectors(nlp.vocab.vectors, n_rows, batch_size, progress)
    return {**stats, "readers": use_vectors(nlp, pruned)}
