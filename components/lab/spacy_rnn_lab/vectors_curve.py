"""Dev scores of trained pipelines against the number of static vector rows kept, and the
smallest table that costs no task more than a tolerance.

For each row count the shared table is pruned afresh from the full table
(`spacy_rnn.vectors_pruning.prune_vectors`: the first rows kept, every removed word mapped to
its nearest kept row) and every task is scored on its dev DocBin with gold tokens: NER by
entity F1 (seqeval default mode, micro average, as `evaluate-ner`), textcat by accuracy (as
`evaluate-textcat`), both in percent. The size of a table is what `Vectors.to_disk` writes.
The chosen row count is the smallest whose every score is at most `tolerance` points below the
score with the full table. Figures are dev figures: the choice is made on dev.
"""
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.vectors import Vectors
from tqdm import tqdm

from spacy_rnn.extras import pyplot
from spacy_rnn.vectors_pruning import check_vector_readers, prune_vectors, use_vectors
from spacy_rnn.evaluation.accuracy_report import tag_gold_tokens
from spacy_rnn.evaluation.reports import gold_docs, machine_info, markdown_table, write_json
from spacy_rnn.evaluation.seqeval_report import ner_scores
from spacy_rnn.evaluation.textcat_report import textcat_scores

METRICS = {"ner": "entity F1 (seqeval default mode, micro, %)", "textcat": "accuracy (%)"}
ASSIGNS = {"ner": "doc.ents", "textcat": "doc.cats"}


def task_score(task: str, nlp: Language, references: Sequence) -> float:
    """The task's dev score (METRICS) of nlp on gold-tokenized copies of the references."""
    predictions = tag_gold_tokens(nlp, references)
    if task == "ner":
        return ner_scores(references, predictions)["seqeval"]["default"]["micro"]["f1"]
    return textcat_scores(references, predictions)["accuracy"]


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of all files under a folder."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def table_bytes(vectors: Vectors) -> int:
    """Bytes that `vectors.to_disk` writes (the table's share of a saved pipeline)."""
    with tempfile.TemporaryDirectory() as tmp:
        vectors.to_disk(tmp)
        return path_bytes(Path(tmp))


def vectors_curve(
    pipelines: Dict[str, Language], dev: Dict[str, Path], rows: Sequence[int], tolerance: float, batch_size: int = 1024
) -> Dict:
    """Score every task (a key of METRICS: its pipeline and dev DocBin) with the table pruned to
    each row count; the full table's row count is always scored, and row counts above it are
    skipped (recorded in "skipped_rows"). The pipelines must share one
    vocab, whose table every component that reads vectors was trained with; they get the full
    table back at the end."""
    vocabs = {id(nlp.vocab) for nlp in pipelines.values()}
    if len(vocabs) != 1:
        raise ValueError("the pipelines must share one vocab (load them with spacy.load(path, vocab=...))")
    for task, nlp in pipelines.items():
        try:
            check_vector_readers(nlp)
        except ValueError as err:
            raise ValueError(f"{task}: {err}") from None
    full = next(iter(pipelines.values())).vocab.vectors
    n_full = full.shape[0]
    skipped = sorted(n for n in rows if n > n_full)  # a smaller table than the levels asked for: its full size stands for them
    references = {task: gold_docs(nlp, dev[task], (ASSIGNS[task],)) for task, nlp in pipelines.items()}
    levels: List[Dict] = []
    for n_rows in tqdm(sorted({n for n in rows if n <= n_full} | {n_full}, reverse=True), desc="row counts", unit="level"):
        start = time.perf_counter()
        with tqdm(total=n_full - n_rows, desc=f"pruning to {n_rows:,}", unit="row", leave=False) as bar:
            table, stats = prune_vectors(full, n_rows, batch_size, bar.update)
        prune_seconds = time.perf_counter() - start
        for nlp in pipelines.values():
            use_vectors(nlp, table)
        start = time.perf_counter()
        scores = {task: task_score(task, nlp, references[task]) for task, nlp in pipelines.items()}
        levels.append(
            {
                "rows": n_rows,
                "table_bytes": table_bytes(table),
                "remapped_keys": stats["remapped_keys"],
                "mean_cosine": stats["mean_cosine"],
                "scores": scores,
                "prune_seconds": round(prune_seconds, 1),
                "score_seconds": round(time.perf_counter() - start, 1),
            }
        )
    for nlp in pipelines.values():
        use_vectors(nlp, full)
    choice = choose_rows(levels, tolerance)
    return {
        "split": "dev",
        "skipped_rows": skipped,
        "metrics": {task: METRICS[task] for task in pipelines},
        "dev": {task: str(path) for task, path in dev.items()},
        "vectors": {"rows": n_full, "width": full.shape[1], "keys": len(full.key2row)},
        "tolerance": tolerance,
        "levels": levels,
        "choice": choice,
        "machine": machine_info(),
    }


