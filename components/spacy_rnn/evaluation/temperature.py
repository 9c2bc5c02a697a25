"""Temperature scaling fitted on a dev set: for each temperature setting of a torch component
(`spacy_rnn.pipes.temperature`), the T in `BOUNDS` that minimises the mean negative
log-likelihood (NLL) of the dev gold under the confidences the component gives at T.

- Tags (`upos`: `pos_temperature`, `xpos`: `tag_temperature`) and document classes (`cats`:
  `temperature`): the NLL of the gold label under softmax(logits / T), over the tokens (docs)
  with a gold label the component has.
- Entities (`entities`: `temperature`): the binary NLL of "the predicted entity is correct"
  (same start, end and label as a gold entity) under its probability at T, `ent._.confidence`:
  the event the entity calibration measures (`spacy_rnn.evaluation.calibration`); the CRF's
  likelihood of the gold tag sequences, which weighs every token, gave a worse entity
  calibration on held-out halves of CoNLL-2003 dev (experiments/temperature/). Probabilities are
  clipped to [ENTITY_EPSILON, 1 - ENTITY_EPSILON], so that a wrong entity at a probability of 1
  to machine precision weighs as much as one at 1 - 1e-6, not infinitely.

The search is a golden-section search over log T, down to `TOLERANCE`, for a minimum in the
bounds: the softmax NLLs are convex in 1 / T, so unimodal in log T; the entity NLL is assumed to
be (it was on every model measured). T is kept to four significant digits. The predictions themselves (tags, entities, the highest class) do not depend on T.

Docs are built from the gold words (`accuracy_report.tag_gold_tokens`) and run through the
components before the fitted one; the gold is checked as the evaluators check it (`gold_checks`).
A fit reports, on dev, at the component's temperature before and at the fitted one: n (the
predictions), accuracy, mean confidence, ECE (`calibration.calibration`: 10 equal-width bins)
and the NLL.
"""
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from ..pipes.base import IGNORE_INDEX
from ..pipes.ner import TorchEntityRecognizer
from ..pipes.tagger import TorchTagger
from ..pipes.temperature import set_temperatures
from ..pipes.textcat import TorchTextCategorizer, exclusive_label
from .accuracy_report import tag_gold_tokens
from .calibration import calibration
from .gold_checks import check_cats_gold, check_cats_labels, check_entity_gold, check_entity_labels, tag_measures
from .reports import gold_docs, machine_info, markdown_table
from .seqeval_report import doc_entities

BOUNDS = (0.05, 20.0)
TOLERANCE = 1e-4
ENTITY_EPSILON = 1e-6
BATCH_SIZE = 256
TAG_HEADS = {"upos": ("pos", "pos_"), "xpos": ("tag", "tag_")}  # measure: tagger head, gold token attribute
OBJECTIVES = {
    "upos": "NLL of the gold UPOS under softmax(logits / T)",
    "xpos": "NLL of the gold XPOS under softmax(logits / T)",
    "cats": "NLL of the gold class under softmax(logits / T)",
    "entities": "binary NLL of 'the predicted entity is correct' under its CRF probability at T",
}


def fit_temperature(nll: Callable[[float], float], bounds: Tuple[float, float] = BOUNDS) -> float:
    """The T in bounds that minimises nll(T), a function unimodal in log T: golden-section
    search over log T down to TOLERANCE, T rounded to four significant digits."""
    ratio = (math.sqrt(5) - 1) / 2
    low, high = math.log(bounds[0]), math.log(bounds[1])
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    at_left, at_right = nll(math.exp(left)), nll(math.exp(right))
    while high - low > TOLERANCE:
        if at_left <= at_right:
            high, right, at_right = right, left, at_left
            left = high - ratio * (high - low)
            at_left = nll(math.exp(left))
        else:
            low, left, at_left = left, right, at_right
            right = low + ratio * (high - low)
            at_right = nll(math.exp(right))
    return float(f"{math.exp((low + high) / 2):.4g}")


