"""JSON lines as annotation tools export them -> Docs, one record a line (blank lines skipped).

NER: {"text": "...", "spans": [{"start": 0, "end": 5, "label": "PER"}, ...]} with character
offsets (end exclusive; JSON integers: not strings, floats or booleans); the text is tokenized by the language's tokenizer and each span must
cover whole tokens (`alignment_mode="strict"`) or is widened to them ("expand").
Text classification: {"text": "...", "label": "positive"}: exclusive classes, the doc's cats
1.0 for its label and 0.0 for the others (all labels in the file, or those given: distinct,
non-empty names).
Records with an "answer" other than "accept" (Prodigy's rejected or ignored examples) are
skipped and counted. Every other problem (invalid JSON, a missing or mistyped field, a span
out of the text, off token boundaries or overlapping another, an unknown label) raises
CorpusFormatError "file:line: reason": nothing is dropped silently.
"""
import json
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.tokens import Doc

from . import CorpusFormatError
from .docbin import CorpusStats, TextcatStats, write_docbin, write_textcat_docbin
from .lines import read_nonblank_lines

ALIGNMENT_MODES = ("strict", "expand")


def read_records(path: Union[str, Path]) -> Tuple[List[Tuple[int, Dict]], int]:
    """(line number, record) of each accepted record with a string "text", and the number of
    records skipped for their "answer"."""
    path = Path(path)
    records, n_skipped = [], 0
    for line_no, line in read_nonblank_lines(path, "records"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusFormatError(path, line_no, f"not JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise CorpusFormatError(path, line_no, 'expected an object with a string "text"')
        if record.get("answer", "accept") != "accept":
            n_skipped += 1
            continue
        records.append((line_no, record))
    return records, n_skipped


def detect_task(path: Union[str, Path]) -> str:
    """The task of a JSON-lines file from its first record: "ner" when it has "spans", "textcat"
    when it has "label"; CorpusFormatError at that line when it has both or neither."""
    path = Path(path)
    for line_no, line in read_nonblank_lines(path, "records"):
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusFormatError(path, line_no, f"not JSON ({err.msg} at column {err.colno})") from None
        kinds = [task for key, task in (("spans", "ner"), ("label", "textcat")) if isinstance(fields, dict) and key in fields]
        if len(kinds) == 1:
            return kinds[0]
        raise CorpusFormatError(path, line_no, 'cannot tell the task: expected "spans" (ner) or "label" (textcat), not both or neither; give --task')
    raise AssertionError("unreachable: read_nonblank_lines raises on a file without records")


def read_span_jsonl(path: Union[str, Path], nlp, alignment_mode: str = "strict") -> Tuple[Iterator[Doc], int]:
    """Docs with doc.ents from NER records (see the module docstring), and the records skipped."""
    if alignment_mode not in ALIGNMENT_MODES:
        raise ValueError(f"alignment_mode must be one of {ALIGNMENT_MODES}, not {alignment_mode!r}")
    records, n_skipped = read_records(path)
    return (_span_doc(Path(path), line_no, record, nlp, alignment_mode) for line_no, record in records), n_skipped


def _span_doc(path: Path, line_no: int, record: Dict, nlp, alignment_mode: str) -> Doc:
    doc = nlp.make_doc(record["text"])
    spans = record.get("spans", [])
    if not isinstance(spans, list):
        raise CorpusFormatError(path, line_no, '"spans" is not a list')
    entities = []
    for span in spans:
        start, end, label = _span_fields(path, line_no, span, len(doc.text))
        entity = doc.char_span(start, end, label=label, alignment_mode=alignment_mode)
        if entity is None or not len(entity):
            tokens = [token.text for token in doc.char_span(start, end, alignment_mode="expand") or []]
            raise CorpusFormatError(
                path, line_no,
                f"span [{start}, {end}) {doc.text[start:end]!r} ({label}) does not cover whole tokens {tokens} "
                f"(use --alignment-mode expand to widen it to them)",
            )
        entities.append(entity)
    try:
        doc.set_ents(entities, default="outside")
    except ValueError:
        raise CorpusFormatError(path, line_no, f"overlapping spans {[(e.start_char, e.end_char, e.label_) for e in entities]}") from None
    return doc


def _span_fields(path: Path, line_no: int, span, n_chars: int) -> Tuple[int, int, str]:
    if not isinstance(span, dict) or not all(key in span for key in ("start", "end", "label")):
        raise CorpusFormatError(path, line_no, f'span {span!r} needs "start", "end" and "label"')
    start, end, label = span["start"], span["end"], span["label"]
    if not (_is_integer(start) and _is_integer(end)):
        raise CorpusFormatError(
            path, line_no,
            f"span offsets must be integers (character positions), got start {json.dumps(start)}, end {json.dumps(end)}",
        )
    if not 0 <= start < end <= n_chars:
        raise CorpusFormatError(path, line_no, f"span [{start}, {end}) is not within the text's {n_chars} characters")
    if not isinstance(label, str) or not label.strip():
        raise CorpusFormatError(path, line_no, f"span [{start}, {end}) has no label")
    return start, end, label


def _is_integer(value) -> bool:
    """A JSON integer: Python reads true/false as bools, which are ints too."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_label_names(labels: Sequence[str]) -> List[str]:
    """The given label names as a list; a ValueError for an empty or repeated one (each would
    become a category of every document)."""
    labels = list(labels)
    empty = [label for label in labels if not isinstance(label, str) or not label.strip()]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if empty or repeated or not labels:
        raise ValueError(f"labels must be distinct, non-empty names, got {labels}")
    return labels


def read_label_jsonl(path: Union[str, Path], nlp, labels: Optional[Sequence[str]] = None) -> Tuple[List[Doc], int, List[str]]:
    """Docs with exclusive doc.cats from classification records (see the module docstring),
    the records skipped, and the labels (given, else every label in the file, sorted)."""
    path = Path(path)
    if labels is not None:
        labels = check_label_names(labels)
    records, n_skipped = read_records(path)
    for line_no, record in records:
        if not isinstance(record.get("label"), str) or not record["label"]:
            raise CorpusFormatError(path, line_no, 'expected a string "label"')
    if labels is None:
        labels = sorted({record["label"] for _, record in records})
    docs = []
    for line_no, record in records:
        if record["label"] not in labels:
            raise CorpusFormatError(path, line_no, f"label {record['label']!r} is not one of {list(labels)}")
        doc = nlp.make_doc(record["text"])
        doc.cats = {label: float(label == record["label"]) for label in labels}
        docs.append(doc)
    return docs, n_skipped, list(labels)


def convert_span_jsonl(input_path, output_path, lang: str = "en", alignment_mode: str = "strict") -> Tuple[CorpusStats, int]:
    """NER JSON lines -> a .spacy DocBin; its sizes and the records skipped."""
    docs, n_skipped = read_span_jsonl(input_path, spacy.blank(lang), alignment_mode)
    return write_docbin(docs, output_path), n_skipped


def convert_label_jsonl(input_path, output_path, lang: str = "en", labels: Optional[Sequence[str]] = None) -> Tuple[TextcatStats, int]:
    """Classification JSON lines -> a .spacy DocBin; its sizes and the records skipped."""
    docs, n_skipped, _ = read_label_jsonl(input_path, spacy.blank(lang), labels)
    stats = write_textcat_docbin(docs, output_path)
    stats.n_read = len(docs) + n_skipped
    return stats, n_skipped
