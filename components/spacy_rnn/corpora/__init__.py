"""Corpus readers, converters and downloads.

The submodules import spaCy, datasets or network code; import them directly: one per
source (`conllu`, `conll2003`, `sst`, `sst2`, `imdb`, `ptb`, and `hf` for Hugging Face
datasets), `fetch` (verified downloads), `readers` (spaCy corpus readers), `docbin` (the
DocBin writer and the stats every converter returns), `textcat` (what the text
classification converters share) and `counts` (every split's published sizes; imports
nothing).
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
