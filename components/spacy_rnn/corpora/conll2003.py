"""Read the CoNLL-2003 English NER files (eng.train, eng.testa, eng.testb) into spaCy Docs.

A token line holds four columns separated by single spaces, "token POS chunk NER",
with NER tags in IOB1. Blank lines end sentences and "-DOCSTART-" lines start
documents. The chunk column is not read.
"""
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from . import CorpusFormatError
from .docbin import CorpusStats, write_docbin
from .lines import read_lines

DOCSTART = "-DOCSTART-"
_N_COLUMNS = 4
_ENTITY_TAG = re.compile(r"([BI])-(\S+)")


def iob1_to_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """The entities of one sentence's IOB1 tags as (start, end exclusive, label).

    In IOB1 an entity starts with I-X, and with B-X only where it directly
    follows an entity of the same type X. A B-X after O or after another type
    is invalid IOB1; it is read as the start of an entity (as conlleval and
    seqeval read it) rather than rejected. Raises ValueError for a tag that is
    not O, B-X or I-X.
    """
    return _iob_to_spans(tags)


def iob2_to_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """The entities of one sentence's IOB2 tags as (start, end exclusive, label).

    In IOB2 every entity starts with B-X. An I-X that does not continue an
    entity of type X is invalid IOB2; it is read as the start of an entity
    (as seqeval's default mode reads it) rather than rejected. Raises
    ValueError for a tag that is not O, B-X or I-X.
    """
    return _iob_to_spans(tags)


def _iob_to_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """Decode IOB1 and IOB2 alike: once their invalid sequences are read leniently,
    both say that B-X starts an entity and I-X continues an entity of type X
    that ends just before it, or else starts one.
    """
    spans: List[Tuple[int, int, str]] = []
    start, label = 0, None  # the entity being read, if label is not None
    for i, tag in enumerate(tags):
        prefix, type_ = _split_tag(tag)
        if label is not None and (prefix != "I" or type_ != label):
            spans.append((start, i, label))
            label = None
        if prefix != "O" and label is None:
            start, label = i, type_
    if label is not None:
        spans.append((start, len(tags), label))
    return spans


def _split_tag(tag: str) -> Tuple[str, str]:
    """("O", "") for O, else the prefix ("B" or "I") and the entity type.
    Raises ValueError for anything else, a non-string included.
    """
    if tag == "O":
        return "O", ""
    match = _ENTITY_TAG.fullmatch(tag) if isinstance(tag, str) else None
    if match is None:
        raise ValueError(f"invalid NER tag {tag!r} (expected O, B-TYPE or I-TYPE)")
    return match.group(1), match.group(2)


def set_entity_spans(doc: Doc, spans: Iterable[Tuple[int, int, str]]) -> None:
    """Set doc.ents from (start, end exclusive, label) spans; every other token is O."""
    entities = [Span(doc, start, end, label=label) for start, end, label in spans]
    doc.set_ents(entities, default="outside")


class _Document:
    """The token lines of one document, validated as they are added."""

    def __init__(self, path: Path, docstart_line_no: Optional[int]) -> None:
        self.path = path
        self.docstart_line_no = docstart_line_no  # None before the first -DOCSTART-
        self.words: List[str] = []
        self.tags: List[str] = []
        self.ner_by_sentence: List[List[str]] = []
        self.in_sentence = False

    def add_token_line(self, line_no: int, columns: List[str]) -> None:
        word, tag, _, ner = columns
        try:
            _split_tag(ner)
        except ValueError as err:
            raise CorpusFormatError(self.path, line_no, str(err)) from None
        if not self.in_sentence:
            self.ner_by_sentence.append([])
            self.in_sentence = True
        self.words.append(word)
        self.tags.append(tag)
        self.ner_by_sentence[-1].append(ner)

    def end_sentence(self) -> None:
        self.in_sentence = False

    def is_leading_blank(self) -> bool:
        """Whether this is the text before the first -DOCSTART-, and holds no tokens."""
        return self.docstart_line_no is None and not self.words

    def make_doc(self, vocab: Vocab) -> Doc:
        """The Doc, with entities decoded sentence by sentence."""
        if not self.words:
            raise CorpusFormatError(self.path, self.docstart_line_no, "document without tokens")
        doc = Doc(
            vocab,
            words=self.words,
            spaces=[True] * (len(self.words) - 1) + [False],
            tags=self.tags,
            sent_starts=[i == 0 for ner in self.ner_by_sentence for i in range(len(ner))],
        )
        spans: List[Tuple[int, int, str]] = []
        offset = 0
        for ner in self.ner_by_sentence:
            for start, end, label in iob1_to_spans(ner):
                spans.append((offset + start, offset + end, label))
            offset += len(ner)
        set_entity_spans(doc, spans)
        return doc


def _split_line(path: Path, line_no: int, line: str) -> List[str]:
    columns = line.rstrip().split(" ")
    if len(columns) != _N_COLUMNS:
        raise CorpusFormatError(
            path,
            line_no,
            f"expected {_N_COLUMNS} space-separated columns (token POS chunk NER), "
            f"found {len(columns)}",
        )
    if "" in columns:
        raise CorpusFormatError(path, line_no, "empty column")
    return columns


def read_conll2003(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """Stream one Doc per document of a CoNLL-2003 file.

    "-DOCSTART-" lines separate documents; a file without them is one document.
    Words are joined by single spaces. Sets tag_ from the POS column, sentence
    starts, and ents from the IOB1 NER column (see iob1_to_spans), decoded per
    sentence; every token outside an entity is O. Raises CorpusFormatError at
    the first malformed line (bytes that are not UTF-8 included, see
    lines.read_lines), for a document without tokens and for a file without
    tokens.
    """
    path = Path(path)
    document = _Document(path, None)
    for line_no, line in read_lines(path):
        if not line.strip():
            document.end_sentence()
            continue
        columns = _split_line(path, line_no, line)
        if columns[0] != DOCSTART:
            document.add_token_line(line_no, columns)
            continue
        if document.in_sentence:
            raise CorpusFormatError(path, line_no, f"{DOCSTART} line inside a sentence")
        if not document.is_leading_blank():
            yield document.make_doc(vocab)
        document = _Document(path, line_no)
    if document.is_leading_blank():
        raise CorpusFormatError(path, 1, "no tokens in the file")
    yield document.make_doc(vocab)


def convert_conll2003(
    input_path: Union[str, Path], output_path: Union[str, Path], vocab: Optional[Vocab] = None
) -> CorpusStats:
    """Convert a CoNLL-2003 file to a .spacy DocBin (see read_conll2003)."""
    vocab = vocab if vocab is not None else Vocab()
    return write_docbin(read_conll2003(input_path, vocab), output_path)
