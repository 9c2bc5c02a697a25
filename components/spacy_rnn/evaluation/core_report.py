"""The assembled pipeline's report (`core-report`): each task's scores inside the one pipeline
beside the same component stand-alone, the pipeline's speed per component on one thread, its peak
memory on a huge text, its size on disk, and the package metadata a user can trust (licences, data
sources, measured accuracy and speed) for `spacy package --meta-path`.

The scores are read from the evaluate-* reports (accuracy.json, seqeval.json, textcat.json,
perplexity.json) written for the stand-alone components and for the assembled pipeline.
"""
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import srsly

from .reports import machine_info, markdown_table, write_json

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


def component_speed(nlp, texts: Sequence[str], batch_size: int = 256) -> Dict:
    """Seconds spent in the tokenizer and in each component over `texts` (one pass, `pipe` in
    batches, the threads torch has now) and the words/second of the whole pipeline."""
    start = time.perf_counter()
    docs = list(nlp.tokenizer.pipe(texts, batch_size=batch_size))
    seconds = {"tokenizer": time.perf_counter() - start}
    for name, proc in nlp.pipeline:
        start = time.perf_counter()
        docs = list(proc.pipe(docs, batch_size=batch_size)) if hasattr(proc, "pipe") else [proc(doc) for doc in docs]
        seconds[name] = time.perf_counter() - start
    n_words = sum(len(doc) for doc in docs)
    total = sum(seconds.values())
    return {
        "n_texts": len(texts), "n_words": n_words, "batch_size": batch_size,
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "words_per_second": round(n_words / total),
    }


def directory_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20, 1)


def package_meta(rows: List[Dict], speed: Dict, memory: Optional[Dict], size_mib: float, version: str) -> Dict:
    """The fields `spacy package --meta-path` merges into the pipeline's meta.json: its name,
    licence, sources, test scores of the assembled pipeline (fractions, as spaCy's meta holds them)
    and notes with the perplexity, speed and memory."""
    test = {(row["task"], row["metric"]): row["assembled"] for row in rows if row["split"] == "test"}
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
        f"- Speed: {speed['words_per_second']:,} words/s for the whole pipeline on one CPU thread "
        f"({speed['n_texts']:,} texts).",
        (f"- Memory: {memory['peak_rss_mib']} MiB peak resident memory processing one text of "
         f"{memory['n_chars']:,} characters." if memory else ""),
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
        f"- Pipeline on disk (what the package installs): **{report['size_mib']} MiB**.",
        f"- `nlp.pipe` over {speed['n_texts']:,} texts ({speed['n_words']:,} words), batch size {speed['batch_size']}, "
        f"**one torch thread**: **{speed['words_per_second']:,} words/s**. Seconds per stage:",
        "",
        markdown_table(list(speed["seconds"]), [list(speed["seconds"].values())]),
        "",
    ]
    if memory:
        lines += [
            f"- One text of {memory['n_chars']:,} characters ({memory['n_tokens']:,} tokens) in {memory['seconds']} s: "
            f"{memory['rss_after_load_mib']} MiB resident after loading, **peak {memory['peak_rss_mib']} MiB** "
            f"(+{memory['peak_increase_mib']} MiB).",
            "",
        ]
    return "\n".join(lines)


def write_core_report(report: Dict, output_dir: Path) -> None:
    report["machine"] = machine_info()
    write_json(report, output_dir / "core.json")
    (output_dir / "README.md").write_text(core_markdown(report), encoding="utf-8")
