"""`torch_tagger`: UPOS (`token.pos_`) and XPOS (`token.tag_`) from one BiLSTM encoder."""
from functools import partial
from itertools import repeat
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import torch
from spacy.attrs import IDX, LENGTH, POS, TAG
from spacy.language import Language
from spacy.parts_of_speech import IDS as POS_IDS
from spacy.scorer import Scorer
from spacy.tokens import Doc, Token
from spacy.training import Example, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import DEFAULT_MAX_BATCH_TOKENS, TokenOutputs, get_torch_net
from .base import IGNORE_INDEX, TorchPipe, register_former_name, softmax_cross_entropy
from .labels import add_label, missing_label_advice
from .temperature import check_temperature

HEADS = {"pos": ("POS", POS), "tag": ("TAG", TAG)}

DEFAULT_TAGGER_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_rnn.Tagger.v1"

[model.encoder]
@architectures = "spacy_rnn.RNNEncoder.v1"
"""
)["model"]


@Language.factory(
    "torch_tagger",
    assigns=["token.pos", "token.tag"],
    default_config={
        "model": DEFAULT_TAGGER_MODEL,
        "max_grad_norm": 5.0,
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        # The fastest setting within 0.1 of float32 on dev (reports/pos/speed.md: int8 per-form
        # 2.57x the peer, dev UPOS -0.01, XPOS +0.01).
        "precision": "int8",
        "input_projection": "form",
        "pos_temperature": 1.0,
        "tag_temperature": 1.0,
        "weights_storage": "float32",
        "scorer": {"@scorers": "spacy_rnn.tagger_scorer.v1"},
    },
    default_score_weights={"pos_acc": 0.5, "tag_acc": 0.5},
)
def make_torch_tagger(
    nlp: Language,
    name: str,
    model: Model,
    max_grad_norm: float,
    max_batch_tokens: int,
    precision: str,
    input_projection: str,
    pos_temperature: float,
    tag_temperature: float,
    weights_storage: str,
    scorer: Optional[Callable],
) -> "TorchTagger":
    """max_grad_norm: global gradient clipping; max_batch_tokens: tokens per prediction batch;
    precision ("float32", "int8", "bf16") and input_projection ("form", "token"): how a loaded
    pipeline predicts (`spacy_rnn.inference`).
    pos_temperature, tag_temperature: the confidences are softmax(logits / T) of each head
    (`spacy_rnn.pipes.temperature`; `python -m spacy_rnn calibrate` fits them).
    weights_storage: "float32" or "float16" (half the size on disk, float32 in memory;
    `python -m spacy_rnn compact-weights` switches a trained pipeline)."""
    return TorchTagger(
        nlp.vocab,
        model,
        name,
        max_grad_norm=max_grad_norm,
        max_batch_tokens=max_batch_tokens,
        precision=precision,
        input_projection=input_projection,
        pos_temperature=pos_temperature,
        tag_temperature=tag_temperature,
        weights_storage=weights_storage,
        scorer=scorer,
    )


register_former_name("bilstm_tagger", "torch_tagger")


def confidence_key(head: str, start: int, end: int) -> tuple:
    """The doc.user_data key of the `head` confidence ("pos" or "tag") of the token at
    characters [start, end): spaCy's key format for custom values at character offsets, so
    `Span.as_doc(copy_user_data=True)` and `Doc.from_docs` move it with the token."""
    return ("._.", f"{head}_confidence", start, end)


def token_confidence(token: Token, *, head: str) -> Optional[float]:
    """The probability the tagger gave the token's `head` label ("pos" or "tag"); None when
    the doc was not tagged, or the token is not one the tagger labelled: merged or split since
    (its characters changed) or relabelled since (its label is not the one scored)."""
    entry = token.doc.user_data.get(confidence_key(head, token.idx, token.idx + len(token)))
    if entry is None:
        return None
    label, probability = entry
    return probability if label == (token.pos if head == "pos" else token.tag) else None


def doc_confidences(doc: Doc, *, head: str) -> Optional[List[Optional[float]]]:
    """`token._.<head>_confidence` of each token of the doc; None when no token has one."""
    values = [token_confidence(token, head=head) for token in doc]
    return values if any(value is not None for value in values) else None


def clear_confidences(doc: Doc) -> None:
    """Drop the confidences of an earlier tagging of the doc (`store_confidences`)."""
    names = {f"{head}_confidence" for head in HEADS}
    data = doc.user_data
    for key in [key for key in data if type(key) is tuple and len(key) == 4 and key[0] == "._." and key[1] in names]:
        del data[key]


def store_confidences(doc: Doc, head: str, labels: numpy.ndarray, probabilities: numpy.ndarray) -> None:
    """Keep each token's `head` label (symbol id or hash) and its probability in doc.user_data
    at the token's character offsets (`confidence_key`)."""
    if not len(doc):
        return
    data = doc.user_data
    name = f"{head}_confidence"
    offsets = doc.to_array([IDX, LENGTH])
    starts, ends = offsets[:, 0].tolist(), (offsets[:, 0] + offsets[:, 1]).tolist()
    keys = zip(repeat("._."), repeat(name), starts, ends)
    data.update(zip(keys, zip(labels.tolist(), probabilities.tolist())))


