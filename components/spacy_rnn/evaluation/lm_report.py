"""Language-model reports: the training record with its curves, and perplexity of a trained
`torch_lm` pipeline on text files, measured through the component (`doc._.perplexity`)."""
import math
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import srsly
from spacy.language import Language
from spacy.tokens import Doc

from ..corpora.ptb import read_sentences
from ..extras import pyplot
from .reports import machine_info, markdown_table, write_json

EXAMPLE_PREFIXES = ["Every morning, my neighbor yelled at the", "The company said its profit rose", "The stock market"]


def sentences_doc(nlp: Language, sentences: Sequence[Sequence[str]]) -> Doc:
    """One Doc of all the sentences, with their boundaries (a sentencizer keeps them)."""
    words = [w for sentence in sentences for w in sentence]
    starts = [i == 0 for sentence in sentences for i in range(len(sentence))]
    return Doc(nlp.vocab, words=words, sent_starts=starts)


def evaluate_lm(nlp: Language, splits: Sequence[Tuple[str, Path]], corpus: str, pipe_name: str = "lm") -> Dict:
    """For each split, through the component: `perplexity`, the file read as one stream (state
    carried across sentences, one <eos> predicted per sentence: the standard LM-benchmark
    number), and `perplexity_sentences`, each sentence read on its own after an <eos> (the
    n-gram baseline's convention); plus the words/s of the whole pipeline on the stream."""
    report: Dict = {"machine": machine_info()}
    for split, path in splits:
        sentences = [words for words in read_sentences(path) if words]
        start = time.perf_counter()
        doc = nlp(sentences_doc(nlp, sentences))
        perplexity = doc._.perplexity  # inside the timing: a lazy torch_lm computes it on this first read
        seconds = time.perf_counter() - start
        key = f"{corpus}.{split}"
        report[f"{key}.perplexity"] = perplexity
        report[f"{key}.n_tokens"] = doc._.lm_n_tokens
        report[f"{key}.words_per_second"] = len(doc) / seconds
        docs = nlp.pipe(Doc(nlp.vocab, words=words) for words in sentences)
        log_prob, n_tokens = 0.0, 0
        for sentence in docs:
            log_prob += sentence._.log_prob
            n_tokens += sentence._.lm_n_tokens
        report[f"{key}.perplexity_sentences"] = math.exp(-log_prob / n_tokens)
    lm = nlp.get_pipe(pipe_name)
    report["examples"] = [
        {
            "prefix": prefix,
            "next_words": lm.next_words(nlp(prefix), k=5),
            "generated": " ".join(lm.generate(nlp(prefix), n_words=15, temperature=0.8, seed=0)),
        }
        for prefix in EXAMPLE_PREFIXES
    ]
    return report


