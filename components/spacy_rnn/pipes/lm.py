"""The `lstm_lm` component: a word-level recurrent language model inside `nlp(text)`.

For every doc it sets `token._.surprisal` (-log2 p of the token given everything to its left
in the doc; None for tokens the model does not read), `doc._.log_prob` (natural log, summed over
the predicted tokens including one <eos> per sentence), `doc._.lm_n_tokens` and
`doc._.perplexity`. `next_words(doc)` ranks the words that may follow a doc and `generate(doc)`
samples a continuation.

How a doc becomes the model's token stream (the same normalisation as the training corpus):
the stream starts with <eos> (the context a sentence has in the training stream); each
sentence's tokens follow, normalised (lower case, numbers -> "N", unknown words -> <unk>), then
an <eos> (one at the end of the doc when it has no sentence boundaries: put a `sentencizer`
first for multi-sentence texts). Whitespace tokens are skipped, and so are punctuation tokens
outside the vocabulary when `skip_punctuation` is set (the PTB corpus has no punctuation).
"""
import math
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Token
from spacy.training import Example, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import get_torch_net
from ..lm.batching import PADDING, bptt_chunks, pad_streams
from ..lm.scoring import read_prefix, sample_continuation
from ..lm.step import backward_chunk
from ..lm.vocab import Normalizer, Vocabulary
from ..models.language_model import State
from .base import TorchPipe

