"""Corpus readers, converters and downloads.

The submodules import spaCy, datasets or network code; import them directly:
`spacy_rnn.corpora.conllu`, `spacy_rnn.corpora.conll2003`, `spacy_rnn.corpora.hf`,
`spacy_rnn.corpora.fetch`.
"""
from pathlib import Path
from typing import Union


class CorpusFormatError(ValueError):
    """A corpus file is malformed. The message reads "<path>:<line>: <what is wrong>"."""

    def __init__(self, path: Union[str, Path], line: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


class CorpusIntegrityError(RuntimeError):
    """A corpus file could not be obtained, or its checksum is not the declared one."""