def write_lm_report(report: Dict, output_dir: Path, model: str, name: str = "perplexity", baseline: Optional[Dict] = None) -> None:
    """NAME.json / NAME.md; `baseline`: the scores of `kneser-ney` (kneser_ney.json), shown in
    the same table."""
    if baseline is not None:
        report = {**report, "baseline": baseline["scores"]}
    write_json({"model": model, **report}, output_dir / f"{name}.json")
    keys = [key[: -len(".perplexity")] for key in report if key.endswith(".perplexity")]
    rows = [
        [
            key,
            f"{report[key + '.perplexity']:.2f}",
            f"{report[key + '.perplexity_sentences']:.2f}",
            f"{report[key + '.n_tokens']:,}",
            f"{report[key + '.words_per_second']:,.0f}",
        ]
        for key in keys
    ]
    lines = [
        f"# Perplexity of {model}",
        "",
        "Stream: each file read as one text, the state carried across sentences (the standard "
        "benchmark number). Sentences: each sentence read on its own after `<eos>`, the convention "
        "of the n-gram baseline. Both count one `<eos>` per sentence.",
        "",
        markdown_table(["split", "LSTM perplexity (stream)", "LSTM perplexity (sentences)", "predicted tokens", "words/s"], rows),
        "",
    ]
    if baseline is not None:
        orders = sorted({key.split(".")[0] for key in baseline["scores"]})
        header = ["model"] + [f"{key} perplexity" for key in keys]
        table = [["LSTM (this model, stream)"] + [f"{report[key + '.perplexity']:.2f}" for key in keys]]
        table += [["LSTM (this model, sentences)"] + [f"{report[key + '.perplexity_sentences']:.2f}" for key in keys]]
        table += [
            [f"Kneser-Ney {order[2:]}-gram"] + [f"{baseline['scores'].get(f'{order}.{key}.perplexity', float('nan')):.2f}" for key in keys]
            for order in orders
        ]
        lines += ["## Against the interpolated modified Kneser-Ney baseline (`kneser_ney.md`)", "", markdown_table(header, table), ""]
    lines += ["## Next-word predictions and samples (temperature 0.8, seed 0)", ""]
    for example in report["examples"]:
        ranked = ", ".join(f"{w} ({p:.3f})" for w, p in example["next_words"])
        lines += [f"- *{example['prefix']}* ___ → {ranked}", f"  - sample: {example['prefix']} **{example['generated']}**"]
    machine = report["machine"]
    lines += ["", f"Measured on {machine['processor']} ({machine['cpu_count']} cores, torch {machine['torch']}, device {machine['device']}).", ""]
    (output_dir / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")


def write_lm_training_report(record: Dict, config_path: Path, overrides: Dict, report_dir: Path) -> None:
    """training.json / training.md + training_curves.png (perplexities, learning rate,
    gradient norms before clipping, throughput) from the record and output_dir/training_log.jsonl.
    Also re-renders a report from its training.json (the machine it records is kept)."""
    log = list(srsly.read_jsonl(Path(record["output_dir"]) / "training_log.jsonl"))
    record = {
        "config": str(config_path),
        "overrides": overrides,
        **record,
        "training_tokens_per_second": training_throughput(log),
        "machine": record.get("machine") or machine_info(),  # a re-rendered report keeps the training machine's record
    }
    write_json(record, report_dir / "training.json")
    best = min(record["evaluations"], key=lambda e: e["dev_perplexity"])
    machine = record["machine"]
    rows = [
        ["best dev perplexity", f"{record['best_dev_perplexity']:.2f} (epoch {best['epoch']}, step {best['step']})"],
        ["training time", f"{record['train_minutes']:.1f} min ({record['stop_reason']})"],
        ["epochs / steps", f"{record['epochs']} / {record['steps']:,}"],
        ["throughput", f"{record['training_tokens_per_second']:,.0f} tokens/s while training (median of the logged intervals "
         f"without a dev evaluation); {record['tokens_per_second']:,.0f} over the whole run, evaluations included"],
        ["parameters", f"{record['n_parameters']:,}"],
    ]
    if record.get("averaging_from_step") is not None:
        start = next(e for e in record["evaluations"] if e["step"] >= record["averaging_from_step"])
        rows.append(["weight averaging (NT-ASGD)", f"from step {record['averaging_from_step']:,} (minute {start['minutes']:.1f}, epoch "
                     f"{start['epoch']}); later evaluations and the saved models use the averaged weights"])
    rows.append(["machine", f"{machine['processor']}, {machine['cpu_count']} cores, device {machine['device']}, torch {machine['torch']}"])
    lines = [f"# Language-model training: {config_path}", "", markdown_table(["", ""], rows), "", "![training curves](training_curves.png)", ""]
    (report_dir / "training.md").write_text("\n".join(lines), encoding="utf-8")
    plot_lm_training(log, report_dir / "training_curves.png", f"{Path(config_path).name}")


def training_throughput(log: List[Dict]) -> float:
    """Median tokens/s of the logged training intervals in which no dev evaluation ran."""
    eval_minutes = [e["minutes"] for e in log if e["type"] == "eval"]
    previous, clean = 0.0, []
    for entry in log:
        if entry["type"] != "train":
            continue
        if not any(previous < minute <= entry["minutes"] for minute in eval_minutes):
            clean.append(entry["tokens_per_second"])
        previous = entry["minutes"]
    return float(statistics.median(clean)) if clean else float("nan")


def plot_lm_training(log: List[Dict], png_path: Path, title: str) -> None:
    plt = pyplot("the language model's training curves")

    train = [e for e in log if e["type"] == "train"]
    evals = [e for e in log if e["type"] == "eval"]
    fig, (ppl_ax, lr_ax, grad_ax, speed_ax) = plt.subplots(1, 4, figsize=(20, 4))
    ppl_ax.plot([e["minutes"] for e in train], [e["perplexity"] for e in train], label="train (with dropout)")
    ppl_ax.plot([e["minutes"] for e in evals], [e["dev_perplexity"] for e in evals], "o-", label="dev")
    averaged = [e for e in evals if e.get("averaged")]
    if averaged:
        ppl_ax.plot([e["minutes"] for e in averaged], [e["dev_perplexity"] for e in averaged], "s", color="C2", label="dev, averaged weights (NT-ASGD)")
    ppl_ax.set(xlabel="minutes", ylabel="perplexity", yscale="log")
    ppl_ax.grid(alpha=0.3)
    ppl_ax.legend()
    lr_ax.plot([e["minutes"] for e in train], [e["learning_rate"] for e in train])
    lr_ax.set(xlabel="minutes", ylabel="learning rate", yscale="log")
    grad_ax.plot([e["minutes"] for e in train], [e["grad_norm_mean"] for e in train], label="mean")
    grad_ax.plot([e["minutes"] for e in train], [e["grad_norm_max"] for e in train], ":", label="max")
    if train:  # a run shorter than one logging interval has only its evaluations
        grad_ax.axhline(train[0]["clip"], color="grey", linestyle="--", label="clipping threshold")
    grad_ax.set(xlabel="minutes", ylabel="gradient L2 norm before clipping", yscale="log")
    grad_ax.legend()
    speed_ax.plot([e["minutes"] for e in train], [e["tokens_per_second"] for e in train])
    speed_ax.set(xlabel="minutes", ylabel="tokens/s (dips: a dev evaluation in the interval)")
    fig.suptitle(title)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

