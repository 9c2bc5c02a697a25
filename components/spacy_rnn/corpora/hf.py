"""Convert Hugging Face token-tagging datasets (one sentence per row) to spaCy Docs."""
from pathlib import Path
from typing import Iterator, List, Optional, Union

from datasets import ClassLabel, Dataset
from spacy.tokens import Doc
from spacy.vocab import Vocab

from .conllu import UPOS_TAGS, CorpusStats, write_docbin

# The "universal_dependencies" dataset keeps multi-word token lines ("don't"
# before "do" and "n't") as extra tokens with the UPOS "_".
_MULTI_WORD_UPOS = "_"


def docs_from_hf_tagging(
    dataset: Dataset,
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
    Raises ValueError for a missing column, rows whose columns differ in
    length, and UPOS values outside the 17 Universal Dependencies tags.
    """
    columns = [tokens_column, upos_column]
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(f"Dataset has no column {column!r}; it has {dataset.column_names}")
    if xpos_column in dataset.column_names:
        columns.append(xpos_column)
    upos_names = _class_label_names(dataset.features[upos_column])
    for index, row in enumerate(dataset.select_columns(columns)):
        tokens = row[tokens_column]
        upos = row[upos_column]
        xpos = row.get(xpos_column, [None] * len(tokens))
        for column in columns[1:]:
            if len(row[column]) != len(tokens):
                raise ValueError(
                    f"Row {index}: column {column!r} has {len(row[column])} values, "
                    f"column {tokens_column!r} has {len(tokens)}"
                )
        words: List[str] = []
        pos: List[str] = []
        tags: List[str] = []
        for text, upos_value, tag in zip(tokens, upos, xpos):
            upos_tag = upos_value
            if upos_names is not None and 0 <= upos_value < len(upos_names):
                upos_tag = upos_names[upos_value]
            if upos_tag == _MULTI_WORD_UPOS:
                continue
            if upos_tag not in UPOS_TAGS:
                raise ValueError(f"Row {index}: invalid UPOS {upos_tag!r} in column {upos_column!r}")
            words.append(text)
            pos.append(upos_tag)
            tags.append("" if tag is None or tag == "_" else tag)
        if not words:
            raise ValueError(f"Row {index}: no tokens in column {tokens_column!r}")
        yield Doc(
            vocab,
            words=words,
            spaces=[True] * (len(words) - 1) + [False],
            pos=pos,
            tags=tags,
            sent_starts=[True] + [False] * (len(words) - 1),
        )


def convert_hf_tagging(
    dataset: Dataset, output_path: Union[str, Path], **columns: str
) -> CorpusStats:
    """Convert a tagging dataset to a .spacy DocBin (see docs_from_hf_tagging)."""
    return write_docbin(docs_from_hf_tagging(dataset, Vocab(), **columns), output_path)


def _class_label_names(feature) -> Optional[List[str]]:
    """The label names of a sequence-of-ClassLabel feature, else None."""
    inner = getattr(feature, "feature", None)
    return inner.names if isinstance(inner, ClassLabel) else None
