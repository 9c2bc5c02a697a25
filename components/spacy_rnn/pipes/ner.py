"""`bilstm_crf_ner`: named entities (`doc.ents`) from a BiLSTM encoder and a linear-chain CRF."""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.attrs import IS_SPACE
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import Outputs, get_torch_net
from ..models.crf import IMPOSSIBLE
from .base import IGNORE_INDEX, TorchPipe, softmax_cross_entropy

DEFAULT_NER_MODEL = Config().from_str(
    """
[model]
@architectures = "lstm.EntityRecognizer.v1"
tag_scheme = "BILUO"
crf = true

[model.encoder]
@architectures = "lstm.Encoder.v1"
"""
)["model"]

UNKNOWN_TAG = -1


@Language.factory(
    "bilstm_crf_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_NER_MODEL,
        "max_grad_norm": 5.0,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_bilstm_crf_ner(
    nlp: Language, name: str, model: Model, max_grad_norm: float, scorer: Optional[Callable]
) -> "BiLSTMCRFEntityRecognizer":
    return BiLSTMCRFEntityRecognizer(nlp.vocab, model, name, max_grad_norm=max_grad_norm, scorer=scorer)


def entity_tags(labels: Sequence[str], scheme: str) -> List[str]:
    """"O" then the scheme's prefixes for each label: O, B-X, I-X, L-X, U-X, B-Y, ... (BILUO)."""
    prefixes = "BILU" if scheme == "BILUO" else "BI"
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in prefixes]


