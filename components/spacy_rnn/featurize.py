"""Featurization for the RNN encoders: Docs -> windows -> ids -> padded batches.

One implementation used by the thinc Models (`spacy_rnn.layers`), the pipes and every experiment
script. A doc is cut into windows of at most `window_size` tokens (`doc_windows`, or
`text_windows` for doc-level models); words and characters become ids through the vocabularies
fitted on the training docs (`fit_vocabularies`, `Vocabularies`); `make_batch` pads a group of
windows into a `SequenceBatch`, and `bucket_windows` groups windows so that
prediction memory stays bounded.
"""
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.attrs import LOWER, ORTH
from spacy.strings import get_string_id
from spacy.tokens import Doc
from spacy.vectors import Vectors
from thinc.util import to_numpy

from .models.batching import length_groups
from .models.encoder import PAD_ID, UNK_ID, SequenceBatch

CHAR_UNK, BOW, EOW = 1, 2, 3
FIRST_WORD_ID, FIRST_CHAR_ID = 2, 4

@dataclass(frozen=True)
class Window:
    """Tokens doc[start:end] go through the RNN; only doc[core_start:core_end] are output."""

    doc: int
    start: int
    end: int
    core_start: int
    core_end: int


def doc_windows(doc: Doc, size: int, context: int, by_sentence: bool = True) -> List[Tuple[int, int, int, int]]:
    """Cut a doc into (start, end, core_start, core_end) windows of at most `size` tokens.

    Sentences are the units when `by_sentence` and the doc has sentence boundaries, else the whole doc. A unit
    longer than `size` is covered by consecutive cores of `size - 2 * context` tokens, each
    read with up to `context` tokens of left and right context. Cores partition the doc.
    """
    check_window(size, context)
    if len(doc) == 0:
        return []
    if by_sentence and doc.has_annotation("SENT_START"):
        units = [(sent.start, sent.end) for sent in doc.sents]
    else:
        units = [(0, len(doc))]
    return [window for unit_start, unit_end in units for window in span_windows(unit_start, unit_end, size, context)]


def check_window(size: int, context: int, names: Tuple[str, str] = ("window_size", "window_context")) -> None:
    """ValueError unless a window of `size` positions has a core left between its `context`
    positions of context on each side (size > 2 * context); `names` name the two settings."""
    if size <= 2 * context:
        raise ValueError(f"{names[0]} ({size}) must exceed 2 * {names[1]} ({context})")


def span_windows(unit_start: int, unit_end: int, size: int, context: int) -> List[Tuple[int, int, int, int]]:
    """(start, end, core_start, core_end) windows of at most `size` positions over
    unit_start..unit_end: the whole unit when it fits, else consecutive cores of
    `size - 2 * context` positions, each with up to `context` positions of context on each side.
    Cores partition the unit (also used for the word pieces of `spacy_rnn.transformer_features`)."""
    if unit_end - unit_start <= size:
        return [(unit_start, unit_end, unit_start, unit_end)] if unit_end > unit_start else []
    step = size - 2 * context
    windows = []
    for core_start in range(unit_start, unit_end, step):
        core_end = min(core_start + step, unit_end)
        windows.append((max(unit_start, core_start - context), min(unit_end, core_end + context), core_start, core_end))
    return windows


class Vocabularies:
    """Lower-cased word forms and characters seen in training, as id lookups."""

    def __init__(self, words: Sequence[str], chars: Sequence[str], max_word_chars: int):
        self.word_ids = {get_string_id(w): i for i, w in enumerate(words, FIRST_WORD_ID)}
        self.char_ids = {c: i for i, c in enumerate(chars, FIRST_CHAR_ID)}
        self.max_word_chars = max_word_chars

    def encode_form(self, form: str) -> List[int]:
        """BOW + char ids + EOW; over-long forms keep their prefix and suffix."""
        half = self.max_word_chars // 2
        if len(form) > self.max_word_chars:
            form = form[:half] + form[-half:]
        return [BOW] + [self.char_ids.get(c, CHAR_UNK) for c in form] + [EOW]


@dataclass
class DocFeatures:
    """Per-token arrays for one doc: word ids, orth hashes, rows in the static vectors table
    (-1: no vector), or None when the model uses no static vectors."""

    word_ids: numpy.ndarray
    orths: numpy.ndarray
    vector_rows: Optional[numpy.ndarray]


