"""`torch_ner`: named entities (`doc.ents`) from a BiLSTM encoder and a linear-chain CRF."""
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import torch
from spacy.attrs import IS_SPACE
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import DEFAULT_MAX_BATCH_TOKENS, TokenOutputs, get_torch_net
from ..models.tag_schemes import TAG_SCHEMES, entity_bounds, entity_tags, scheme_of, scheme_tag
from .base import TorchPipe, loss_per_doc, register_former_name
from .labels import add_label, missing_label_advice
from .temperature import check_temperature

DEFAULT_NER_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_rnn.EntityRecognizer.v1"
crf = true

[model.encoder]
@architectures = "spacy_rnn.RNNEncoder.v1"
"""
)["model"]

UNKNOWN_TAG = -1


@Language.factory(
    "torch_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_NER_MODEL,
        "tag_scheme": "BILUO",
        "max_grad_norm": 5.0,
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        "confidences": True,
        "temperature": 1.0,
        # The fastest setting within 0.1 of float32 on dev (reports/ner/speed.md: int8 per-form
        # 2.61x the peer with confidences, dev F1 +0.02).
        "precision": "int8",
        "input_projection": "form",
        "weights_storage": "float32",
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_torch_ner(
    nlp: Language,
    name: str,
    model: Model,
    tag_scheme: str,
    max_grad_norm: float,
    max_batch_tokens: int,
    confidences: bool,
    temperature: float,
    precision: str,
    input_projection: str,
    weights_storage: str,
    scorer: Optional[Callable],
) -> "TorchEntityRecognizer":
    """tag_scheme: "BILUO" or "BIO" tags for the CRF; max_grad_norm: global gradient clipping;
    max_batch_tokens: padded tokens per prediction batch (the CRF's groups of docs take as many
    padded positions, `max_crf_cells`);
    confidences: set each predicted entity's probability, `ent._.confidence`; temperature: that
    probability is computed with every CRF score divided by it (`spacy_rnn.pipes.temperature`;
    `python -m spacy_rnn calibrate` fits it); precision
    ("float32", "int8", "bf16") and input_projection ("form", "token"): how a loaded pipeline
    predicts (`spacy_rnn.inference`).
    weights_storage: "float32" or "float16" (half the size on disk, float32 in memory;
    `python -m spacy_rnn compact-weights` switches a trained pipeline)."""
    return TorchEntityRecognizer(
        nlp.vocab,
        model,
        name,
        tag_scheme=tag_scheme,
        max_grad_norm=max_grad_norm,
        max_batch_tokens=max_batch_tokens,
        confidences=confidences,
        temperature=temperature,
        precision=precision,
        input_projection=input_projection,
        weights_storage=weights_storage,
        scorer=scorer,
    )


register_former_name("bilstm_crf_ner", "torch_ner")


def confidence_key(span: Span) -> tuple:
    """The doc.user_data key of `ent._.confidence`: spaCy's key of a Span value (its character
    offsets), so `Span.as_doc(copy_user_data=True)` and `Doc.from_docs` move it with the span."""
    return ("._.", "confidence", span.start_char, span.end_char)


def span_confidence(span: Span) -> Optional[float]:
    """The probability the recognizer gave the entity; None for a span it did not predict with
    that label (set by another component, relabelled since, or the extent changed by a merge)."""
    entry = span.doc.user_data.get(confidence_key(span))
    if entry is None or isinstance(entry, float):  # a float: stored without its label by an earlier version
        return entry
    label, probability = entry
    return probability if label == span.label else None


def set_span_confidence(span: Span, probability: Optional[float]) -> None:
    """Keep the probability with the span's label (`span_confidence` checks it); None removes it."""
    if probability is None:
        span.doc.user_data.pop(confidence_key(span), None)
    else:
        span.doc.user_data[confidence_key(span)] = (span.label, float(probability))


if not Span.has_extension("confidence"):
    Span.set_extension("confidence", getter=span_confidence, setter=set_span_confidence)


class EntityPredictions(list):
    """What `predict` returns: per doc, its tag ids (int arrays, as `decode` returns them), and
    in `confidences`, per doc, the probability of each of its predicted entities in order
    (None when the component does not compute them)."""

    confidences: Optional[List[List[float]]] = None


