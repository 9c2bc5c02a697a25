"""annotate: run a pipeline over a corpus of any size into sharded output, resumable (the
library's `spacy_rnn.annotate`), with a progress bar and a summary."""
from typing import Optional

import typer

from .common import app, fail

FIELDS_HELP = ("Comma-separated fields of each row (parquet, jsonl): id, text, tokens, pos, pos_confidence, tag, "
               "tag_confidence, lemma, entities, cats, perplexity. Default: id, tokens and every field the pipeline writes")


@app.command("annotate")
def annotate_cmd(
    pipeline: str = typer.Argument(..., metavar="PIPELINE", help="Pipeline folder or installed package name"),
    input_path: str = typer.Argument(..., metavar="INPUT", help="A .jsonl, .parquet or .txt file, a folder of them, "
                                     "or a Hugging Face dataset saved with save_to_disk; or an s3://, gs://... URI"),
    output: str = typer.Argument(..., metavar="OUTPUT", help="Folder (or URI) of the output shards; a rerun resumes the run it holds"),
    engine: str = typer.Option("local", "--engine", help="local (worker processes on this machine) or ray (needs the ray extra)"),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (local) or actors (ray), each loading the pipeline once"),
    threads: int = typer.Option(1, "--threads-per-worker", min=1, help="torch threads of each worker"),
    output_format: str = typer.Option("parquet", "--format", help="parquet (needs the parquet extra), jsonl or docbin"),
    fields: Optional[str] = typer.Option(None, "--fields", help=FIELDS_HELP),
    text_column: str = typer.Option("text", "--text-column", help="The text's field or column (jsonl, parquet, dataset)"),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="The id's field or column; without it ids are "
                                            "<file stem>:<line number> (text, jsonl) or <file stem>:<row index>"),
    input_format: Optional[str] = typer.Option(None, "--input-format", help="jsonl, text, parquet or hf (default: from the file names)"),
    shard_size: int = typer.Option(10_000, "--shard-size", min=1, help="Rows per shard: the unit of work, output and resumption"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="nlp.pipe's batch size (default: the pipeline's)"),
    code: Optional[str] = typer.Option(None, "--code", help="Python file imported before loading (custom components)"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS",
                                          help="Ray cluster to attach to (ray; default $RAY_ADDRESS, else a local Ray is started)"),
    max_retries: int = typer.Option(2, "--max-retries", min=0, help="Times a shard is tried again after its worker died or raised"),
) -> None:
    """Annotate every document of INPUT with PIPELINE into shards in OUTPUT (one Parquet, JSONL
    or DocBin file per shard, written atomically and recorded in OUTPUT/_manifest). Rerunning the
    same command skips the shards done and does the rest; rows the pipeline cannot take
    (malformed, too long, not valid Unicode) go to OUTPUT/_errors.jsonl with their id and why."""
    from tqdm import tqdm

    from ..annotate import AnnotateError, annotate

    bars = []

    def on_plan(n_rows: int) -> None:
        bars.append(tqdm(total=n_rows, unit="doc", desc="annotating", smoothing=0.1, dynamic_ncols=True))

    try:
        summary = annotate(
            pipeline, input_path, output, engine=engine, workers=workers, threads=threads, output_format=output_format,
            fields=None if fields is None else [name.strip() for name in fields.split(",") if name.strip()],
            text_column=text_column, id_column=id_column, input_format=input_format, shard_size=shard_size,
            batch_size=batch_size, code=code, address=address, max_retries=max_retries,
            on_plan=on_plan, on_shard=lambda record: bars[0].update(record["rows"]),
        )
    except (AnnotateError, KeyboardInterrupt) as err:
        for bar in bars:
            bar.close()
        fail(str(err) if isinstance(err, AnnotateError) else "interrupted; the shards done are kept: rerun the same command to do the rest")
    for bar in bars:
        bar.close()
    seconds = max(summary.seconds, 1e-9)
    typer.echo(
        f"{summary.rows:,} documents in, {summary.documents:,} out, {summary.errors:,} errors in {summary.seconds:.1f} s "
        f"({summary.rows / seconds:,.0f} docs/s, {summary.words / seconds:,.0f} words/s); shards: {summary.shards_now} "
        f"done now, {summary.shards_before} before, {summary.shards} in all")
    if summary.shards_before:
        typer.echo(f"whole run: {summary.documents_total:,} documents out, {summary.errors_total:,} errors")
    if summary.failed:
        for name, reason in summary.failed.items():
            typer.echo(f"{name} failed: {reason}", err=True)
        fail(f"{len(summary.failed)} shard(s) failed; rerun the same command to try them again")
    typer.echo(f"output -> {summary.output}" + (f"; errors -> {summary.errors_path}" if summary.errors_path else ""))