def doc_features(doc: Doc, vocabs: Vocabularies, vectors_width: int) -> DocFeatures:
    keys = doc.to_array([ORTH, LOWER])
    word_ids = numpy.fromiter(
        (vocabs.word_ids.get(key, UNK_ID) for key in keys[:, 1].tolist()), dtype="int64", count=len(doc)
    )
    vector_rows = None
    if vectors_width:
        table = doc.vocab.vectors
        vector_rows = table.find(keys=keys[:, 0])
        missing = vector_rows < 0
        vector_rows[missing] = table.find(keys=keys[missing, 1])
    return DocFeatures(word_ids, keys[:, 0], vector_rows)


def make_batch(
    windows: Sequence[Window], features: Sequence[DocFeatures], docs: Sequence[Doc], vocabs: Vocabularies
) -> SequenceBatch:
    """Pad the windows into one SequenceBatch whose token_index lists their core tokens in order."""
    n_windows = len(windows)
    width = max(w.end - w.start for w in windows)
    word_ids = numpy.full((n_windows, width), PAD_ID, dtype="int64")
    form_index = numpy.zeros((n_windows, width), dtype="int64")
    table = docs[0].vocab.vectors
    use_vectors = features[0].vector_rows is not None
    vectors = numpy.zeros((n_windows, width, table.shape[1]), dtype="float32") if use_vectors else None
    forms: Dict[int, int] = {}
    token_index = []
    for row, window in enumerate(windows):
        feats = features[window.doc]
        span = slice(window.start, window.end)
        n = window.end - window.start
        word_ids[row, :n] = feats.word_ids[span]
        if vectors is not None:
            rows = feats.vector_rows[span]
            vectors[row, :n] = table.data[rows]
            vectors[row, :n][rows < 0] = 0.0
        form_index[row, :n] = [forms.setdefault(orth, len(forms)) for orth in feats.orths[span].tolist()]
        offset = row * width - window.start
        token_index.extend(range(window.core_start + offset, window.core_end + offset))
    strings = docs[0].vocab.strings
    encoded = [vocabs.encode_form(strings[orth]) for orth in forms]
    char_ids = numpy.zeros((len(encoded), max(len(chars) for chars in encoded)), dtype="int64")
    for row, chars in enumerate(encoded):
        char_ids[row, : len(chars)] = chars
    return SequenceBatch(
        word_ids=torch.from_numpy(word_ids),
        char_ids=torch.from_numpy(char_ids),
        form_index=torch.from_numpy(form_index),
        vectors=None if vectors is None else torch.from_numpy(vectors),
        lengths=torch.tensor([w.end - w.start for w in windows], dtype=torch.int64),
        token_index=torch.tensor(token_index, dtype=torch.int64),
    )


def text_windows(doc: Doc, long_text: str, size: int, context: int) -> List[Tuple[int, int, int, int]]:
    """The windows through which a doc-level model reads a whole doc (sentences ignored):
    long_text "truncate" reads only its first `size` tokens; "window" reads all of it in
    windows of at most `size` tokens with `context` tokens of context (`doc_windows`)."""
    if long_text == "truncate":
        n_tokens = min(len(doc), size)
        return [(0, n_tokens, 0, n_tokens)] if n_tokens else []
    return doc_windows(doc, size, context, by_sentence=False)


def bucket_windows(windows: Sequence[Window], max_tokens: int) -> List[List[int]]:
    """Indices of the windows, longest first, in groups whose padded size (number of windows x
    longest window) is at most `max_tokens` (`spacy_rnn.models.batching.length_groups`)."""
    return length_groups([window.end - window.start for window in windows], max_tokens)


def fit_vocabularies(docs: Iterable[Doc], min_word_freq: int) -> Tuple[List[str], List[str]]:
    """The lower-cased words seen `min_word_freq` times and all characters of the docs, sorted."""
    word_counts: Counter = Counter()
    char_counts: Counter = Counter()
    for doc in docs:
        for token in doc:
            word_counts[token.lower_] += 1
            char_counts.update(token.text)
    words = sorted(w for w, n in word_counts.items() if n >= min_word_freq)
    return words, sorted(char_counts)


def vectors_fingerprint(vectors: Vectors) -> str:
    """A short hash of a vectors table: its shape, number of keys and every n-th row (at most
    about 1,000 rows, so it is cheap for a 400,000-row table), enough to tell tables apart."""
    n_rows = vectors.shape[0]
    sample = to_numpy(vectors.data[:: max(1, n_rows // 1000)]) if n_rows else numpy.zeros(0)
    digest = hashlib.sha256(repr((tuple(vectors.shape), len(vectors.key2row))).encode())
    digest.update(numpy.ascontiguousarray(sample, dtype="float32").tobytes())
    return digest.hexdigest()[:16]
