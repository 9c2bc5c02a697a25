"""Document classification scores of any pipeline that sets exclusive `doc.cats`, on gold DocBins.

The pipeline reads Docs built from the gold words (the corpus's own tokens). A document's gold
class is its one label at 1.0 (documents without one are not counted); the predicted class is
its highest-scoring label. Scores are in percent: accuracy, per-label precision / recall / F1
(0 where undefined) and their unweighted mean over the labels (macro F1), the confusion matrix
(rows gold, columns predicted) and the first misclassified documents in corpus order.
The labels are the pipeline's (the order of the predicted `doc.cats`). Gold without any class,
or whose label set (every label of the gold `doc.cats`) is not the pipeline's, is refused
(`gold_checks`): SST-5 gold scored by a binary model is another task, not a low accuracy.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from ..pipes.textcat import exclusive_label
from .accuracy_report import tag_gold_tokens
from .gold_checks import check_cats_gold, check_cats_labels
from .reports import gold_docs, machine_info, markdown_table, write_json


def _percent(numerator: int, denominator: int) -> float:
    return round(100 * numerator / denominator, 2) if denominator else 0.0


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def textcat_scores(
    references: Sequence[Doc],
    predictions: Sequence[Doc],
    n_errors: int = 25,
    error_width: int = 300,
    source: str = "the gold documents",
) -> Dict:
    """accuracy, macro_f1, n_docs, labels, per_label {label: precision, recall, f1, support},
    confusion_matrix [gold row][predicted column] over `labels`, and errors: the first
    `n_errors` misclassified docs (index, gold, predicted, their probabilities, text cut to
    `error_width` characters). The references (`source`, in error messages) must have gold
    classes over the pipeline's labels (`gold_checks`)."""
    check_cats_gold(references, source)
    labels: List[str] = []
    for pred in predictions:
        if not pred.cats:
            raise ValueError("the pipeline set no doc.cats on a document")
        labels += [label for label in pred.cats if label not in labels]
    check_cats_labels(references, labels, source)
    outcomes = []
    for index, (ref, pred) in enumerate(zip(references, predictions)):
        gold = exclusive_label(ref.cats)
        if gold is not None:
            outcomes.append((index, gold, max(pred.cats, key=pred.cats.get)))
    pairs = Counter((gold, guess) for _, gold, guess in outcomes)
    gold_counts = Counter(gold for _, gold, _ in outcomes)
    guess_counts = Counter(guess for _, _, guess in outcomes)
    per_label = {}
    for label in labels:
        correct = pairs[label, label]
        per_label[label] = {
            "precision": _percent(correct, guess_counts[label]),
            "recall": _percent(correct, gold_counts[label]),
            "f1": _percent(2 * correct, gold_counts[label] + guess_counts[label]),
            "support": gold_counts[label],
        }
    errors = []
    for index, gold, guess in outcomes:
        if gold != guess and len(errors) < n_errors:
            cats = predictions[index].cats
            errors.append(
                {
                    "doc": index,
                    "gold": gold,
                    "predicted": guess,
                    "predicted_probability": round(cats[guess], 4),
                    "gold_probability": round(cats.get(gold, 0.0), 4),
                    "text": _shorten(references[index].text, error_width),
                }
            )
    return {
        "accuracy": _percent(sum(gold == guess for _, gold, guess in outcomes), len(outcomes)),
        "macro_f1": round(sum(row["f1"] for row in per_label.values()) / len(labels), 2) if labels else 0.0,
        "n_docs": len(outcomes),
        "labels": labels,
        "per_label": per_label,
        "confusion_matrix": [[pairs[gold, guess] for guess in labels] for gold in labels],
        "errors": errors,
    }


def textcat_report(nlp: Language, splits: Dict[str, Path], corpus: str, model: str, n_errors: int = 25) -> Dict:
    """Score every split; keys like `sst2.test.accuracy` and `sst2.test.macro_f1`."""
    report: Dict = {"model": model, "corpus": corpus, "tokenization": "gold", "scores": {}, "splits": {}}
    for split, path in tqdm(splits.items(), desc="evaluating splits", unit="split"):
        references = gold_docs(nlp, path, ("doc.cats",))
        check_cats_gold(references, str(path))  # before predicting
        result = textcat_scores(references, tag_gold_tokens(nlp, references), n_errors, source=str(path))
        report["splits"][split] = result
        report["scores"][f"{corpus}.{split}.accuracy"] = result["accuracy"]
        report["scores"][f"{corpus}.{split}.macro_f1"] = result["macro_f1"]
    report["machine"] = machine_info()
    return report


def textcat_markdown(report: Dict) -> str:
    lines = [
        f"# Text classification: {report['model']} on {report['corpus']} (gold tokenization)",
        "",
        "Accuracy and F1 in percent; macro F1 is the unweighted mean of the per-label F1.",
        "",
    ]
    rows = [[split, r["n_docs"], r["accuracy"], r["macro_f1"]] for split, r in report["splits"].items()]
    lines += [markdown_table(["split", "docs", "accuracy", "macro F1"], rows), ""]
    for split, result in report["splits"].items():
        labels = result["labels"]
        per_label = [
            [label] + [result["per_label"][label][key] for key in ("precision", "recall", "f1", "support")]
            for label in labels
        ]
        confusion = [[gold, *row] for gold, row in zip(labels, result["confusion_matrix"])]
        lines += [
            f"## {split}",
            "",
            markdown_table(["label", "precision", "recall", "F1", "support"], per_label),
            "",
            "Confusion matrix (rows gold, columns predicted):",
            "",
            markdown_table(["gold \\ predicted", *labels], confusion),
            "",
            f"First {len(result['errors'])} errors (corpus order):",
            "",
        ]
        lines += [
            f"- doc {e['doc']}: gold {e['gold']} (p={e['gold_probability']}), predicted {e['predicted']} "
            f"(p={e['predicted_probability']}): {e['text']}"
            for e in result["errors"]
        ]
        lines.append("")
    return "\n".join(lines)


def write_textcat_report(report: Dict, output_dir: Path, name: str = "textcat") -> None:
    write_json(report, output_dir / f"{name}.json")
    (output_dir / f"{name}.md").write_text(textcat_markdown(report), encoding="utf-8")