class SoftmaxOutcomes:
    """Predictions from logits FloatTensor[N, C] with their gold label index LongTensor[N]
    (IGNORE_INDEX: a gold label the component does not have, always wrong, left out of the NLL)."""

    def __init__(self, logits: torch.Tensor, targets: torch.Tensor):
        self.logits = logits
        self.targets = targets
        self.correct = (logits.argmax(dim=-1) == targets).tolist()
        self.n_gold = None

    def confidences(self, temperature: float) -> List[float]:
        """The probability of each predicted (highest) label, as the component computes it."""
        return (self.logits / temperature).softmax(dim=-1).max(dim=-1).values.tolist()

    def nll(self, temperature: float) -> float:
        scaled = self.logits.double() / temperature
        return float(F.cross_entropy(scaled, self.targets, ignore_index=IGNORE_INDEX))


class EntityOutcomes:
    """The entities a recognizer predicts on docs (spans per doc, whether each is correct) and
    their probabilities at any temperature from the docs' emission scores."""

    def __init__(
        self,
        pipe: TorchEntityRecognizer,
        docs: List[Doc],
        emissions: List[torch.Tensor],
        spans: List[List[Tuple[int, int, str]]],
        correct: List[bool],
        n_gold: int,
    ):
        self.pipe, self.docs, self.emissions, self.spans = pipe, docs, emissions, spans
        self.correct = correct
        self.n_gold = n_gold

    def confidences(self, temperature: float) -> List[float]:
        probabilities = self.pipe.span_probabilities(self.docs, self.emissions, self.spans, temperature)
        return [p for doc_probabilities in probabilities for p in doc_probabilities]

    def nll(self, temperature: float) -> float:
        p = torch.tensor(self.confidences(temperature), dtype=torch.float64)
        p = p.clamp(ENTITY_EPSILON, 1 - ENTITY_EPSILON)
        correct = torch.tensor(self.correct, dtype=torch.bool)
        return float(-torch.where(correct, p.log(), (1 - p).log()).mean())


Outcomes = Union[SoftmaxOutcomes, EntityOutcomes]  # correct, n_gold, confidences(T), nll(T)


def component_docs(nlp: Language, name: str, references: Sequence[Doc]) -> List[Doc]:
    """Docs of the gold words, run through the components before `name`."""
    before = nlp.pipe_names[: nlp.pipe_names.index(name)]
    with nlp.select_pipes(enable=before):
        return tag_gold_tokens(nlp, references, batch_size=BATCH_SIZE)


def tagger_outcomes(
    pipe: TorchTagger, docs: List[Doc], references: Sequence[Doc], measures: List[str]
) -> Dict[str, SoftmaxOutcomes]:
    """{measure: outcomes} of the tokens with a gold value, for the measures of heads the tagger has."""
    heads = {measure: TAG_HEADS[measure] for measure in measures if TAG_HEADS[measure][0] in pipe.heads}
    logits: Dict[str, List[torch.Tensor]] = {head: [] for head, _ in heads.values()}
    for batch in minibatch(docs, BATCH_SIZE):
        outputs = pipe.model.predict(list(batch))
        for head in logits:
            logits[head].extend(outputs[head])
    outcomes = {}
    for measure, (head, attr) in heads.items():
        index = {label: i for i, label in enumerate(pipe.cfg["labels"][head])}
        rows, targets = [], []
        for doc_logits, ref in zip(logits[head], references):
            gold = [getattr(token, attr) for token in ref]
            kept = [i for i, value in enumerate(gold) if value]
            rows.append(doc_logits[kept])
            targets += [index.get(gold[i], IGNORE_INDEX) for i in kept]
        outcomes[measure] = SoftmaxOutcomes(torch.cat(rows), torch.tensor(targets, dtype=torch.int64))
    return outcomes


def textcat_outcomes(pipe: TorchTextCategorizer, docs: List[Doc], references: Sequence[Doc]) -> SoftmaxOutcomes:
    """The outcomes of the docs with a gold class."""
    logits = torch.cat([pipe.model.predict(list(batch))["cats"] for batch in minibatch(docs, BATCH_SIZE)])
    gold = [exclusive_label(ref.cats) for ref in references]
    kept = [i for i, label in enumerate(gold) if label is not None]
    targets = torch.tensor([pipe.labels.index(gold[i]) for i in kept], dtype=torch.int64)
    return SoftmaxOutcomes(logits[kept], targets)


