"""`bilstm_tagger`: UPOS (`token.pos_`) and XPOS (`token.tag_`) from one BiLSTM encoder."""
from typing import Callable, Dict, Iterable, List, Optional

import numpy
import torch
from spacy.attrs import POS, TAG
from spacy.language import Language
from spacy.parts_of_speech import IDS as POS_IDS
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import DEFAULT_MAX_BATCH_TOKENS, TokenOutputs
from .base import IGNORE_INDEX, TorchPipe, softmax_cross_entropy

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
    "bilstm_tagger",
    assigns=["token.pos", "token.tag"],
    default_config={
        "model": DEFAULT_TAGGER_MODEL,
        "max_grad_norm": 5.0,
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        "scorer": {"@scorers": "spacy_rnn.tagger_scorer.v1"},
    },
    default_score_weights={"pos_acc": 0.5, "tag_acc": 0.5},
)
def make_bilstm_tagger(
    nlp: Language, name: str, model: Model, max_grad_norm: float, max_batch_tokens: int, scorer: Optional[Callable]
) -> "BiLSTMTagger":
    """max_grad_norm: global gradient clipping; max_batch_tokens: tokens per prediction batch."""
    return BiLSTMTagger(
        nlp.vocab, model, name, max_grad_norm=max_grad_norm, max_batch_tokens=max_batch_tokens, scorer=scorer
    )


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


class BiLSTMTagger(TorchPipe):
    """Predicts UPOS and XPOS with one softmax head each over a shared BiLSTM encoder.

    cfg["labels"] = {"pos": [...], "tag": [...]}; a head exists for each non-empty label list.
    Tokens whose gold value is missing are left out of the loss, not counted as wrong.
    """

    NET_CLASS = "TaggerNet"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bilstm_tagger",
        *,
        max_grad_norm: float = 5.0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        scorer: Optional[Callable] = tagger_score,
    ):
        labels = {"pos": [], "tag": []}
        super().__init__(
            vocab, model, name, labels=labels, max_grad_norm=max_grad_norm, max_batch_tokens=max_batch_tokens, scorer=scorer
        )

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
        validate_get_examples(get_examples, "BiLSTMTagger.initialize")
        docs = [eg.reference for eg in get_examples()]
        if labels is None:
            labels = {
                "pos": sorted({t.pos_ for doc in docs for t in doc if t.pos_}),
                "tag": sorted({t.tag_ for doc in docs for t in doc if t.tag_}),
            }
        unknown_pos = [label for label in labels.get("pos", []) if label not in POS_IDS]
        if unknown_pos:
            raise ValueError(f"[bilstm_tagger] not Universal POS tags: {unknown_pos}")
        self.cfg["labels"] = {head: list(labels.get(head, [])) for head in HEADS}
        if not self.heads:
            raise ValueError(
                "[bilstm_tagger] no labels: the training examples carry no POS or TAG "
                "annotation (token.pos_ / token.tag_) and no labels were given."
            )
        self.fit_model(docs)

    def head_sizes(self) -> Dict[str, int]:
        return {head: len(self.cfg["labels"][head]) for head in self.heads}

    def predict(self, docs: Iterable[Doc]) -> Dict[str, List[numpy.ndarray]]:
        """{head: per doc, an int array of label indices for its tokens}."""
        outputs = self.model.predict(list(docs))
        return {head: [logits.argmax(dim=-1).cpu().numpy() for logits in outputs[head]] for head in self.heads}

    def set_annotations(self, docs: Iterable[Doc], guesses: Dict[str, List[numpy.ndarray]]) -> None:
        attrs = [HEADS[head][1] for head in self.heads]
        values = {head: self._label_values(head) for head in self.heads}
        for i, doc in enumerate(docs):
            if len(doc):
                doc.from_array(attrs, numpy.stack([values[head][guesses[head][i]] for head in self.heads], axis=1))

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
                    raise ValueError(
                        f"[bilstm_tagger] gold {head} label {value!r} is not among the component's "
                        f"labels; initialize the pipeline on data that contains it."
                    )
        return indices

    def _label_values(self, head: str) -> numpy.ndarray:
        """The doc.from_array value of each label: POS symbol ids or TAG string hashes."""
        labels = self.cfg["labels"][head]
        if head == "pos":
            return numpy.array([POS_IDS[label] for label in labels], dtype="uint64")
        return numpy.array([self.vocab.strings.add(label) for label in labels], dtype="uint64")
