"""Short seeded training runs of every config, to show that a restructuring changed nothing.

Each config in CONFIGS is trained for --steps (default 50) optimizer steps with its own seed,
on one CPU thread, through the project's own command line (run in --repo, default the current
directory, with the Python that runs this script, so whatever `spacy_rnn` that Python imports
is the code under test), and its dev scores at the last step and its final training loss are
collected into one JSON file (--output). Run it once before and once after the restructuring
and compare the two files (README.md next to this script has the commands and the "before"
figures); with the same machine, library versions and thread count the numbers should be
identical, not merely close.

What is run:

* spaCy-trained configs (tagger, NER, text classifiers):
      python -m spacy_rnn train CONFIG OUTDIR --gpu-id -1
          --training.max_steps STEPS --training.eval_frequency STEPS
  Nothing else in the config changes. spaCy evaluates on the whole dev corpus after the first
  update (its "step 0") and at step STEPS, and stops there; the learning-rate schedules of all
  these configs warm up over 200 steps, so the first 50 steps have the learning rates of the
  full-length run. Collected: the step-STEPS line of OUTDIR/training_log.jsonl (losses summed
  over the steps since the previous evaluation, i.e. steps 1..STEPS; dev scores) and the
  "performance" of OUTDIR/model-last/meta.json (the same scores as fractions, full precision).

* Language-model configs (trained by `train-lm`, truncated BPTT over the whole corpus per
  epoch, no step limit):
      python -m spacy_rnn train-lm CONFIG OUTDIR --report-dir OUTDIR/report
          --paths.train WORKDIR/NAME.train.txt --lm_training.max_epochs 1
          --lm_training.max_minutes 0 --lm_training.log_every 10
  where NAME.train.txt holds the first lines of the config's paths.train: the fewest that make
  one epoch exactly STEPS BPTT chunks of [lm_training] batch_size x bptt tokens (the stream is
  one <eos> then every line's words and an <eos>; its length is aimed at the middle of the
  range that gives STEPS chunks). So one epoch = STEPS steps, one evaluation on the config's
  full dev file at the end of it, and no wall-clock stop. The vocabulary is built from the cut
  file (fewer than 10,000 words), which both runs share. Collected: the dev perplexity of that
  evaluation, the training loss logged at the last step (mean token cross-entropy over its last
  log_every steps) and every logged training loss, from OUTDIR/report/training.json.

Environment of every run: OMP_NUM_THREADS=MKL_NUM_THREADS=1 (so torch uses one thread),
PYTHONHASHSEED=0, the device is the CPU. The corpora and vectors named in the configs must
exist under --repo (`spacy project run corpus-... / convert-... / vectors / vectors-minilm`).

Which code runs: the subprocesses run `python -m spacy_rnn` with this script's Python and
environment, in --repo. To run an old checkout (a git worktree) while another is pip-installed,
put the worktree's components/ first on PYTHONPATH. spaCy resolves registered names (e.g.
"spacy_rnn.Tagger.v1"; "lstm.Tagger.v1" at commit 9eda078, removed in issue 36) through the
INSTALLED package's entry points before the decorators of the imported modules, so the
worktree's components/ must also hold a spacy_rnn-*.dist-info whose entry_points.txt is the
worktree's own (see README.md); the result file records, under machine.registered_functions,
the module and file each architecture name resolved to.

Usage (from the project root):
    OMP_NUM_THREADS=1 python experiments/restructure/short_runs.py --output before.json
    python experiments/restructure/short_runs.py --output after.json --only pos_bilstm lm_ptb
    python experiments/restructure/short_runs.py --compare before.json after.json
"""
import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    # name: (kind, the scores to report for it)
    "pos_bilstm": ("spacy", ["pos_acc", "tag_acc"]),
    "ner_bilstm_crf": ("spacy", ["ents_f", "ents_p", "ents_r"]),
    "sentiment_sst2": ("spacy", ["cats_acc", "cats_macro_f"]),
    "sentiment_sst5": ("spacy", ["cats_acc", "cats_macro_f"]),
    "sentiment_imdb": ("spacy", ["cats_acc", "cats_macro_f"]),
    "lm_ptb": ("lm", ["dev_perplexity"]),
    "lm_ptb_medium": ("lm", ["dev_perplexity"]),
}


