"""Convert Hugging Face datasets to spaCy Docs: token-level datasets (one sentence per row,
with UPOS/XPOS tags or IOB2 entity tags) and text classification datasets (a text and a
label column, e.g. glue/sst2, imdb, SST-5 variants). The datasets are `datasets.Dataset`s
(extra `[datasets]`, imported only here when used)."""
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..extras import require
from .conll2003 import iob2_to_spans, set_entity_spans
from .conllu import UPOS_TAGS
from .docbin import CorpusStats, TextcatStats, write_docbin, write_textcat_docbin
from .textcat import BINARY_LABELS, FINE_LABELS, LABEL_ALIASES, clean_text, text_doc

if TYPE_CHECKING:
    from datasets import Dataset

# The "universal_dependencies" dataset keeps multi-word token lines ("don't"
# before "do" and "n't") as extra tokens with the UPOS "_".
_MULTI_WORD_UPOS = "_"


def docs_from_hf_tagging(
    dataset: "Dataset",
    vocab: Vocab,
    *,
    tokens_column: str = "tokens",
    upos_column: str = "upos",
    xpos_column: str = "xpos",
) -> Iterator[Doc]:
    """Yield one single-sentence Doc per row, with pos_ and, if present, tag_.

    UPOS values are strings or ClassLabel ids. Tokens whose UPOS is "_"
    (multi-word tokens) are skipped. The XPOS column is optional; a None or
    "_" XPOS leaves tag_ unset. Words are separated by single spaces.
    Raises ValueError for a missing column, a row whose columns are not lists
    (tokens: of strings) or differ in length, and UPOS values outside the 17 Universal Dependencies tags.
    """
    columns = [tokens_column, upos_column]
    _require_columns(dataset, columns)
    if xpos_column in dataset.column_names:
        columns.append(xpos_column)
    upos_names = _class_label_names(dataset.features[upos_column])
    for index, row in enumerate(dataset.select_columns(columns)):
        _check_row(index, row, columns)
        tokens = row[tokens_column]
        xpos = row.get(xpos_column, [None] * len(tokens))
        words: List[str] = []
        pos: List[str] = []
        tags: List[str] = []
        for text, upos_value, tag in zip(tokens, row[upos_column], xpos):
            upos_tag = _label(upos_names, upos_value)
            if upos_tag == _MULTI_WORD_UPOS:
                continue
            if upos_tag not in UPOS_TAGS:
                raise ValueError(f"Row {index}: invalid UPOS {upos_tag!r} in column {upos_column!r}")
            words.append(text)
            pos.append(upos_tag)
            tags.append("" if tag is None or tag == "_" else tag)
        if not words:
            raise ValueError(f"Row {index}: no tokens in column {tokens_column!r}")
        yield _sentence_doc(vocab, words, pos=pos, tags=tags)


def docs_from_hf_ner(
    dataset: "Dataset",
    vocab: Vocab,
    *,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
) -> Iterator[Doc]:
    """Yield one single-sentence Doc per row, with ents; every other token is O.

    NER tags are IOB2 strings or ClassLabel ids, as in the hub's "conll2003"
    dataset, and are decoded by iob2_to_spans (an I-X that does not continue
    an entity of type X starts one). Words are separated by single spaces.
    Raises ValueError for a missing column, a row whose columns are not lists
    (tokens: of strings) or differ in length, rows without tokens and tags other than O, B-X and I-X.
    """
    columns = [tokens_column, tags_column]
    _require_columns(dataset, columns)
    tag_names = _class_label_names(dataset.features[tags_column])
    for index, row in enumerate(dataset.select_columns(columns)):
        _check_row(index, row, columns)
        words = row[tokens_column]
        if not words:
            raise ValueError(f"Row {index}: no tokens in column {tokens_column!r}")
        try:
            spans = iob2_to_spans([_label(tag_names, value) for value in row[tags_column]])
        except ValueError as err:
            raise ValueError(f"Row {index}, column {tags_column!r}: {err}") from None
        doc = _sentence_doc(vocab, words)
        set_entity_spans(doc, spans)
        yield doc


def convert_hf_tagging(
    dataset: "Dataset", output_path: Union[str, Path], **columns: str
) -> CorpusStats:
    """Convert a tagging dataset to a .spacy DocBin (see docs_from_hf_tagging)."""
    return write_docbin(docs_from_hf_tagging(dataset, Vocab(), **columns), output_path)


def convert_hf_ner(dataset: "Dataset", output_path: Union[str, Path], **columns: str) -> CorpusStats:
    """Convert an NER dataset to a .spacy DocBin (see docs_from_hf_ner)."""
    return write_docbin(docs_from_hf_ner(dataset, Vocab(), **columns), output_path)


