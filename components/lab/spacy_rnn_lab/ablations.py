"""Ablations: one training config re-run with one part switched off at a time, every variant
trained with the same budget and compared on the dev set, side by side in one table. The test
set is not read: ablations are a sweep, and the test split is kept for final configurations."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from tqdm import tqdm

from spacy_rnn.evaluation.reports import machine_info, markdown_table, write_json


@dataclass(frozen=True)
class AblationSuite:
    """How one family of ablations is trained and scored.

    command: the `python -m spacy_rnn` training command; budget_setting: the config key every
    variant shares (budget_unit names its unit); dev_score reads the kept model's dev score from
    the training report (training.json); variants: config overrides per variant ("full", the
    reference, has none)."""

    command: str
    budget_setting: str
    budget_unit: str
    metric: str
    higher_is_better: bool
    dev_score: Callable[[Dict], float]
    variants: Dict[str, Dict[str, object]]


NER_ABLATIONS = AblationSuite(
    command="train",
    budget_setting="training.max_steps",
    budget_unit="steps",
    metric="dev F1",
    higher_is_better=True,
    dev_score=lambda training: training["best_dev_scores"]["ents_f"],
    variants={
        "full": {},
        "no_crf": {"components.ner.model.crf": False},
        "no_char_features": {"components.ner.model.encoder.char_filters": 0},
        "no_pretrained_vectors": {"paths.vectors": None},
        "gru": {"components.ner.model.encoder.cell": "gru"},
        "rnn": {"components.ner.model.encoder.cell": "rnn"},
    },
)

# The AWD-LSTM regularisers of configs/lm_ptb_awd.cfg, one off at a time, then all of them.
_LM_REGULARISERS = {
    "no_locked_dropout": {"components.lm.model.locked_dropout": False},
    "no_word_type_dropout": {"components.lm.model.word_type_dropout": 0.0},
    "no_weight_dropout": {"components.lm.model.weight_dropout": 0.0},
    "no_activation_regularisation": {"lm_training.ar_alpha": 0.0, "lm_training.tar_beta": 0.0},
    "no_asgd": {"lm_training.asgd": False, "lm_training.asgd_start_fraction": 0.0},
}
LM_ABLATIONS = AblationSuite(
    command="train-lm",
    budget_setting="lm_training.max_minutes",
    budget_unit="minutes",
    metric="dev perplexity",
    higher_is_better=False,
    dev_score=lambda training: training["best_dev_perplexity"],
    variants={
        "full": {},
        **_LM_REGULARISERS,
        "none": {key: value for overrides in _LM_REGULARISERS.values() for key, value in overrides.items()},
    },
)


def train_command(suite: AblationSuite, config: Path, output_dir: Path, report_dir: Path, overrides: Dict[str, object]) -> List[str]:
    """`python -m spacy_rnn <suite.command>` with `--section.key <json value>` overrides."""
    command = [sys.executable, "-m", "spacy_rnn", suite.command, str(config), str(output_dir), "--report-dir", str(report_dir)]
    for key, value in overrides.items():
        command += [f"--{key}", json.dumps(value)]
    return command


def variant_overrides(suite: AblationSuite, name: str, budget: float) -> Dict[str, object]:
    """The config overrides variant `name` is trained with: its own and the shared budget."""
    return {**suite.variants[name], suite.budget_setting: budget}


def already_trained(suite: AblationSuite, config: Path, name: str, report_dir: Path, budget: float) -> bool:
    """Whether report_dir/<name>/training.json records a finished run of this variant: the same
    config, unchanged since (the report is newer than the file), and the same overrides, budget
    included."""
    path = report_dir / name / "training.json"
    if not path.exists() or path.stat().st_mtime < config.stat().st_mtime:
        return False
    training = json.loads(path.read_text(encoding="utf8"))
    expected = json.loads(json.dumps(variant_overrides(suite, name, budget)))
    return training.get("config") == str(config) and training.get("overrides") == expected


def train_variants(
    suite: AblationSuite, config: Path, names: List[str], output_dir: Path, report_dir: Path, budget: float, jobs: int
) -> None:
    """Train the named variants with the same budget, `jobs` at a time, the CPU threads split
    between them. Each variant writes its model to output_dir/<name>, its training report and log
    (train.log) to report_dir/<name>. Raises RuntimeError naming the variants whose training
    failed."""
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // jobs)))

    def run(name: str) -> int:
        (report_dir / name).mkdir(parents=True, exist_ok=True)
        overrides = variant_overrides(suite, name, budget)
        with (report_dir / name / "train.log").open("w", encoding="utf8") as log:
            command = train_command(suite, config, output_dir / name, report_dir / name, overrides)
            return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = dict(zip(names, tqdm(pool.map(run, names), total=len(names), desc="ablations", unit="run")))
    failed = [name for name, code in codes.items() if code != 0]
    if failed:
        raise RuntimeError(f"training failed for {failed}; see {report_dir}/<variant>/train.log")


def ablation_report(suite: AblationSuite, names: List[str], report_dir: Path, reference: str = "full") -> Dict:
    """The dev score of each variant's kept model (from report_dir/<name>/training.json), its
    change against `reference` and its training time."""
    rows = {}
    for name in names:
        training = json.loads((report_dir / name / "training.json").read_text(encoding="utf8"))
        minutes = training["train_minutes"] if "train_minutes" in training else training["train_seconds"] / 60
        rows[name] = {"overrides": suite.variants[name], "dev": round(suite.dev_score(training), 2), "train_minutes": round(minutes, 1)}
    if reference in rows:
        for row in rows.values():
            row["change"] = round(row["dev"] - rows[reference]["dev"], 2)
    return {"metric": suite.metric, "higher_is_better": suite.higher_is_better, "variants": rows, "reference": reference, "machine": machine_info()}


def write_ablation_report(report: Dict, report_dir: Path, config: Path, budget: str, jobs: int) -> None:
    """ablations.json and ablations.md in report_dir; `budget` says what every variant got."""
    report = {**report, "config": str(config), "budget": budget, "parallel_jobs": jobs}
    write_json(report, report_dir / "ablations.json")
    header = ["variant", "overrides", report["metric"], "change", "train min"]
    rows = [
        [
            name,
            ", ".join(f"{k}={json.dumps(v)}" for k, v in row["overrides"].items()) or "(none)",
            f"{row['dev']:.2f}",
            f"{row['change']:+.2f}" if "change" in row else "",
            row["train_minutes"],
        ]
        for name, row in report["variants"].items()
    ]
    machine = report["machine"]
    better = "higher" if report["higher_is_better"] else "lower"
    text = [
        f"# Ablations of `{config}`",
        "",
        f"Every variant trained with the same budget, {budget} ({jobs} at a time, the CPU threads shared "
        f"between them) on {machine['processor']} ({machine['cpu_count']} cores). Scores are the kept model's "
        f"{report['metric']} ({better} is better); change is against `{report['reference']}`. The test set is not "
        "read: ablations are a sweep.",
        "",
        markdown_table(header, rows),
        "",
    ]
    (report_dir / "ablations.md").write_text("\n".join(text), encoding="utf-8")


def run_ablations(
    suite: AblationSuite,
    config: Path,
    output_dir: Path,
    report_dir: Path,
    budget: float,
    jobs: int = 1,
    only: Optional[List[str]] = None,
    resume: bool = False,
) -> Dict:
    """Train and tabulate the suite's variants (or the `only` subset). With `resume`, variants
    that `already_trained` finished (an interrupted sweep) are tabulated, not trained again."""
    unknown = sorted(set(only or []) - set(suite.variants))
    if unknown:
        raise ValueError(f"unknown ablations {unknown}; known: {sorted(suite.variants)}")
    names = list(only or suite.variants)
    to_train = [name for name in names if not (resume and already_trained(suite, config, name, report_dir, budget))]
    train_variants(suite, config, to_train, output_dir, report_dir, budget, jobs)
    report = ablation_report(suite, names, report_dir)
    write_ablation_report(report, report_dir, config, f"{budget:g} {suite.budget_unit}", jobs)
    return report
