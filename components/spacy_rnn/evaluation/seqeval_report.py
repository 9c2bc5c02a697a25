"""Entity-level scores of any pipeline that sets `doc.ents`, computed by seqeval on gold tokens.

The pipeline reads Docs built from the gold words (so tokens align one to one), whole documents
as stored in the DocBin. Gold and predicted `doc.ents` become IOB2 tag sequences, one sequence
per document rather than per gold sentence: a predicted entity that crosses a gold sentence
boundary stays one (wrong) entity instead of being cut into pieces; gold entities never cross
sentences, so for them this is the same as CoNLL's per-sentence evaluation.

Predicted labels can be renamed with `label_map` (e.g. en_core_web_sm's PERSON -> PER,
GPE -> LOC, NORP -> MISC); a label mapped to "" is dropped (e.g. DATE, CARDINAL, which have no
CoNLL-2003 counterpart). Unmapped labels are kept as they are and count as false positives.

The gold must carry entity annotation on every document (`gold_checks.check_entity_gold`), and
gold types the pipeline cannot predict (its labels after `label_map`) are refused unless
`allow_unknown_labels`: then seqeval scores them as misses (recall 0), and the report lists
them per split (`unknown_gold_labels`) and says so in the markdown.

seqeval scores every split twice: its default mode (compatible with conlleval.pl) and
`mode="strict", scheme=IOB2` (without `scheme`, strict silently falls back to the default:
seqeval issue #57). Tags derived from non-overlapping spans are always valid IOB2 (each entity
is B-X followed by I-X), on which both modes find the same entities: their scores are
identical. Both are reported because they differ on invalid sequences, e.g. a tagger's raw
["I-PER", "I-PER"] is one PER entity by default and none in strict mode (`seqeval_scores`).

Error analysis, per document, on exact token spans. A gold entity is `correct` (a prediction
with the same span and label), `wrong_type` (same span, other label: counted in `confusions`
as gold -> predicted), `boundary` (no prediction with its span, but one overlapping it) or
`missed` (no overlapping prediction). A predicted entity is `correct`, `wrong_type`,
`boundary` (overlaps a gold entity without matching any gold span) or `spurious` (overlaps
none). The error sample lists every non-correct gold entity, with the predictions overlapping
it, and every spurious prediction, in corpus order (document, then token offset).
"""
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from .accuracy_report import tag_gold_tokens
from .gold_checks import check_entity_gold, check_entity_labels, unknown_entity_labels
from .reports import gold_docs, machine_info, markdown_table, write_json

Entity = Tuple[int, int, str]  # token start, token end (exclusive), label
MODES = ("default", "strict")
AVERAGES = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted"}
GOLD_OUTCOMES = ("correct", "wrong_type", "boundary", "missed")
PREDICTED_OUTCOMES = ("correct", "wrong_type", "boundary", "spurious")


def doc_entities(doc: Doc, label_map: Optional[Dict[str, str]] = None) -> List[Entity]:
    """`doc.ents` as (start, end, label), labels renamed by `label_map`; labels mapped to "" are dropped."""
    label_map = label_map or {}
    entities = [(ent.start, ent.end, label_map.get(ent.label_, ent.label_)) for ent in doc.ents]
    return [entity for entity in entities if entity[2]]


def iob2_tags(n_tokens: int, entities: Sequence[Entity]) -> List[str]:
    """IOB2 tags of non-overlapping entities over `n_tokens` tokens."""
    tags = ["O"] * n_tokens
    for start, end, label in entities:
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return tags


def seqeval_scores(y_true: List[List[str]], y_pred: List[List[str]]) -> Dict[str, Dict]:
    """{mode: {per_type: {label: scores}, micro, macro, weighted}} for both MODES; scores are
    precision, recall, f1 (%) and support (gold entities). Undefined ratios count as 0."""
    results: Dict[str, Dict] = {}
    for mode in MODES:
        strict = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
        table = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **strict)
        scores = {
            name: {
                "precision": round(100 * float(row["precision"]), 2),
                "recall": round(100 * float(row["recall"]), 2),
                "f1": round(100 * float(row["f1-score"]), 2),
                "support": int(row["support"]),
            }
            for name, row in table.items()
        }
        results[mode] = {"per_type": {k: v for k, v in scores.items() if k not in AVERAGES}}
        results[mode].update({short: scores[name] for name, short in AVERAGES.items()})
    return results


def _overlaps(entity: Entity, others: Sequence[Entity]) -> List[Entity]:
    return [other for other in others if other[0] < entity[1] and entity[0] < other[1]]


def _outcome(entity: Entity, others: Sequence[Entity], no_overlap: str) -> str:
    """How `entity` fares against the other side's entities (see the module docstring)."""
    label = {(start, end): label for start, end, label in others}.get(entity[:2])
    if label is not None:
        return "correct" if label == entity[2] else "wrong_type"
    return "boundary" if _overlaps(entity, others) else no_overlap


def _entity_dict(doc: Doc, entity: Entity) -> Dict:
    start, end, label = entity
    return {"text": doc[start:end].text, "label": label, "start": start, "end": end}


