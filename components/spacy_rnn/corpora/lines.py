"""Read the lines of a corpus text file, decoded strictly as UTF-8: the one place every file
converter (CoNLL-U, CoNLL-2003, SST, SST-2, IMDB, PTB) turns bytes into text, so that a file
that is not UTF-8 text fails as "file:line: reason" instead of with a UnicodeDecodeError.

Lines end at "\\n" only (a "\\r" before it stays at the end of the line: callers strip it).
A UTF-8 byte order mark at the start of the file is dropped. Files whose name ends in ".gz"
are decompressed.
"""
import gzip
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Tuple, Union

from . import CorpusFormatError

_BOM = b"\xef\xbb\xbf"


def read_lines(path: Union[str, Path]) -> Iterator[Tuple[int, str]]:
    """Yield (line number from 1, line with its ending) for each line of a UTF-8 text file.

    Raises CorpusFormatError ("file:line: ...") for bytes that are not UTF-8, for a NUL byte
    (a binary file) and for a gzipped file that is truncated or corrupt.
    """
    path = Path(path)
    line_no = 0
    with _open(path) as file_:
        lines = iter(file_)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except (EOFError, gzip.BadGzipFile, zlib.error) as err:
                raise CorpusFormatError(path, line_no + 1, f"truncated or corrupt gzip file ({err})") from None
            line_no += 1
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            yield line_no, _decode(path, line_no, raw)


def read_nonblank_lines(path: Union[str, Path], what: str) -> Iterator[Tuple[int, str]]:
    """read_lines without the blank lines, for formats of one record a line. Raises
    CorpusFormatError ("file:1: no <what> in the file") when there is none."""
    path = Path(path)
    n_lines = 0
    for line_no, line in read_lines(path):
        if line.strip():
            n_lines += 1
            yield line_no, line
    if not n_lines:
        raise CorpusFormatError(path, 1, f"no {what} in the file")


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _decode(path: Path, line_no: int, raw: bytes) -> str:
    try:
        line = raw.decode("utf8")
    except UnicodeDecodeError as err:
        byte = raw[err.start]
        raise CorpusFormatError(
            path, line_no, f"not UTF-8 text ({err.reason}: byte 0x{byte:02x} at position {err.start + 1} of the line)"
        ) from None
    if "\x00" in line:
        raise CorpusFormatError(path, line_no, "NUL byte: is this a binary file?")
    return line
