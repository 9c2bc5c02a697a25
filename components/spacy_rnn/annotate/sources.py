"""annotate's input: files of one format, cut into shards, read back as rows (id, text) or as
error records, never as exceptions.

Formats (`KINDS`), from the file name or `--input-format`:
- "jsonl" (.jsonl, .ndjson): one JSON object a line, the text in `text_column`;
- "text" (.txt): one document a line (its "\\r\\n" or "\\n" ending dropped);
- "parquet" (.parquet): a string column `text_column`;
- "hf": a Hugging Face dataset saved with `save_to_disk` (a folder with dataset_info.json).
INPUT is one file or dataset, or a folder of files of one format (taken in name order). Blank
lines of the line formats are no documents. A document's id is its `id_column` value (a string
or an integer) or, without one, `<file stem>:<line number>` (line formats, from 1) or
`<file stem>:<row index>` (tables, from 0). A row whose text (or id, when asked for) is missing,
not a string, or not decodable is an error record {"id", "input", "row", "reason"}; a missing
path or column is an `AnnotateError` naming it, before any work.

A shard is `shard_size` rows of one input, found by one pass over the input: byte offsets for
the line formats, row indices for tables. Shards are numbered across the inputs in order, so
the same input and shard size give the same shards.
"""
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Dict, Iterator, List, Optional, Tuple

from ..extras import require
from . import storage

KINDS = ("jsonl", "text", "parquet", "hf")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text", ".parquet": "parquet"}
HF_MARKERS = ("dataset_info.json", "dataset_dict.json")  # a saved Dataset, DatasetDict
STRING_TYPES = ("string", "large_string", "string_view")  # a text column's type, as Arrow names it
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


class AnnotateError(ValueError):
    """A problem with the command's input, output or settings, said in one line before any work."""


@dataclass(frozen=True)
class Source:
    path: str
    kind: str

    @property
    def stem(self) -> str:
        name = storage.name_of(self.path)
        return name if self.kind == "hf" else name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Shard:
    """Rows [first_row, ...) of one source: bytes [start, stop) of a line file (first_row: the
    line number of its first line) or rows [start, stop) of a table (first_row = start);
    n_rows: the rows it holds (non-blank lines)."""

    index: int
    path: str
    kind: str
    start: int
    stop: int
    first_row: int
    n_rows: int

    @property
    def source(self) -> Source:
        return Source(self.path, self.kind)

    def to_dict(self) -> Dict:
        return asdict(self)


@dataclass(frozen=True)
class Row:
    """A document to annotate: its id, its text and its line number or row index."""

    id: str
    text: str
    row: int


def find_sources(path: str, kind: Optional[str] = None) -> List[Source]:
    """The inputs at path: the file or dataset itself, or a folder's files of one format."""
    info = storage.file_info(path)
    if info is None:
        raise AnnotateError(f"no such file or folder: {path}")
    if kind is not None and kind not in KINDS:
        raise AnnotateError(f"--input-format must be one of {', '.join(KINDS)}, not {kind!r}")
    if info[0] == "file":
        found = kind or _kind_of(path)
        if found == "hf":
            raise AnnotateError(f"{path}: a Hugging Face dataset is the folder save_to_disk writes, not a file")
        if found is None:
            raise AnnotateError(f"{path}: unknown input format; name it with --input-format ({', '.join(KINDS[:3])})")
        return [Source(path, found)]
    names = storage.list_files(path)
    if kind == "hf" or (kind is None and any(marker in names for marker in HF_MARKERS)):
        return [Source(path, "hf")]
    found = sorted(name for name in names if not name.startswith((".", "_")) and (kind or _kind_of(name)))
    kinds = {kind or _kind_of(name) for name in found}
    if not found:
        raise AnnotateError(f"{path}: no input files in the folder ({', '.join(SUFFIXES)}, or a saved Hugging Face dataset)")
    if len(kinds) > 1:
        raise AnnotateError(f"{path}: files of several formats ({', '.join(sorted(kinds))}); give one format's files")
    return [Source(storage.join(path, name), kinds.pop()) for name in found]


