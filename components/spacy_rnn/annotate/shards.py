"""A run's output folder and its manifest, and the one function both engines' workers call on a
shard: `annotate_shard`.

OUTPUT holds one file per shard (`part-00012.parquet`, `.jsonl` or `.spacy`), `_errors.jsonl`
(written when the run completes) and `_manifest/`: `run.json` (the settings, the inputs' sizes
and modification times, the pipeline's fingerprint and the shard plan, written once) and
`done/part-00012.json`, one per finished shard (its counts, its error records and its output
file's size), written after that file. A shard is done when its record is there, its counts add
up to the shard's rows and its file has the recorded size; a rerun annotates the others only,
and refuses an OUTPUT written with other settings instead of mixing them. Every write is atomic
(`storage.write_atomic`) and a shard's file has one name, so a killed run leaves no part of a
file and no document twice; the names starting with "_" or "." are skipped by Parquet readers.
"""
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import first_line
from ..pipes.text import NotUnicodeText, check_text
from . import storage
from .records import FORMATS, ShardWriter
from .sources import AnnotateError, Row, Shard, Source, error_record, fingerprint, plan_shards, read_shard

MANIFEST = "_manifest"
ERRORS = "_errors.jsonl"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Job:
    """What a worker needs to annotate and write any shard of a run (sent to worker processes
    and Ray actors, so plain values only)."""

    pipeline: str
    output: str
    output_format: str
    fields: Tuple[str, ...]
    labels: Tuple[str, ...]  # the cats labels
    text_column: str
    id_column: Optional[str]
    batch_size: Optional[int] = None
    threads: int = 1
    code: Optional[str] = None

    def settings(self) -> Dict:
        """What decides a run's output: a rerun must give the same (engine, workers, threads and
        batch size do not change it, so a run may be finished by another engine)."""
        return {"output_format": self.output_format, "fields": list(self.fields), "labels": list(self.labels),
                "text_column": self.text_column, "id_column": self.id_column}


def shard_name(shard: Shard) -> str:
    return f"part-{shard.index:05d}"


def output_path(job: Job, shard: Shard) -> str:
    return storage.join(job.output, shard_name(shard) + FORMATS[job.output_format])


def done_path(job: Job, shard: Shard) -> str:
    return storage.join(job.output, MANIFEST, "done", shard_name(shard) + ".json")


def load_pipeline(pipeline: str, code: Optional[str]):
    """spacy.load(pipeline), with `code` (a Python file registering custom components, as
    spaCy's --code) imported first."""
    import spacy

    if code is not None:
        spacy.util.import_file("spacy_rnn_annotate_code", code)
    return spacy.load(pipeline)


def load_worker_pipeline(job: Job):
    """The pipeline as a worker runs it: loaded once, torch on job.threads threads."""
    import torch

    torch.set_num_threads(job.threads)
    return load_pipeline(job.pipeline, job.code)


def annotate_shard(nlp, shard: Shard, job: Job) -> Dict:
    """Read the shard, annotate its documents, write its output file and then its done record
    (both atomically); the record. Rows that are malformed, over nlp.max_length, not valid
    Unicode or that the pipeline raises on become error records: every row of the shard is in
    the output or in the errors, once."""
    started = time.perf_counter()
    rows, errors = read_shard(shard, job.text_column, job.id_column)
    accepted = []
    for row in rows:
        reason = rejection(nlp, row.text)
        if reason is None:
            accepted.append(row)
        else:
            errors.append(error_record(row.id, shard.path, row.row, reason))
    writer = ShardWriter(job.output_format, job.fields, job.labels)
    errors.extend(_annotate(nlp, accepted, job.batch_size, writer, shard.path))
    data = writer.to_bytes()
    storage.write_atomic(output_path(job, shard), data)
    record = {
        "shard": shard.index, "rows": shard.n_rows, "documents": writer.n_docs, "words": writer.n_words,
        "errors": sorted(errors, key=lambda error: error["row"]), "output": storage.name_of(output_path(job, shard)),
        "size": len(data), "seconds": round(time.perf_counter() - started, 3), "worker": os.getpid(),
    }
    storage.write_atomic(done_path(job, shard), json.dumps(record, ensure_ascii=False).encode("utf8"))
    return record


def rejection(nlp, text: str) -> Optional[str]:
    """Why the pipeline would refuse the text, or None: over nlp.max_length, or lone surrogates."""
    if len(text) > nlp.max_length:
        return f"text of {len(text):,} characters, over the pipeline's nlp.max_length ({nlp.max_length:,})"
    try:
        check_text(text)
    except NotUnicodeText as err:
        return str(err)
    return None


