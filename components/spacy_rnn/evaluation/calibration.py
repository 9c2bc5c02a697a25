"""Calibration of confidences: does a prediction made with confidence p turn out correct a
fraction p of the time, and what does a user get by keeping only predictions above a threshold?

The predictions are (confidence, correct) pairs. For entities (`ent._.confidence`, the span's
probability under the CRF) a predicted entity is correct iff a gold entity has the same start,
end and label; the gold entities are counted too, for the recall of a filter. For tags
(`token._.pos_confidence` / `token._.tag_confidence`, the chosen label's softmax probability)
each token with a gold value is one prediction, correct iff its UPOS (`pos_`) / XPOS (`tag_`)
equals the gold one. For document classes (`doc.cats`, exclusive) each document with a gold
class is one prediction, its confidence the highest class probability, correct iff that class is
the gold one. Predictions without a confidence (e.g. entities preset before the
recognizer) are left out.

Reliability: confidences in `n_bins` equal-width bins over [0, 1] (bin i holds
i/n <= p < (i+1)/n, the last one also p = 1), each with its count, mean confidence and accuracy.
Expected calibration error: sum over bins of count / n * |accuracy - mean confidence|.
Thresholds: a filter keeps the predictions with confidence >= t; the fraction kept, the
precision of those kept and (entities) their recall, correct kept / gold entities.

The pipeline reads Docs built from the gold words (`tag_gold_tokens`), whole documents as
stored in the DocBin. Fractions are in [0, 1]; a ratio over nothing is None.

The gold is checked as the evaluators check it (`gold_checks`): entity annotation on every
document and no gold entity type the pipeline cannot predict; for tags, a measure the gold
lacks (or the pipeline does not predict) is left out and listed with the reason (`not_scored`).
"""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from ..extras import pyplot, require
from .accuracy_report import tag_gold_tokens
from .gold_checks import check_cats_gold, check_entity_gold, check_entity_labels, predicted_tag_measures, tag_measures
from .reports import gold_docs, machine_info, markdown_table, write_json
from .seqeval_report import doc_entities

N_BINS = 10
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
HEADLINE_THRESHOLD = 0.9  # the filter the markdown summary and sentences describe
ASSIGNS = {"ner": ("doc.ents",), "tagger": ("token.pos", "token.tag"), "textcat": ("doc.cats",)}  # what the task's pipeline must set
TAG_MEASURES = {"upos": ("pos_", "pos_confidence"), "xpos": ("tag_", "tag_confidence")}  # token attribute, extension
TASKS = tuple(ASSIGNS)
DEFINITIONS = {
    "ner": "Confidence: `ent._.confidence`, the entity's probability under the CRF. A predicted entity is"
    " correct when a gold entity has the same span and label; recall counts every gold entity.",
    "tagger": "Confidence: `token._.pos_confidence` / `tag_confidence`, the softmax probability of the"
    " chosen label. A token's tag is correct when it is the gold UPOS / XPOS.",
    "textcat": "Confidence: the highest probability in `doc.cats`, that of the chosen class. A document's"
    " class is correct when it is the gold one.",
}
CONFIDENCES = {"ner": "ent._.confidence", "tagger": "token._.pos_confidence / tag_confidence", "textcat": "doc.cats"}
WHAT = {"ner": "entity", "tagger": "tag", "textcat": "class"}