def thread_env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.pop("SPACY_CONFIG_OVERRIDES", None)
    return env


def run(cmd, cwd: Path, log_path: Path) -> float:
    """Run cmd in cwd with one thread; its output goes to log_path. Returns the wall time."""
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    start = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=thread_env(), stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"exit status {proc.returncode} after {seconds:.0f}s; end of {log_path}:\n{tail}")
    return seconds


def run_spacy_config(name: str, config: Path, repo: Path, workdir: Path, steps: int, keys) -> dict:
    out = workdir / name
    shutil.rmtree(out, ignore_errors=True)
    overrides = ["--training.max_steps", str(steps), "--training.eval_frequency", str(steps)]
    cmd = [sys.executable, "-m", "spacy_rnn", "train", config, out, "--gpu-id", "-1", *overrides]
    seconds = run(cmd, repo, workdir / f"{name}.log")
    evaluations = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines() if line.strip()]
    last = evaluations[-1]
    if last["step"] != steps:
        raise RuntimeError(f"{name}: last evaluation at step {last['step']}, not {steps}")
    performance = json.loads((out / "model-last" / "meta.json").read_text())["performance"]
    return {
        "command": [str(c) for c in cmd[1:]],
        "overrides": overrides,
        "seconds": round(seconds, 1),
        "step": last["step"],
        "epoch": last["epoch"],
        # dev scores at the last step, as fractions (spaCy's scorer), full precision
        "dev": {key: performance.get(key) for key in keys},
        "final_train_loss": last["losses"],
        "performance": performance,
        "evaluations": [
            {"step": e["step"], "epoch": e["epoch"], "losses": e["losses"], "scores_percent": e["scores"], "score": e["score"]}
            for e in evaluations
        ],
    }


