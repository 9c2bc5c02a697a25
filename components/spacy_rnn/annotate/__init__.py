"""Bulk annotation of a corpus of any size, resumable: `python -m spacy_rnn annotate PIPELINE
INPUT OUTPUT`, or `annotate(...)` from Python.

The input (JSONL, Parquet, text lines or a saved Hugging Face dataset: `sources`) is cut into
shards of a fixed number of rows; each shard is annotated by a worker that loaded the pipeline
once and written as one file of OUTPUT (Parquet, JSONL or DocBin: `records`), atomically, then
recorded in OUTPUT's manifest (`shards`). A rerun skips the shards recorded and does the rest,
so a killed run loses only the shards in flight; every input row ends in the output or in
OUTPUT/_errors.jsonl with its id and the reason, exactly once. Engines: "local" (worker
processes on this machine, `local`) and "ray" (actors on a Ray cluster, `ray_engine`), both
running `shards.annotate_shard`; the driver is `run.annotate`.
"""
from .run import ENGINES, Summary, annotate
from .sources import AnnotateError

__all__ = ["ENGINES", "AnnotateError", "Summary", "annotate"]
