"""Checkpoints that a crash or `kill -9` cannot destroy, and loading that names a damaged file.

`save_atomically` writes the pipeline next to its target (`.NAME.tmp`) and swaps it in with one
system call (`exchange_paths`: Linux `renameat2(RENAME_EXCHANGE)`, macOS `renamex_np(RENAME_SWAP)`),
so at every moment the target directory is a complete checkpoint, the previous one or the new one:
`spacy.load`, `spacy package` and the evaluation commands never find it missing. The previous
checkpoint, swapped to `.NAME.tmp`, is then deleted. Where the file system cannot exchange two
directories (other systems, some network file systems) it falls back to two renames (the target
moved aside to `.NAME.old`, the new one moved in): a kill between them leaves no target until
`recover_checkpoint` runs (the trainers call it before they write and on start), but
`load_pipeline` finds the new checkpoint meanwhile.

`load_pipeline` is `spacy.load` for the project's readers: it also loads a checkpoint whose swap
was interrupted, and when loading fails because a file of the folder is damaged (truncated,
empty, not what its name says) its error names the file (`find_damaged_file`); spaCy reads the
vocab (strings, vectors) before any component, so a plain `spacy.load` gives the decoder's
message for those. It also names the config of a pipeline saved with an architecture name
removed before the first release (`find_removed_architecture`; spaCy only says the name is
missing from its registry).
"""
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Optional

import numpy
import srsly
from spacy.language import Language

from .errors import damaged_file



def _siblings(path: Path):
    return path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")


def _exchange_function():
    """The C function that swaps two paths atomically, and its flag; None where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        function = libc.renameat2
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return lambda a, b: function(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        function = libc.renamex_np
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        return lambda a, b: function(a, b, 2)  # RENAME_SWAP
    return None


_EXCHANGE = _exchange_function()


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths (directories included) in one atomic system call. False, with
    nothing changed, where the system or the file system cannot; other failures raise OSError."""
    if _EXCHANGE is None:
        return False
    if _EXCHANGE(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def recover_checkpoint(path: Path) -> None:
    """Leave `path` holding a complete checkpoint (if there was one) and no hidden leftovers.

    The new checkpoint (`.NAME.tmp`) is complete once the old one has been moved aside
    (`.NAME.old`, the two-rename fallback): a swap that stopped between the two renames is
    finished; one that stopped while writing is dropped, keeping the previous checkpoint; after
    an exchange, `.NAME.tmp` holds the previous checkpoint and is dropped."""
    path = Path(path)
    tmp, old = _siblings(path)
    if not path.exists() and old.exists():
        os.replace(tmp if tmp.exists() else old, path)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def save_atomically(nlp: Language, path: Path) -> None:
    """Write the pipeline to `path` without ever leaving it missing or half-written (see the
    module docstring for the one fallback that can leave it missing until recovered)."""
    path = Path(path)
    recover_checkpoint(path)
    tmp, old = _siblings(path)
    nlp.to_disk(tmp)
    if not path.exists():
        os.replace(tmp, path)
        return
    if exchange_paths(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def checkpoint_to_read(path: Path) -> Path:
    """The folder a reader should load for `path`: `path`, or, while a two-rename swap is
    interrupted (no `path`, the old checkpoint moved aside), the complete new one beside it."""
    path = Path(path)
    tmp, old = _siblings(path)
    if not path.exists() and old.exists() and tmp.is_dir():
        return tmp
    return path


def load_pipeline(path, **kwargs) -> Language:
    """`spacy.load(path, **kwargs)` for a pipeline folder or package name, finding a checkpoint whose swap was
    interrupted (`checkpoint_to_read`, nothing is changed on disk), and naming the damaged file
    when loading fails because of one (`find_damaged_file`): a ValueError."""
    import spacy

    folder = checkpoint_to_read(Path(path))
    try:  # a name that is no folder (an installed package) goes to spaCy as given
        return spacy.load(folder if folder.exists() else path, **kwargs)
    except Exception as err:
        if "the file is damaged" in str(err) or not folder.is_dir():  # named already (a component's file)
            raise
        problem = find_damaged_file(folder) or find_removed_architecture(folder)
        if problem is None:
            raise
        raise ValueError(problem) from err


def find_damaged_file(folder: Path) -> Optional[str]:
    """'<file>: the file is damaged (...): copy ... or train it again.' for the first file of a
    saved pipeline that cannot be what its name says (a JSON file that does not parse, a msgpack
    file that does not decode, a numpy array shorter than its header says, an empty file where
    data is due); None when every file reads. Reads every file: for an error path."""
    for file in sorted(Path(folder).rglob("*")):
        if file.is_file():
            problem = _file_problem(file)
            if problem is not None:
                return f"{file}: {damaged_file(problem)}"
    return None


REMOVED_ARCHITECTURE = re.compile(r'"lstm\.(Encoder|Tagger|EntityRecognizer|TextClassifier|LanguageModel)\.v1"')


def find_removed_architecture(folder: Path) -> Optional[str]:
    """'<folder>/config.cfg: ...' saying what to do when the config names an architecture that
    was renamed before spacy-rnn 0.1.0 (`lstm.Tagger.v1`...: no release reads them, nor the
    weights saved with them); None otherwise."""
    config = Path(folder) / "config.cfg"
    found = REMOVED_ARCHITECTURE.search(config.read_text(encoding="utf8")) if config.is_file() else None
    if found is None:
        return None
    return (
        f"{config}: {found[0]} is an architecture name from before spacy-rnn 0.1.0, which no release reads (nor "
        f"the weights saved with it): train the pipeline again with this version, whose names are spacy_rnn.*.v1."
    )


JSON_FILES = ("meta.json", "strings.json", "cfg", "vectors.cfg")
MSGPACK_FILES = ("model", "key2row", "lookups.bin", "tokenizer")


def _file_problem(file: Path) -> Optional[str]:
    """Why `file` is damaged, or None (also for files this does not know how to read)."""
    name = file.name
    if name == "vectors" and file.parent.name == "vocab":
        return _npy_problem(file)
    if name not in JSON_FILES + MSGPACK_FILES:
        return None
    data = file.read_bytes()
    if not data:
        return "empty"
    try:
        if name in JSON_FILES:
            srsly.json_loads(data.decode("utf8"))
        else:
            srsly.msgpack_loads(data)
    except Exception as err:  # the decoders' errors: ValueError, UnicodeDecodeError, msgpack's
        kind = "not valid JSON" if name in JSON_FILES else "truncated or not what spaCy wrote"
        return f"{kind}: {err}"
    return None


def _npy_problem(file: Path) -> Optional[str]:
    """Why a numpy array file (spaCy's vocab/vectors) is damaged: empty, header cut, or fewer
    bytes than its header's shape and dtype need. None for an intact one or another format."""
    size = file.stat().st_size
    if size == 0:
        return "empty"
    with open(file, "rb") as stream:
        if stream.read(6) != b"\x93NUMPY":
            return None  # not a numpy array file (e.g. another vectors table's format)
        stream.seek(0)
        fmt = numpy.lib.format
        try:
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(fmt.read_magic(stream))
            if read_header is None:
                return None  # a later format version: not judged here
            shape, _, dtype = read_header(stream)
        except (ValueError, EOFError) as err:
            return f"truncated: {err}"
        needed = stream.tell() + int(numpy.prod(shape)) * dtype.itemsize
    if size < needed:
        return f"truncated: {size} bytes where its {tuple(shape)} {dtype} array needs {needed}"
    return None