DEFAULT_LM_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_rnn.LanguageModel.v1"
embed_width = 400
hidden_width = 400
depth = 2
cell = "lstm"
tied = true
embed_dropout = 0.4
layer_dropout = 0.4
output_dropout = 0.4
chunk_size = 256
max_batch_docs = 16
"""
)["model"]

for _name in ("log_prob", "perplexity", "lm_n_tokens"):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)
if not Token.has_extension("surprisal"):
    Token.set_extension("surprisal", default=None)


@Language.factory(
    "lstm_lm",
    assigns=["token._.surprisal", "doc._.log_prob", "doc._.perplexity", "doc._.lm_n_tokens"],
    default_config={
        "model": DEFAULT_LM_MODEL,
        "lowercase": True,
        "number_token": "N",
        "skip_punctuation": True,
        "max_vocab_size": 10000,
        "min_count": 1,
        "max_grad_norm": 0.25,
        "scorer": {"@scorers": "spacy_rnn.lm_scorer.v1"},
    },
    default_score_weights={"lm_perplexity": None},
)
def make_lstm_lm(
    nlp: Language,
    name: str,
    model: Model,
    lowercase: bool,
    number_token: str,
    skip_punctuation: bool,
    max_vocab_size: int,
    min_count: int,
    max_grad_norm: float,
    scorer: Optional[Callable],
) -> "LanguageModelComponent":
    """lowercase / number_token / skip_punctuation: how words are normalised (saved with the
    model). max_vocab_size / min_count: the vocabulary built at initialization."""
    normalizer = Normalizer(lowercase=lowercase, number_token=number_token, skip_punctuation=skip_punctuation)
    return LanguageModelComponent(
        nlp.vocab,
        model,
        name,
        normalizer=normalizer,
        max_vocab_size=max_vocab_size,
        min_count=min_count,
        max_grad_norm=max_grad_norm,
        scorer=scorer,
    )


def lm_score(examples: Iterable[Example], **kwargs) -> Dict[str, Optional[float]]:
    """lm_perplexity = exp(-sum log p / number of predicted tokens) over all predicted docs;
    lm_log_prob is that sum (natural log), lm_n_tokens the count."""
    log_prob, n_tokens = 0.0, 0
    for example in examples:
        doc = example.predicted
        if doc._.lm_n_tokens:
            log_prob += doc._.log_prob
            n_tokens += doc._.lm_n_tokens
    perplexity = math.exp(-log_prob / n_tokens) if n_tokens else None
    return {"lm_perplexity": perplexity, "lm_log_prob": log_prob, "lm_n_tokens": n_tokens}


@registry.scorers("spacy_rnn.lm_scorer.v1")
def make_lm_scorer() -> Callable:
    return lm_score


class LanguageModelComponent(TorchPipe):
    """See the module docstring. The vocabulary (`model.attrs["words"]`) and the normaliser
    (`model.attrs["normalizer"]`) are saved with the model."""

    NET_CLASS = "LanguageModelNet"

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "lm",
        *,
        normalizer: Normalizer = Normalizer(),
        max_vocab_size: int = 10000,
        min_count: int = 1,
        max_grad_norm: float = 0.25,
        scorer: Optional[Callable] = lm_score,
    ):
        super().__init__(vocab, model, name, labels=[], max_grad_norm=max_grad_norm, scorer=scorer)
        self.cfg.update(max_vocab_size=max_vocab_size, min_count=min_count)
        self.model.attrs["normalizer"] = normalizer.to_dict()

    @property
    def normalizer(self) -> Normalizer:
        return Normalizer(**self.model.attrs["normalizer"])

    @property
    def lm_vocab(self) -> Vocabulary:
        words = self.model.attrs["words"]
        if getattr(self, "_lm_vocab_words", None) is not words:
            self._lm_vocab, self._lm_vocab_words = Vocabulary(words), words
        return self._lm_vocab

    @property
    def net(self):
        return get_torch_net(self.model)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        words: Optional[Sequence[str]] = None,
    ) -> None:
        """Build the vocabulary from the examples' normalised words (or take `words`, e.g. the
        vocabulary of a training corpus; <eos> and <unk> are added first) and the torch module."""
        if words is None:
            validate_get_examples(get_examples, f"{type(self).__name__}.initialize")
            normalizer = self.normalizer
            sentences = [
                [normalizer(t.text) for t in eg.reference if not t.is_space and not (normalizer.skip_punctuation and t.is_punct)]
                for eg in get_examples()
            ]
            if not any(sentences):
                raise ValueError(f"[{self.name}] the initialization examples have no words to build a vocabulary from")
            words = Vocabulary.from_corpus(sentences, max_size=self.cfg["max_vocab_size"], min_count=self.cfg["min_count"]).words
        self.model.attrs["words"] = Vocabulary(words).words
        self.model.initialize()

    def doc_stream(self, doc: Doc, end_with_eos: bool = True) -> Tuple[List[int], List[int]]:
        """The doc's token ids (starting with the <eos> context) and, for each id after the
        first, the index of the token it stands for (-1 for an <eos>)."""
        vocab, normalizer = self.lm_vocab, self.normalizer
        ids, positions = [vocab.eos_id], []
        units = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
        for unit in units:
            n_before = len(ids)
            for token in unit:
                if token.is_space:
                    continue
                word = normalizer(token.text)
                if normalizer.skip_punctuation and token.is_punct and word not in vocab:
                    continue
                ids.append(vocab.id(word))
                positions.append(token.i)
            if len(ids) > n_before:
                ids.append(vocab.eos_id)
                positions.append(-1)
        if not end_with_eos and positions and positions[-1] == -1:
            ids.pop()
            positions.pop()
        return ids, positions

    def predict(self, docs: Iterable[Doc]) -> List[Tuple[numpy.ndarray, List[int]]]:
        """Per doc: natural-log probabilities of its predicted tokens and their positions."""
        docs = list(docs)
        if not docs:
            return []
        if not self.model.attrs["words"]:
            raise ValueError(f"[{self.name}] the language model is not initialized: call nlp.initialize() or load a trained pipeline")
        streams = [self.doc_stream(doc) for doc in docs]
        log_probs = self.model.predict([ids for ids, _ in streams])
        return [(lp, positions) for lp, (_, positions) in zip(log_probs, streams)]

    def set_annotations(self, docs: Iterable[Doc], predictions) -> None:
        for doc, (log_probs, positions) in zip(docs, predictions):
            for log_prob, i in zip(log_probs.tolist(), positions):
                if i >= 0:
                    doc[i]._.surprisal = -log_prob / math.log(2)
            doc._.lm_n_tokens = len(positions)
            doc._.log_prob = float(log_probs.sum())
            doc._.perplexity = math.exp(-doc._.log_prob / len(positions)) if positions else None

    def next_words(self, doc: Doc, k: int = 10, include_special: bool = False) -> List[Tuple[str, float]]:
        """The k most probable words to follow the doc (its text is a prefix: no <eos> is added
        after it), with their probabilities. <unk> and <eos> are left out unless include_special."""
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"[{self.name}] next_words needs k >= 1, not {k!r}")
        ids, _ = self.doc_stream(doc, end_with_eos=False)
        log_probs, _ = read_prefix(self.net, ids, self.model.attrs["chunk_size"])
        if not include_special:
            log_probs[[self.lm_vocab.eos_id, self.lm_vocab.unk_id]] = float("-inf")
        top = log_probs.topk(min(k, len(log_probs)))
        words = self.lm_vocab.words
        return [(words[i], math.exp(lp)) for lp, i in zip(top.values.tolist(), top.indices.tolist())]

    def generate(
        self,
        doc: Doc,
        n_words: int = 20,
        *,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        seed: int = 0,
        stop_at_eos: bool = True,
    ) -> List[str]:
        """Sample up to n_words words after the doc (never <unk>); ends after an <eos> when
        stop_at_eos, else <eos> is never drawn. The same seed gives the same words.
        top_k: sample among the k most probable words only (None: all); temperature > 0."""
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"[{self.name}] generate needs top_k >= 1 or None (all words), not {top_k!r}")
        if not temperature > 0:
            raise ValueError(f"[{self.name}] generate needs a temperature > 0, not {temperature!r}")
        if not isinstance(n_words, int) or n_words < 0:
            raise ValueError(f"[{self.name}] generate needs n_words >= 0, not {n_words!r}")
        ids, _ = self.doc_stream(doc, end_with_eos=False)
        vocab = self.lm_vocab
        banned = [vocab.unk_id] if stop_at_eos else [vocab.unk_id, vocab.eos_id]
        drawn = sample_continuation(
            self.net,
            ids,
            n_words,
            chunk_size=self.model.attrs["chunk_size"],
            temperature=temperature,
            top_k=top_k,
            seed=seed,
            stop_id=vocab.eos_id,
            banned_ids=banned,
        )
        return [vocab.words[i] for i in drawn]

    def accumulate_gradients(self, examples: List[Example]) -> Optional[float]:
        """Gradients of the mean cross-entropy per predicted token of the reference docs'
        streams. Long docs are read chunk_size tokens at a time, back-propagating within each
        chunk (truncated BPTT, `lm.step.backward_chunk` as in `train-lm`), so memory stays
        bounded. Dropout rates come from the config."""
        streams = [self.doc_stream(eg.reference)[0] for eg in examples]
        streams = [ids for ids in streams if len(ids) > 1]
        if not streams:
            return None
        net = self.net
        net.train()
        n_targets = sum(len(ids) - 1 for ids in streams)
        state: Optional[State] = None
        total = 0.0
        for inputs, targets in bptt_chunks(pad_streams(streams, PADDING), self.model.attrs["chunk_size"]):
            loss, state = backward_chunk(net, inputs.clamp(min=0), targets, state, n_targets)
            total += loss
        return total
