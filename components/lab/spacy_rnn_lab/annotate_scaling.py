"""How `annotate` scales (issue 37): words/s of a pipeline over the same sentences, in one run,
by plain `nlp.pipe` in this process and by each engine (local, ray) with 1 and 2 workers of one
torch thread each; what an engine costs per document and once per run; and from those, an
estimate for 100 million news sentences on a cluster of 16-core nodes.

- Baselines, in this process with one torch thread: `nlp.pipe` alone, and `nlp.pipe` plus
  building each doc's output row (`records.doc_row`, the fields annotate writes by default):
  the same pipeline work as the engines do, since reading a field may compute it (a lazy
  language model computes perplexity when it is read).
- Engine runs: `annotate(...)` into Parquet, wall time around the call (loading the pipeline in
  the driver and in each worker, starting Ray or the processes, planning, reading, writing).
- Start-up: the same call on a one-sentence input: what a run costs whatever its size.
  Steady-state words/s = words / (wall - start-up).
- Overhead per document at one worker: (engine wall - start-up - baseline seconds) / documents,
  against the baseline with rows; and as a share of that baseline's words/s.
The load average before and after each run says how quiet the machine was.
"""
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from spacy_rnn.evaluation.reports import markdown_table, write_json

from .machine import cpu_line, cpu_record, torch_threads

# Issue 37's targets: two workers at least this many times one worker's words/s, and an engine
# at one worker at most this much below nlp.pipe's words/s.
SPEEDUP_TARGET = 1.7
OVERHEAD_TARGET = 0.10
SENTENCES = 100_000_000
CORES_PER_NODE = 16
NODES = (1, 4, 16, 64)


def sentences(path: Path) -> Tuple[List[str], Dict]:
    """The sentences of a DocBin's documents as texts (one line each), and what they are."""
    import spacy
    from spacy.tokens import DocBin

    docs = DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)
    texts = [" ".join(sent.text.split()) for doc in docs for sent in (doc.sents if doc.has_annotation("SENT_START") else [doc[:]])]
    texts = [text for text in texts if text]
    return texts, {"path": str(path), "sentences": len(texts), "characters": sum(len(text) for text in texts)}


def repeated(texts: Sequence[str], n_docs: int) -> List[str]:
    return [texts[i % len(texts)] for i in range(n_docs)]


def baselines(pipeline: str, texts: List[str], batch_size: Optional[int]) -> Dict:
    """Plain nlp.pipe, and nlp.pipe with each doc's output row built, one torch thread."""
    import spacy

    from spacy_rnn.annotate.records import cats_labels, choose_fields, doc_row

    nlp = spacy.load(pipeline)
    fields, labels = choose_fields(nlp, None), cats_labels(nlp)
    results = {}
    with torch_threads(1):
        for name, rows in (("nlp.pipe", False), ("nlp.pipe + rows", True)):
            load_before, words = os.getloadavg()[0], 0
            started = time.perf_counter()
            for doc in nlp.pipe(texts, batch_size=batch_size):
                words += len(doc)
                if rows:
                    doc_row("id", doc, fields, labels)
            seconds = time.perf_counter() - started
            results[name] = {"docs": len(texts), "words": words, "seconds": round(seconds, 2),
                             "words_per_second": round(words / seconds), "load_before": load_before,
                             "load_after": os.getloadavg()[0]}
    results["fields"] = list(fields)
    return results