def _kind_of(name: str) -> Optional[str]:
    return next((kind for suffix, kind in SUFFIXES.items() if name.endswith(suffix)), None)


def fingerprint(source: Source) -> List:
    """[name, size, mtime] of the files the source reads: a rerun refuses a changed input."""
    if source.kind != "hf":
        _, size, mtime = storage.file_info(source.path)
        return [[storage.name_of(source.path), size, mtime]]
    files = storage.list_files(source.path)
    return [[name, size, storage.file_info(storage.join(source.path, name))[2]] for name, size in sorted(files.items())]


def plan_shards(sources: List[Source], shard_size: int, text_column: str, id_column: Optional[str]) -> List[Shard]:
    """The shards of the sources in order, numbered from 0, each of at most shard_size rows."""
    shards: List[Shard] = []
    for source in sources:
        if source.kind in ("jsonl", "text"):
            spans = _line_spans(source.path, shard_size)
        else:
            n_rows = _table_rows(source, text_column, id_column)
            spans = [(start, min(start + shard_size, n_rows), start, min(shard_size, n_rows - start))
                     for start in range(0, n_rows, shard_size)]
        for start, stop, first_row, n_rows in spans:
            shards.append(Shard(len(shards), source.path, source.kind, start, stop, first_row, n_rows))
    return shards


def _line_spans(path: str, shard_size: int) -> List[Tuple[int, int, int, int]]:
    """(start byte, stop byte, first line number, rows) of each shard of a line file."""
    spans, start, first_line, n_rows, offset = [], 0, 1, 0, 0
    with storage.open_input(path) as file_:
        for line_no, line in enumerate(_raw_lines(file_), 1):
            if line.strip():
                if n_rows == shard_size:
                    spans.append((start, offset, first_line, n_rows))
                    start, first_line, n_rows = offset, line_no, 0
                n_rows += 1
            offset += len(line)
    if n_rows:
        spans.append((start, offset, first_line, n_rows))
    return spans


def _raw_lines(file_) -> Iterator[bytes]:
    """The lines of a binary file with their b"\\n" (the last one may have none); any file object
    with read(n), including pyarrow's."""
    rest = b""
    while True:
        chunk = file_.read(_CHUNK)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


def read_shard(shard: Shard, text_column: str, id_column: Optional[str]) -> Tuple[List[Row], List[Dict]]:
    """The shard's rows in input order, and an error record for each malformed one; together
    they are shard.n_rows."""
    source = shard.source
    if shard.kind in ("jsonl", "text"):
        records = _line_records(shard)
    else:
        records = _table_records(shard, text_column, id_column)
    rows, errors = [], []
    for row_no, value, reason in records:
        doc_id = f"{source.stem}:{row_no}"
        if reason is None and shard.kind != "text":
            value, given_id, reason = _fields(value, text_column, id_column)
            doc_id = doc_id if given_id is None else given_id
        if reason is not None:
            errors.append(error_record(doc_id, shard.path, row_no, reason))
        else:
            rows.append(Row(doc_id, value, row_no))
    return rows, errors


def error_record(doc_id: str, path: str, row_no: int, reason: str) -> Dict:
    return {"id": doc_id, "input": path, "row": row_no, "reason": reason}


def _line_records(shard: Shard) -> Iterator[Tuple[int, object, Optional[str]]]:
    """(line number, its text (text files) or JSON object, None) of each non-blank line; (line
    number, None, the reason) for one that is neither."""
    with storage.open_input(shard.path) as file_:
        file_.seek(shard.start)
        data = file_.read(shard.stop - shard.start)
    if shard.start == 0 and data.startswith(_BOM):
        data = data[len(_BOM):]
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for line_no, raw in enumerate(lines, shard.first_row):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf8")
        except UnicodeDecodeError as err:
            yield line_no, None, f"not UTF-8 text ({err.reason}: byte 0x{raw[err.start]:02x} at position {err.start + 1} of the line)"
            continue
        if shard.kind == "text":
            yield line_no, line[:-1] if line.endswith("\r") else line, None
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield line_no, None, f"not JSON ({err.msg} at column {err.colno})"
            continue
        if isinstance(record, dict):
            yield line_no, record, None
        else:
            yield line_no, None, f"a JSON {type(record).__name__}, not an object"