Pairs = Tuple[List[float], List[bool]]  # confidences, and whether each prediction is correct


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return round(numerator / denominator, 6) if denominator else None


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS) -> List[Dict]:
    """`n_bins` equal-width bins over [0, 1]: lower, upper, count, confidence (mean) and accuracy
    of the predictions whose confidence falls in them (None for an empty bin)."""
    members: List[List[Tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for confidence, is_correct in zip(confidences, correct):
        members[min(max(int(confidence * n_bins), 0), n_bins - 1)].append((confidence, is_correct))
    return [
        {
            "lower": round(i / n_bins, 6),
            "upper": round((i + 1) / n_bins, 6),
            "count": len(pairs),
            "confidence": _ratio(sum(p for p, _ in pairs), len(pairs)),
            "accuracy": _ratio(sum(c for _, c in pairs), len(pairs)),
        }
        for i, pairs in enumerate(members)
    ]


def expected_calibration_error(bins: Sequence[Dict]) -> float:
    """Sum over the non-empty bins of count / n * |accuracy - confidence|."""
    n = sum(b["count"] for b in bins)
    gaps = sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"])
    return round(gaps / n, 6) if n else 0.0


def threshold_table(
    confidences: Sequence[float],
    correct: Sequence[bool],
    thresholds: Sequence[float] = THRESHOLDS,
    n_gold: Optional[int] = None,
) -> List[Dict]:
    """Per threshold t, the predictions with confidence >= t: threshold, kept (count),
    kept_fraction (of all predictions), precision and, given the number of gold items n_gold,
    recall (correct kept / n_gold)."""
    rows = []
    for threshold in thresholds:
        kept = [c for p, c in zip(confidences, correct) if p >= threshold]
        row = {
            "threshold": threshold,
            "kept": len(kept),
            "kept_fraction": _ratio(len(kept), len(confidences)),
            "precision": _ratio(sum(kept), len(kept)),
        }
        if n_gold is not None:
            row["recall"] = _ratio(sum(kept), n_gold)
        rows.append(row)
    return rows


def calibration(
    confidences: Sequence[float],
    correct: Sequence[bool],
    n_gold: Optional[int] = None,
    n_bins: int = N_BINS,
    thresholds: Sequence[float] = THRESHOLDS,
) -> Dict:
    """n (predictions), accuracy, mean_confidence, ece, bins (`reliability_bins`) and thresholds
    (`threshold_table`); with n_gold (entities), n_gold and recall (correct / n_gold) too."""
    bins = reliability_bins(confidences, correct, n_bins)
    result = {
        "n": len(confidences),
        "accuracy": _ratio(sum(correct), len(correct)),
        "mean_confidence": _ratio(sum(confidences), len(confidences)),
        "ece": expected_calibration_error(bins),
    }
    if n_gold is not None:
        result.update(n_gold=n_gold, recall=_ratio(sum(correct), n_gold))
    return {**result, "bins": bins, "thresholds": threshold_table(confidences, correct, thresholds, n_gold)}


def entity_pairs(references: Sequence[Doc], predictions: Sequence[Doc]) -> Tuple[Pairs, int]:
    """(confidences, correct) of the predicted entities that have a confidence, and the number
    of gold entities; a prediction is correct iff a gold entity has its start, end and label."""
    confidences: List[float] = []
    correct: List[bool] = []
    n_gold = 0
    for ref, pred in zip(references, predictions):
        gold = set(doc_entities(ref))
        n_gold += len(gold)
        for ent in pred.ents:
            confidence = getattr(ent._, "confidence", None)  # unregistered without our recognizer
            if confidence is not None:
                confidences.append(confidence)
                correct.append((ent.start, ent.end, ent.label_) in gold)
    return (confidences, correct), n_gold


def token_pairs(references: Sequence[Doc], predictions: Sequence[Doc], attr: str, extension: str) -> Pairs:
    """(confidences, correct) of the tokens with a gold `attr` (e.g. "pos_") whose prediction has
    a confidence `token._.<extension>`; correct iff the predicted `attr` equals the gold one."""
    confidences: List[float] = []
    correct: List[bool] = []
    for ref, pred in zip(references, predictions):
        for gold_token, pred_token in zip(ref, pred):
            confidence = getattr(pred_token._, extension, None)
            if getattr(gold_token, attr) and confidence is not None:
                confidences.append(confidence)
                correct.append(getattr(pred_token, attr) == getattr(gold_token, attr))
    return confidences, correct


def class_pairs(references: Sequence[Doc], predictions: Sequence[Doc]) -> Pairs:
    """(confidences, correct) of the documents with a gold class: the highest `doc.cats` value,
    correct iff its class is the gold one."""
    from ..pipes.textcat import exclusive_label  # evaluation imports no component at start-up

    confidences: List[float] = []
    correct: List[bool] = []
    for ref, pred in zip(references, predictions):
        gold = exclusive_label(ref.cats)
        if gold is not None and pred.cats:
            chosen = max(pred.cats, key=pred.cats.get)
            confidences.append(pred.cats[chosen])
            correct.append(chosen == gold)
    return confidences, correct


def split_calibration(nlp: Language, task: str, path: Path) -> Tuple[Dict[str, Dict], Dict[str, str]]:
    """({measure: `calibration`}, {measure: why it is not calibrated}) of a pipeline on one gold
    DocBin: "entities" for task "ner", "upos" and "xpos" for "tagger", "classes" for "textcat" (a measure the gold lacks,
    or the pipeline does not predict, is left out)."""
    references = gold_docs(nlp, path, ASSIGNS[task])
    not_scored: Dict[str, str] = {}
    if task == "ner":
        check_entity_gold(references, str(path))
        check_entity_labels(references, nlp, str(path), hint="calibrate a pipeline trained on these types")
    elif task == "textcat":
        check_cats_gold(references, str(path))
    else:
        measures, not_scored = tag_measures(references, str(path))
    predictions = tag_gold_tokens(nlp, references)
    if task == "ner":
        (confidences, correct), n_gold = entity_pairs(references, predictions)
        results = {"entities": calibration(confidences, correct, n_gold)} if confidences else {}
    elif task == "textcat":
        confidences, correct = class_pairs(references, predictions)
        results = {"classes": calibration(confidences, correct)} if confidences else {}
    else:
        measures, unpredicted = predicted_tag_measures(predictions, str(path), measures)
        not_scored.update(unpredicted)
        results = {}
        for measure in measures:
            attr, extension = TAG_MEASURES[measure]
            confidences, correct = token_pairs(references, predictions, attr, extension)
            if confidences:
                results[measure] = calibration(confidences, correct)
    if not results:
        raise ValueError(
            f"{path}: no prediction with both a gold value and a confidence (does the pipeline set "
            f"{CONFIDENCES[task]}?)"
        )
    return results, not_scored


def pipeline_temperatures(nlp: Language, task: str) -> Dict[str, Dict[str, float]]:
    """{component: {setting: T}}: the temperature settings (`spacy_rnn.pipes.temperature`) of
    the components that set the task's predictions."""
    return {
        name: {setting: pipe.cfg[setting] for setting in pipe.TEMPERATURES.values()}
        for name, pipe in nlp.components
        if hasattr(pipe, "TEMPERATURES") and set(ASSIGNS[task]) & set(nlp.get_pipe_meta(name).assigns)
    }


def temperatures_text(temperatures: Dict[str, Dict[str, float]]) -> str:
    """The report's temperatures in words, e.g. "ner temperature = 1.43"."""
    settings = [f"{name} {setting} = {value:g}" for name, values in temperatures.items() for setting, value in values.items()]
    return ", ".join(settings) or "none (no component with temperature settings)"


def calibration_report(nlp: Language, task: str, splits: Dict[str, Path], model: str) -> Dict:
    """Calibration of every split: {task, model, temperatures (`pipeline_temperatures`),
    tokenization, n_bins, thresholds, splits {name: {path, measures {measure: calibration},
    not_scored {measure: why}}}, machine}."""
    if task not in ASSIGNS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    report: Dict = {
        "task": task,
        "model": model,
        "temperatures": pipeline_temperatures(nlp, task),
        "tokenization": "gold",
        "n_bins": N_BINS,
        "thresholds": list(THRESHOLDS),
        "splits": {},
    }
    for split, path in tqdm(splits.items(), desc="calibrating splits", unit="split"):
        measures, not_scored = split_calibration(nlp, task, path)
        report["splits"][split] = {"path": str(path), "measures": measures, "not_scored": not_scored}
    report["machine"] = machine_info()
    return report


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _row_at(result: Dict, threshold: float) -> Dict:
    (row,) = [row for row in result["thresholds"] if row["threshold"] == threshold]
    return row


def _threshold_sentence(measure: str, result: Dict, threshold: float) -> str:
    """What a user filtering `measure` at `threshold` gets, in words."""
    row = _row_at(result, threshold)
    unit = measure if measure in ("entities", "classes") else f"{measure.upper()} tags"
    if not row["kept"]:
        return f"Filtering at {threshold} keeps none of the predicted {unit}."
    sentence = (
        f"Filtering at {threshold} keeps {_percent(row['kept_fraction'])}% of the predicted {unit} "
        f"({row['kept']:,}), {_percent(row['precision'])}% of which are correct"
    )
    if "recall" in row:
        sentence += f", finding {_percent(row['recall'])}% of the {result['n_gold']:,} gold entities"
    return sentence + "."


def calibration_markdown(report: Dict) -> str:
    what = WHAT[report["task"]]
    lines = [
        f"# Calibration of {what} confidences: {report['model']} (gold tokenization)",
        "",
        DEFINITIONS[report["task"]],
        f"ECE: expected calibration error over {report['n_bins']} equal-width bins (0 is perfect),"
        " in points of %. A filter at t keeps the predictions with confidence >= t. Choose a"
        " threshold on the dev split; the test split shows what it gives on unseen text.",
        f"Temperatures: {temperatures_text(report['temperatures'])} (1: the confidences as trained;"
        " `python -m spacy_rnn calibrate` fits them on dev).",
        "",
    ]
    at = HEADLINE_THRESHOLD
    summary = []
    for split, entry in report["splits"].items():
        for measure, result in entry["measures"].items():
            row = _row_at(result, at)
            summary.append([
                split, measure, f"{result['n']:,}", _percent(result["accuracy"]),
                _percent(result["mean_confidence"]), _percent(result["ece"]),
                _percent(row["kept_fraction"]), _percent(row["precision"]),
            ])
    header = [
        "split", "measure", "predictions", "correct %", "mean confidence %", "ECE (points)",
        f"kept at {at} %", f"precision at {at} %",
    ]
    lines += [markdown_table(header, summary), ""]
    skipped = [
        f"- {split} {measure}: not calibrated ({why})"
        for split, entry in report["splits"].items() for measure, why in entry.get("not_scored", {}).items()
    ]
    lines += skipped + ([""] if skipped else [])
    for split, entry in report["splits"].items():
        for measure, result in entry["measures"].items():
            recall = "recall" in result
            rows = [
                [row["threshold"], f"{row['kept']:,}", _percent(row["kept_fraction"]), _percent(row["precision"])]
                + ([_percent(row["recall"])] if recall else [])
                for row in result["thresholds"]
            ]
            bins = [
                [f"{b['lower']:.1f}–{b['upper']:.1f}", f"{b['count']:,}", _percent(b["confidence"]), _percent(b["accuracy"])]
                for b in result["bins"]
            ]
            lines += [
                f"## {split} ({entry['path']}): {measure}",
                "",
                f"{result['n']:,} predictions, ECE {_percent(result['ece'])}. {_threshold_sentence(measure, result, at)}",
                "",
                markdown_table(["threshold", "kept", "kept %", "precision %"] + (["recall %"] if recall else []), rows),
                "",
                markdown_table(["confidence bin", "count", "mean confidence %", "accuracy %"], bins),
                "",
            ]
    return "\n".join(lines)


def plot_reliability(report: Dict, png_path: Path) -> None:
    """Per measure, a reliability diagram (accuracy against mean confidence per bin, one line
    per split, with the diagonal of perfect calibration) above the share of predictions per bin
    (log scale; the splits in the same colours)."""
    plt = pyplot("the reliability diagram")
    ticker = require("matplotlib.ticker", "reports", "the reliability diagram")
    FuncFormatter, LogLocator, NullLocator = ticker.FuncFormatter, ticker.LogLocator, ticker.NullLocator

    measures = list(dict.fromkeys(m for entry in report["splits"].values() for m in entry["measures"]))
    fig, axes = plt.subplots(
        2, len(measures), figsize=(5 * len(measures), 6.5), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1]}
    )
    edges = [i / report["n_bins"] for i in range(report["n_bins"] + 1)]
    for column, measure in enumerate(measures):
        reliability, histogram = axes[0][column], axes[1][column]
        reliability.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
        for split, entry in report["splits"].items():
            if measure not in entry["measures"]:
                continue
            result = entry["measures"][measure]
            filled = [b for b in result["bins"] if b["count"]]
            reliability.plot(
                [b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker="o",
                label=f"{split} (ECE {_percent(result['ece'])})",
            )
            histogram.stairs([b["count"] / result["n"] for b in result["bins"]], edges)
        reliability.set(title=measure, ylabel="accuracy (per confidence bin)", xlim=(0, 1), ylim=(0, 1.03))
        reliability.grid(alpha=0.3)
        reliability.legend(loc="lower right")
        histogram.set(xlabel="confidence", ylabel="predictions (log)", yscale="log")
        histogram.yaxis.set_major_locator(LogLocator(subs=(1.0,), numticks=8))
        histogram.yaxis.set_minor_locator(NullLocator())
        histogram.yaxis.set_major_formatter(FuncFormatter(lambda share, _: f"{100 * share:g}%"))
        histogram.grid(alpha=0.3)
    fig.suptitle(f"Calibration: {report['model']}")
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def write_calibration_report(report: Dict, output_dir: Path) -> List[Path]:
    """<task>_calibration.json, <task>_calibration.md and <task>_reliability.png in output_dir."""
    task = report["task"]
    paths = [output_dir / f"{task}_{name}" for name in ("calibration.json", "calibration.md", "reliability.png")]
    write_json(report, paths[0])
    paths[1].write_text(calibration_markdown(report), encoding="utf-8")
    plot_reliability(report, paths[2])
    return paths
