"""Token-per-line files with an entity tag column (CoNLL-style, any number of columns) -> Docs.

A line holds one token's columns, separated by tabs or by spaces (`separator`: "tab",
"space" for runs of spaces, "auto": tabs when the first token line has one). A blank line ends
a sentence. A line whose first column is "-DOCSTART-" starts a document; without them, every
`n_sents` sentences make a Doc. The token and tag columns are chosen by index (negative:
from the end); every token line must have as many columns as the first.

Tags are "O" or PREFIX-LABEL, in one of the schemes:
  iob1   I-X starts or continues an entity; B-X starts one only right after an entity of
         type X (CoNLL-2003)
  iob2   (BIO) B-X starts every entity, I-X continues it
  bioes  (BILUO) B-X I-X... E-X, and S-X for one token; L- and U- are read as E- and S-
"auto" reads the whole file first: bioes when any tag has an E-, S-, L- or U- prefix, else iob1
when any entity starts with I-, else iob2; iob1 and iob2 found this way are read as conlleval
reads them. A scheme given explicitly is checked: the first tag it does not allow fails, as
does every malformed line, with "file:line: reason" (`CorpusFormatError`).
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

from spacy.tokens import Doc
from spacy.vocab import Vocab

from . import CorpusFormatError
from .conll2003 import DOCSTART, iob1_to_spans, set_entity_spans
from .docbin import CorpusStats, write_docbin
from .lines import read_lines

SCHEMES = ("auto", "iob1", "iob2", "bioes")
SEPARATORS = ("auto", "tab", "space")
_TAG = re.compile(r"([A-Z])-(\S+)")
_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIESLU"}
Span = Tuple[int, int, str]


@dataclass
class Sentence:
    """The tokens of one sentence with their tags and the line number of each."""

    words: List[str] = field(default_factory=list)
    tags: List[str] = field(default_factory=list)
    line_nos: List[int] = field(default_factory=list)


class TagError(ValueError):
    """A tag the scheme does not allow, at `position` in its sentence."""

    def __init__(self, position: int, message: str) -> None:
        self.position = position
        super().__init__(message)


def read_columns(
    path: Union[str, Path],
    vocab: Vocab,
    *,
    token_column: int = 0,
    tag_column: int = -1,
    scheme: str = "auto",
    separator: str = "auto",
    n_sents: int = 10,
) -> Tuple[List[Doc], str]:
    """The file's Docs, with words, sentence starts and entities (every other token "O"), and
    the scheme read (see the module docstring). Raises CorpusFormatError "file:line: reason"
    for the first problem."""
    if scheme not in SCHEMES or separator not in SEPARATORS:
        raise ValueError(f"scheme must be one of {SCHEMES} and separator one of {SEPARATORS}, not {scheme!r}, {separator!r}")
    path = Path(path)
    documents, has_docstart = _read_documents(path, token_column, tag_column, separator)
    if scheme == "auto":
        scheme = detect_scheme(sentence.tags for document in documents for sentence in document)
        strict = scheme == "bioes"
    else:
        strict = True
    groups = documents if has_docstart else [chunk for document in documents for chunk in _chunks(document, n_sents)]
    return [_make_doc(path, vocab, sentences, scheme, strict) for sentences in groups], scheme


def detect_scheme(sentences_tags) -> str:
    """"bioes", "iob1" or "iob2" for an iterable of sentences' tags (see the module docstring)."""
    iob1 = False
    for tags in sentences_tags:
        previous = "O"
        for tag in tags:
            if tag[:2] in ("E-", "S-", "L-", "U-"):
                return "bioes"
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                iob1 = True
            previous = tag
    return "iob1" if iob1 else "iob2"


def tags_to_spans(tags: List[str], scheme: str, strict: bool = True) -> List[Span]:
    """The (start, end exclusive, label) entities of one sentence's tags. strict: raise
    TagError at the first tag the scheme does not allow (otherwise iob1/iob2 are read as
    conlleval reads them)."""
    for position, tag in enumerate(tags):
        if tag != "O" and not (_TAG.fullmatch(tag) and tag[0] in _PREFIXES[scheme]):
            raise TagError(position, f"tag {tag!r} is not O or one of {'/'.join(_PREFIXES[scheme])}-LABEL ({scheme})")
    if scheme == "bioes":
        return _bioes_spans(tags)
    if strict:
        _check_iob(tags, scheme)
    return iob1_to_spans(tags)


def _check_iob(tags: List[str], scheme: str) -> None:
    previous = "O"
    for position, tag in enumerate(tags):
        continues = previous != "O" and previous[2:] == tag[2:]
        if scheme == "iob2" and tag.startswith("I-") and not continues:
            raise TagError(position, f"{tag} after {previous} does not continue an entity: not IOB2 (IOB1? try --scheme iob1)")
        if scheme == "iob1" and tag.startswith("B-") and not continues:
            raise TagError(position, f"{tag} after {previous}: IOB1 uses B- only right after an entity of the same type (IOB2? try --scheme iob2)")
        previous = tag