def pad_docs(values: torch.Tensor, lengths: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split per-token rows (docs one after another) into a padded [B, T, ...] tensor and its
    mask BoolTensor[B, T]; docs of length 0 are left out."""
    rows = [part for part in values.split(list(lengths)) if len(part)]
    padded = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    real_lengths = torch.tensor([len(part) for part in rows], device=values.device)
    mask = torch.arange(padded.shape[1], device=values.device) < real_lengths.unsqueeze(1)
    return padded, mask


class BiLSTMCRFEntityRecognizer(TorchPipe):
    """Tags each token with O / B-X / I-X (/ L-X / U-X) and reads entities off the tags.

    The CRF runs over whole docs (the encoder reads them in bounded windows). Decoding can only
    produce valid tag sequences, and whitespace tokens are always "O" (as in spaCy's own NER).
    cfg["labels"] are the entity types. Tokens whose gold tag is
    missing are marginalised out of the CRF likelihood (left out of the softmax loss).
    set_annotations replaces doc.ents; tokens outside the predicted entities become "O".
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bilstm_crf_ner",
        *,
        max_grad_norm: float = 5.0,
        scorer: Optional[Callable] = None,
    ):
        super().__init__(vocab, model, name, labels=[], max_grad_norm=max_grad_norm, scorer=scorer)

    @property
    def tags(self) -> List[str]:
        return self.model.attrs["tags"]

    @property
    def tag_scheme(self) -> str:
        return self.model.attrs["settings"]["tag_scheme"]

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[List[str]] = None,
    ) -> None:
        """Collect entity labels (unless given) and vocabularies, then build the model."""
        validate_get_examples(get_examples, "BiLSTMCRFEntityRecognizer.initialize")
        docs = [eg.reference for eg in get_examples()]
        if labels is None:
            labels = sorted({ent.label_ for doc in docs for ent in doc.ents})
        if not labels:
            raise ValueError(
                f"[{self.name}] no entity labels: the training examples have no doc.ents and no "
                f"labels were given."
            )
        self.cfg["labels"] = list(labels)
        self.model.attrs["tags"] = entity_tags(labels, self.tag_scheme)
        self.fit_model(docs, heads={"tags": len(self.tags)})

    def predict(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        """Tag ids for each doc (int arrays, one per doc)."""
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [numpy.zeros((0,), dtype="int64") for _ in docs]
        return self.decode(docs, self.model.predict(docs)["tags"])

    def decode(self, docs: List[Doc], emissions: torch.Tensor) -> List[numpy.ndarray]:
        """The best valid tag sequence of each doc given emission scores FloatTensor[N, n_tags]
        for the docs' tokens one doc after another; whitespace tokens get "O"."""
        if not self.model.attrs["settings"]["crf"]:
            emissions = emissions.log_softmax(dim=-1)
        is_space = numpy.concatenate([doc.to_array(IS_SPACE) for doc in docs]).astype(bool)
        emissions = emissions.clone()
        emissions[torch.from_numpy(is_space).to(emissions.device), 1:] = IMPOSSIBLE
        lengths = [len(doc) for doc in docs]
        results = [numpy.zeros((0,), dtype="int64") for _ in lengths]
        crf = get_torch_net(self.model).crf
        max_cells = self.model.attrs["settings"]["max_batch_tokens"]
        starts = numpy.cumsum([0] + lengths)
        # Viterbi over groups of docs of similar length, at most max_cells padded positions each.
        order = [i for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]) if lengths[i]]
        with torch.no_grad():
            while order:
                size = max(1, max_cells // lengths[order[0]])
                group, order = order[:size], order[size:]
                rows = torch.cat([emissions[starts[i] : starts[i + 1]] for i in group])
                padded, mask = pad_docs(rows, [lengths[i] for i in group])
                best = crf.decode(padded, mask).cpu().numpy()
                for row, i in enumerate(group):
                    results[i] = best[row, : lengths[i]]
        return results

    def set_annotations(self, docs: Iterable[Doc], tag_ids: List[numpy.ndarray]) -> None:
        for doc, ids in zip(docs, tag_ids):
            tags = [self.tags[i] for i in ids]
            if self.tag_scheme == "BIO":
                tags = iob_to_biluo(tags)
            doc.set_ents(biluo_tags_to_spans(doc, tags), default="outside")

    def get_loss(self, examples: Iterable[Example], outputs: Outputs) -> Tuple[float, Dict[str, torch.Tensor]]:
        """CRF: summed negative log-likelihood of the gold docs per token; otherwise the mean
        token cross-entropy. Gradients are w.r.t. the emission scores."""
        examples = list(examples)
        gold = [self._gold_tag_ids(eg) for eg in examples]
        emissions = outputs["tags"]
        if not self.model.attrs["settings"]["crf"]:
            targets = torch.tensor(numpy.concatenate(gold), dtype=torch.int64)
            loss, d_emissions = softmax_cross_entropy(emissions, targets.masked_fill(targets < 0, IGNORE_INDEX))
            return loss, {"tags": d_emissions}
        leaf = emissions.detach().requires_grad_()
        lengths = [len(ids) for ids in gold]
        padded, mask = pad_docs(leaf, lengths)
        gold_ids, _ = pad_docs(torch.tensor(numpy.concatenate(gold), device=leaf.device), lengths)
        crf = get_torch_net(self.model).crf
        loss = crf.neg_log_likelihood(padded, gold_ids, mask).sum() / max(1, sum(lengths))
        loss.backward()
        return float(loss.detach()), {"tags": leaf.grad}

    def _gold_tag_ids(self, eg: Example) -> numpy.ndarray:
        """Gold tag id per predicted token; UNKNOWN_TAG where the annotation is missing."""
        tag_index = {tag: i for i, tag in enumerate(self.tags)}
        ids = numpy.full((len(eg.predicted),), UNKNOWN_TAG, dtype="int64")
        for i, tag in enumerate(eg.get_aligned_ner()):
            if tag is None or tag == "-":
                continue
            if self.tag_scheme == "BIO":
                tag = {"U": "B", "L": "I"}.get(tag[0], tag[0]) + tag[1:]
            if tag not in tag_index:
                raise ValueError(
                    f"[{self.name}] gold entity label {tag.split('-', 1)[-1]!r} is not among the "
                    f"component's labels {list(self.labels)}; initialize the pipeline on data that "
                    f"contains it."
                )
            ids[i] = tag_index[tag]
        return ids
