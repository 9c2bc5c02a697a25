"""The assembled pipeline's report (`core-report`): each task's scores inside the one pipeline
beside the same component stand-alone, its speed against a peer pipeline, its peak memory on a
huge text, its size on disk, and the package metadata a user can trust (licences, data sources,
measured accuracy and speed) for `spacy package --meta-path`.

The scores are read from the evaluate-* reports (accuracy.json, seqeval.json, textcat.json,
perplexity.json) written for the stand-alone components and for the assembled pipeline.

Speed (`core_speed`), in one run on the same texts, one thread each, alternating runs, best of
`repeats` (`benchmark.timed_runs`): (a) the pipeline as `spacy.load` gives it (its language model
lazy: nothing read, so it only records token streams), (b) the same reading every token's
`token._.surprisal` after each doc (the language model runs), (c) the peer's whole pipeline as
`spacy.load` gives it; words/s of each and the ratios of (a) and (b) to (c), with the CPU
(`machine.cpu_record`). Seconds per stage come from one more pass (`component_speed`). Memory:
the peak processing one huge text as loaded, then the peak once every surprisal was read.
"""
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import srsly

from spacy_rnn.evaluation.reports import directory_mib, machine_info, markdown_table, write_json

from .benchmark import SurprisalsRead, language_models, read_surprisals, summarize_runs, timed_runs
from .machine import cpu_line, cpu_record, ops_name, thread_settings, threads_line, torch_threads
from .profiler import StageTimer

# (task, metric, report file, score key with {split}, splits as (label, name in the key), higher is better)
SCORES = (
    ("tagger", "UPOS accuracy", "accuracy.json", "ud_ewt.{split}.upos_acc", (("dev", "dev"), ("test", "test")), True),
    ("tagger", "XPOS accuracy", "accuracy.json", "ud_ewt.{split}.xpos_acc", (("dev", "dev"), ("test", "test")), True),
    ("ner", "entity F1 (CoNLL-2003)", "seqeval.json", "conll2003.{split}.f1", (("dev", "dev"), ("test", "test")), True),
    ("textcat", "sentiment accuracy (SST-2 dev, SST binary test)", "textcat.json", "sst2.{split}.accuracy",
     (("dev", "dev"), ("test", "test")), True),
    ("lm", "perplexity (PTB)", "perplexity.json", "ptb.{split}.perplexity", (("dev", "valid"), ("test", "test")), False),
)