def _bioes_spans(tags: List[str]) -> List[Span]:
    spans: List[Span] = []
    start, label = None, None  # the open entity
    for position, tag in enumerate(tags):
        prefix, tag_label = (tag[0], tag[2:]) if tag != "O" else ("O", None)
        prefix = {"L": "E", "U": "S"}.get(prefix, prefix)
        if start is None and prefix in "IE":
            raise TagError(position, f"{tag} does not continue an entity (BIOES entities start with B- or S-)")
        if start is not None and (prefix not in "IE" or tag_label != label):
            raise TagError(position, f"{tag} after {tags[position - 1]}: the entity is not closed by E-{label} (not BIOES)")
        if prefix == "B":
            start, label = position, tag_label
        elif prefix == "S":
            spans.append((position, position + 1, tag_label))
        elif prefix == "E":
            spans.append((start, position + 1, label))
            start, label = None, None
    if start is not None:
        raise TagError(len(tags) - 1, f"the sentence ends inside {label} (not closed by E-{label}; not BIOES)")
    return spans


def _read_documents(path: Path, token_column: int, tag_column: int, separator: str) -> Tuple[List[List[Sentence]], bool]:
    """The file's documents (split at -DOCSTART- lines), each a list of sentences, and whether
    it has -DOCSTART- lines."""
    documents: List[List[Sentence]] = [[]]
    has_docstart = False
    sentence = Sentence()
    n_columns: Optional[Tuple[int, int]] = None  # (columns, line number of the first token line)
    for line_no, line in read_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            sentence = _end_sentence(documents, sentence)
            continue
        if line.split()[0] == DOCSTART:
            if sentence.words:
                raise CorpusFormatError(path, line_no, f"{DOCSTART} line inside a sentence")
            has_docstart = True
            if documents[-1]:
                documents.append([])
            continue
        if separator == "auto":
            separator = "tab" if "\t" in line else "space"
        columns = line.split("\t") if separator == "tab" else line.split()
        if n_columns is None:
            n_columns = (len(columns), line_no)
            _check_column(path, line_no, len(columns), token_column, "token")
            _check_column(path, line_no, len(columns), tag_column, "tag")
        if len(columns) != n_columns[0]:
            raise CorpusFormatError(path, line_no, f"{len(columns)} {separator}-separated columns, but line {n_columns[1]} has {n_columns[0]}")
        if not columns[token_column].strip() or not columns[tag_column].strip():
            raise CorpusFormatError(path, line_no, "empty token or tag column")
        sentence.words.append(columns[token_column])
        sentence.tags.append(columns[tag_column].strip())
        sentence.line_nos.append(line_no)
    _end_sentence(documents, sentence)
    documents = [document for document in documents if document]
    if not documents:
        raise CorpusFormatError(path, 1, "no tokens in the file")
    return documents, has_docstart


def _check_column(path: Path, line_no: int, n_columns: int, index: int, what: str) -> None:
    if not -n_columns <= index < n_columns:
        raise CorpusFormatError(path, line_no, f"no {what} column {index}: the line has {n_columns} columns")


def _end_sentence(documents: List[List[Sentence]], sentence: Sentence) -> Sentence:
    if sentence.words:
        documents[-1].append(sentence)
    return Sentence()


def _chunks(sentences: List[Sentence], size: int) -> List[List[Sentence]]:
    return [sentences[i : i + size] for i in range(0, len(sentences), size)]


def _make_doc(path: Path, vocab: Vocab, sentences: List[Sentence], scheme: str, strict: bool) -> Doc:
    words = [word for sentence in sentences for word in sentence.words]
    sent_starts = [i == 0 for sentence in sentences for i in range(len(sentence.words))]
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False], sent_starts=sent_starts)
    spans, offset = [], 0
    for sentence in sentences:
        try:
            spans.extend((offset + start, offset + end, label) for start, end, label in tags_to_spans(sentence.tags, scheme, strict))
        except TagError as err:
            raise CorpusFormatError(path, sentence.line_nos[err.position], f"{err} [scheme {scheme}]") from None
        offset += len(sentence.words)
    set_entity_spans(doc, spans)
    return doc


def convert_columns(input_path: Union[str, Path], output_path: Union[str, Path], **options) -> Tuple[CorpusStats, str]:
    """Convert a token-per-line file to a .spacy DocBin (options: see read_columns); returns
    its sizes and the scheme read."""
    docs, scheme = read_columns(input_path, Vocab(), **options)
    return write_docbin(docs, output_path), scheme