class TorchEntityRecognizer(TorchPipe):
    """Tags each token with O / B-X / I-X (/ L-X / U-X) and reads entities off the tags.

    The CRF runs over whole docs (the encoder reads them in bounded windows). Decoding can only
    produce valid tag sequences, and whitespace tokens are always "O" (as in spaCy's own NER).
    cfg["labels"] are the entity types, cfg["tag_scheme"] the tags' scheme; the model's tags
    (attrs["tags"]) are the ones they give (`spacy_rnn.models.tag_schemes`). Tokens whose gold
    tag is missing are marginalised out of the CRF likelihood (left out of the softmax loss).
    Entities already in doc.ents (e.g. from an entity_ruler before the recognizer) are kept and
    the model predicts around them; every other token outside the predicted entities becomes "O".
    With cfg["confidences"], each predicted entity gets `ent._.confidence`: its probability
    under the CRF given the text and the constraints above (`EntityTaggerNet.span_probabilities`),
    with every score divided by cfg["temperature"] (`spacy_rnn.pipes.temperature`; 1.0: as trained).
    It is kept in doc.user_data at the entity's character offsets with its label, so it stays
    with the entity when tokens inside it or elsewhere are merged or split, through
    `Span.as_doc(copy_user_data=True)`, `Doc.from_docs` and serialization; an entity whose extent
    or label changed since reads None.
    """

    NET_CLASS = "EntityTaggerNet"
    TEMPERATURES = {"entities": "temperature"}  # measure: setting
    PREDICTION_SETTINGS = ("confidences", "temperature", *TorchPipe.INFERENCE_SETTINGS)

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "torch_ner",
        *,
        tag_scheme: str = "BILUO",
        max_grad_norm: float = 5.0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        confidences: bool = True,
        temperature: float = 1.0,
        precision: str = "int8",
        input_projection: str = "form",
        weights_storage: str = "float32",
        scorer: Optional[Callable] = None,
    ):
        if tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"tag_scheme must be one of {TAG_SCHEMES}, not {tag_scheme!r}")
        super().__init__(
            vocab,
            model,
            name,
            labels=[],
            max_grad_norm=max_grad_norm,
            max_batch_tokens=max_batch_tokens,
            precision=precision,
            input_projection=input_projection,
            weights_storage=weights_storage,
            scorer=scorer,
        )
        check_temperature(f"[{name}] temperature", temperature)
        self.cfg["tag_scheme"] = tag_scheme
        self.cfg["confidences"] = confidences
        self.cfg["temperature"] = float(temperature)

    @property
    def tags(self) -> List[str]:
        return self.model.attrs["tags"]

    @property
    def max_crf_cells(self) -> int:
        """The most padded positions (docs x the longest) the CRF decodes or scores together:
        cfg["max_batch_tokens"], so its tables take no more memory than the encoder's batches."""
        return self.cfg["max_batch_tokens"]

    def finish_loading(self, settings: Dict, source: str) -> None:
        """`TorchPipe.finish_loading`, with cfg["tag_scheme"] the scheme of the saved tags: a
        pipeline saved before the scheme was a setting of the component has the config's default."""
        if self.tags:
            self.cfg["tag_scheme"] = scheme_of(self.tags)
        super().finish_loading(settings, source)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Collect entity labels (unless given) and vocabularies, then build the model."""
        validate_get_examples(get_examples, "TorchEntityRecognizer.initialize")
        docs = [eg.reference for eg in get_examples()]
        if labels is None:
            labels = sorted({ent.label_ for doc in docs for ent in doc.ents} | set(self.cfg["labels"]))
        if not labels:
            raise ValueError(
                f"[{self.name}] no entity labels: the training examples have no doc.ents and no "
                f"labels were given."
            )
        self.cfg["labels"] = list(labels)
        self.fit_model(docs)

    def model_attrs(self) -> Dict:
        tags = entity_tags(self.cfg["labels"], self.cfg["tag_scheme"])
        return {"heads": {"tags": len(tags)}, "tags": tags}

    def add_label(self, label: str) -> int:
        """Add an entity type: 1 if new, else 0. On a trained model its tags are appended and the
        net grows (`EntityTaggerNet.add_tags`: old weights kept, the new tags win nothing until
        trained); train it with a new optimizer (`nlp.resume_training(sgd=nlp.create_optimizer())`)."""
        new_tags = entity_tags([label], self.cfg["tag_scheme"])[1:]
        return add_label(self, self.cfg["labels"], label, lambda net: net.add_tags(new_tags))

    def predict(self, docs: Iterable[Doc]) -> EntityPredictions:
        """Tag ids for each doc (int arrays, one per doc): the best valid tag sequence, with
        whitespace tokens "O"; with cfg["confidences"], the probability of each entity they give."""
        docs = list(docs)
        emissions = self.model.predict(docs)["tags"]
        predictions = EntityPredictions(self.decode(docs, emissions))
        if self.cfg.get("confidences", True):
            spans = [self.tag_spans(ids) for ids in predictions]
            predictions.confidences = self.span_probabilities(docs, emissions, spans, self.cfg["temperature"])
        return predictions

    def span_probabilities(
        self, docs: List[Doc], emissions: List[torch.Tensor], spans: List[List[Tuple[int, int, str]]], temperature: float
    ) -> List[List[float]]:
        """Per doc, the probability of each of its spans (start, end exclusive, label) given its
        emission scores, with the tokens `decode` keeps "O" outside and every CRF score divided
        by temperature (`EntityTaggerNet.span_probabilities`)."""
        net = get_torch_net(self.model)
        return net.span_probabilities(emissions, self._outside(docs), spans, self.max_crf_cells, temperature)

    def decode(self, docs: List[Doc], emissions: List[torch.Tensor]) -> List[numpy.ndarray]:
        """The best valid tag sequence of each doc given its emission scores FloatTensor[len(doc),
        n_tags]; whitespace tokens and the tokens of entities already in doc.ents get "O"."""
        best = get_torch_net(self.model).decode(emissions, self._outside(docs), self.max_crf_cells)
        return [tags.numpy() for tags in best]

    def _outside(self, docs: List[Doc]) -> List[torch.Tensor]:
        """Per doc, BoolTensor[len(doc)]: the tokens that must be "O" (whitespace, and the
        tokens of entities already in doc.ents)."""
        outside = []
        for doc in docs:
            fixed = doc.to_array(IS_SPACE).astype(bool)
            for ent in doc.ents:
                fixed[ent.start : ent.end] = True
            outside.append(torch.from_numpy(fixed))
        return outside

    def tag_spans(self, tag_ids: numpy.ndarray) -> List[Tuple[int, int, str]]:
        """The entities (start, end exclusive, label) of a valid tag sequence (what `decode`
        gives; `spacy_rnn.models.tag_schemes.entity_bounds`)."""
        starts, ends = entity_bounds(self.tag_kinds[tag_ids], self.cfg["tag_scheme"])
        return [(start, end, self.tags[tag_ids[start]][2:]) for start, end in zip(starts.tolist(), ends.tolist())]

    @property
    def tag_kinds(self) -> numpy.ndarray:
        """The first letter of each tag (B, I, L, U or O), indexed by tag id."""
        return numpy.array([tag[0] for tag in self.tags])

    def entities(self, doc: Doc, tag_ids: numpy.ndarray) -> List[Span]:
        """The entity spans of a doc's predicted tag ids (`tag_spans`)."""
        return [Span(doc, start, end, label=label) for start, end, label in self.tag_spans(tag_ids)]

    def set_annotations(self, docs: Iterable[Doc], tag_ids: List[numpy.ndarray]) -> None:
        """Adds the predicted entities to those already in doc.ents (kept, as spaCy's own
        recognizer keeps them; `decode` never predicts over their tokens), with their
        `ent._.confidence` when `tag_ids` is an `EntityPredictions` that has them."""
        confidences = getattr(tag_ids, "confidences", None)
        for i, (doc, ids) in enumerate(zip(docs, tag_ids)):
            entities = self.entities(doc, ids)
            doc.set_ents(list(doc.ents) + entities, default="outside")
            for ent, probability in zip(entities, confidences[i] if confidences is not None else []):
                ent._.confidence = probability

    def get_loss(self, examples: Iterable[Example], outputs: TokenOutputs) -> Tuple[float, Dict[str, List[torch.Tensor]]]:
        """The net's loss (CRF: negative log-likelihood per token; otherwise the mean token
        cross-entropy) and its gradients w.r.t. each doc's emission scores."""
        gold = [torch.from_numpy(self._gold_tag_ids(eg)) for eg in examples]
        net = get_torch_net(self.model)
        loss, d_emissions = loss_per_doc(lambda emissions: net.loss(emissions, gold), outputs["tags"])
        return loss, {"tags": d_emissions}

    def _gold_tag_ids(self, eg: Example) -> numpy.ndarray:
        """Gold tag id per predicted token; UNKNOWN_TAG where the annotation is missing."""
        tag_index = {tag: i for i, tag in enumerate(self.tags)}
        scheme = self.cfg["tag_scheme"]
        ids = numpy.full((len(eg.predicted),), UNKNOWN_TAG, dtype="int64")
        for i, tag in enumerate(eg.get_aligned_ner()):
            if tag is None or tag == "-":
                continue
            tag = scheme_tag(tag, scheme)
            if tag not in tag_index:
                label = tag.split("-", 1)[-1]
                raise ValueError(
                    f"[{self.name}] gold entity label {label!r} is not among the component's labels "
                    f"{list(self.labels)}: {missing_label_advice(self, label)}."
                )
            ids[i] = tag_index[tag]
        return ids