def choose_rows(levels: List[Dict], tolerance: float) -> int:
    """The fewest rows of the levels (dicts with rows and scores {task: score}, the full table
    first) whose every score is at most `tolerance` points below the full table's. Adds to each
    level its delta {task: score - full table's score} and whether it is within_tolerance."""
    if tolerance < 0:
        raise ValueError(f"the tolerance must be at least 0, got {tolerance}")
    for level in levels:
        level["delta"] = {task: round(score - levels[0]["scores"][task], 2) for task, score in level["scores"].items()}
        level["within_tolerance"] = all(delta >= -tolerance for delta in level["delta"].values())
    return min(level["rows"] for level in levels if level["within_tolerance"])


def vectors_curve_markdown(report: Dict) -> str:
    tasks = list(report["metrics"])
    choice = report["choice"]
    lines = [
        "# Static vectors: dev scores against the rows kept",
        "",
        f"The {report['vectors']['rows']:,} x {report['vectors']['width']} table ({report['vectors']['keys']:,} keys) "
        "pruned to its first rows, every removed word mapped to its nearest kept row by cosine. "
        "**Dev split** scores: " + "; ".join(f"{task}: {metric} on {report['dev'][task]}" for task, metric in report["metrics"].items()) + ".",
        "",
    ]
    header = ["rows kept", "table MB", "remapped keys", "mean cosine"] + [f"{t} (Δ)" for t in tasks] + [f"within {report['tolerance']}"]
    rows = [
        [f"{level['rows']:,}", f"{level['table_bytes'] / 1e6:.1f}", f"{level['remapped_keys']:,}", "-" if level["mean_cosine"] is None else level["mean_cosine"]]
        + [f"{level['scores'][t]:.2f} ({level['delta'][t]:+.2f})" for t in tasks]
        + ["yes" if level["within_tolerance"] else "no"]
        for level in report["levels"]
    ]
    lines += [markdown_table(header, rows), ""]
    sizes = report.get("pipeline_bytes_without_vectors")
    if sizes:
        pipelines = [f"{task} `{report['pipelines'][task]}` ({size / 1e6:.1f} MB)" for task, size in sizes.items()]
        lines += ["Pipelines (size on disk without their vectors table): " + ", ".join(pipelines) + ".", ""]
    lines += [
        f"**Default: {choice:,} rows**, the fewest whose every dev score is within {report['tolerance']} points of "
        "the full table's.",
        "",
    ]
    if report.get("skipped_rows"):
        skipped = ", ".join(f"{n:,}" for n in report["skipped_rows"])
        lines += [f"Not scored: {skipped} rows, more than the table holds.", ""]
    return "\n".join(lines)


def plot_vectors_curve(report: Dict, png_path: Path) -> None:
    """Left: each task's dev score change from the full table against rows kept (log x), with
    the tolerance and the choice; right: the table's size on disk."""
    plt = pyplot("the vectors size curve")

    levels = sorted(report["levels"], key=lambda level: level["rows"])
    rows = [level["rows"] for level in levels]
    fig, (score_ax, size_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for task, metric in report["metrics"].items():
        full = report["levels"][0]["scores"][task]
        score_ax.plot(rows, [level["delta"][task] for level in levels], marker="o", label=f"{task}: {metric}, full {full:.2f}")
    score_ax.axhline(-report["tolerance"], color="grey", linestyle="--", label=f"-{report['tolerance']} points")
    score_ax.axvline(report["choice"], color="green", linestyle=":", label=f"default {report['choice']:,} rows")
    score_ax.set(ylabel="dev score - full table's (points)")
    score_ax.legend(fontsize=8)
    size_ax.plot(rows, [level["table_bytes"] / 1e6 for level in levels], marker="o")
    size_ax.axvline(report["choice"], color="green", linestyle=":")
    size_ax.set(ylabel="vectors table on disk (MB)")
    for ax in (score_ax, size_ax):
        ax.set(xscale="log", xlabel="vector rows kept (log scale)")
        ax.set_xticks(rows, [f"{n:,}" for n in rows])
        ax.set_xticks([], minor=True)
        ax.grid(alpha=0.3)
    fig.suptitle("Pruned static vectors (dev)")
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def write_vectors_curve(report: Dict, output_dir: Path) -> List[Path]:
    """vectors_curve.json, .md and .png in output_dir; returns their paths."""
    paths = [output_dir / f"vectors_curve.{ext}" for ext in ("json", "md", "png")]
    write_json(report, paths[0])
    paths[1].write_text(vectors_curve_markdown(report), encoding="utf-8")
    plot_vectors_curve(report, paths[2])
    return paths
