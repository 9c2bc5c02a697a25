"""Read CoNLL-U files (https://universaldependencies.org/format.html) into spaCy Docs.

Tokens are the syntactic words (lines with an integer ID). Multi-word token
lines ("3-4") only define spacing and empty nodes ("5.1") are skipped.
"""
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab

from . import CorpusFormatError
from .docbin import CorpusStats, write_docbin
from .lines import read_lines
from .readers import gold_tokens_example

UPOS_TAGS = frozenset(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)

_ID = re.compile(r"(\d+)(?:([-.])(\d+))?")
_NEWDOC = re.compile(r"#\s*newdoc\b")


class _Word(NamedTuple):
    text: str
    space: bool
    pos: str
    tag: str
    lemma: str
    morph: str


class _Range(NamedTuple):
    first: int
    last: int
    space_after: bool
    line_no: int


class _Sentence:
    """The lines of one sentence, validated as they are added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_line_no: Optional[int] = None
        self.newdoc = False
        self.words: List[_Word] = []
        self._has_token_lines = False
        self._range: Optional[_Range] = None

    def add_comment(self, line_no: int, line: str) -> None:
        if self._has_token_lines:
            raise CorpusFormatError(self.path, line_no, "comment line inside a sentence")
        if self.first_line_no is None:
            self.first_line_no = line_no
        if _NEWDOC.match(line):
            self.newdoc = True

    def add_token_line(self, line_no: int, line: str) -> None:
        if self.first_line_no is None:
            self.first_line_no = line_no
        self._has_token_lines = True
        columns = line.split("\t")
        if len(columns) != 10:
            raise CorpusFormatError(
                self.path, line_no, f"expected 10 tab-separated columns, found {len(columns)}"
            )
        id_, form, lemma, upos, xpos, feats, _, _, _, misc = columns
        if not form:
            raise CorpusFormatError(self.path, line_no, f"empty FORM for ID {id_!r}")
        match = _ID.fullmatch(id_)
        if match is None:
            raise CorpusFormatError(self.path, line_no, f"invalid ID {id_!r}")
        first, separator = int(match.group(1)), match.group(2)
        if separator == ".":
            if first != len(self.words):
                raise CorpusFormatError(
                    self.path, line_no, f"empty node {id_} does not follow word {first}"
                )
            return
        if self._range_is_open() and (separator == "-" or first != len(self.words) + 1):
            raise self._range_error(f"found ID {id_} on line {line_no}")
        if first != len(self.words) + 1:
            raise CorpusFormatError(
                self.path, line_no, f"expected ID {len(self.words) + 1}, found {id_}"
            )
        if separator == "-":
            last = int(match.group(3))
            if last <= first:
                raise CorpusFormatError(self.path, line_no, f"invalid range {id_}")
            self._range = _Range(first, last, _space_after(misc), line_no)
            return
        if upos not in UPOS_TAGS:
            raise CorpusFormatError(self.path, line_no, f"invalid UPOS {upos!r}")
        if self._range is not None and first <= self._range.last:
            space = self._range.space_after if first == self._range.last else False
        else:
            space = _space_after(misc)
        self.words.append(
            _Word(
                text=form,
                space=space,
                pos=upos,
                tag="" if xpos == "_" else xpos,
                # An underscore token has the lemma "_"; otherwise "_" means no lemma.
                lemma="" if lemma == "_" and form != "_" else lemma,
                morph="" if feats == "_" else feats,
            )
        )

    def finish(self) -> None:
        """Check that the sentence is complete."""
        if self._range_is_open():
            raise self._range_error("found the sentence end")
        if not self.words:
            raise CorpusFormatError(self.path, self.first_line_no, "sentence without words")

    def _range_is_open(self) -> bool:
        return self._range is not None and len(self.words) < self._range.last

    def _range_error(self, found: str) -> CorpusFormatError:
        range_id = f"{self._range.first}-{self._range.last}"
        return CorpusFormatError(
            self.path,
            self._range.line_no,
            f"multi-word token {range_id} is not followed by its words ({found})",
        )


def _space_after(misc: str) -> bool:
    return "SpaceAfter=No" not in misc.split("|")


def _read_sentences(path: Path) -> Iterator[_Sentence]:
    sentence = _Sentence(path)
    n_sentences = 0
    for line_no, line in read_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            if sentence.first_line_no is not None:
                sentence.finish()
                n_sentences += 1
                yield sentence
                sentence = _Sentence(path)
        elif line.startswith("#"):
            sentence.add_comment(line_no, line)
        else:
            sentence.add_token_line(line_no, line)
    if sentence.first_line_no is not None:
        sentence.finish()
        n_sentences += 1
        yield sentence
    if not n_sentences:
        raise CorpusFormatError(path, 1, "no sentences in the file")


def _check_n_sents(n_sents: int) -> None:
    if n_sents < 1:
        raise ValueError(f"n_sents must be at least 1, got {n_sents}")


def _make_doc(vocab: Vocab, sentences: List[_Sentence]) -> Doc:
    words = [word for sentence in sentences for word in sentence.words]
    sent_starts = [i == 0 for sentence in sentences for i in range(len(sentence.words))]
    return Doc(
        vocab,
        words=[word.text for word in words],
        spaces=[word.space for word in words],
        pos=[word.pos for word in words],
        tags=[word.tag for word in words],
        lemmas=[word.lemma for word in words],
        morphs=[word.morph for word in words],
        sent_starts=sent_starts,
    )


def read_conllu(path: Union[str, Path], vocab: Vocab, *, n_sents: int = 10) -> Iterator[Doc]:
    """Stream Docs of up to n_sents consecutive sentences from a CoNLL-U file.

    A Doc never spans a "# newdoc" comment. Sets pos_, tag_, lemma_, morph and
    sentence starts; "_" leaves tag_ and lemma_ unset and the morph empty.
    Raises CorpusFormatError at the first malformed line (bytes that are not UTF-8
    included, see lines.read_lines) and for a file without sentences, and ValueError
    for n_sents < 1.
    """
    _check_n_sents(n_sents)
    batch: List[_Sentence] = []
    for sentence in _read_sentences(Path(path)):
        if batch and (sentence.newdoc or len(batch) == n_sents):
            yield _make_doc(vocab, batch)
            batch = []
        batch.append(sentence)
    if batch:
        yield _make_doc(vocab, batch)


def convert_conllu(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    n_sents: int = 10,
    vocab: Optional[Vocab] = None,
) -> CorpusStats:
    """Convert a CoNLL-U file to a .spacy DocBin (see read_conllu)."""
    vocab = vocab if vocab is not None else Vocab()
    return write_docbin(read_conllu(input_path, vocab, n_sents=n_sents), output_path)


@spacy.registry.readers("spacy_rnn.ConlluCorpus.v1")
def create_conllu_reader(
    path: Path, n_sents: int = 10, limit: int = 0
) -> Callable[[Language], Iterable[Example]]:
    """Read training Examples straight from a CoNLL-U file.

    The predicted Doc has the gold words and spaces, without annotation.
    limit is the maximum number of Docs (0 for all).
    """
    path = Path(path)
    _check_n_sents(n_sents)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL-U corpus not found: {path}")

    def read_examples(nlp: Language) -> Iterator[Example]:
        for i, reference in enumerate(read_conllu(path, nlp.vocab, n_sents=n_sents)):
            if limit and i >= limit:
                break
            yield gold_tokens_example(nlp, reference)

    return read_examples