def _annotate(nlp, rows: List[Row], batch_size: Optional[int], writer: ShardWriter, path: str) -> List[Dict]:
    """Annotate the rows with nlp.pipe into the writer. Should a batch raise, the rows from the
    first one not written on are annotated one at a time, and those that raise become error
    records (returned)."""
    done = 0
    try:
        for doc in nlp.pipe((row.text for row in rows), batch_size=batch_size):
            writer.add(rows[done].id, doc)
            done += 1
        return []
    except Exception:  # noqa: BLE001 - which document failed is found below
        pass
    errors = []
    for row in rows[done:]:
        try:
            writer.add(row.id, nlp(row.text))
        except Exception as err:  # noqa: BLE001 - a document the pipeline rejects is an error record
            errors.append(error_record(row.id, path, row.row, f"the pipeline failed: {type(err).__name__}: {first_line(err)}"))
    return errors


def pipeline_fingerprint(nlp) -> str:
    """sha256 of the files of the folder the pipeline was loaded from (so a retrained pipeline
    in the same folder is another pipeline), or of its name and version without one."""
    digest = hashlib.sha256()
    folder = getattr(nlp, "path", None)
    if folder is None:
        digest.update(f"{nlp.meta.get('name')} {nlp.meta.get('version')}".encode("utf8"))
        return digest.hexdigest()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode("utf8") + b"\0")
            with open(path, "rb") as file_:
                for block in iter(lambda: file_.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def open_run(job: Job, sources: Sequence[Source], shard_size: int, pipeline: str) -> List[Shard]:
    """The run's shards: those of OUTPUT's manifest when it was written with the same settings,
    inputs and pipeline (AnnotateError naming what differs otherwise), or a new plan recorded
    in a new manifest."""
    header = {
        "version": FORMAT_VERSION, "settings": job.settings(), "shard_size": shard_size, "pipeline": pipeline,
        "inputs": [{"path": source.path, "format": source.kind, "files": fingerprint(source)} for source in sources],
    }
    run_path = storage.join(job.output, MANIFEST, "run.json")
    if storage.file_info(run_path) is not None:
        manifest = json.loads(storage.read_bytes(run_path))
        settings = {**manifest.get("settings", {}), **{key: value for key, value in manifest.items() if key != "settings"}}
        wanted = {**header["settings"], **{key: value for key, value in header.items() if key != "settings"}}
        differences = [key for key in wanted if settings.get(key) != wanted[key]]
        if differences:
            raise AnnotateError(
                f"{job.output} holds a run with other {', '.join(differences)}; give another OUTPUT, or delete "
                f"this one to start over")
        return [Shard(**shard) for shard in manifest["shards"]]
    if storage.file_info(job.output) is not None and storage.list_files(job.output):
        raise AnnotateError(f"{job.output} holds files but no run of annotate ({MANIFEST}/run.json); give an empty or new folder")
    shards = plan_shards(list(sources), shard_size, job.text_column, job.id_column)
    storage.make_dirs(storage.join(job.output, MANIFEST, "done"))
    manifest = {**header, "shards": [shard.to_dict() for shard in shards]}
    storage.write_atomic(run_path, json.dumps(manifest, ensure_ascii=False).encode("utf8"))
    return shards


def done_records(job: Job, shards: Sequence[Shard]) -> Dict[int, Dict]:
    """{shard index: done record} of the shards that are done (see the module docstring)."""
    records = {}
    done_files = storage.list_files(storage.join(job.output, MANIFEST, "done"))
    outputs = storage.list_files(job.output)
    for shard in shards:
        if shard_name(shard) + ".json" not in done_files:
            continue
        record = json.loads(storage.read_bytes(done_path(job, shard)))
        complete = record["rows"] == shard.n_rows == record["documents"] + len(record["errors"])
        if complete and outputs.get(record["output"]) == record["size"]:
            records[shard.index] = record
    return records


def errors_path(job: Job) -> str:
    return storage.join(job.output, ERRORS)


def write_errors(job: Job, records: Dict[int, Dict]) -> None:
    """OUTPUT/_errors.jsonl: the error records of all shards, in input order."""
    lines = [json.dumps(error, ensure_ascii=False) + "\n" for index in sorted(records) for error in records[index]["errors"]]
    storage.write_atomic(errors_path(job), "".join(lines).encode("utf8"))