def entity_outcomes(pipe: TorchEntityRecognizer, docs: List[Doc], references: Sequence[Doc]) -> EntityOutcomes:
    """The recognizer's predicted entities (its best tag sequences) and the gold they are checked against."""
    emissions: List[torch.Tensor] = []
    spans: List[List[Tuple[int, int, str]]] = []
    for batch in minibatch(docs, BATCH_SIZE):
        batch_emissions = pipe.model.predict(list(batch))["tags"]
        emissions.extend(batch_emissions)
        spans.extend(pipe.tag_spans(ids) for ids in pipe.decode(list(batch), batch_emissions))
    golds = [set(doc_entities(ref)) for ref in references]
    correct = [span in gold for doc_spans, gold in zip(spans, golds) for span in doc_spans]
    return EntityOutcomes(pipe, docs, emissions, spans, correct, sum(len(gold) for gold in golds))


def gathered_outcomes(
    nlp: Language, name: str, references: Sequence[Doc], source: str
) -> Tuple[Dict[str, Outcomes], Dict[str, str]]:
    """({measure: outcomes}, {measure: why it is not fitted}) of component `name` on the gold
    `references` (read from `source`); a ValueError when the gold has nothing to fit it on."""
    pipe = nlp.get_pipe(name)
    if isinstance(pipe, TorchTagger):
        measures, not_fitted = tag_measures(references, source)
        missing = [m for m in measures if TAG_HEADS[m][0] not in pipe.heads]
        not_fitted.update({m: f"the tagger has no {TAG_HEADS[m][0]!r} head" for m in missing})
        if len(missing) == len(measures):
            raise ValueError(f"{source}: the gold has no tags of the tagger's heads {pipe.heads}")
        return tagger_outcomes(pipe, component_docs(nlp, name, references), references, measures), not_fitted
    if isinstance(pipe, TorchTextCategorizer):
        check_cats_gold(references, source)
        check_cats_labels(references, pipe.labels, source)
        return {"cats": textcat_outcomes(pipe, component_docs(nlp, name, references), references)}, {}
    check_entity_gold(references, source)
    check_entity_labels(references, nlp, source, hint="calibrate a pipeline trained on these types")
    return {"entities": entity_outcomes(pipe, component_docs(nlp, name, references), references)}, {}


def summary(outcomes: Outcomes, temperature: float) -> Dict:
    """temperature, n, accuracy, mean_confidence, ece (`calibration`) and nll at temperature."""
    result = calibration(outcomes.confidences(temperature), outcomes.correct, outcomes.n_gold)
    kept = {key: result[key] for key in ("n", "accuracy", "mean_confidence", "ece")}
    return {"temperature": temperature, **kept, "nll": round(outcomes.nll(temperature), 6)}


def fit_component(nlp: Language, name: str, references: Sequence[Doc], source: str) -> Dict:
    """Fit every temperature setting of component `name` on the gold `references` and set them
    (`set_temperatures`): {"fits": {setting: {measure, objective, before, after}} (`summary`
    at the temperature before and the fitted one), "not_fitted": {setting: why}}. A ValueError
    when none can be fitted."""
    pipe = nlp.get_pipe(name)
    outcomes, not_fitted = gathered_outcomes(nlp, name, references, source)
    fits = {}
    for measure, measure_outcomes in outcomes.items():
        before = summary(measure_outcomes, pipe.cfg[pipe.TEMPERATURES[measure]])
        if not before["n"] or not math.isfinite(before["nll"]):
            not_fitted[measure] = "no prediction with a gold label the component has"
            continue
        after = summary(measure_outcomes, fit_temperature(measure_outcomes.nll))
        fits[pipe.TEMPERATURES[measure]] = {"measure": measure, "objective": OBJECTIVES[measure], "before": before, "after": after}
    if not fits:
        raise ValueError(f"{source}: nothing to fit: " + "; ".join(f"{measure}: {why}" for measure, why in not_fitted.items()))
    set_temperatures(nlp, name, {setting: fit["after"]["temperature"] for setting, fit in fits.items()})
    return {"fits": fits, "not_fitted": {pipe.TEMPERATURES[m]: why for m, why in not_fitted.items()}}


