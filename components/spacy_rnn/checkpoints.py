"""Checkpoints that a crash or `kill -9` cannot destroy.

`save_atomically` writes the pipeline next to its target and swaps it in with two renames, so the
target directory is always either the previous complete checkpoint or the new one.
`recover_checkpoint` finishes (or undoes) a swap that was interrupted between the renames; the
trainers call it before they write and on start.
"""
import os
import shutil
from pathlib import Path

from spacy.language import Language


def _siblings(path: Path):
    return path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")


def recover_checkpoint(path: Path) -> None:
    """Leave `path` holding a complete checkpoint (if there was one) and no hidden leftovers.

    The new checkpoint (`.NAME.tmp`) is complete once the old one has been moved aside
    (`.NAME.old`): a swap that stopped between the two renames is finished; one that stopped
    while writing is dropped, keeping the previous checkpoint."""
    path = Path(path)
    tmp, old = _siblings(path)
    if not path.exists() and old.exists():
        os.replace(tmp if tmp.exists() else old, path)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def save_atomically(nlp: Language, path: Path) -> None:
    """Write the pipeline to `path` without ever leaving it missing or half-written."""
    path = Path(path)
    recover_checkpoint(path)
    tmp, old = _siblings(path)
    nlp.to_disk(tmp)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
