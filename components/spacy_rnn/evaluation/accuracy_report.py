"""Token-attribute accuracy of a pipeline on gold-tokenized DocBins: overall, per label, confusions.

The pipeline tags Docs built from the gold words (so tokens align one to one), either whole
documents as stored in the DocBin, or each gold sentence on its own (the protocol of most
published tagging results). Tokens without a gold value are not counted.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from .reports import gold_docs, machine_info, markdown_table, write_json

ATTRS = {"upos": "pos_", "xpos": "tag_"}
UNITS = ("document", "sentence")


def gold_units(references: Sequence[Doc], unit: str) -> List[Doc]:
    if unit == "document":
        return list(references)
    return [sent.as_doc() for doc in references for sent in doc.sents]


def tag_gold_tokens(nlp: Language, references: Sequence[Doc], batch_size: int = 256) -> List[Doc]:
    """Run the pipeline on unannotated copies of the references (same words and spaces)."""
    texts = (Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref]) for ref in references)
    return list(nlp.pipe(texts, batch_size=batch_size))


def attribute_accuracy(references: Sequence[Doc], predictions: Sequence[Doc], attr: str, n_confusions: int = 15) -> Dict:
    """accuracy (%), n_tokens, per_label {label: support, accuracy (recall), precision}, confusions."""
    gold_counts: Counter = Counter()
    pred_counts: Counter = Counter()
    correct: Counter = Counter()
    confusions: Counter = Counter()
    for ref, pred in zip(references, predictions):
        for gold_token, pred_token in zip(ref, pred):
            gold, guess = getattr(gold_token, attr), getattr(pred_token, attr)
            if not gold:
                continue
            gold_counts[gold] += 1
            pred_counts[guess] += 1
            if gold == guess:
                correct[gold] += 1
            else:
                confusions[(gold, guess)] += 1
    n_tokens = sum(gold_counts.values())
    per_label = {
        label: {
            "support": support,
            "accuracy": round(100 * correct[label] / support, 2),
            "precision": round(100 * correct[label] / pred_counts[label], 2) if pred_counts[label] else 0.0,
        }
        for label, support in gold_counts.most_common()
    }
    return {
        "accuracy": round(100 * sum(correct.values()) / max(n_tokens, 1), 2),
        "n_tokens": n_tokens,
        "per_label": per_label,
        "confusions": [[gold, guess, n] for (gold, guess), n in confusions.most_common(n_confusions)],
    }


def tagging_report(nlp: Language, splits: Dict[str, Path], corpus: str, model: str) -> Dict:
    """Evaluate every split in both units; keys like `ud_ewt.test.upos_acc` (document unit)."""
    report: Dict = {"model": model, "corpus": corpus, "tokenization": "gold", "scores": {}, "splits": {}}
    for split, path in tqdm(splits.items(), desc="evaluating splits", unit="split"):
        references = gold_docs(nlp, path, ("token.pos", "token.tag"))
        report["splits"][split] = {}
        for unit in UNITS:
            refs = gold_units(references, unit)
            preds = tag_gold_tokens(nlp, refs)
            results = {name: attribute_accuracy(refs, preds, attr) for name, attr in ATTRS.items()}
            report["splits"][split][unit] = results
            suffix = "" if unit == "document" else ".sentence_unit"
            for name, result in results.items():
                report["scores"][f"{corpus}.{split}.{name}_acc{suffix}"] = result["accuracy"]
    report["machine"] = machine_info()
    return report


def tagging_markdown(report: Dict) -> str:
    splits = list(report["splits"])
    lines = [
        f"# Tagging accuracy: {report['model']} on {report['corpus']} (gold tokenization)",
        "",
        "Documents: whole corpus documents (up to 10 sentences) without sentence boundaries, as the",
        "model reads raw text. Sentences: each gold sentence tagged alone (the usual published protocol).",
        "",
    ]
    rows = []
    for split in splits:
        for unit in UNITS:
            results = report["splits"][split][unit]
            rows.append([split, unit, results["upos"]["n_tokens"], results["upos"]["accuracy"], results["xpos"]["accuracy"]])
    lines += [markdown_table(["split", "unit", "tokens", "UPOS acc", "XPOS acc"], rows), ""]
    for name in ATTRS:
        header = ["label"] + [f"{split} {col}" for split in splits for col in ("support", "acc", "prec")]
        labels = list(report["splits"][splits[0]]["document"][name]["per_label"])
        table = []
        for label in labels:
            row: List[object] = [label]
            for split in splits:
                stats = report["splits"][split]["document"][name]["per_label"].get(label)
                row += [stats["support"], stats["accuracy"], stats["precision"]] if stats else ["0", "-", "-"]
            table.append(row)
        lines += [f"## {name.upper()} per label (documents)", "", markdown_table(header, table), ""]
        for split in splits:
            confusions = report["splits"][split]["document"][name]["confusions"]
            lines += [
                f"Most frequent {name.upper()} confusions on {split} (gold → predicted: count): "
                + ", ".join(f"{g} → {p}: {n}" for g, p, n in confusions[:10]),
                "",
            ]
    return "\n".join(lines)


def write_tagging_report(report: Dict, output_dir: Path, name: str = "accuracy") -> None:
    write_json(report, output_dir / f"{name}.json")
    (output_dir / f"{name}.md").write_text(tagging_markdown(report), encoding="utf-8")
