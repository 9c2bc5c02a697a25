"""Fetch the corpus files declared under vars.corpora in project.yml.

Each file is taken, in this order, from the destination folder (if its
checksum is right), from a local mirror, or from its URL, and is always
checked against its declared SHA-256.

An entry may add `member`: its url is then a zip or tar archive and the file is that member
of it (the checksum is the member's). An entry with `mirror_only` (a reason) has no
byte-identical public download: its url names the original source, and the file is taken
only from the destination or the mirror.
"""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import srsly
from tqdm import tqdm

from . import CorpusIntegrityError

MIRROR_ENV_VAR = "SPACY_RNN_CORPORA"
_CHUNK_SIZE = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


def load_corpus_declarations(project_yml: Path) -> Dict[str, List[dict]]:
    """Read vars.corpora from project.yml: corpus name -> [{path, url, sha256}, ...]."""
    project = srsly.read_yaml(project_yml) or {}
    corpora = (project.get("vars") or {}).get("corpora")
    if not isinstance(corpora, dict) or not corpora:
        raise ValueError(f"{project_yml}: no corpora declared under vars.corpora")
    for name, entries in corpora.items():
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{project_yml}: vars.corpora.{name} must be a list of files")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"{project_yml}: vars.corpora.{name}[{i}] must be a mapping")
            missing = [key for key in ("path", "url", "sha256") if not entry.get(key)]
            if missing:
                raise ValueError(
                    f"{project_yml}: vars.corpora.{name}[{i}] lacks {', '.join(missing)}"
                )
    return corpora


def resolve_mirror(explicit: Optional[Path], project_dir: Path) -> Optional[Path]:
    """Choose the local mirror: explicit, else $SPACY_RNN_CORPORA, else
    project_dir/../shared/corpora if it exists, else None (download).
    A mirror named explicitly or by the environment must exist.
    """
    if explicit is not None:
        mirror = Path(explicit)
        if not mirror.is_dir():
            raise FileNotFoundError(f"Corpus mirror not found: {mirror}")
        return mirror
    from_env = os.environ.get(MIRROR_ENV_VAR)
    if from_env:
        mirror = Path(from_env)
        if not mirror.is_dir():
            raise FileNotFoundError(f"Corpus mirror from ${MIRROR_ENV_VAR} not found: {mirror}")
        return mirror
    shared = Path(project_dir).resolve().parent / "shared" / "corpora"
    return shared if shared.is_dir() else None


def fetch_corpus(
    name: str, declarations: Dict[str, List[dict]], dest: Path, mirror: Optional[Path]
) -> List[Path]:
    """Make every file of corpus name present and verified under dest; return their paths.

    Raises CorpusIntegrityError when a file cannot be obtained or its
    checksum differs. A file at dest with another checksum is removed first,
    so that no corrupt or stale file stays there when fetching fails. Nothing
    in the mirror is ever modified.
    """
    if name not in declarations:
        raise ValueError(f"Unknown corpus {name!r}; known corpora: {', '.join(declarations)}")
    paths = []
    for entry in declarations[name]:
        target = Path(dest) / entry["path"]
        expected = entry["sha256"].lower()
        if target.is_file() and sha256_file(target) != expected:
            target.unlink()
        if not target.is_file():
            _fetch_file(entry, target, expected, mirror)
        paths.append(target)
    return paths


def sha256_file(path: Path) -> str:
    """The hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file_:
        for chunk in iter(lambda: file_.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_file(entry: dict, target: Path, expected: str, mirror: Optional[Path]) -> None:
    """Copy or download one file to a temporary file next to target, verify it,
    then move it into place. The temporary file is removed on failure.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    mirrored = Path(mirror) / entry["path"] if mirror is not None else None
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        if mirrored is not None and mirrored.is_file():
            source = str(mirrored)
            shutil.copyfile(mirrored, tmp)
        else:
            source = entry["url"]
            _download(entry, tmp, mirrored)
        actual = sha256_file(tmp)
        if actual != expected:
            raise CorpusIntegrityError(
                f"Checksum mismatch for {target} (from {source}): "
                f"expected sha256 {expected}, got {actual}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _download(entry: dict, tmp: Path, mirrored: Optional[Path]) -> None:
    looked = f"not in the mirror ({mirrored}) and " if mirrored is not None else ""
    if entry.get("mirror_only"):
        raise CorpusIntegrityError(
            f"Could not obtain {entry['path']}: {looked}it has no byte-identical public download "
            f"({entry['mirror_only']}; original source: {entry['url']}). Put it in a mirror "
            f"(--mirror or ${MIRROR_ENV_VAR})."
        )
    if not entry.get("member"):
        _download_url(entry, tmp, looked)
        return
    archive = tmp.with_name(tmp.name + ".archive")
    try:
        _download_url(entry, archive, looked)
        _extract_member(archive, entry, tmp)
    finally:
        archive.unlink(missing_ok=True)


def _extract_member(archive: Path, entry: dict, target: Path) -> None:
    """Copy the member entry["member"] of a zip or tar archive to target."""
    member = entry["member"]
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zip_, zip_.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            return
        with tarfile.open(archive) as tar:
            source = tar.extractfile(member)
            if source is None:
                raise KeyError(member)
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
    except (KeyError, tarfile.TarError) as err:
        raise CorpusIntegrityError(
            f"Could not obtain {entry['path']}: {entry['url']} is not an archive holding {member} ({err!r})"
        ) from err


def _download_url(entry: dict, tmp: Path, looked: str) -> None:
    url = entry["url"]
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            size = response.headers.get("Content-Length")
            with tmp.open("wb") as file_, tqdm(
                total=int(size) if size else None,
                unit="B",
                unit_scale=True,
                desc=entry["path"],
            ) as progress:
                for chunk in iter(lambda: response.read(_CHUNK_SIZE), b""):
                    file_.write(chunk)
                    progress.update(len(chunk))
    except OSError as err:  # urllib.error.URLError is an OSError
        raise CorpusIntegrityError(
            f"Could not obtain {entry['path']}: {looked}download of {url} failed: {err}"
        ) from err