def temperature_components(nlp: Language) -> List[str]:
    """The names of the components with temperature settings (tagger, recognizer, classifier)."""
    kinds = (TorchTagger, TorchEntityRecognizer, TorchTextCategorizer)
    return [name for name, pipe in nlp.components if isinstance(pipe, kinds)]


def calibrate_pipeline(nlp: Language, dev: Path, model: str, names: Optional[List[str]] = None) -> Dict:
    """Fit the temperatures of the components `names` (None: every component with temperature
    settings whose gold the dev file has; those whose gold it lacks are listed in `skipped`) on
    the gold DocBin `dev` and set them on nlp. Returns the report: {model, dev, bounds,
    components {name: `fit_component`}, skipped {name: why}, machine}. ValueError for a name
    that is not such a component, for gold that cannot fit a named one, or when none is fitted."""
    candidates = temperature_components(nlp)
    if not candidates:
        raise ValueError(f"the pipeline has no tagger, recognizer or text classifier (its components: {', '.join(nlp.pipe_names)})")
    unknown = [name for name in names or [] if name not in candidates]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a component with temperature settings (the pipeline's: {', '.join(candidates)})")
    to_fit = names or candidates
    references = gold_docs(nlp, dev, [field for name in to_fit for field in nlp.get_pipe_meta(name).assigns])
    report: Dict = {"model": model, "dev": str(dev), "bounds": list(BOUNDS), "components": {}, "skipped": {}}
    for name in to_fit:
        try:
            report["components"][name] = fit_component(nlp, name, references, str(dev))
        except ValueError as err:
            if names:
                raise ValueError(f"[{name}] {err}") from None
            report["skipped"][name] = str(err)
    if not report["components"]:
        reasons = "; ".join(f"{name}: {why}" for name, why in report["skipped"].items())
        raise ValueError(f"{dev}: no component could be fitted on it: {reasons}")
    report["machine"] = machine_info()
    return report


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def temperature_markdown(report: Dict) -> str:
    """The report as a markdown page: one row per fitted setting, before and after."""
    rows = [
        [
            name, setting, fit["measure"], f"{fit['before']['n']:,}", _percent(fit["before"]["accuracy"]),
            f"{fit['before']['temperature']:g}", f"{fit['after']['temperature']:g}",
            _percent(fit["before"]["mean_confidence"]), _percent(fit["after"]["mean_confidence"]),
            _percent(fit["before"]["ece"]), _percent(fit["after"]["ece"]),
            f"{fit['before']['nll']:.4f}", f"{fit['after']['nll']:.4f}",
        ]
        for name, entry in report["components"].items() for setting, fit in entry["fits"].items()
    ]
    header = [
        "component", "setting", "measure", "predictions", "correct %", "T before", "T after",
        "mean confidence % before", "mean confidence % after", "ECE before", "ECE after", "NLL before", "NLL after",
    ]
    lines = [
        f"# Temperature scaling: {report['model']} on {report['dev']}",
        "",
        "Each setting's T minimises the negative log-likelihood (NLL) of the dev gold under the"
        f" confidences at T (T in [{report['bounds'][0]:g}, {report['bounds'][1]:g}]); the predictions do not"
        " change. ECE: expected calibration error over 10 equal-width bins, in points of %. ECE and NLL"
        " are measured on the dev file the temperatures were fitted on; measure a test file with"
        " `python -m spacy_rnn calibration-report`.",
        "",
        markdown_table(header, rows),
        "",
    ]
    entries = report["components"].items()
    objectives = {fit["measure"]: fit["objective"] for _, entry in entries for fit in entry["fits"].values()}
    lines += [f"- {measure}: {objective}" for measure, objective in objectives.items()]
    lines += [f"- {name} {setting}: not fitted ({why})" for name, entry in entries for setting, why in entry["not_fitted"].items()]
    lines += [f"- {name}: not fitted ({why})" for name, why in report["skipped"].items()]
    return "\n".join(lines) + "\n"
