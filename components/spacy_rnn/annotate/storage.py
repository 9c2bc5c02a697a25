"""Where annotate reads and writes: a local path, or a URI with a scheme (s3://bucket/prefix,
gs://, hdfs://, file://...) read and written through `pyarrow.fs`, the file systems Ray Data
uses (the Ray engine's workers read their shards and write their outputs themselves, so a
cluster needs no shared disk).

Writes are atomic: a local file is written under a hidden temporary name in its folder and
`os.replace`d; an object-storage object is published by the store only once written whole.
"""
import os
import uuid
from functools import lru_cache
from typing import BinaryIO, Dict, Optional, Tuple
from urllib.parse import urlsplit

from ..extras import require


def is_uri(path: str) -> bool:
    """Whether path names a file system by its scheme (s3://, gs://, file://...)."""
    return "://" in path


def join(folder: str, *names: str) -> str:
    """folder/name/..., with "/" for URIs and os.path.join for local paths."""
    if is_uri(folder):
        return "/".join([folder.rstrip("/"), *names])
    return os.path.join(folder, *names)


def name_of(path: str) -> str:
    """The last part of a path or URI (a file's or folder's name)."""
    return path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]


def open_input(path: str) -> BinaryIO:
    """path opened for reading bytes, seekable."""
    if not is_uri(path):
        return open(path, "rb")
    fs, inner = _resolve(path)
    return fs.open_input_file(inner)


def read_bytes(path: str) -> bytes:
    with open_input(path) as file_:
        return file_.read()


def write_atomic(path: str, data: bytes) -> None:
    """Write data to path so that readers see the old file (or none) or all of data, never a part."""
    if is_uri(path):
        fs, inner = _resolve(path)
        with fs.open_output_stream(inner) as stream:
            stream.write(data)
        return
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(temporary, "wb") as file_:
            file_.write(data)
            file_.flush()
            os.fsync(file_.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def make_dirs(path: str) -> None:
    if is_uri(path):
        fs, inner = _resolve(path)
        fs.create_dir(inner, recursive=True)
    else:
        os.makedirs(path, exist_ok=True)


def file_info(path: str) -> Optional[Tuple[str, int, Optional[float]]]:
    """("file" or "dir", size in bytes (0 for a folder), modification time or None); None when
    nothing is there."""
    if not is_uri(path):
        if not os.path.exists(path):
            return None
        stat = os.stat(path)
        return ("dir" if os.path.isdir(path) else "file"), (0 if os.path.isdir(path) else stat.st_size), stat.st_mtime
    fs, inner = _resolve(path)
    info = fs.get_file_info(inner)
    kind = {_pafs().FileType.File: "file", _pafs().FileType.Directory: "dir"}.get(info.type)
    if kind is None:
        return None
    mtime = info.mtime.timestamp() if info.mtime is not None else None
    return kind, (info.size or 0) if kind == "file" else 0, mtime


def list_files(folder: str) -> Dict[str, int]:
    """{name: size} of the files directly in folder (no sub-folders); {} when it does not exist."""
    if not is_uri(folder):
        if not os.path.isdir(folder):
            return {}
        return {entry.name: entry.stat().st_size for entry in os.scandir(folder) if entry.is_file()}
    fs, inner = _resolve(folder)
    pafs = _pafs()
    infos = fs.get_file_info(pafs.FileSelector(inner, allow_not_found=True, recursive=False))
    return {name_of(info.path): info.size for info in infos if info.type == pafs.FileType.File}


def _pafs():
    return require("pyarrow.fs", "parquet", "reading and writing s3://, gs://... URIs")


def _resolve(uri: str):
    """(pyarrow FileSystem, the path inside it) of a URI; one FileSystem per scheme://host."""
    parts = urlsplit(uri)
    fs, root = _filesystem(f"{parts.scheme}://{parts.netloc}/")
    return fs, root.rstrip("/") + "/" + parts.path.lstrip("/") if parts.path.strip("/") else root


@lru_cache(maxsize=None)
def _filesystem(root: str):
    return _pafs().FileSystem.from_uri(root)