# The data each component learnt from, and the terms it comes under.
SOURCES = [
    {"name": "Universal Dependencies English Web Treebank v2.16 (tagger)",
     "url": "https://github.com/UniversalDependencies/UD_English-EWT", "license": "CC BY-SA 4.0"},
    {"name": "CoNLL-2003 English NER, Reuters RCV1 (recognizer)",
     "url": "https://www.clips.uantwerpen.be/conll2003/ner/", "license": "research use only (Reuters Corpus)"},
    {"name": "Stanford Sentiment Treebank / GLUE SST-2 (sentiment classifier)",
     "url": "https://nlp.stanford.edu/sentiment/", "license": "as distributed by the authors (research)"},
    {"name": "Penn Treebank, Mikolov et al.'s language-modelling version (language model)",
     "url": "https://catalog.ldc.upenn.edu/LDC99T42", "license": "LDC User Agreement: research use only"},
    {"name": "GloVe 6B 50d (static vectors)", "url": "https://nlp.stanford.edu/projects/glove/",
     "license": "PDDL 1.0"},
    {"name": "sentence-transformers/all-MiniLM-L6-v2 input embeddings (static vectors)",
     "url": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", "license": "Apache 2.0"},
]
LICENSE = "research use only: trained on CoNLL-2003 (Reuters) and the Penn Treebank (LDC); the code is MIT"


def score_rows(standalone_dir: Path, assembled_dir: Path) -> List[Dict]:
    """One row per task, metric and split: the stand-alone score, the assembled score and their
    difference (assembled - stand-alone; for perplexity lower is better)."""
    rows = []
    for task, metric, filename, key, splits, higher_is_better in SCORES:
        standalone = srsly.read_json(standalone_dir / task / filename)
        assembled = srsly.read_json(assembled_dir / task / filename)
        for label, split in splits:
            name = key.format(split=split)
            before, after = _score(standalone, name), _score(assembled, name)
            rows.append({
                "task": task, "metric": metric, "split": label, "higher_is_better": higher_is_better,
                "standalone": round(before, 2), "assembled": round(after, 2), "difference": round(after - before, 2),
            })
    return rows


def _score(report: Dict, name: str) -> float:
    value = report.get("scores", report).get(name)
    if value is None:
        raise ValueError(f"the report of {report.get('model')} has no score {name!r}")
    return float(value)


# The stage of `component_speed` that reads every token's surprisal: only (b) has it.
READ_STAGE = "surprisals read (the language model runs)"
# The rows of the speed table besides the peer's, by key in `core_speed`'s report.
OURS = {
    "as_loaded": "(a) ours as `spacy.load` gives it: language model lazy, nothing read",
    "surprisals_read": "(b) ours, every token's `token._.surprisal` read after each doc (the language model runs)",
}


def component_speed(nlp, texts: Sequence[str], batch_size: int = 256) -> Dict:
    """Seconds per stage of one pass over `texts` (the threads torch has now): the tokenizer,
    each component's `pipe` over all the docs in turn (a lazy language model's only records each
    doc's token stream), then READ_STAGE: every token's surprisal read (`read_surprisals`). The
    stages before READ_STAGE are what (a) pays; all of them what (b) pays."""
    timer = StageTimer()
    with timer("tokenizer"):
        docs = list(nlp.tokenizer.pipe(texts, batch_size=batch_size))
    for name, proc in nlp.pipeline:
        with timer(name):
            docs = list(proc.pipe(docs, batch_size=batch_size)) if hasattr(proc, "pipe") else [proc(doc) for doc in docs]
    with timer(READ_STAGE):
        for doc in docs:
            read_surprisals(doc)
    return {
        "n_texts": len(texts), "n_words": sum(len(doc) for doc in docs), "batch_size": batch_size,
        "seconds": {name: round(value, 2) for name, value in timer.seconds.items()},
    }


def core_speed(nlp, peer: str, texts: Sequence[str], repeats: int = 3, batch_size: int = 256) -> Dict:
    """Words/second of (a) `nlp` as given, (b) `nlp` with every token's surprisal read after each
    doc (`SurprisalsRead`) and (c) the peer's whole pipeline (`spacy.load(peer)`), one thread each
    (torch: 1 thread; the peer as spaCy runs it, single-threaded), in `repeats` alternating runs
    (`timed_runs`; best run, and the ratios of (a) and (b) to (c) under "speed_ratio"), with the
    seconds per stage of one pass (`component_speed`) and the CPU. ValueError when `nlp` has no
    language model (`torch_lm`)."""
    import spacy

    lms = language_models(nlp)
    if not lms:
        raise ValueError(f"the pipeline ({', '.join(nlp.pipe_names)}) has no language model (torch_lm) whose surprisals (b) reads")
    peer_nlp = spacy.load(peer)
    pipelines = {"as_loaded": nlp, "surprisals_read": SurprisalsRead(nlp), "peer": peer_nlp}
    with torch_threads(1):
        threads = thread_settings()
        runs = timed_runs(pipelines, texts, repeats, batch_size, {}, "one thread each ((a), (b), peer)")
        stages = component_speed(nlp, texts, batch_size)
    return {
        "components": nlp.pipe_names, "language_models": lms, "peer": peer, "peer_components": peer_nlp.pipe_names,
        "peer_disabled": list(peer_nlp.disabled), "peer_ops": ops_name(), "ours_threads": threads,
        "repeats": repeats, "cpu": cpu_record(), **stages, **summarize_runs(runs),
    }


def size_parts(path: Path) -> Dict[str, float]:
    """MiB on disk of each part of a saved pipeline: the vocab's vectors files, the rest of the
    vocab, each component folder, and the other files together; largest first."""
    path = Path(path)
    vocab = path / "vocab"
    vectors = sum(f.stat().st_size for f in vocab.glob("vectors*") if f.is_file()) / 2**20 if vocab.exists() else 0.0
    parts = {"vocab: vectors": vectors, "vocab: strings, keys": directory_mib(vocab) - vectors if vocab.exists() else 0.0}
    for child in sorted(path.iterdir()):
        if child.is_dir() and child.name != "vocab":
            parts[child.name] = directory_mib(child)
    parts["other files"] = directory_mib(path) - sum(parts.values())
    return {name: round(mib, 1) for name, mib in sorted(parts.items(), key=lambda item: -item[1])}


def package_meta(rows: List[Dict], speed: Dict, memory: Optional[Dict], size_mib: float, version: str) -> Dict:
    """The fields `spacy package --meta-path` merges into the pipeline's meta.json: its name,
    licence, sources, test scores of the assembled pipeline (fractions, as spaCy's meta holds them)
    and notes with the perplexity, speed (`core_speed`'s report) and memory (`peak_memory` with
    `read_surprisals`)."""
    test = {(row["task"], row["metric"]): row["assembled"] for row in rows if row["split"] == "test"}
    wps, ratio = speed["words_per_second"], speed["speed_ratio"]
    performance = {
        "pos_acc": test[("tagger", "UPOS accuracy")] / 100,
        "tag_acc": test[("tagger", "XPOS accuracy")] / 100,
        "ents_f": test[("ner", "entity F1 (CoNLL-2003)")] / 100,
        "cats_score": test[("textcat", "sentiment accuracy (SST-2 dev, SST binary test)")] / 100,
    }
    notes = "\n".join([
        "### Measured",
        "",
        f"- Test scores above: UPOS/XPOS on UD EWT test, entity F1 on CoNLL-2003 test (seqeval), sentiment "
        f"accuracy on the binary SST test sentences; language-model perplexity on PTB test "
        f"{test[('lm', 'perplexity (PTB)')]:.2f}.",
        f"- Speed, one CPU thread, {speed['n_texts']:,} texts, in the same run as {speed['peer']}'s whole pipeline: "
        f"{wps['as_loaded']:,} words/s as loaded ({ratio['as_loaded']:.2f}x {speed['peer']}), "
        f"{wps['surprisals_read']:,} words/s reading every token's surprisal ({ratio['surprisals_read']:.2f}x). "
        f"{cpu_line(speed['cpu'])}.",
        (f"- Memory: {memory['peak_rss_mib']} MiB peak resident memory processing one text of "
         f"{memory['n_chars']:,} characters, {memory['after_read']['peak_rss_mib']} MiB once every token's "
         f"surprisal was read." if memory else ""),
        f"- Size: {size_mib} MiB on disk.",
        "",
        "CoNLL-2003 (Reuters) and the Penn Treebank are licensed for research only, and so is this "
        "pipeline. Each component's training and evaluation reports are in the spacy-rnn repository "
        "under reports/core/.",
    ])
    return {
        "name": "rnn_core",
        "version": version,
        "description": "One spaCy pipeline on PyTorch recurrent networks: a BiLSTM tagger (UPOS + XPOS), "
                       "a BiLSTM-CRF recognizer with entity confidences, an LSTM sentiment classifier and "
                       "an LSTM language model (token surprisal, perplexity), sharing one static vectors table.",
        "license": LICENSE,
        "sources": SOURCES,
        "performance": performance,
        "notes": notes,
    }


def core_markdown(report: Dict) -> str:
    machine, speed, memory = report["machine"], report["speed"], report.get("memory")
    lines = [
        f"# The assembled pipeline: {report['model']}",
        "",
        f"One `spacy.load`, one `nlp(text)`: {', '.join(speed['components'])}. Machine: {machine['processor']}, "
        f"{machine['cpu_count']} cores, torch {machine['torch']}, load average {machine.get('load_average')} "
        "when the report was written (other processes competing for the cores).",
        "",
        "## Scores: stand-alone component against the same component in the assembled pipeline",
        "",
        "Gold tokens; the assembled pipeline reads the shared vectors table pruned as below. Dev scores "
        "chose everything; the test split was scored once for this configuration.",
        "",
        markdown_table(
            ["task", "metric", "split", "stand-alone", "assembled", "difference"],
            [[r["task"], r["metric"], r["split"], r["standalone"], r["assembled"], f"{r['difference']:+.2f}"]
             for r in report["scores"]],
        ),
        "",
    ]
    vectors = report.get("vectors")
    if vectors:
        lines += [
            "## Vectors",
            "",
            f"{vectors['rows']:,} rows of {vectors['width']} dimensions ({vectors['keys']:,} keys; pruned words "
            f"point to their nearest kept row), chosen on dev from the size/accuracy curve "
            f"([vectors_curve.md](vectors_curve.md)).",
            "",
        ]
    lines += [
        "## Size, speed and memory",
        "",
        f"- Pipeline on disk (what the package installs): **{report['size_mib']} MiB**{_size_detail(report)}.",
        *_speed_lines(speed),
        *(_memory_lines(memory, cpu_line(speed["cpu"])) if memory else []),
    ]
    return "\n".join(lines)


def _size_detail(report: Dict) -> str:
    """": vocab: vectors 41.8, tagger 3.3, ... MiB (vectors ...; weights ...)", or "" for a report
    without the parts."""
    parts = report.get("size_parts_mib")
    if not parts:
        return ""
    storage = []
    if (report.get("vectors") or {}).get("storage"):
        storage.append(f"vectors {report['vectors']['storage']}")
    if report.get("weights_storage"):
        storage.append("weights " + ", ".join(f"{name} {value}" for name, value in report["weights_storage"].items()))
    detail = ", ".join(f"{name} {mib}" for name, mib in parts.items())
    return f": {detail} MiB" + (f" (storage: {'; '.join(storage)})" if storage else "")


def _speed_lines(speed: Dict) -> List[str]:
    wps, ratio, cpu, peer = speed["words_per_second"], speed["speed_ratio"], cpu_line(speed["cpu"]), speed["peer"]
    disabled = f"; its disabled {', '.join(speed['peer_disabled'])} not run" if speed["peer_disabled"] else ""
    ours = " + ".join(speed["components"])
    rows = [[label, ours, f"{wps[key]:,}", f"{ratio[key]:.2f}"] for key, label in OURS.items()]
    rows.append([f"(c) {peer}, its whole pipeline as `spacy.load` gives it{disabled}", " + ".join(speed["peer_components"]),
                 f"{wps['peer']:,}", "1.00"])
    lms = speed["language_models"]
    labels = {**{name: f"{name}: `pipe` (lazy: records each doc's token stream)" for name in lms}, READ_STAGE: f"{' + '.join(lms)}: {READ_STAGE}"}
    seconds = speed["seconds"]
    stage_rows = [[labels.get(stage, stage), "—" if stage == READ_STAGE else f"{value:.2f}", f"{value:.2f}"] for stage, value in seconds.items()]
    total = sum(seconds.values())
    stage_rows.append(["total", f"{total - seconds[READ_STAGE]:.2f}", f"{total:.2f}"])
    return [
        f"- Speed, one thread each, against {peer}'s whole pipeline: **(a) as loaded {wps['as_loaded']:,} words/s, "
        f"{ratio['as_loaded']:.2f}×; (b) reading every token's surprisal {wps['surprisals_read']:,} words/s, "
        f"{ratio['surprisals_read']:.2f}×** ({cpu}). `nlp.pipe` over {speed['n_texts']:,} texts ({speed['n_words']:,} words), "
        f"batch size {speed['batch_size']}, tokenizer included; the three in one run on the same texts, alternating runs, "
        f"best of {speed['repeats']}. Ours: {threads_line(speed['ours_threads'])}; {peer}: one process, thinc "
        f"{speed['peer_ops']} (spaCy's CPU pipeline is single-threaded).",
        "",
        markdown_table(["pipeline", "components", "words/s", "ratio to (c)"], rows),
        "",
        f"- Seconds per stage: one more pass over the same texts on one thread (totals differ a little from the runs "
        f"above), each component's `pipe` over all the docs in turn, then every token's surprisal read. (a) pays every "
        f"stage but the reading; (b) pays all of them, its language model the `pipe` row plus the reading row. {cpu}.",
        "",
        markdown_table(["stage", "(a) as loaded, nothing read (s)", "(b) every surprisal read (s)"], stage_rows),
        "",
    ]


def _memory_lines(memory: Dict, cpu: str) -> List[str]:
    read = memory["after_read"]
    return [
        f"- One text of {memory['n_chars']:,} characters ({memory['n_tokens']:,} tokens), the pipeline as `spacy.load` gives it "
        f"in a fresh process: {memory['rss_after_load_mib']} MiB resident after loading; `nlp(text)` in {memory['seconds']} s, "
        f"**peak {memory['peak_rss_mib']} MiB** (+{memory['peak_increase_mib']} MiB) with nothing read; then every token's "
        f"surprisal read in {read['seconds']} s (the language model runs): **peak {read['peak_rss_mib']} MiB** "
        f"(+{read['peak_increase_mib']} MiB), the most a user meets. {cpu}.",
        "",
    ]


def write_core_report(report: Dict, output_dir: Path) -> None:
    report["machine"] = machine_info()
    write_json(report, output_dir / "core.json")
    (output_dir / "README.md").write_text(core_markdown(report), encoding="utf-8")
