"""Read word-level language-modelling corpora: one sentence a line, words separated by spaces.

This is the format of Mikolov's Penn Treebank LM files (`ptb.{train,valid,test}.txt`: 10k
words, `<unk>`, numbers as `N`) and of any plain-text file. Every line, even an empty one, is a
sentence; the language model appends an end-of-sentence token to each (as Mikolov's counts do).
"""
from pathlib import Path
from typing import Iterable, Iterator, List, Union

from .counts import split_counts
from .lines import read_lines

# Tokens per split, counting one end-of-sentence per line (Mikolov et al. 2010).
PTB_TOKEN_COUNTS = split_counts("ptb", "tokens")


def read_sentences(path: Union[str, Path]) -> Iterator[List[str]]:
    """Yield the words of each line of a UTF-8 text file (split on whitespace).

    Raises CorpusFormatError ("file:line: ...") for bytes that are not UTF-8 and for NUL bytes
    (see lines.read_lines).
    """
    for _, line in read_lines(path):
        yield line.split()


def sentences_from_hf(dataset: Iterable[dict], column: str = "text") -> Iterator[List[str]]:
    """Yield the whitespace-separated words of each row's `column` (e.g. a Hugging Face
    `datasets.Dataset` from `ptb_text_only` with column="sentence", or `wikitext`).

    Multi-line texts give one sentence per line. Raises ValueError naming the row for a missing
    column or a value that is not a string.
    """
    for index, row in enumerate(dataset):
        if column not in row:
            raise ValueError(f"Row {index}: no column {column!r} (columns: {sorted(row)})")
        text = row[column]
        if not isinstance(text, str):
            raise ValueError(f"Row {index}: column {column!r} holds {type(text).__name__}, not text")
        lines = text.splitlines() or [""]
        for line in lines:
            yield line.split()


def count_tokens(sentences: Iterable[List[str]]) -> int:
    """Words plus one end-of-sentence per sentence."""
    return sum(len(words) + 1 for words in sentences)


def convert_lm_text(input_path: Union[str, Path], output_path: Union[str, Path]) -> int:
    """Write a DocBin with one Doc per non-empty line (for `spacy evaluate`, which then reads
    every sentence on its own). Returns the tokens predicted: words + one <eos> per sentence.
    (spaCy is imported here, so the readers above also run where only torch is installed.)"""
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    from .docbin import write_docbin

    vocab = Vocab()
    docs = (Doc(vocab, words=words) for words in read_sentences(input_path) if words)
    stats = write_docbin(docs, output_path)
    return stats.n_tokens + stats.n_docs
