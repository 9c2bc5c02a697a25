"""Ablations: one training config re-run with one part switched off, every variant trained with
the same budget and evaluated on the same test set, side by side in one table."""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from .reports import machine_info, markdown_table, write_json

# Config overrides per variant of configs/ner_bilstm_crf.cfg ("full" is the reference).
NER_ABLATIONS: Dict[str, Dict[str, object]] = {
    "full": {},
    "no_crf": {"components.ner.model.crf": False},
    "no_char_features": {"components.ner.model.encoder.char_filters": 0},
    "no_pretrained_vectors": {"paths.vectors": None},
    "gru": {"components.ner.model.encoder.cell": "gru"},
    "rnn": {"components.ner.model.encoder.cell": "rnn"},
}


def train_command(config: Path, output_dir: Path, report_dir: Path, overrides: Dict[str, object]) -> List[str]:
    """`python -m spacy_rnn train` with `--section.key <json value>` overrides."""
    command = [sys.executable, "-m", "spacy_rnn", "train", str(config), str(output_dir), "--report-dir", str(report_dir)]
    for key, value in overrides.items():
        command += [f"--{key}", json.dumps(value)]
    return command


def train_variants(
    config: Path, variants: Dict[str, Dict], output_dir: Path, report_dir: Path, steps: int, jobs: int
) -> None:
    """Train every variant for `steps` steps, `jobs` at a time, the CPU threads split between them.

    Each variant writes its model to output_dir/<name>, its training report and log (train.log)
    to report_dir/<name>. Raises RuntimeError naming the variants whose training failed.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // jobs)))

    def run(name: str) -> int:
        (report_dir / name).mkdir(parents=True, exist_ok=True)
        overrides = {**variants[name], "training.max_steps": steps}
        with (report_dir / name / "train.log").open("w", encoding="utf8") as log:
            command = train_command(config, output_dir / name, report_dir / name, overrides)
            return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = dict(zip(variants, tqdm(pool.map(run, variants), total=len(variants), desc="ablations", unit="run")))
    failed = [name for name, code in codes.items() if code != 0]
    if failed:
        raise RuntimeError(f"training failed for {failed}; see {report_dir}/<variant>/train.log")


def ablation_report(
    variants: Dict[str, Dict], output_dir: Path, report_dir: Path, test_path: Path, corpus: str, reference: str = "full"
) -> Dict:
    """Evaluate each variant's model-best on the test set (seqeval reports in report_dir/<name>)
    and tabulate dev/test F1, the change against `reference`, and training time."""
    import spacy

    from .seqeval_report import ner_report, write_ner_report

    rows = {}
    for name in tqdm(variants, desc="evaluating variants", unit="model"):
        model = output_dir / name / "model-best"
        report = ner_report(spacy.load(model), {"test": test_path}, corpus, str(model))
        write_ner_report(report, report_dir / name)
        training = json.loads((report_dir / name / "training.json").read_text(encoding="utf8"))
        rows[name] = {
            "overrides": variants[name],
            "test_f1": report["scores"][f"{corpus}.test.f1"],
            "dev_f1": round(training["best_dev_scores"]["ents_f"], 2),
            "best_step": training["best_step"],
            "train_minutes": round(training["train_seconds"] / 60, 1),
        }
    if reference in rows:
        for row in rows.values():
            row["test_f1_change"] = round(row["test_f1"] - rows[reference]["test_f1"], 2)
    return {"variants": rows, "reference": reference, "machine": machine_info()}


def write_ablation_report(report: Dict, report_dir: Path, steps: int, jobs: int) -> None:
    report = {**report, "steps": steps, "parallel_jobs": jobs}
    write_json(report, report_dir / "ablations.json")
    header = ["variant", "overrides", "dev F1", "test F1", "change", "best step", "train min"]
    rows = [
        [
            name,
            ", ".join(f"{k}={json.dumps(v)}" for k, v in row["overrides"].items()) or "(none)",
            f"{row['dev_f1']:.2f}",
            f"{row['test_f1']:.2f}",
            f"{row.get('test_f1_change', 0.0):+.2f}",
            row["best_step"],
            row["train_minutes"],
        ]
        for name, row in report["variants"].items()
    ]
    machine = report["machine"]
    text = [
        "# Ablations",
        "",
        f"Every variant trained for {steps} steps ({jobs} at a time, CPU threads shared between them) on "
        f"{machine['processor']} ({machine['cpu_count']} cores); model-best (by dev F1) evaluated on the "
        f"test set with seqeval's default (conlleval) mode. Change is against `{report['reference']}`.",
        "",
        markdown_table(header, rows),
        "",
    ]
    (report_dir / "ablations.md").write_text("\n".join(text), encoding="utf-8")


def run_ablations(
    config: Path,
    output_dir: Path,
    report_dir: Path,
    test_path: Path,
    steps: int,
    jobs: int = 1,
    only: Optional[List[str]] = None,
    corpus: str = "conll2003",
) -> Dict:
    """Train, evaluate and tabulate the NER_ABLATIONS (or the `only` subset)."""
    unknown = sorted(set(only or []) - set(NER_ABLATIONS))
    if unknown:
        raise ValueError(f"unknown ablations {unknown}; known: {sorted(NER_ABLATIONS)}")
    variants = {name: NER_ABLATIONS[name] for name in (only or NER_ABLATIONS)}
    train_variants(config, variants, output_dir, report_dir, steps, jobs)
    report = ablation_report(variants, output_dir, report_dir, test_path, corpus)
    write_ablation_report(report, report_dir, steps, jobs)
    return report