for _head in HEADS:
    Doc.set_extension(f"{_head}_confidences", getter=partial(doc_confidences, head=_head), force=True)
    Token.set_extension(f"{_head}_confidence", getter=partial(token_confidence, head=_head), force=True)


def tagger_score(examples: Iterable[Example], **kwargs) -> Dict[str, float]:
    """pos_acc and tag_acc over tokens with gold values (spaCy's token-attribute scorer)."""
    examples = list(examples)
    return {
        **Scorer.score_token_attr(examples, "pos", **kwargs),
        **Scorer.score_token_attr(examples, "tag", **kwargs),
    }


@registry.scorers("spacy_rnn.tagger_scorer.v1")
def make_tagger_scorer() -> Callable:
    return tagger_score


class TorchTagger(TorchPipe):
    """Predicts UPOS and XPOS with one softmax head each over a shared BiLSTM encoder.

    cfg["labels"] = {"pos": [...], "tag": [...]}; a head exists for each non-empty label list.
    Tokens whose gold value is missing are left out of the loss, not counted as wrong.
    The softmax probability of each chosen label is read per token as `token._.pos_confidence` /
    `token._.tag_confidence` (per doc, a list: `doc._.pos_confidences` / `doc._.tag_confidences`).
    It is kept in doc.user_data at the token's character offsets with the label it scored
    (`store_confidences`), so it moves with the token: retokenizing elsewhere in the doc, copying
    with `Span.as_doc(copy_user_data=True)`, `Doc.from_docs`, `Doc.to_bytes`, a `DocBin` with
    user data and pickling keep it; a token merged or split since tagging, or whose label was
    changed since, reads None (the tagger never scored it), never another token's value.
    `Span.as_doc()` without copy_user_data copies no custom values at all (spaCy's default).
    The probabilities are softmax(logits / T), with T = cfg["pos_temperature"] for UPOS and
    cfg["tag_temperature"] for XPOS (`spacy_rnn.pipes.temperature`; 1.0: as trained).
    """

    NET_CLASS = "TaggerNet"
    TEMPERATURES = {"upos": "pos_temperature", "xpos": "tag_temperature"}  # measure: setting
    PREDICTION_SETTINGS = (*TorchPipe.INFERENCE_SETTINGS, *TEMPERATURES.values())

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "torch_tagger",
        *,
        max_grad_norm: float = 5.0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        precision: str = "int8",
        input_projection: str = "form",
        pos_temperature: float = 1.0,
        tag_temperature: float = 1.0,
        weights_storage: str = "float32",
        scorer: Optional[Callable] = tagger_score,
    ):
        labels = {"pos": [], "tag": []}
        super().__init__(
            vocab,
            model,
            name,
            labels=labels,
            max_grad_norm=max_grad_norm,
            max_batch_tokens=max_batch_tokens,
            precision=precision,
            input_projection=input_projection,
            weights_storage=weights_storage,
            scorer=scorer,
        )
        for setting, value in (("pos_temperature", pos_temperature), ("tag_temperature", tag_temperature)):
            check_temperature(f"[{name}] {setting}", value)
            self.cfg[setting] = float(value)

    @property
    def labels(self) -> tuple:
        """The UPOS labels (see label_data for both label sets)."""
        return tuple(self.cfg["labels"]["pos"])

    @property
    def label_data(self) -> Dict[str, List[str]]:
        return {head: list(labels) for head, labels in self.cfg["labels"].items()}

    @property
    def heads(self) -> List[str]:
        return [head for head, labels in self.cfg["labels"].items() if labels]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Dict[str, List[str]]] = None,
    ) -> None:
        """Collect labels and vocabularies from the training examples, then build the model.

        labels: optional {"pos": [...], "tag": [...]} (e.g. from `spacy init labels`).
        """
        validate_get_examples(get_examples, "TorchTagger.initialize")
        docs = [eg.reference for eg in get_examples()]
        if labels is None:
            labels = {
                "pos": sorted({t.pos_ for doc in docs for t in doc if t.pos_} | set(self.cfg["labels"]["pos"])),
                "tag": sorted({t.tag_ for doc in docs for t in doc if t.tag_} | set(self.cfg["labels"]["tag"])),
            }
        unknown_pos = [label for label in labels.get("pos", []) if label not in POS_IDS]
        if unknown_pos:
            raise ValueError(f"[torch_tagger] not Universal POS tags: {unknown_pos}")
        self.cfg["labels"] = {head: list(labels.get(head, [])) for head in HEADS}
        if not self.heads:
            raise ValueError(
                "[torch_tagger] no labels: the training examples carry no POS or TAG "
                "annotation (token.pos_ / token.tag_) and no labels were given."
            )
        self.fit_model(docs)

    def model_attrs(self) -> Dict:
        return {"heads": {head: len(self.cfg["labels"][head]) for head in self.heads}}

    def add_label(self, label: str, head: str = "pos") -> int:
        """Add a label to a head ("pos": a Universal POS tag, or "tag"): 1 if new, else 0. On a
        trained model the head grows (old rows kept, the new label wins nothing until trained,
        see `grow_linear`); a head the model does not have cannot be added. Train it with a new
        optimizer (`nlp.resume_training(sgd=nlp.create_optimizer())`)."""
        if head not in HEADS:
            raise ValueError(f"[{self.name}] head must be one of {list(HEADS)}, not {head!r}")
        if head == "pos" and label not in POS_IDS:
            raise ValueError(f"[{self.name}] {label!r} is not a Universal POS tag")
        built = type(get_torch_net(self.model)) is not torch.nn.Module
        if built and head not in self.heads:
            raise ValueError(f"[{self.name}] the trained model has no {head!r} head to add {label!r} to")
        return add_label(self, self.cfg["labels"][head], label, lambda net: net.add_outputs(head, 1))

    def predict(self, docs: Iterable[Doc]) -> Dict[str, List[numpy.ndarray]]:
        """{head: per doc, an int array of label indices for its tokens} and
        {"<head>_confidence": per doc, a float array of those labels' probabilities (softmax of
        the logits divided by cfg["<head>_temperature"])}."""
        outputs = self.model.predict(list(docs))
        guesses = {}
        for head in self.heads:
            best = [logits.argmax(dim=-1) for logits in outputs[head]]
            guesses[head] = [indices.cpu().numpy() for indices in best]
            temperature = self.cfg[f"{head}_temperature"]
            # No division at 1.0: a few microseconds a doc, which the default does not pay.
            scaled = outputs[head] if temperature == 1.0 else [logits / temperature for logits in outputs[head]]
            probabilities = [logits.softmax(dim=-1).gather(1, indices.unsqueeze(1)).squeeze(1) for logits, indices in zip(scaled, best)]
            guesses[f"{head}_confidence"] = [values.cpu().numpy() for values in probabilities]
        return guesses

    def set_annotations(self, docs: Iterable[Doc], guesses: Dict[str, List[numpy.ndarray]]) -> None:
        """Writes the labels, and their probabilities where `guesses` has them (see predict)."""
        attrs = [HEADS[head][1] for head in self.heads]
        values = {head: self._label_values(head) for head in self.heads}
        for i, doc in enumerate(docs):
            labels = {head: values[head][guesses[head][i]] for head in self.heads}
            if len(doc):
                doc.from_array(attrs, numpy.stack([labels[head] for head in self.heads], axis=1))
            if doc.user_data:
                clear_confidences(doc)
            for head in self.heads:
                if f"{head}_confidence" in guesses:
                    store_confidences(doc, head, labels[head], guesses[f"{head}_confidence"][i])

    def top_labels(self, doc: Doc, head: str = "pos", k: int = 3) -> List[List[Tuple[str, float]]]:
        """Per token of doc, the k most probable `head` labels ("pos" or "tag") with their
        probabilities (at the head's temperature), most probable first."""
        if head not in self.heads:
            raise ValueError(f"[{self.name}] no {head!r} head; the heads are {self.heads}")
        if not len(doc):
            return []
        probabilities = (self.model.predict([doc])[head][0] / self.cfg[f"{head}_temperature"]).softmax(dim=-1)
        values, indices = probabilities.topk(min(k, probabilities.shape[-1]), dim=-1)
        labels = self.cfg["labels"][head]
        return [[(labels[j], p) for j, p in zip(row_indices, row_values)] for row_indices, row_values in zip(indices.tolist(), values.tolist())]

    def get_loss(self, examples: Iterable[Example], outputs: TokenOutputs) -> tuple:
        """Sum over heads of the mean token cross-entropy; gradients w.r.t. the logits."""
        examples = list(examples)
        lengths = [len(eg.predicted) for eg in examples]
        loss = 0.0
        d_outputs = {}
        for head in self.heads:
            targets = torch.tensor(self._gold_indices(head, examples), dtype=torch.int64)
            head_loss, d_logits = softmax_cross_entropy(torch.cat(outputs[head]), targets)
            d_outputs[head] = list(d_logits.split(lengths))
            loss += head_loss
        return loss, d_outputs

    def _gold_indices(self, head: str, examples: List[Example]) -> List[int]:
        label_index = {label: i for i, label in enumerate(self.cfg["labels"][head])}
        indices = []
        for eg in examples:
            for value in eg.get_aligned(HEADS[head][0], as_string=True):
                if not value:
                    indices.append(IGNORE_INDEX)
                elif value in label_index:
                    indices.append(label_index[value])
                else:
                    call = "" if head == "pos" else f", head={head!r}"
                    raise ValueError(
                        f"[{self.name}] gold {head} label {value!r} is not among the component's {head} labels "
                        f"{self.cfg['labels'][head]}: {missing_label_advice(self, value, call)}."
                    )
        return indices

    def _label_values(self, head: str) -> numpy.ndarray:
        """The doc.from_array value of each label: POS symbol ids or TAG string hashes."""
        labels = self.cfg["labels"][head]
        if head == "pos":
            return numpy.array([POS_IDS[label] for label in labels], dtype="uint64")
        return numpy.array([self.vocab.strings.add(label) for label in labels], dtype="uint64")