def hf_label_names(dataset, label_column: str = "label", labels: Optional[Sequence[str]] = None) -> List[str]:
    """The label names, in order, of a dataset's label column.

    labels, if given, wins (integer label i means labels[i]); else a ClassLabel's names; else,
    for string labels, the distinct values: ordered as BINARY_LABELS or FINE_LABELS when they
    are all among those, else sorted. Names pass through LABEL_ALIASES ("pos" -> "positive").
    Raises ValueError for integer labels without names.
    """
    if labels is not None:
        names = [LABEL_ALIASES.get(name, name) for name in labels]
    elif isinstance(dataset.features[label_column], _class_label()):
        names = [LABEL_ALIASES.get(name, name) for name in dataset.features[label_column].names]
    else:
        values = set(dataset.unique(label_column))
        if not all(isinstance(value, str) for value in values):
            raise ValueError(
                f"column {label_column!r} holds label ids without names: give the label names in order"
            )
        values = {LABEL_ALIASES.get(value, value) for value in values}
        for canonical in (BINARY_LABELS, FINE_LABELS):
            if values <= set(canonical):
                return list(canonical)
        return sorted(values)
    if len(set(names)) != len(names) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"label names must be distinct and not empty: {names}")
    return names


def docs_from_hf_text(
    dataset,
    nlp: Language,
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: Optional[Sequence[str]] = None,
) -> Iterator[Doc]:
    """Yield one Doc per row of a datasets.Dataset: the text cleaned (clean_text) and
    tokenised by nlp, doc.cats exclusive over hf_label_names(dataset, label_column, labels).

    A label is an integer id (ClassLabel or given names) or a string name. Raises ValueError
    naming the row for a missing column, a text that is not a string or is empty, and a label
    that is not one of the names (as -1, the label of GLUE's unlabelled test rows).
    """
    _require_columns(dataset, [text_column, label_column])
    names = hf_label_names(dataset, label_column, labels)
    for index, row in enumerate(dataset.select_columns([text_column, label_column])):
        text, value = row[text_column], row[label_column]
        if not isinstance(text, str) or not clean_text(text):
            raise ValueError(f"Row {index}: column {text_column!r} holds no text: {text!r}")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
            label = names[value]
        else:
            label = LABEL_ALIASES.get(value, value) if isinstance(value, str) else value
        if label not in names:
            raise ValueError(f"Row {index}: label {value!r} is not one of {names}")
        yield text_doc(nlp, clean_text(text), label, names)


def convert_hf_text(
    dataset,
    output_path: Union[str, Path],
    nlp: Optional[Language] = None,
    **columns,
) -> TextcatStats:
    """Convert a text+label dataset to a .spacy DocBin (see docs_from_hf_text), tokenised by
    spacy.blank("en") unless nlp is given; n_read is the number of rows."""
    nlp = nlp if nlp is not None else spacy.blank("en")
    stats = write_textcat_docbin(docs_from_hf_text(dataset, nlp, **columns), output_path)
    stats.n_read = len(dataset)
    return stats


def _require_columns(dataset: "Dataset", columns: List[str]) -> None:
    """ValueError for a dataset without rows or without one of the columns."""
    if len(dataset) == 0:
        raise ValueError(f"Dataset has no rows (columns {dataset.column_names}): nothing to convert")
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(f"Dataset has no column {column!r}; it has {dataset.column_names}")


def _check_row(index: int, row: dict, columns: List[str]) -> None:
    """Raise ValueError unless every column of the row is a list with as many values as the
    first (the tokens, which are strings)."""
    first = columns[0]
    for column in columns:
        if not isinstance(row[column], list):
            raise ValueError(f"Row {index}: column {column!r} holds {_shown(row[column])}, not a list with one value per token")
    if not all(isinstance(word, str) for word in row[first]):
        raise ValueError(f"Row {index}: column {first!r} holds {_shown(row[first])}, not a list of strings")
    for column in columns[1:]:
        if len(row[column]) != len(row[first]):
            raise ValueError(
                f"Row {index}: column {column!r} has {len(row[column])} values, "
                f"column {first!r} has {len(row[first])}"
            )


def _shown(value) -> str:
    """A value as an error message shows it: its type and its repr, cut to 60 characters."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _sentence_doc(vocab: Vocab, words: List[str], **annotation: List[str]) -> Doc:
    """A Doc of one sentence whose words are separated by single spaces."""
    return Doc(
        vocab,
        words=words,
        spaces=[True] * (len(words) - 1) + [False],
        sent_starts=[True] + [False] * (len(words) - 1),
        **annotation,
    )


def _class_label_names(feature) -> Optional[List[str]]:
    """The label names of a sequence-of-ClassLabel feature, else None."""
    inner = getattr(feature, "feature", None)
    return inner.names if isinstance(inner, _class_label()) else None


def _class_label():
    """`datasets.ClassLabel` (a dataset's features are checked against it)."""
    return require("datasets", "datasets", "reading a Hugging Face dataset").ClassLabel


def _label(names: Optional[List[str]], value):
    """The name of a ClassLabel id; any other value as it is."""
    return names[value] if names is not None and 0 <= value < len(names) else value
