"""IMDB reviews (Maas et al. 2011) as spaCy Docs with exclusive doc.cats over BINARY_LABELS.

Gzipped JSON lines {"id", "label": "pos"|"neg", "rating", "text"}; texts are cleaned by
clean_text ("<br />" tags -> whitespace) and tokenised by spacy.blank("en"). A seeded,
label-stratified dev set can be carved out of the training reviews.
"""
import json
import random
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from . import CorpusFormatError
from .counts import IMDB_DEV_SEED, IMDB_DEV_SIZE
from .docbin import TextcatStats, write_textcat_docbin
from .lines import read_nonblank_lines
from .textcat import BINARY_LABELS, LABEL_ALIASES, check_unicode, clean_text, text_doc


class Review(NamedTuple):
    id: str
    label: str  # "negative" or "positive"
    text: str  # cleaned by clean_text


def read_imdb_jsonl(path: Union[str, Path]) -> Iterator[Review]:
    """Stream the reviews of an IMDB JSON-lines file (gzipped if the name ends in .gz).

    Each line is an object with a string "text" and a "label" "pos" or "neg" (returned as
    "positive"/"negative"); "id" is kept as a string and "rating" is not read. The text is
    cleaned by clean_text. Blank lines are skipped. Raises CorpusFormatError ("file:line: ...")
    for invalid JSON, a missing or invalid text or label, a text that is empty once cleaned,
    bytes that are not UTF-8 or a truncated gzip file (see lines.read_lines) and a file
    without reviews.
    """
    for line_no, line in read_nonblank_lines(path, "reviews"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusFormatError(path, line_no, f"invalid JSON: {err}") from None
        if not isinstance(record, dict):
            raise CorpusFormatError(path, line_no, "expected a JSON object")
        label = record.get("label")
        if label not in ("pos", "neg"):
            raise CorpusFormatError(path, line_no, f"invalid label {label!r} (expected 'pos' or 'neg')")
        text = record.get("text")
        if not isinstance(text, str):
            raise CorpusFormatError(path, line_no, "missing or non-string 'text'")
        text = clean_text(text)
        if not text:
            raise CorpusFormatError(path, line_no, "empty text")
        try:
            check_unicode(text)
        except ValueError as err:
            raise CorpusFormatError(path, line_no, str(err)) from None
        yield Review(str(record.get("id", line_no)), LABEL_ALIASES[label], text)


def stratified_dev_indices(labels: Sequence[str], dev_size: int, seed: int) -> List[int]:
    """Sorted indices of a seeded, label-stratified sample of dev_size items.

    Each label gets dev_size * its share of the items, rounded by largest remainder (ties to
    the label first in sorted order), and its items are drawn with random.Random(seed).sample
    from that label's items in input order, labels in sorted order. The same labels, size and
    seed always give the same indices. Raises ValueError unless 0 < dev_size < len(labels).
    """
    if not 0 < dev_size < len(labels):
        raise ValueError(f"dev size must be between 1 and {len(labels) - 1}, not {dev_size}")
    by_label: Dict[str, List[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    names = sorted(by_label)
    exact = {name: dev_size * len(by_label[name]) / len(labels) for name in names}
    quotas = {name: int(exact[name]) for name in names}
    by_remainder = sorted(names, key=lambda name: (-(exact[name] - quotas[name]), name))
    for name in by_remainder[: dev_size - sum(quotas.values())]:
        quotas[name] += 1
    rng = random.Random(seed)
    chosen: List[int] = []
    for name in names:
        chosen.extend(rng.sample(by_label[name], quotas[name]))
    return sorted(chosen)


def convert_imdb(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    dev_output_path: Optional[Union[str, Path]] = None,
    dev_size: int = IMDB_DEV_SIZE,
    seed: int = IMDB_DEV_SEED,
    nlp: Optional[Language] = None,
) -> Tuple[TextcatStats, Optional[TextcatStats]]:
    """Convert an IMDB JSON-lines file to a .spacy DocBin, one Doc per review, tokenised by
    spacy.blank("en") (or nlp), with exclusive cats over BINARY_LABELS, in file order.

    With dev_output_path, a seeded label-stratified sample of dev_size reviews (see
    stratified_dev_indices) goes there instead of to output_path; use it on the training file
    only. Returns (stats of output_path, stats of dev_output_path or None); the first n_read
    is the number of reviews in the file.
    """
    nlp = nlp if nlp is not None else spacy.blank("en")
    reviews = list(read_imdb_jsonl(input_path))
    dev = set()
    if dev_output_path is not None:
        dev = set(stratified_dev_indices([review.label for review in reviews], dev_size, seed))

    def docs(in_dev: bool) -> Iterator[Doc]:
        for index, review in enumerate(reviews):
            if (index in dev) == in_dev:
                yield text_doc(nlp, review.text, review.label, BINARY_LABELS)

    stats = write_textcat_docbin(docs(False), output_path)
    stats.n_read = len(reviews)
    dev_stats = None
    if dev_output_path is not None:
        dev_stats = write_textcat_docbin(docs(True), dev_output_path)
        dev_stats.n_read = len(reviews)
    return stats, dev_stats
