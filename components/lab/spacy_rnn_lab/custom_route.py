"""The custom route measured (issue 35): the first N sentences of CoNLL-2003 train as a user's own
column files, through `spacy project run custom` in a fresh clone of the repository.

Per seed: `git clone` of the repository (its committed state) into a new folder, the user's
files written there (train: the first N sentences of eng.train with their -DOCSTART- lines;
dev: eng.testa; test: eng.testb, as they are), then each step of the project's `custom`
workflow in order, each as `python -m spacy project run STEP`, with one torch thread
(OMP_NUM_THREADS=1), the clone's own code (PYTHONPATH) and the seed as a config override of
the training. Each step's wall time
is recorded; "to the report" is the clone plus every step up to custom-evaluate (the seqeval
report), packaging is timed apart. Scores come from the route's own reports: dev and test F1
(seqeval, conlleval-compatible mode), the temperature and the dev entity ECE before and after
(calibrate), test ECE after (calibration-report); the test ECE before is one more
calibration-report of the uncalibrated model-best on the same test file. The load average
before and after each route says how quiet the machine was.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import srsly
from spacy.util import load_config

from spacy_rnn.evaluation.reports import markdown_table, write_json

from .machine import cpu_line, cpu_record

NAME = "conll2003_3k"
TIME_TARGET_MINUTES = 10.0
F1_TARGET = 85.0


def user_files(corpora: Path, dest: Path, n_sentences: int) -> Dict[str, Path]:
    """train.txt (the first `n_sentences` sentences of eng.train, -DOCSTART- lines kept), dev.txt
    (eng.testa) and test.txt (eng.testb) in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    kept, seen = [], 0
    with open(corpora / "eng.train", encoding="utf8") as source:
        block: List[str] = []
        for line in source:
            if line.strip():
                block.append(line)
                continue
            if block:
                kept.append("".join(block))
                seen += not block[0].startswith("-DOCSTART-")
                block = []
            if seen == n_sentences:
                break
    if seen < n_sentences:
        raise ValueError(f"{corpora / 'eng.train'} has {seen} sentences, fewer than {n_sentences}")
    (dest / "train.txt").write_text("\n".join(kept) + "\n", encoding="utf8")
    shutil.copy(corpora / "eng.testa", dest / "dev.txt")
    shutil.copy(corpora / "eng.testb", dest / "test.txt")
    return {split: dest / f"{split}.txt" for split in ("train", "dev", "test")}