def _in_context(doc: Doc, entity: Entity, note: str, width: int) -> str:
    """`... left [span]{note} right ...` with up to `width` tokens either side."""
    start, end = entity[:2]
    left, right = max(0, start - width), min(len(doc), end + width)
    parts = ["..."] if left else []
    parts += [token.text for token in doc[left:start]] + [f"[{doc[start:end].text}]{{{note}}}"]
    parts += [token.text for token in doc[end:right]] + (["..."] if right < len(doc) else [])
    return " ".join(parts)


def _error(index: int, doc: Doc, kind: str, gold: Optional[Entity], predicted: List[Entity], width: int) -> Dict:
    """One error, marked on the gold span (on the predicted one when spurious)."""
    marked = gold or predicted[0]
    guesses = [p[2] if p[:2] == marked[:2] else f'{p[2]} "{doc[p[0]:p[1]].text}"' for p in predicted]
    note = f"gold {gold[2] if gold else 'none'}, pred {', '.join(guesses) or 'none'}"
    return {
        "doc": index,
        "kind": kind,
        "gold": _entity_dict(doc, gold) if gold else None,
        "predicted": [_entity_dict(doc, p) for p in predicted],
        "context": _in_context(doc, marked, note, width),
    }


def entity_errors(
    references: Sequence[Doc],
    gold: Sequence[List[Entity]],
    predicted: Sequence[List[Entity]],
    n_errors: int = 25,
    width: int = 8,
) -> Dict:
    """gold_outcomes {label: {GOLD_OUTCOMES: n}}, predicted_outcomes {label: {PREDICTED_OUTCOMES: n}},
    confusions [[gold, predicted, n]] (same span, other label) and the first `n_errors` errors
    {doc, kind, gold, predicted, context}; `width` tokens of context either side."""
    gold_outcomes: Dict[str, Counter] = defaultdict(Counter)
    predicted_outcomes: Dict[str, Counter] = defaultdict(Counter)
    confusions: Counter = Counter()
    errors: List[Dict] = []
    for index, (doc, gold_ents, pred_ents) in enumerate(zip(references, gold, predicted)):
        doc_errors: List[Tuple[Entity, str, Optional[Entity], List[Entity]]] = []
        for entity in gold_ents:
            kind = _outcome(entity, pred_ents, "missed")
            gold_outcomes[entity[2]][kind] += 1
            overlapping = _overlaps(entity, pred_ents)
            if kind == "wrong_type":
                confusions[(entity[2], overlapping[0][2])] += 1
            if kind != "correct":
                doc_errors.append((entity, kind, entity, overlapping))
        for entity in pred_ents:
            kind = _outcome(entity, gold_ents, "spurious")
            predicted_outcomes[entity[2]][kind] += 1
            if kind == "spurious":
                doc_errors.append((entity, kind, None, [entity]))
        if len(errors) < n_errors:
            doc_errors.sort(key=lambda error: error[0])
            errors += [_error(index, doc, kind, g, p, width) for _, kind, g, p in doc_errors]
    return {
        "gold_outcomes": {label: {k: c[k] for k in GOLD_OUTCOMES} for label, c in sorted(gold_outcomes.items())},
        "predicted_outcomes": {
            label: {k: c[k] for k in PREDICTED_OUTCOMES} for label, c in sorted(predicted_outcomes.items())
        },
        "confusions": [[g, p, n] for (g, p), n in confusions.most_common()],
        "errors": errors[:n_errors],
    }


def ner_scores(
    references: Sequence[Doc],
    predictions: Sequence[Doc],
    label_map: Optional[Dict[str, str]] = None,
    n_errors: int = 25,
    source: str = "the gold documents",
) -> Dict:
    """n_docs, n_tokens, n_gold_entities, n_predicted_entities, seqeval (`seqeval_scores`) and the
    error analysis (`entity_errors`) of predictions aligned one to one with the references
    (`source`, named if they lack entity annotation: `gold_checks.check_entity_gold`)."""
    check_entity_gold(references, source)
    gold = [doc_entities(ref) for ref in references]
    guess = [doc_entities(pred, label_map) for pred in predictions]
    y_true = [iob2_tags(len(ref), ents) for ref, ents in zip(references, gold)]
    y_pred = [iob2_tags(len(pred), ents) for pred, ents in zip(predictions, guess)]
    return {
        "n_docs": len(references),
        "n_tokens": sum(len(ref) for ref in references),
        "n_gold_entities": sum(len(ents) for ents in gold),
        "n_predicted_entities": sum(len(ents) for ents in guess),
        "seqeval": seqeval_scores(y_true, y_pred),
        **entity_errors(references, gold, guess, n_errors),
    }


