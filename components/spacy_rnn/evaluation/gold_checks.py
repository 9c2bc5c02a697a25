"""What gold documents must hold before an evaluator scores them: one check per annotation kind,
shared by every evaluator (evaluate-tagger, evaluate-ner, evaluate-textcat, calibration-report,
and the lab's vectors-curve). A score of annotation the gold lacks, or of labels the model cannot predict, is
a number that looks like a result; these checks raise a ValueError naming the file (`source`)
and what to do instead.

Tags (UPOS `token.pos_`, XPOS `token.tag_`): a measure is scored only when at least one gold
token has it (tokens without a gold value are not counted) and the pipeline predicted it on at
least one token; the others are left out with the reason, and a split with none is an error.

Entities: every non-empty gold document must carry entity annotation
(`doc.has_annotation("ENT_IOB")`): a document whose `doc.ents` were never set is not a
document without entities, and its predictions would all count as spurious. A document
annotated as having no entity (every token O) is gold. A split whose documents are all
annotated as having no entity is refused too (recall and F1 are undefined). Gold entity types
the pipeline cannot predict (its components' labels, after the evaluation's label map) are
refused: seqeval would score them as misses (recall 0), which is a legitimate number only when
asked for (evaluate-ner --allow-unknown-labels, which records them in the report).

Document classes (`doc.cats`): at least one document must have a gold class (a label at 1.0),
and the gold label set (every label in the gold `doc.cats`) must be the pipeline's: SST-5 gold
for a binary model, or binary gold for a 3-class one, is another task.
"""
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.language import Language
from spacy.tokens import Doc

# measure -> (the token attribute has_annotation checks, its name in messages)
TAG_ANNOTATIONS = {"upos": ("POS", "UPOS (token.pos_)"), "xpos": ("TAG", "XPOS (token.tag_)")}


def _annotated(docs: Iterable[Doc], attr: str) -> bool:
    return any(doc.has_annotation(attr) for doc in docs)


def tag_measures(
    references: Sequence[Doc], source: str, measures: Sequence[str] = tuple(TAG_ANNOTATIONS)
) -> Tuple[List[str], Dict[str, str]]:
    """The measures (keys of TAG_ANNOTATIONS) some gold token has, and {measure: why it is not
    scored} for the others; a ValueError when the gold has none of them."""
    present = [m for m in measures if _annotated(references, TAG_ANNOTATIONS[m][0])]
    if not present:
        names = " and no ".join(TAG_ANNOTATIONS[m][1] for m in measures)
        raise ValueError(
            f"{source}: no {names} annotation on any token: nothing to score; "
            f"evaluate on a tagged corpus (e.g. one written by convert-conllu)"
        )
    return present, {m: f"the gold has no {TAG_ANNOTATIONS[m][1]} annotation" for m in measures if m not in present}


def predicted_tag_measures(
    predictions: Sequence[Doc], source: str, measures: Sequence[str]
) -> Tuple[List[str], Dict[str, str]]:
    """Of `measures`, those the pipeline predicted on some token, and {measure: why not} for the
    others (their accuracy would be 0 whatever the gold); a ValueError when it predicted none."""
    present = [m for m in measures if _annotated(predictions, TAG_ANNOTATIONS[m][0])]
    if not present:
        names = " or ".join(TAG_ANNOTATIONS[m][1] for m in measures)
        raise ValueError(f"{source}: the pipeline predicted no {names} on any token: nothing to score")
    return present, {m: f"the pipeline predicts no {TAG_ANNOTATIONS[m][1]}" for m in measures if m not in present}


def check_entity_gold(references: Sequence[Doc], source: str) -> None:
    """A ValueError unless every non-empty document has entity annotation and some has an entity."""
    documents = [index for index, doc in enumerate(references) if len(doc)]
    missing = [index for index in documents if not references[index].has_annotation("ENT_IOB")]
    hint = "convert the corpus with entities (e.g. convert-conll2003, convert-columns, convert-jsonl --task ner)"
    if missing and len(missing) == len(documents):
        raise ValueError(f"{source}: no entity annotation (doc.ents was never set on its documents): nothing to score; {hint}")
    if missing:
        raise ValueError(
            f"{source}: {len(missing)} of {len(documents)} documents have no entity annotation (doc.ents never set; "
            f"first: document {missing[0]}), and their predictions would all count as spurious; annotate them "
            f"(doc.set_ents(ents, default='outside') marks a document without entities) or leave them out"
        )
    if not any(doc.ents for doc in references):
        raise ValueError(
            f"{source}: every document is annotated as having no entity: recall and F1 are undefined; "
            f"evaluate on a corpus with gold entities"
        )


def pipeline_entity_labels(nlp: Language) -> Optional[Set[str]]:
    """The entity types the components setting doc.ents predict (their `labels`); None when
    one of them does not say (e.g. a function component)."""
    labels: Set[str] = set()
    for name in nlp.pipe_names:
        if "doc.ents" in nlp.get_pipe_meta(name).assigns:
            component_labels = getattr(nlp.get_pipe(name), "labels", None)
            if not isinstance(component_labels, (tuple, list)):
                return None
            labels.update(component_labels)
    return labels


def unknown_entity_labels(
    references: Sequence[Doc], nlp: Language, label_map: Optional[Dict[str, str]] = None
) -> Tuple[List[str], Optional[List[str]]]:
    """(the gold entity types the pipeline cannot predict, sorted; the types it predicts after
    `label_map`, sorted). Both are empty / None when the pipeline's labels are unknown."""
    labels = pipeline_entity_labels(nlp)
    if labels is None:
        return [], None
    label_map = label_map or {}
    predictable = {label_map.get(label, label) for label in labels} - {""}
    gold = {ent.label_ for doc in references for ent in doc.ents}
    return sorted(gold - predictable), sorted(predictable)


def check_entity_labels(
    references: Sequence[Doc],
    nlp: Language,
    source: str,
    label_map: Optional[Dict[str, str]] = None,
    hint: str = "evaluate a pipeline trained on these types",
) -> None:
    """A ValueError when the gold has entity types the pipeline cannot predict."""
    unknown, predictable = unknown_entity_labels(references, nlp, label_map)
    if unknown:
        after = " (after the label map)" if label_map else ""
        raise ValueError(
            f"{source}: the gold entity types {unknown} are not among those the pipeline predicts{after} "
            f"{predictable}: they could only count as misses; {hint}"
        )


def check_cats_gold(references: Sequence[Doc], source: str) -> None:
    """A ValueError unless some document has a gold class (a label at 1.0 in doc.cats)."""
    from ..pipes.textcat import exclusive_label

    if not any(doc.cats for doc in references):
        raise ValueError(
            f"{source}: no document has doc.cats: no gold class to score; evaluate on a classification "
            f"corpus (e.g. one written by convert-jsonl --task textcat or convert-sst2)"
        )
    if all(exclusive_label(doc.cats) is None for doc in references):
        raise ValueError(f"{source}: no document has a gold class (a label at 1.0 in doc.cats): nothing to score")


def check_cats_labels(references: Sequence[Doc], model_labels: Iterable[str], source: str) -> None:
    """A ValueError, naming both sets, when the gold labels (every label of the gold doc.cats)
    are not the pipeline's."""
    gold = sorted({label for doc in references for label in doc.cats})
    model = sorted(set(model_labels))
    if gold != model:
        raise ValueError(
            f"{source}: the gold labels {gold} are not the pipeline's labels {model}: the gold file is for "
            f"another task (e.g. SST-5 gold for a binary SST model); evaluate a pipeline trained on these labels"
        )
