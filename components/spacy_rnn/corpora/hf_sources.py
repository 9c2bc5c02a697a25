"""Where the convert-hf-* commands read a Hugging Face dataset from: what `datasets.load_dataset`
reads. A data file (JSON or JSON lines, CSV, TSV, Parquet: by its extension or the format given),
a folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`, a folder of data files,
or a dataset name on the hub (`datasets` extra, imported only when used).

Every problem raises HFSourceError, a ValueError with one line naming the file or dataset: a path
that does not exist, a split it does not have, a JSON file that is not valid JSON (with the line),
a hub name when the hub cannot be reached (at once, instead of the hub client's retries).
"""
import json
import os
from pathlib import Path
from typing import Optional

from ..extras import require

# A data file's format, as `datasets.load_dataset` names its builder, by the file's extension.
FORMATS = {".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
FORMAT_NAMES = ("json", "csv", "tsv", "parquet")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


class HFSourceError(ValueError):
    """A dataset cannot be read; the message is one line that names it."""


def load_hf_split(source: str, split: str = "train", config_name: Optional[str] = None, data_format: Optional[str] = None):
    """The `datasets.Dataset` of `source`'s split.

    source: a data file (its format from its extension, or data_format: one of FORMAT_NAMES; a
        single file is one split, whatever `split` says), a folder written by save_to_disk (a
        DatasetDict's `split`), a folder of data files (load_dataset's split names, e.g.
        train.jsonl, dev.jsonl), or a hub name (with config_name).
    """
    datasets = require("datasets", "datasets", "reading a Hugging Face dataset")
    path = Path(source).expanduser()
    if data_format is not None and data_format not in FORMAT_NAMES:
        raise HFSourceError(f"{source}: unknown format {data_format!r}; give one of {', '.join(FORMAT_NAMES)}")
    if path.is_dir() and data_format is None:
        return _load_folder(datasets, path, split)
    if path.is_file() or data_format is not None or path.suffix.lower() in FORMATS or _looks_like_a_path(source):
        return _load_file(datasets, path, data_format)
    return _load_hub(datasets, source, config_name, split)


def _looks_like_a_path(source: str) -> bool:
    """A name the hub cannot have: absolute, relative to the current folder, or with a file extension."""
    return source.startswith((os.sep, ".", "~")) or len(Path(source).parts) > 2


def _load_file(datasets, path: Path, data_format: Optional[str]):
    if not path.is_file():
        raise HFSourceError(f"{path}: no such file")
    name = data_format or FORMATS.get(path.suffix.lower())
    if name is None:
        raise HFSourceError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; give --format ({', '.join(FORMAT_NAMES)})"
        )
    if name == "json":
        _check_json(path)
    builder, options = ("csv", {"delimiter": "\t"}) if name == "tsv" else (name, {})
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as err:  # any failure to read it is one line, not a traceback
        raise HFSourceError(f"{path}: cannot read it as {name} ({_reason(err)})") from None


def _check_json(path: Path) -> None:
    """HFSourceError "file:line: not valid JSON (...)" at the first line that is not JSON: one
    JSON document, or one per line (JSON lines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise HFSourceError(f"{path}:{line}: not UTF-8 ({err.reason})") from None
    try:
        json.loads(text)
        return
    except json.JSONDecodeError as err:
        if err.msg != "Extra data":  # not JSON lines: the document's own error
            raise HFSourceError(f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno})") from None
    for number, line in enumerate(text.splitlines(), 1):
        try:
            if line.strip():
                json.loads(line)
        except json.JSONDecodeError as err:
            raise HFSourceError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})") from None


def _load_folder(datasets, path: Path, split: str):
    """A saved Dataset, a saved DatasetDict's split (read alone, so that another split's problem
    does not stop this one), or the split of a folder of data files."""
    saved = path
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        if split not in splits:
            raise HFSourceError(f"{path}: no split {split!r}; it has {', '.join(splits)} (give one with --split)")
        saved = path / split
    try:
        if (saved / "state.json").is_file():
            if not json.loads((saved / "state.json").read_text(encoding="utf-8")).get("_data_files"):
                # datasets cannot read such a folder back (an IndexError): say what it is instead
                raise HFSourceError(f"{path} [{split}]: the dataset has no rows (saved with none): nothing to convert")
            return datasets.load_from_disk(str(saved))
        return datasets.load_dataset(str(path), split=split)
    except HFSourceError:
        raise
    except Exception as err:
        raise HFSourceError(
            f"{path} [{split}]: cannot load it ({_reason(err)}); give a folder written by save_to_disk, "
            f"a folder of data files or a data file"
        ) from None


def _load_hub(datasets, name: str, config_name: Optional[str], split: str):
    """A split of a hub dataset; when the hub cannot be reached, at once an error (or, in offline
    mode, the local cache's copy, as datasets reads it)."""
    from ..encoders import hub_unavailable

    offline = any(os.environ.get(variable, "").strip().lower() in ("1", "on", "yes", "true") for variable in OFFLINE_VARIABLES)
    unavailable = None if offline else hub_unavailable()
    if unavailable:
        raise HFSourceError(
            f"{name}: no such file or folder here, and the Hugging Face hub is {unavailable}: give a data file "
            f"(.jsonl, .json, .csv, .tsv, .parquet) or a folder written by save_to_disk, or set HF_HUB_OFFLINE=1 "
            f"to read a copy in the local cache"
        )
    try:
        return datasets.load_dataset(name, config_name, split=split)
    except Exception as err:
        raise HFSourceError(f"{name} [{split}]: cannot load it ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    """The exception's type and first line; datasets wraps a reader's error ("An error occurred
    while generating the dataset"), so the cause's when there is one."""
    while err.__cause__ is not None and type(err).__name__ == "DatasetGenerationError":
        err = err.__cause__
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
