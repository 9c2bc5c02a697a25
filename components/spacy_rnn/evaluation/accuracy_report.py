"""Token-attribute accuracy of a pipeline on gold-tokenized DocBins: overall, per label, confusions.

The pipeline tags Docs built from the gold words (so tokens align one to one), either whole
documents as stored in the DocBin, or each gold sentence on its own (the protocol of most
published tagging results). Tokens without a gold value are not counted.

A measure (UPOS, XPOS) is scored only where the gold has it and the pipeline predicts it, and
the sentence unit only where the gold has sentence boundaries (a document without them is one
sentence); what is left out is listed with the reason in `not_scored` (`gold_checks`), and a
split with nothing to score is an error.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from .gold_checks import TAG_ANNOTATIONS, predicted_tag_measures, tag_measures
from .reports import gold_docs, machine_info, markdown_table, write_json

ATTRS = {"upos": "pos_", "xpos": "tag_"}
UNITS = ("document", "sentence")


def gold_units(references: Sequence[Doc], unit: str) -> List[Doc]:
    if unit == "document":
        return list(references)
    return [sent.as_doc() for doc in references for sent in _sentences(doc)]


def _sentences(doc: Doc):
    return doc.sents if doc.has_annotation("SENT_START") else [doc[:]]


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
    """Evaluate every split in both units; keys like `ud_ewt.test.upos_acc` (document unit).
    What a split's gold or the pipeline lacks is left out: not_scored {split: {what: why}}."""
    report: Dict = {"model": model, "corpus": corpus, "tokenization": "gold", "scores": {}, "splits": {}, "not_scored": {}}
    for split, path in tqdm(splits.items(), desc="evaluating splits", unit="split"):
        references = gold_docs(nlp, path, ("token.pos", "token.tag"))
        measures, not_scored = tag_measures(references, str(path))
        report["splits"][split] = {}
        for unit in UNITS:
            if unit == "sentence" and not any(ref.has_annotation("SENT_START") for ref in references):
                not_scored["sentence unit"] = "the gold has no sentence boundaries"
                continue
            refs = gold_units(references, unit)
            preds = tag_gold_tokens(nlp, refs)
            if unit == "document":
                measures, unpredicted = predicted_tag_measures(preds, str(path), measures)
                not_scored.update(unpredicted)
            results = {name: attribute_accuracy(refs, preds, ATTRS[name]) for name in measures}
            report["splits"][split][unit] = results
            suffix = "" if unit == "document" else ".sentence_unit"
            for name, result in results.items():
                report["scores"][f"{corpus}.{split}.{name}_acc{suffix}"] = result["accuracy"]
        if not_scored:
            report["not_scored"][split] = not_scored
    report["machine"] = machine_info()
    return report


def not_scored_lines(report: Dict) -> List[str]:
    """One line per measure or unit a split left out, e.g. `test: XPOS not scored (the gold has ...)`."""
    names = {measure: name.split()[0] for measure, (_, name) in TAG_ANNOTATIONS.items()}
    return [
        f"{split}: {names.get(what, what)} not scored ({why})"
        for split, entries in report.get("not_scored", {}).items()
        for what, why in entries.items()
    ]


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
        for unit, results in report["splits"][split].items():
            first = next(iter(results.values()))
            rows.append([split, unit, first["n_tokens"]] + [results[n]["accuracy"] if n in results else "-" for n in ATTRS])
    lines += [markdown_table(["split", "unit", "tokens", "UPOS acc", "XPOS acc"], rows), ""]
    lines += [f"- {line}" for line in not_scored_lines(report)] + ([""] if report.get("not_scored") else [])
    for name in ATTRS:
        scored = [split for split in splits if name in report["splits"][split].get("document", {})]
        if not scored:
            continue
        header = ["label"] + [f"{split} {col}" for split in scored for col in ("support", "acc", "prec")]
        labels = list(dict.fromkeys(
            label for split in scored for label in report["splits"][split]["document"][name]["per_label"]
        ))
        table = []
        for label in labels:
            row: List[object] = [label]
            for split in scored:
                stats = report["splits"][split]["document"][name]["per_label"].get(label)
                row += [stats["support"], stats["accuracy"], stats["precision"]] if stats else ["0", "-", "-"]
            table.append(row)
        lines += [f"## {name.upper()} per label (documents)", "", markdown_table(header, table), ""]
        for split in scored:
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