def engine_run(pipeline: str, input_path: Path, output: Path, engine: str, workers: int, shard_size: int,
               batch_size: Optional[int]) -> Dict:
    """One annotate run into a new folder, timed around the call."""
    from spacy_rnn.annotate import annotate

    shutil.rmtree(output, ignore_errors=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = annotate(pipeline, str(input_path), str(output), engine=engine, workers=workers, threads=1,
                       shard_size=shard_size, batch_size=batch_size)
    wall = time.perf_counter() - started
    if not summary.complete or summary.errors:
        raise RuntimeError(f"{engine} with {workers} worker(s): {summary.errors} errors, failed shards {summary.failed}")
    return {"engine": engine, "workers": workers, "docs": summary.documents, "words": summary.words,
            "wall_seconds": round(wall, 2), "engine_seconds": round(summary.seconds, 2),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def scaling_benchmark(pipeline: str, texts_path: Path, n_docs: int, engines: Sequence[str], workers: Sequence[int],
                      shard_size: int, batch_size: Optional[int], work_dir: Optional[Path] = None) -> Dict:
    """The measurements (see the module docstring) and the estimate, as the report's dict."""
    texts, text_record = sentences(texts_path)
    docs = repeated(texts, n_docs)
    temporary = Path(tempfile.mkdtemp(prefix="annotate-scaling-", dir=work_dir))
    try:
        input_path, one_path = temporary / "input.txt", temporary / "one.txt"
        input_path.write_text("".join(text + "\n" for text in docs), encoding="utf8")
        one_path.write_text(docs[0] + "\n", encoding="utf8")
        report = {"pipeline": pipeline, "texts": {**text_record, "docs": n_docs}, "cpu": cpu_record(),
                  "cpu_count": os.cpu_count(), "shard_size": shard_size, "batch_size": batch_size}
        report["baselines"] = baselines(pipeline, docs, batch_size)
        runs = []
        for engine in engines:
            for n_workers in workers:
                run = engine_run(pipeline, input_path, temporary / "out", engine, n_workers, shard_size, batch_size)
                startup = engine_run(pipeline, one_path, temporary / "out", engine, n_workers, shard_size, batch_size)
                run["startup_seconds"] = startup["wall_seconds"]
                runs.append(run)
        report["runs"] = runs
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    report["figures"] = figures(report)
    report["estimate"] = estimate(report)
    return report


def figures(report: Dict) -> Dict:
    """Per run: words/s (wall and steady state), the speed-up over one worker, and at one worker
    the overhead per document and as a share of the baseline with rows."""
    baseline = report["baselines"]["nlp.pipe + rows"]
    out = {}
    for run in report["runs"]:
        steady_seconds = max(run["wall_seconds"] - run["startup_seconds"], 1e-9)
        out[f"{run['engine']} x{run['workers']}"] = {
            "words_per_second": round(run["words"] / run["wall_seconds"]),
            "steady_words_per_second": round(run["words"] / steady_seconds),
            "startup_seconds": run["startup_seconds"],
        }
    for run in report["runs"]:
        key, one = f"{run['engine']} x{run['workers']}", out.get(f"{run['engine']} x1")
        if one is not None and run["workers"] > 1:
            out[key]["speedup"] = round(out[key]["words_per_second"] / one["words_per_second"], 2)
            out[key]["steady_speedup"] = round(out[key]["steady_words_per_second"] / one["steady_words_per_second"], 2)
        if run["workers"] == 1:
            steady_seconds = run["wall_seconds"] - run["startup_seconds"]
            out[key]["overhead_ms_per_doc"] = round(1000 * (steady_seconds - baseline["seconds"]) / run["docs"], 3)
            out[key]["overhead_share"] = round(1 - out[key]["steady_words_per_second"] / baseline["words_per_second"], 3)
    return out


def targets(figures_: Dict) -> List[str]:
    """Each run's figure against its target, met or missed."""
    lines = []
    for key, fig in figures_.items():
        if "steady_speedup" in fig:
            met = "met" if fig["steady_speedup"] >= SPEEDUP_TARGET else "missed"
            lines.append(f"{key} {fig['steady_speedup']}x one worker (target >= {SPEEDUP_TARGET}x: {met})")
        if "overhead_share" in fig:
            met = "met" if fig["overhead_share"] <= OVERHEAD_TARGET else "missed"
            lines.append(f"{key} {100 * fig['overhead_share']:.1f}% below nlp.pipe + rows (target <= {100 * OVERHEAD_TARGET:.0f}%: {met})")
    return lines


def estimate(report: Dict, n_sentences: int = SENTENCES, cores: int = CORES_PER_NODE, nodes: Sequence[int] = NODES) -> Dict:
    """Hours and core-hours for `n_sentences` news sentences on N nodes of `cores` cores, from the
    ray engine's steady one-worker words/s, its two-worker efficiency, and the tokens per
    sentence of the texts measured (the assumptions are returned with the figures)."""
    figures_, engine = report["figures"], "ray" if "ray x1" in report["figures"] else "local"
    one, two = figures_[f"{engine} x1"], figures_.get(f"{engine} x2")
    efficiency = 1.0 if two is None else min(two["steady_words_per_second"] / (2 * one["steady_words_per_second"]), 1.0)
    baseline = report["baselines"]["nlp.pipe + rows"]
    tokens_per_sentence = baseline["words"] / baseline["docs"]
    words = n_sentences * tokens_per_sentence
    rows = []
    for n in nodes:
        seconds = words / (one["steady_words_per_second"] * efficiency * cores * n) + one["startup_seconds"]
        rows.append({"nodes": n, "workers": cores * n, "hours": round(seconds / 3600, 2),
                     "core_hours": round(seconds / 3600 * cores * n)})
    return {
        "sentences": n_sentences, "engine": engine, "cores_per_node": cores,
        "tokens_per_sentence": round(tokens_per_sentence, 1), "worker_words_per_second": one["steady_words_per_second"],
        "efficiency_per_worker": round(efficiency, 3), "startup_seconds": one["startup_seconds"], "rows": rows,
    }


def write_scaling_report(report: Dict, output_dir: Path, command: str) -> None:
    """scaling.json and README.md in output_dir."""
    report = {**report, "command": command}
    write_json(report, output_dir / "scaling.json")
    (output_dir / "README.md").write_text(scaling_markdown(report), encoding="utf8")


def scaling_markdown(report: Dict) -> str:
    base, figs, est = report["baselines"], report["figures"], report["estimate"]
    texts = report["texts"]
    rows = [[name, f"{b['words_per_second']:,}", b["seconds"], "", "", "", f"{b['load_before']:.2f} / {b['load_after']:.2f}"]
            for name, b in base.items() if name != "fields"]
    for run in report["runs"]:
        fig = figs[f"{run['engine']} x{run['workers']}"]
        rows.append([f"{run['engine']}, {run['workers']} worker(s)", f"{fig['words_per_second']:,}", run["wall_seconds"],
                     f"{fig['steady_words_per_second']:,}", fig["startup_seconds"],
                     f"{fig['speedup']} / {fig['steady_speedup']}" if "speedup" in fig else "",
                     f"{run['load_before']:.2f} / {run['load_after']:.2f}"])
    overheads = [[key, f"{fig['overhead_ms_per_doc']} ms", f"{100 * fig['overhead_share']:.1f}%"]
                 for key, fig in figs.items() if "overhead_share" in fig]
    cluster = [[row["nodes"], row["workers"], row["hours"], f"{row['core_hours']:,}"] for row in est["rows"]]
    return "\n\n".join([
        "# annotate: scaling on this machine, and an estimate for a cluster",
        f"Command: `{report['command']}`",
        f"Pipeline `{report['pipeline']}`; {texts['docs']:,} sentences ({min(texts['sentences'], texts['docs']):,} "
        f"distinct, from `{texts['path']}`, repeated to that number), {base['nlp.pipe']['words']:,} words; one torch thread per worker; Parquet output "
        f"({', '.join(base['fields'])}); shards of {report['shard_size']:,} sentences. {cpu_line(report['cpu'])}; "
        f"{report['cpu_count']} cores.",
        "## Words/s, same texts, same run",
        "Steady: words / (wall - start-up), the start-up measured by the same call on one sentence. "
        "Speed-up: words/s over the same engine's one worker, from the wall time / in the steady state.",
        markdown_table(["run", "words/s (wall)", "wall s", "words/s (steady)", "start-up s", "speed-up", "load before / after"], rows),
        "Targets (issue 37), steady state: " + "; ".join(targets(figs)) + ".",
        "## What an engine costs at one worker",
        "Per document: (wall - start-up - the `nlp.pipe + rows` seconds) / documents; share: how much lower its steady "
        "words/s is than `nlp.pipe + rows` (the same pipeline work: building a row reads every field, and reading the "
        "perplexity of a lazy language model computes it; `nlp.pipe` alone does not).",
        markdown_table(["engine", "overhead per document", "share of throughput"], overheads),
        f"## Estimate: {est['sentences']:,} news sentences on N nodes of {est['cores_per_node']} cores",
        f"Assumptions: news sentences of {est['tokens_per_sentence']} tokens (the mean of the texts above); one worker "
        f"per core at the {est['engine']} engine's steady one-worker speed here ({est['worker_words_per_second']:,} "
        f"words/s), times the per-worker efficiency of two workers here ({est['efficiency_per_worker']}) for every "
        f"worker of a node; cores as fast as these; input and output storage never the bottleneck; plus one start-up "
        f"({est['startup_seconds']} s). Hours = words / (workers x words/s per worker x efficiency) + start-up.",
        markdown_table(["nodes", "workers", "hours", "core-hours"], cluster),
        "To confirm on a real cluster: one node's words/s with 1, 2, 4, 8 and 16 workers (do 16 workers on 16 "
        "cores keep the two-worker efficiency? SMT siblings, memory bandwidth and the node's CPU flags decide); "
        "start-up with the pipeline loaded from the shared path or package; shard read and write times against the "
        "object store at the cluster's total rate (requests/s, throttling); the driver's load with tens of "
        "thousands of shards; the tail, when the last shards run on few workers; and the cost of a lost node "
        "(its shards redone) by killing one mid-run.",
    ]) + "\n"
