"""`annotate`: the driver of a run, the same for both engines. It loads the pipeline once to
check it and choose the fields, opens OUTPUT's manifest (planning the shards on a first run),
hands the shards not yet done to the engine, counts what comes back and, once every shard is
done, writes the errors file."""
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from ..errors import first_line
from ..extras import require
from . import storage
from .local import run_local
from .ray_engine import RAY_PURPOSE, run_ray
from .records import FORMATS, PARQUET_PURPOSE, cats_labels, choose_fields
from .shards import Job, done_records, errors_path, load_pipeline, open_run, pipeline_fingerprint, shard_name, write_errors
from .sources import AnnotateError, Shard, find_sources

ENGINES = ("local", "ray")
DEFAULT_SHARD_SIZE = 10_000


@dataclass
class Summary:
    """What a run did (`documents`, `errors`, `words`, `seconds`: this run's shards; `*_total`:
    every shard done so far, by this run or before)."""

    output: str
    shards: int
    shards_before: int
    shards_now: int
    failed: Dict[str, str] = field(default_factory=dict)  # shard name: why it was given up
    rows: int = 0
    documents: int = 0
    errors: int = 0
    words: int = 0
    seconds: float = 0.0
    documents_total: int = 0
    errors_total: int = 0
    errors_path: Optional[str] = None

    @property
    def complete(self) -> bool:
        return self.shards_before + self.shards_now == self.shards


class Tries:
    """How often each shard failed; whether it may be tried again (at most 1 + max_retries times)."""

    def __init__(self, max_retries: int):
        self.max_retries = max_retries
        self.failures: Counter = Counter()
        self.given_up: Dict[str, str] = {}

    def retry(self, shard: Shard, reason: str) -> bool:
        self.failures[shard.index] += 1
        if self.failures[shard.index] > self.max_retries:
            self.give_up(shard, f"{reason} ({self.failures[shard.index]} tries)")
            return False
        return True

    def give_up(self, shard: Shard, reason: str) -> None:
        self.given_up[shard_name(shard)] = reason


def annotate(
    pipeline: str,
    input_path: str,
    output: str,
    *,
    engine: str = "local",
    workers: int = 1,
    threads: int = 1,
    output_format: str = "parquet",
    fields: Optional[Sequence[str]] = None,
    text_column: str = "text",
    id_column: Optional[str] = None,
    input_format: Optional[str] = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: Optional[int] = None,
    code: Optional[str] = None,
    address: Optional[str] = None,
    max_retries: int = 2,
    on_plan: Callable[[int], None] = lambda n_rows: None,
    on_shard: Callable[[Dict], None] = lambda record: None,
) -> Summary:
    """Annotate the documents of input_path with the pipeline into OUTPUT's shards (see the
    package docstring); on_plan(rows to annotate) before the work, on_shard(done record) after
    each shard. Resumes a run OUTPUT holds; AnnotateError for a problem found before any work."""
    if engine not in ENGINES:
        raise AnnotateError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if output_format not in FORMATS:
        raise AnnotateError(f"--format must be one of {', '.join(FORMATS)}, not {output_format!r}")
    if output_format == "docbin" and fields is not None:
        raise AnnotateError("--fields chooses columns of parquet or jsonl output; docbin keeps whole Docs")
    if min(workers, threads, shard_size) < 1 or max_retries < 0:
        raise AnnotateError("--workers, --threads-per-worker and --shard-size must be at least 1, --max-retries at least 0")
    # Absolute local paths: the workers may start in another folder.
    pipeline = os.path.abspath(pipeline) if os.path.exists(pipeline) else pipeline  # else a package name
    input_path, output, code = (_absolute(path) for path in (input_path, output, code))
    # Fail now, not in the workers.
    if output_format == "parquet":
        require("pyarrow.parquet", "parquet", PARQUET_PURPOSE)
    if engine == "ray":
        require("ray.data", "ray", RAY_PURPOSE)
    sources = find_sources(input_path, input_format)
    nlp = _load(pipeline, code)
    job = Job(pipeline, output, output_format, choose_fields(nlp, fields), tuple(cats_labels(nlp)), text_column,
              id_column, batch_size, threads, code)
    fingerprint = pipeline_fingerprint(nlp)
    del nlp  # the workers load their own
    shards = open_run(job, sources, shard_size, fingerprint)
    records = done_records(job, shards)
    pending = [shard for shard in shards if shard.index not in records]
    summary = Summary(output, len(shards), len(records), 0)
    on_plan(sum(shard.n_rows for shard in pending))
    started = time.perf_counter()
    tries = Tries(max_retries)
    for record in _engine(engine, job, pending, workers, tries, address):
        records[record["shard"]] = record
        summary.shards_now += 1
        summary.rows += record["rows"]
        summary.documents += record["documents"]
        summary.errors += len(record["errors"])
        summary.words += record["words"]
        on_shard(record)
    summary.seconds = time.perf_counter() - started
    summary.failed = dict(tries.given_up)
    summary.documents_total = sum(record["documents"] for record in records.values())
    summary.errors_total = sum(len(record["errors"]) for record in records.values())
    if summary.complete:
        summary.errors_path = errors_path(job)
        if pending or storage.file_info(summary.errors_path) is None:
            write_errors(job, records)
    return summary


def _engine(engine: str, job: Job, pending: List[Shard], workers: int, tries: Tries, address: Optional[str]):
    if not pending:
        return iter(())
    if engine == "ray":
        return run_ray(job, pending, workers, tries.give_up, tries.max_retries, address)
    return run_local(job, pending, workers, tries.retry)


def _absolute(path: Optional[str]) -> Optional[str]:
    return path if path is None or storage.is_uri(path) else os.path.abspath(path)


def _load(pipeline: str, code: Optional[str]):
    """The pipeline as the workers will load it (`code` imported first), or AnnotateError."""
    if code is not None and not os.path.isfile(code):
        raise AnnotateError(f"--code {code}: no such file")
    try:
        return load_pipeline(pipeline, code)
    except (OSError, ValueError) as err:
        raise AnnotateError(f"cannot load the pipeline {pipeline}: {first_line(err)}") from None