def ner_report(
    nlp: Language,
    splits: Dict[str, Path],
    corpus: str,
    model: str,
    label_map: Optional[Dict[str, str]] = None,
    n_errors: int = 25,
    allow_unknown_labels: bool = False,
) -> Dict:
    """Evaluate every split; micro-averaged keys like `conll2003.test.f1` (default mode),
    `conll2003.test.f1_strict`, plus precision, recall and f1_macro in both modes. Gold types the
    pipeline cannot predict are an error unless `allow_unknown_labels` (module docstring)."""
    report: Dict = {
        "model": model,
        "corpus": corpus,
        "tokenization": "gold",
        "label_map": label_map or {},
        "scores": {},
        "splits": {},
    }
    for split, path in tqdm(splits.items(), desc="evaluating splits", unit="split"):
        references = gold_docs(nlp, path, ("doc.ents",))
        check_entity_gold(references, str(path))
        if not allow_unknown_labels:
            hint = "map the pipeline's types onto them (--label-map), or score them as misses (--allow-unknown-labels)"
            check_entity_labels(references, nlp, str(path), label_map, hint)
        result = ner_scores(references, tag_gold_tokens(nlp, references), label_map, n_errors, str(path))
        unknown = unknown_entity_labels(references, nlp, label_map)[0]
        if unknown:  # only with allow_unknown_labels
            result["unknown_gold_labels"] = unknown
        report["splits"][split] = result
        for mode in MODES:
            suffix = "" if mode == "default" else "_strict"
            scores = result["seqeval"][mode]
            for metric in ("precision", "recall", "f1"):
                report["scores"][f"{corpus}.{split}.{metric}{suffix}"] = scores["micro"][metric]
            report["scores"][f"{corpus}.{split}.f1_macro{suffix}"] = scores["macro"]["f1"]
    report["machine"] = machine_info()
    return report


def _outcome_table(outcomes: Dict[str, Dict[str, int]], columns: Sequence[str], side: str) -> str:
    rows: List[List[object]] = [[label] + [counts[k] for k in columns] for label, counts in outcomes.items()]
    rows.append(["**all**"] + [sum(counts[k] for counts in outcomes.values()) for k in columns])
    return markdown_table([f"{side} type"] + [k.replace("_", " ") for k in columns], rows)


def ner_markdown(report: Dict) -> str:
    renamed = ", ".join(f"{k} → {v or '(dropped)'}" for k, v in report["label_map"].items()) or "none"
    lines = [
        f"# Entity scores (seqeval): {report['model']} on {report['corpus']} (gold tokenization)",
        "",
        "Each gold document is processed whole; gold and predicted entities are compared as IOB2",
        "sequences, one per document. default: seqeval's conlleval-compatible mode; strict:",
        '`mode="strict", scheme=IOB2` (identical on tags derived from spans). Precision, recall and',
        f"F1 in %. Predicted labels renamed: {renamed}.",
        "",
    ]
    summary = []
    for split, result in report["splits"].items():
        for mode in MODES:
            micro, macro = result["seqeval"][mode]["micro"], result["seqeval"][mode]["macro"]
            summary.append([
                split, mode, result["n_docs"], result["n_gold_entities"], result["n_predicted_entities"],
                micro["precision"], micro["recall"], micro["f1"], macro["f1"],
            ])
    header = ["split", "mode", "docs", "gold ents", "predicted ents", "P", "R", "F1", "macro F1"]
    lines += [markdown_table(header, summary), ""]
    unknown = [
        f"{split}: {', '.join(result['unknown_gold_labels'])}"
        for split, result in report["splits"].items() if result.get("unknown_gold_labels")
    ]
    if unknown:
        lines += [
            "Gold types the pipeline cannot predict: " + "; ".join(unknown) + ". They are scored as misses "
            "(recall 0), which lowers the micro and macro averages.",
            "",
        ]
    for split, result in report["splits"].items():
        for mode in MODES:
            scores = result["seqeval"][mode]
            rows: List[List[object]] = [
                [name, s["precision"], s["recall"], s["f1"], s["support"]] for name, s in scores["per_type"].items()
            ]
            rows += [[f"*{avg} avg*"] + [scores[avg][k] for k in ("precision", "recall", "f1", "support")]
                     for avg in AVERAGES.values()]
            lines += [f"## {split}, {mode} mode", "", markdown_table(["type", "P", "R", "F1", "support"], rows), ""]
        lines += [
            f"## {split}: error analysis",
            "",
            _outcome_table(result["gold_outcomes"], GOLD_OUTCOMES, "gold"),
            "",
            _outcome_table(result["predicted_outcomes"], PREDICTED_OUTCOMES, "predicted"),
            "",
            "Type confusions, same span (gold → predicted: count): "
            + (", ".join(f"{g} → {p}: {n}" for g, p, n in result["confusions"]) or "none"),
            "",
            f"First {len(result['errors'])} errors (corpus order):",
            "",
        ]
        lines += [f"- doc {e['doc']}, {e['kind'].replace('_', ' ')}: `{e['context']}`" for e in result["errors"]]
        lines.append("")
    return "\n".join(lines)


def write_ner_report(report: Dict, output_dir: Path, name: str = "seqeval") -> None:
    write_json(report, output_dir / f"{name}.json")
    (output_dir / f"{name}.md").write_text(ner_markdown(report), encoding="utf-8")
