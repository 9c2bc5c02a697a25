"""The Kneser-Ney n-gram baseline report: perplexity per order and split, n-gram counts, fit
times and an example of the counts behind one prediction (`python -m spacy_rnn kneser-ney`)."""
import gc
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..corpora.ptb import read_sentences
from ..lm.kneser_ney import KneserNeyLM, explanation_text
from ..lm.vocab import Normalizer, Vocabulary
from .reports import machine_info, markdown_table, write_json

# SRILM interpolated modified KN 5-gram, no count cutoffs (Mikolov et al. 2011).
PUBLISHED_PTB_KN5_TEST = 141.2


def _normalised(path: Path, normalizer: Normalizer) -> List[List[str]]:
    return [[normalizer(w) for w in words] for words in read_sentences(path)]


def kneser_ney_report(
    train: Path,
    splits: Dict[str, Path],
    orders: Sequence[int],
    corpus: str = "ptb",
    max_vocab: Optional[int] = None,
    min_count: int = 1,
    example_context: Sequence[str] = ("yelled", "at", "the"),
    example_words: Sequence[str] = (),
    progress: bool = False,
) -> Dict:
    """Fit a model of every order on the normalised `train` sentences (vocabulary built from them
    as `Vocabulary.from_corpus(max_size=max_vocab, min_count=min_count)`) and evaluate it on each
    split. scores holds f"kn{order}.{corpus}.{split}.perplexity"; orders[str(order)] holds the
    same per split plus n-gram counts, discounts and times; example holds `KneserNeyLM.explain`
    for each example word after example_context with the highest order."""
    normalizer = Normalizer()
    train_sentences = _normalised(train, normalizer)
    split_sentences = {name: _normalised(path, normalizer) for name, path in splits.items()}
    vocab = Vocabulary.from_corpus(train_sentences, max_size=max_vocab, min_count=min_count)
    report: Dict = {
        "model": "interpolated modified Kneser-Ney (Chen & Goodman 1998), SRILM conventions",
        "corpus": corpus,
        "data": {"train": str(train), **{name: str(path) for name, path in splits.items()}},
        "vocabulary": {"size": len(vocab), "max_size": max_vocab, "min_count": min_count, "normalizer": normalizer.to_dict()},
        "scores": {},
        "orders": {},
    }
    for order in orders:
        start = time.perf_counter()
        model = KneserNeyLM(train_sentences, vocab, order, progress=progress)
        result: Dict = {
            "fit_seconds": round(time.perf_counter() - start, 2),
            "ngrams": {str(k): n for k, n in model.num_ngrams().items()},
            "discounts": {str(k): [round(d, 4) for d in ds] for k, ds in model.discounts.items()},
            "discount_fallback": [k for k, fallback in model.discount_fallback.items() if fallback],
        }
        for name, sentences in split_sentences.items():
            evaluation = model.evaluate(sentences, progress=progress)
            key = f"{corpus}.{name}.perplexity"
            result[key] = round(evaluation["perplexity"], 2)
            result[f"{corpus}.{name}.n_tokens"] = evaluation["n_tokens"]
            result[f"{corpus}.{name}.n_unk"] = evaluation["n_unk"]
            result[f"{corpus}.{name}.eval_seconds"] = round(evaluation["seconds"], 2)
            report["scores"][f"kn{order}.{key}"] = result[key]
        report["orders"][str(order)] = result
        if order == max(orders):
            report["example"] = {
                "order": order,
                "context": " ".join(example_context),
                "words": {w: model.explain(example_context, w) for w in example_words},
            }
        del model
        gc.collect()
    report["machine"] = machine_info()
    return report


def kneser_ney_markdown(report: Dict) -> str:
    corpus = report["corpus"]
    splits = [name for name in report["data"] if name != "train"]
    vocab = report["vocabulary"]
    lines = [
        f"# Kneser-Ney n-gram baseline on {corpus}",
        "",
        f"{report['model']}.",
        "Each sentence is predicted on its own after `<s>`: its words and `<eos>` are predicted (perplexity",
        f"over words + one `<eos>` per sentence). Vocabulary: {vocab['size']:,} words (`<eos>` and `<unk>`",
        "included) from the normalised training text; other words are `<unk>`.",
        "",
    ]
    header = ["order"] + [f"{name} perplexity" for name in splits] + ["fit s"] + [f"{name} eval s" for name in splits]
    rows = [
        [order] + [r[f"{corpus}.{name}.perplexity"] for name in splits] + [r["fit_seconds"]]
        + [r[f"{corpus}.{name}.eval_seconds"] for name in splits]
        for order, r in report["orders"].items()
    ]
    lines += [markdown_table(header, rows), ""]
    if corpus == "ptb" and "5" in report["orders"] and "test" in splits:
        lines += [f"Published: SRILM KN5 on PTB test {PUBLISHED_PTB_KN5_TEST} (Mikolov et al. 2011).", ""]
    max_order = max(int(k) for k in report["orders"])
    header = ["order"] + [f"{k}-grams" for k in range(1, max_order + 1)] + ["discounts D1, D2, D3+ of the top order"]
    rows = [
        [order] + [r["ngrams"].get(str(k), "") for k in range(1, max_order + 1)] + [", ".join(map(str, r["discounts"][order]))]
        for order, r in report["orders"].items()
    ]
    lines += ["## Distinct n-grams per order, and the discounts of each model's top order", "", markdown_table(header, rows), ""]
    tokens = [[name, report["orders"][str(max_order)][f"{corpus}.{name}.n_tokens"],
               report["orders"][str(max_order)][f"{corpus}.{name}.n_unk"]] for name in splits]
    lines += ["## Evaluated tokens", "", markdown_table(["split", "tokens (words + `<eos>`)", "`<unk>`"], tokens), ""]
    example = report.get("example")
    if example and example["words"]:
        lines += [f"## Why: p(word | \"{example['context']}\"), {example['order']}-gram model", ""]
        for word, entries in example["words"].items():
            lines += [f"`{word}`:", "", "```", explanation_text(entries), "```", ""]
    lines += ["## Machine", "", markdown_table(["", ""], list(report["machine"].items())), ""]
    return "\n".join(lines)


def write_kneser_ney_report(report: Dict, output_dir: Path) -> None:
    write_json(report, output_dir / "kneser_ney.json")
    (output_dir / "kneser_ney.md").write_text(kneser_ney_markdown(report), encoding="utf-8")