def _fields(record: Dict, text_column: str, id_column: Optional[str]) -> Tuple[object, Optional[str], Optional[str]]:
    """(text, id or None, the reason the record is malformed or None)."""
    doc_id = None
    if id_column is not None:
        value = record.get(id_column)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None, None, _wrong(record, id_column, "--id-column", "a string or an integer")
        doc_id = str(value)
    text = record.get(text_column)
    if not isinstance(text, str):
        return None, doc_id, _wrong(record, text_column, "--text-column", "a string")
    return text, doc_id, None


def _wrong(record: Dict, column: str, option: str, expected: str) -> str:
    """What is wrong with record[column]: missing, null, or not what is expected."""
    if column not in record:
        return f"no {column!r} ({option})"
    value = record[column]
    if value is None:
        return f"{column!r} ({option}) is null"
    name = type(value).__name__
    return f"{column!r} ({option}) is {'an' if name[0] in 'aeiou' else 'a'} {name}, not {expected}"


def _table_rows(source: Source, text_column: str, id_column: Optional[str]) -> int:
    """The number of rows of a Parquet file or dataset, after checking its columns."""
    columns = _table_columns(source)
    for option, column in (("--text-column", text_column), ("--id-column", id_column)):
        if column is not None and column not in columns:
            raise AnnotateError(
                f"{source.path} has no column {column!r} ({option}); its columns: {', '.join(columns)}")
    if columns[text_column] not in STRING_TYPES:
        raise AnnotateError(f"{source.path}: column {text_column!r} holds {columns[text_column]}, not strings")
    if source.kind == "parquet":
        with storage.open_input(source.path) as file_:
            return _parquet().ParquetFile(file_).metadata.num_rows
    return _dataset(source.path).num_rows


def _table_columns(source: Source) -> Dict[str, str]:
    """{column name: its type, as a string} of a Parquet file or dataset."""
    if source.kind == "parquet":
        with storage.open_input(source.path) as file_:
            schema = _parquet().ParquetFile(file_).schema_arrow
        return {field.name: str(field.type) for field in schema}
    features = _dataset(source.path).features
    return {name: str(getattr(feature, "dtype", feature)) for name, feature in features.items()}


def _table_records(shard: Shard, text_column: str, id_column: Optional[str]) -> Iterator[Tuple[int, Dict, None]]:
    columns = [text_column] + ([id_column] if id_column is not None else [])
    if shard.kind == "parquet":
        values = _parquet_slice(shard.path, columns, shard.start, shard.stop)
    else:
        values = _dataset(shard.path).select_columns(columns)[shard.start:shard.stop]
    for offset in range(shard.stop - shard.start):
        yield shard.start + offset, {column: values[column][offset] for column in columns}, None


def _parquet_slice(path: str, columns: List[str], start: int, stop: int) -> Dict[str, List]:
    """{column: values of rows [start, stop)}, reading only the row groups that hold them."""
    with storage.open_input(path) as file_:
        parquet_file = _parquet().ParquetFile(file_)
        groups, first, offset = [], None, 0
        for group in range(parquet_file.num_row_groups):
            n_rows = parquet_file.metadata.row_group(group).num_rows
            if offset < stop and offset + n_rows > start:
                groups.append(group)
                first = offset if first is None else first
            offset += n_rows
        table = parquet_file.read_row_groups(groups, columns=columns)
    return table.slice(start - first, stop - start).to_pydict()


def _parquet():
    return require("pyarrow.parquet", "parquet", "reading Parquet files")


@lru_cache(maxsize=4)
def _dataset(path: str):
    """A saved Hugging Face dataset (memory-mapped; one load per process and path)."""
    datasets = require("datasets", "datasets", "reading a Hugging Face dataset")
    if storage.is_uri(path):
        raise AnnotateError(f"{path}: a Hugging Face dataset is read from a local folder")
    dataset = datasets.load_from_disk(path)
    if isinstance(dataset, datasets.DatasetDict):
        raise AnnotateError(f"{path} holds the splits {', '.join(dataset)}: give one split's folder ({path}/{next(iter(dataset))})")
    return dataset