def run_route(repo: Path, work: Path, corpora: Path, n_sentences: int, seed: int) -> Dict:
    """One fresh-clone run of the custom workflow; {seed, steps: [{step, seconds}], clone_seconds,
    load_before, load_after, results}."""
    clone = work / f"seed{seed}"
    shutil.rmtree(clone, ignore_errors=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    clone_seconds = time.perf_counter() - start
    files = user_files(corpora, clone / "assets" / NAME, n_sentences)
    variables = {"custom_name": NAME, "custom_train": files["train"], "custom_dev": files["dev"], "custom_test": files["test"]}
    arguments = [f"--vars.{key}={value}" for key, value in variables.items()]
    # the clone's own library, whatever is installed
    code = os.pathsep.join(str(clone / folder) for folder in ("components", "components/lab"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SPACY_CONFIG_OVERRIDES": f"--system.seed={seed}", "PYTHONPATH": code}
    steps = []
    for step in srsly.read_yaml(clone / "project.yml")["workflows"]["custom"]:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "spacy", "project", "run", step, ".", *arguments], cwd=clone, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"step {step} failed (seed {seed}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        steps.append({"step": step, "seconds": round(time.perf_counter() - began, 2)})
        sys.stdout.write(f"seed {seed}: {step} {steps[-1]['seconds']:.1f} s\n")
    uncalibrated = subprocess.run(
        [sys.executable, "-m", "spacy_rnn", "calibration-report", f"training/{NAME}/model-best", "--task", "ner",
         "--split", f"test=corpus/{NAME}/test.spacy", "--output-dir", "uncalibrated"],
        cwd=clone, env=env, capture_output=True, text=True,
    )
    if uncalibrated.returncode != 0:
        raise RuntimeError(f"calibration-report of model-best failed:\n{uncalibrated.stderr[-3000:]}")
    return {
        "seed": seed, "clone_seconds": round(clone_seconds, 2), "steps": steps,
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "results": route_results(clone),
    }


def route_results(clone: Path) -> Dict:
    """What the route's reports say: F1, the fitted temperature, entity ECE, training steps."""
    reports = clone / "reports" / NAME
    scores = srsly.read_json(reports / "evaluation.json")["scores"]
    fit = srsly.read_json(reports / "temperature.json")["components"]["ner"]["fits"]["temperature"]
    after = srsly.read_json(reports / "ner_calibration.json")["splits"]
    before = srsly.read_json(clone / "uncalibrated" / "ner_calibration.json")["splits"]
    training = srsly.read_json(reports / "training" / "training.json")
    config = load_config(clone / "configs" / "custom" / f"{NAME}.cfg", interpolate=False)["training"]
    budget = {key: config[key] for key in ("max_steps", "eval_frequency", "patience")}
    budget["warmup_steps"] = config["optimizer"]["learn_rate"]["warmup_steps"]
    return {
        "dev_f1": scores[f"{NAME}.dev.f1"], "test_f1": scores[f"{NAME}.test.f1"],  # in % already
        "temperature": fit["after"]["temperature"],
        "dev_ece_before": 100 * fit["before"]["ece"], "dev_ece_after": 100 * fit["after"]["ece"],
        "test_ece_before": 100 * before["test"]["measures"]["entities"]["ece"],
        "test_ece_after": 100 * after["test"]["measures"]["entities"]["ece"],
        "train_seconds": training["train_seconds"], "best_step": training["best_step"],
        "last_evaluated_step": training["last_evaluated_step"], "budget": budget,
    }


def to_report(route: Dict) -> float:
    """Seconds from the clone to the seqeval report (every step before custom-package)."""
    return route["clone_seconds"] + sum(step["seconds"] for step in route["steps"] if step["step"] != "custom-package")


def custom_route_report(repo: Path, corpora: Path, work: Path, n_sentences: int, seeds: Sequence[int]) -> Dict:
    """`run_route` for each seed, the means of its scores, the minutes to the report, the machine."""
    from spacy_rnn.evaluation.reports import machine_info

    routes = [run_route(repo, work, corpora, n_sentences, seed) for seed in seeds]
    measures = ("dev_f1", "test_f1", "dev_ece_before", "dev_ece_after", "test_ece_before", "test_ece_after")
    return {
        "sentences": n_sentences, "seeds": list(seeds), "routes": routes,
        "mean": {key: sum(route["results"][key] for route in routes) / len(routes) for key in measures},
        "minutes_to_report": [to_report(route) / 60 for route in routes],
        "targets": {"minutes": TIME_TARGET_MINUTES, "dev_f1": F1_TARGET},
        "cpu": cpu_record(), "machine": machine_info(),
    }


def custom_route_markdown(report: Dict, command: str) -> str:
    routes = report["routes"]
    steps = [step["step"] for step in routes[0]["steps"]]
    rows = [["clone"] + [f"{route['clone_seconds']:.1f}" for route in routes]]
    rows += [[step] + [f"{route['steps'][i]['seconds']:.1f}" for route in routes] for i, step in enumerate(steps)]
    rows.append(["**to the seqeval report (min)**"] + [f"**{to_report(route) / 60:.2f}**" for route in routes])
    results = [
        [f"seed {route['seed']}", f"{route['results']['dev_f1']:.2f}", f"{route['results']['test_f1']:.2f}",
         f"{route['results']['best_step']} / {route['results']['last_evaluated_step']}", f"{route['results']['temperature']:.2f}",
         f"{route['results']['dev_ece_before']:.2f} → {route['results']['dev_ece_after']:.2f}",
         f"{route['results']['test_ece_before']:.2f} → {route['results']['test_ece_after']:.2f}",
         f"{route['load_before']:.2f} / {route['load_after']:.2f}"]
        for route in routes
    ]
    mean = report["mean"]
    results.append(["**mean**", f"**{mean['dev_f1']:.2f}**", f"**{mean['test_f1']:.2f}**", "", "",
                    f"{mean['dev_ece_before']:.2f} → {mean['dev_ece_after']:.2f}", f"{mean['test_ece_before']:.2f} → {mean['test_ece_after']:.2f}", ""])
    budget = routes[0]["results"]["budget"]
    slowest = max(report["minutes_to_report"])
    time_met = "met" if slowest <= report["targets"]["minutes"] else "missed"
    f1_met = "met" if min(route["results"]["dev_f1"] for route in routes) >= report["targets"]["dev_f1"] else "missed"
    return "\n".join([
        f"# The custom route on the first {report['sentences']:,} sentences of CoNLL-2003 train",
        "",
        "A user's own corpus, played by CoNLL-2003: the first sentences of eng.train as the training file, "
        "eng.testa as dev and eng.testb as test, in the original column format. Each run starts from a fresh "
        "`git clone` and runs `spacy project run custom`'s steps (convert-columns, GloVe 6B 50d vectors, "
        "init-config with the budget from the corpus size, train, calibrate, evaluate, package) with one "
        "torch thread (OMP_NUM_THREADS=1); the seed is the only difference between runs. "
        "Installing the packages is not included.",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Machine: {cpu_line(report['cpu'])}; {report['machine']['cpu_count']} cores, torch {report['machine']['torch']}.",
        "",
        f"Budget written by init-config from the training file's size (`spacy_rnn.training_budget`): max_steps "
        f"{budget['max_steps']}, eval_frequency {budget['eval_frequency']}, patience {budget['patience']}, "
        f"warmup_steps {budget['warmup_steps']}.",
        "",
        "## Time per step (seconds)",
        "",
        markdown_table(["step"] + [f"seed {route['seed']}" for route in routes], rows),
        "",
        f"Target: fresh clone to the seqeval report in ≤ {report['targets']['minutes']:g} min: **{time_met}** "
        f"(slowest run {slowest:.2f} min).",
        "",
        "## Scores",
        "",
        "F1: seqeval's conlleval-compatible mode, in %. ECE: expected calibration error of `ent._.confidence` "
        "over 10 bins, in points, before → after temperature scaling (T fitted on dev by `calibrate`). "
        "Test was scored once per run, with the settings fixed beforehand on dev. The load average "
        "(1 minute) includes the route's own process: about 1.0 is a machine doing nothing else.",
        "",
        markdown_table(["run", "dev F1", "test F1", "best step / last", "T", "dev ECE", "test ECE", "load before / after"], results),
        "",
        f"Target: dev F1 ≥ {report['targets']['dev_f1']:g} in every run: **{f1_met}**.",
        "",
    ])


def write_custom_route_report(report: Dict, output_dir: Path, command: str) -> List[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(report, output_dir / "route.json")
    (output_dir / "route.md").write_text(custom_route_markdown(report, command), encoding="utf8")
    return [output_dir / "route.json", output_dir / "route.md"]