def cut_lm_corpus(source: Path, target: Path, steps: int, batch_size: int, bptt: int) -> dict:
    """The first lines of source whose token stream gives one epoch of exactly `steps` chunks."""
    # stream length N = 1 + sum(words + 1); rows of N // batch_size; chunks ceil((row - 1) / bptt)
    wanted = batch_size * (1 + math.ceil((steps - 0.5) * bptt))
    lines, n_tokens = [], 1
    with source.open(encoding="utf8") as f:
        for line in f:
            if n_tokens >= wanted:
                break
            lines.append(line)
            n_tokens += len(line.split()) + 1
    if n_tokens < wanted:
        raise RuntimeError(f"{source} has only {n_tokens} tokens; {wanted} needed for {steps} steps")
    target.write_text("".join(lines), encoding="utf8")
    row = n_tokens // batch_size
    return {"lines": len(lines), "stream_tokens": n_tokens, "expected_steps": -(-(row - 1) // bptt)}


def run_lm_config(name: str, config: Path, repo: Path, workdir: Path, steps: int, keys) -> dict:
    from thinc.api import Config

    cfg = Config().from_disk(config, interpolate=False)
    source = repo / cfg["paths"]["train"]
    train_cut = workdir / f"{name}.train.txt"
    settings = cfg["lm_training"]
    cut = cut_lm_corpus(source, train_cut, steps, int(settings["batch_size"]), int(settings["bptt"]))
    if cut["expected_steps"] != steps:
        raise RuntimeError(f"{name}: the cut corpus gives {cut['expected_steps']} steps, not {steps}")
    out = workdir / name
    shutil.rmtree(out, ignore_errors=True)
    overrides = [
        "--paths.train", str(train_cut),
        "--lm_training.max_epochs", "1",
        "--lm_training.max_minutes", "0",
        "--lm_training.log_every", "10",
    ]
    cmd = [sys.executable, "-m", "spacy_rnn", "train-lm", config, out, "--report-dir", out / "report", *overrides]
    seconds = run(cmd, repo, workdir / f"{name}.log")
    report = out / "report" / "training.json"
    record = json.loads(report.read_text()) if report.is_file() else {}  # only for the sizes below
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines() if line.strip()]
    evals = [e for e in log if e["type"] == "eval"]
    train = [e for e in log if e["type"] == "train"]
    if not evals or evals[-1]["step"] != steps:
        raise RuntimeError(f"{name}: expected one evaluation at step {steps}, got {[e['step'] for e in evals]}")
    return {
        "command": [str(c) for c in cmd[1:]],
        "overrides": overrides,
        "train_cut": {"source": cfg["paths"]["train"], **cut},
        "seconds": round(seconds, 1),
        "step": evals[-1]["step"],
        "dev": {"dev_perplexity": evals[-1]["dev_perplexity"]},
        "final_train_loss": train[-1]["loss"] if train else None,
        "train_losses": [{"step": e["step"], "loss": e["loss"], "learning_rate": e["learning_rate"]} for e in train],
        "learning_rate": evals[-1]["learning_rate"],
        "vocabulary_size": record.get("vocabulary_size"),
        "n_parameters": record.get("n_parameters"),
        "train_tokens": record.get("train_tokens"),
        "dev_tokens": record.get("dev_tokens"),
    }


def machine(repo: Path) -> dict:
    info = {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info["cpu_model"] = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), None)
    except OSError:
        pass
    probe = "import spacy, torch, thinc, spacy_rnn; print(spacy.__version__, torch.__version__, thinc.__version__, spacy_rnn.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=thread_env(), capture_output=True, text=True).stdout.split()
    if len(out) == 4:
        info.update(spacy=out[0], torch=out[1], thinc=out[2], spacy_rnn_imported_from=out[3])
    # where the configs' registered functions come from: spaCy resolves them through the
    # installed package's entry points first, so this shows which code a run really used
    probe = (
        "import inspect, json, spacy_rnn; from spacy.util import registry\n"
        "out = {}\n"
        "for reg, names in {'architectures': ['spacy_rnn.RNNEncoder.v1', 'spacy_rnn.Tagger.v1', 'spacy_rnn.EntityRecognizer.v1', "
        "'spacy_rnn.TextClassifier.v1', 'spacy_rnn.LanguageModel.v1']}.items():\n"
        "    for name in names:\n"
        "        try:\n"
        "            f = getattr(registry, reg).get(name)\n"
        "            out[name] = f'{f.__module__}:{f.__qualname__} ({inspect.getsourcefile(f)})'\n"
        "        except Exception as err:\n"
        "            out[name] = f'ERROR {type(err).__name__}: {err}'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=thread_env(), capture_output=True, text=True)
    try:
        info["registered_functions"] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        info["registered_functions"] = {"error": proc.stderr[-1000:]}
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True).stdout.strip()
    info["git_head"] = git("rev-parse", "--short", "HEAD")
    info["git_dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
    info["threads"] = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 (torch single-threaded)"
    return info


def compare(before_path: Path, after_path: Path, rel_tol: float) -> int:
    before = json.loads(before_path.read_text())["runs"]
    after = json.loads(after_path.read_text())["runs"]
    bad = 0
    for name, b in before.items():
        a = after.get(name)
        if a is None or "error" in a or "error" in b:
            print(f"{name:16s} missing or failed: before {b.get('error', 'ok')!s:.60s} / after {'missing' if a is None else a.get('error', 'ok')!s:.60s}")
            bad += 1
            continue
        pairs = [(f"dev.{k}", b["dev"][k], a["dev"].get(k)) for k in b["dev"]]
        bl, al = b["final_train_loss"], a["final_train_loss"]
        if isinstance(bl, dict):
            pairs += [(f"loss.{k}", v, (al or {}).get(k)) for k, v in bl.items()]
        else:
            pairs.append(("loss", bl, al))
        # every spaCy evaluation (also "step 0", after the first update), every logged LM loss
        for i, e in enumerate(b.get("evaluations", [])):
            ae = (a.get("evaluations") or [])[i] if i < len(a.get("evaluations") or []) else {}
            pairs += [(f"step{e['step']}.{k}", v, (ae.get("scores_percent") or {}).get(k)) for k, v in e["scores_percent"].items()]
            pairs += [(f"step{e['step']}.loss.{k}", v, (ae.get("losses") or {}).get(k)) for k, v in e["losses"].items()]
        for i, e in enumerate(b.get("train_losses", [])):
            ae = (a.get("train_losses") or [])[i] if i < len(a.get("train_losses") or []) else {}
            pairs.append((f"step{e['step']}.loss", e["loss"], ae.get("loss")))
        for key, x, y in pairs:
            same = x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=rel_tol, abs_tol=0.0))
            bad += not same
            print(f"{name:16s} {key:22s} before {x!r:24s} after {y!r:24s} {'same' if same else 'DIFFERENT'}")
    print("all the same" if not bad else f"{bad} differences")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--output", type=Path, help="JSON file for the results")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="project root holding configs/, corpus/, assets/ (default: the current directory)")
    parser.add_argument("--steps", type=int, default=50, help="optimizer steps per config (default 50)")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), help="run only these configs")
    parser.add_argument("--workdir", type=Path, help="keep the trained pipelines and logs here (default: a temporary folder, removed)")
    parser.add_argument("--resume", action="store_true", help="keep the configs --output already records without an error and run only the others")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="compare two result files instead of training")
    parser.add_argument("--rel-tol", type=float, default=0.0, help="with --compare: relative tolerance (default 0: identical)")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare, args.rel_tol)
    if args.output is None:
        parser.error("--output is required")
    repo = args.repo.resolve()
    names = args.only or list(CONFIGS)
    missing = [n for n in names if not (repo / "configs" / f"{n}.cfg").is_file()]
    if missing:
        parser.error(f"no configs/{{{','.join(missing)}}}.cfg under {repo}")
    workdir = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="short_runs_"))
    workdir.mkdir(parents=True, exist_ok=True)
    result = {"steps": args.steps, "repo": str(repo), "machine": machine(repo), "runs": {}}
    print(json.dumps(result["machine"], indent=1), flush=True)
    if args.resume and args.output.is_file():
        previous = json.loads(args.output.read_text())
        if previous.get("steps") != args.steps:
            parser.error(f"{args.output} has {previous.get('steps')} steps, not {args.steps}")
        kept = {n: r for n, r in previous["runs"].items() if n in names and "error" not in r}
        result["runs"].update(kept)
        result["earlier_machine"] = previous.get("earlier_machine", []) + [previous["machine"]]
        names = [n for n in names if n not in kept]
        print(f"resuming: kept {sorted(kept)}; running {names}", flush=True)
    start = time.perf_counter()
    try:
        for name in names:
            kind, keys = CONFIGS[name]
            config = repo / "configs" / f"{name}.cfg"
            runner = run_spacy_config if kind == "spacy" else run_lm_config
            try:
                result["runs"][name] = {"config": f"configs/{name}.cfg", **runner(name, config, repo, workdir, args.steps, keys)}
                print(f"{name}: dev {result['runs'][name]['dev']} loss {result['runs'][name]['final_train_loss']} "
                      f"({result['runs'][name]['seconds']:.0f}s)", flush=True)
            except Exception as err:  # record it, go on with the other configs
                result["runs"][name] = {"config": f"configs/{name}.cfg", "error": str(err)}
                print(f"{name}: FAILED {err}", flush=True)
            result["total_seconds"] = round(time.perf_counter() - start, 1)
            result["sum_of_run_seconds"] = round(sum(r.get("seconds", 0) for r in result["runs"].values()), 1)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{len(names)} configs in {result.get('total_seconds', 0) / 60:.1f} min -> {args.output}")
    return 1 if any("error" in r for r in result["runs"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
