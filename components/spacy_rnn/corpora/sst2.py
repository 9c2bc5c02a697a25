"""GLUE SST-2 as spaCy Docs with exclusive doc.cats over BINARY_LABELS.

TSV with the header "sentence<TAB>label", labels 0 (negative) and 1 (positive); sentences
are cleaned by clean_text and tokenised by spacy.blank("en").
"""
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import spacy
from spacy.language import Language

from . import CorpusFormatError
from .docbin import TextcatStats, write_textcat_docbin
from .lines import read_lines
from .textcat import BINARY_LABELS, Counted, clean_text, text_doc

_SST2_HEADER = ["sentence", "label"]


def read_sst2_tsv(path: Union[str, Path]) -> Iterator[Tuple[str, str]]:
    """Stream (sentence, label name) from a GLUE SST-2 train.tsv or dev.tsv (UTF-8).

    The first line must be the header "sentence<TAB>label"; every other line holds a sentence
    and the label 0 or 1, separated by one tab. The sentence is cleaned by clean_text (GLUE
    leaves a trailing space). Raises CorpusFormatError ("file:line: ...") for a wrong header,
    a line without exactly two columns, a label other than 0 or 1, an empty sentence, bytes
    that are not UTF-8 (see lines.read_lines) and a file without rows. GLUE's unlabelled
    test.tsv ("index<TAB>sentence") is rejected.
    """
    path = Path(path)
    lines = read_lines(path)
    header = next(lines, (1, ""))[1].rstrip("\r\n")
    if header.split("\t") != _SST2_HEADER:
        raise CorpusFormatError(path, 1, f"expected the header 'sentence\\tlabel', found {header!r}")
    n_rows = 0
    for line_no, line in lines:
        line = line.rstrip("\r\n")
        columns = line.split("\t")
        if len(columns) != 2:
            raise CorpusFormatError(
                path, line_no, f"expected 2 tab-separated columns (sentence, label), found {len(columns)}"
            )
        sentence, label = clean_text(columns[0]), columns[1].strip()
        if label not in {"0", "1"}:
            raise CorpusFormatError(path, line_no, f"invalid label {label!r} (expected 0 or 1)")
        if not sentence:
            raise CorpusFormatError(path, line_no, "empty sentence")
        n_rows += 1
        yield sentence, BINARY_LABELS[int(label)]
    if not n_rows:
        raise CorpusFormatError(path, 1, "no rows after the header")


def convert_sst2(
    input_path: Union[str, Path], output_path: Union[str, Path], nlp: Optional[Language] = None
) -> TextcatStats:
    """Convert a GLUE SST-2 TSV file to a .spacy DocBin, one Doc per row, tokenised by
    spacy.blank("en") (or nlp), with exclusive cats over BINARY_LABELS."""
    nlp = nlp if nlp is not None else spacy.blank("en")
    rows = Counted(read_sst2_tsv(input_path))
    docs = (text_doc(nlp, text, label, BINARY_LABELS) for text, label in rows)
    stats = write_textcat_docbin(docs, output_path)
    stats.n_read = rows.count
    return stats
