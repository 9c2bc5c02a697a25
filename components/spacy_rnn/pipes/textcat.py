"""`torch_textcat`: exclusive document classes (`doc.cats`) from a (Bi)RNN encoder and a pooling."""
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import DEFAULT_MAX_BATCH_TOKENS, DocOutputs
from .base import IGNORE_INDEX, TorchPipe, register_former_name, softmax_cross_entropy
from .labels import add_label, missing_label_advice
from .temperature import check_temperature

DEFAULT_TEXTCAT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_rnn.TextClassifier.v1"
pooling = "max"
long_text = "window"

[model.encoder]
@architectures = "spacy_rnn.RNNEncoder.v1"
window_size = 512
packed = false
"""
)["model"]


@Language.factory(
    "torch_textcat",
    assigns=["doc.cats"],
    default_config={
        "model": DEFAULT_TEXTCAT_MODEL,
        "max_grad_norm": 5.0,
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        # The fastest setting within 0.1 of float32 on SST-2 dev (reports/sst2/speed.md: int8
        # per-form 1.73x float32 per-form, dev accuracy +0.00).
        "precision": "int8",
        "input_projection": "form",
        "temperature": 1.0,
        "weights_storage": "float32",
        "scorer": {"@scorers": "spacy_rnn.textcat_scorer.v1"},
    },
    default_score_weights={
        "cats_acc": 1.0,
        "cats_macro_f": 0.0,
        "cats_score": None,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
        "cats_auc_per_type": None,
    },
)
def make_torch_textcat(
    nlp: Language,
    name: str,
    model: Model,
    max_grad_norm: float,
    max_batch_tokens: int,
    precision: str,
    input_projection: str,
    temperature: float,
    weights_storage: str,
    scorer: Optional[Callable],
) -> "TorchTextCategorizer":
    """max_grad_norm: global gradient clipping; max_batch_tokens: padded tokens per prediction
    batch; precision ("float32", "int8", "bf16") and input_projection ("form", "token"): how a
    loaded pipeline predicts (`spacy_rnn.inference`).
    temperature: doc.cats are softmax(logits / T) (`spacy_rnn.pipes.temperature`; `python -m
    spacy_rnn calibrate` fits it).
    weights_storage: "float32" or "float16" (half the size on disk, float32 in memory;
    `python -m spacy_rnn compact-weights` switches a trained pipeline)."""
    return TorchTextCategorizer(
        nlp.vocab,
        model,
        name,
        max_grad_norm=max_grad_norm,
        max_batch_tokens=max_batch_tokens,
        precision=precision,
        input_projection=input_projection,
        temperature=temperature,
        weights_storage=weights_storage,
        scorer=scorer,
    )


register_former_name("lstm_textcat", "torch_textcat")


def exclusive_label(cats: Dict[str, float]) -> Optional[str]:
    """The gold class of exclusive `doc.cats`: the one label with value 1.0 (None when none has it,
    i.e. the annotation is missing). More than one, or a value other than 0.0 and 1.0 (soft
    labels, which this classifier does not train on), raises ValueError."""
    soft = {label: value for label, value in cats.items() if value not in (0.0, 1.0)}
    if soft:
        raise ValueError(
            f"gold cats {cats} have values other than 0.0 and 1.0 ({soft}): soft labels are not supported; "
            f"give each text its one class with 1.0 and the others 0.0"
        )
    positive = [label for label, value in cats.items() if value == 1.0]
    if len(positive) > 1:
        raise ValueError(f"gold cats {cats} are not exclusive: {positive} are all 1.0")
    return positive[0] if positive else None


def textcat_score(examples: Iterable[Example], **kwargs) -> Dict[str, object]:
    """spaCy's exclusive-class scores (`Scorer.score_cats(..., multi_label=False)`: cats_score =
    cats_macro_f, cats_f_per_type, micro/macro P/R/F, AUC) plus cats_acc: the share of docs with
    a gold class whose highest-scoring predicted label is that class (None without gold).
    ValueError when the gold has labels the predictions lack (another task's gold: SST-5 for a
    binary model would score 0, a number that looks like a result)."""
    examples = list(examples)
    gold_labels = {label for eg in examples for label in eg.reference.cats}
    predicted_labels = {label for eg in examples for label in eg.predicted.cats}
    if predicted_labels and not gold_labels <= predicted_labels:
        raise ValueError(
            f"the gold labels {sorted(gold_labels)} include {sorted(gold_labels - predicted_labels)}, which the "
            f"pipeline's labels {sorted(predicted_labels)} do not: the gold is for another task"
        )
    scores = Scorer.score_cats(examples, "cats", multi_label=False, **kwargs)
    gold = [(exclusive_label(eg.reference.cats), eg.predicted.cats) for eg in examples]
    gold = [(label, cats) for label, cats in gold if label is not None]
    correct = sum(bool(cats) and max(cats, key=cats.get) == label for label, cats in gold)
    scores["cats_acc"] = correct / len(gold) if gold else None
    return scores


@registry.scorers("spacy_rnn.textcat_scorer.v1")
def make_textcat_scorer() -> Callable:
    return textcat_score


class TorchTextCategorizer(TorchPipe):
    """Assigns each doc a probability per label (softmax over exclusive classes, summing to 1).

    cfg["labels"]: the classes (at least two), in the order of the logits. Docs are read whole
    (see `spacy_rnn.TextClassifier.v1` for long texts). An empty doc gets softmax of the head's
    bias (the model's prediction for a zero pooled vector); whitespace tokens are read like
    any other token. Examples without a gold class (no label at 1.0) are left out of the loss.
    The probabilities are softmax(logits / T), T = cfg["temperature"] (`spacy_rnn.pipes.temperature`;
    1.0: as trained).
    """

    NET_CLASS = "TextClassifierNet"
    TEMPERATURES = {"cats": "temperature"}  # measure: setting
    PREDICTION_SETTINGS = (*TorchPipe.INFERENCE_SETTINGS, "temperature")

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "torch_textcat",
        *,
        max_grad_norm: float = 5.0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        precision: str = "int8",
        input_projection: str = "form",
        temperature: float = 1.0,
        weights_storage: str = "float32",
        scorer: Optional[Callable] = textcat_score,
    ):
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
        self.cfg["temperature"] = float(temperature)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Collect the labels (unless given, e.g. in their natural order) and vocabularies from
        the training examples, then build the model."""
        validate_get_examples(get_examples, "TorchTextCategorizer.initialize")
        docs = [eg.reference for eg in get_examples()]
        if labels is None:
            labels = sorted({label for doc in docs for label in doc.cats} | set(self.cfg["labels"]))
        if len(labels) < 2:
            raise ValueError(
                f"[{self.name}] needs at least two labels (exclusive classes), got {list(labels)}: the "
                f"training examples carry too few doc.cats labels and none were given."
            )
        self.cfg["labels"] = list(labels)
        self.fit_model(docs)

    def model_attrs(self) -> Dict:
        return {"heads": {"cats": len(self.cfg["labels"])}}

    def add_label(self, label: str) -> int:
        """Add a class: 1 if new, else 0. On a trained model the output layer grows (old rows
        kept, the new class starts improbable, see `grow_linear`); train it with a new optimizer
        (`nlp.resume_training(sgd=nlp.create_optimizer())`)."""
        return add_label(self, self.cfg["labels"], label, lambda net: net.add_labels(1))

    def predict(self, docs: Iterable[Doc]) -> numpy.ndarray:
        """Probabilities FloatArray[n_docs, n_labels] (rows sum to 1): softmax(logits / cfg["temperature"])."""
        logits = self.model.predict(list(docs))["cats"]
        return (logits / self.cfg["temperature"]).softmax(dim=-1).cpu().numpy()

    def set_annotations(self, docs: Iterable[Doc], scores: numpy.ndarray) -> None:
        for doc, row in zip(docs, scores):
            doc.cats.update(zip(self.labels, row.tolist()))

    def get_loss(self, examples: Iterable[Example], outputs: DocOutputs) -> Tuple[float, Dict[str, torch.Tensor]]:
        """Mean cross-entropy over the docs with a gold class; gradient w.r.t. the logits."""
        targets = torch.tensor([self._gold_index(eg) for eg in examples], dtype=torch.int64)
        loss, d_logits = softmax_cross_entropy(outputs["cats"], targets)
        return loss, {"cats": d_logits}

    def _gold_index(self, eg: Example) -> int:
        try:
            label = exclusive_label(eg.reference.cats)
        except ValueError as err:
            raise ValueError(f"[{self.name}] {err}") from None
        if label is None:
            return IGNORE_INDEX
        if label not in self.labels:
            raise ValueError(
                f"[{self.name}] gold label {label!r} is not among the component's labels {list(self.labels)}: "
                f"{missing_label_advice(self, label)}."
            )
        return self.labels.index(label)
