"""The `torch_lm` component: a word-level recurrent language model inside `nlp(text)`.

For every doc it gives `token._.surprisal` (-log2 p of the token given everything to its left
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

Lazy by default: `nlp(text)` / `nlp.pipe` only record each doc's token stream (no model runs)
in `doc.user_data[LM_VALUES]`; the first read of any of the values of a doc runs
the model over that doc and the docs `nlp.pipe` would have read with it in the eager path (up to
`max_batch_docs` docs of similar length from the same batch), so the values are the eager ones
bit for bit, and keeps them there: later reads cost a dict lookup. With `eager = true` the
values are computed in `nlp(text)` / `nlp.pipe`, batched. Serializing a doc whose values were
not read yet (`Doc.to_bytes`, a `DocBin` with user data, pickling, `nlp.pipe(n_process=2)`)
computes them first, so they travel with it. docs/lm.md describes every case.
"""
import math
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_get_examples
from spacy.util import minibatch, registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..layers import get_torch_net
from ..lm.batching import PADDING, bptt_chunks, pad_streams
from ..lm.scoring import read_prefix, reading_groups, sample_continuation
from ..lm.step import backward_chunk
from ..lm.vocab import Normalizer, Vocabulary
from ..models.language_model import State
from .base import TorchPipe, register_former_name
from .lm_values import LM_VALUES, LazyGroup, LMValues, PendingLMValues

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

@Language.factory(
    "torch_lm",
    assigns=["token._.surprisal", "doc._.log_prob", "doc._.perplexity", "doc._.lm_n_tokens"],
    default_config={
        "model": DEFAULT_LM_MODEL,
        "lowercase": True,
        "number_token": "N",
        "skip_punctuation": True,
        "max_vocab_size": 10000,
        "min_count": 1,
        "max_grad_norm": 0.25,
        "eager": False,
        "weights_storage": "float32",
        "scorer": {"@scorers": "spacy_rnn.lm_scorer.v1"},
    },
    default_score_weights={"lm_perplexity": None},
)
def make_torch_lm(
    nlp: Language,
    name: str,
    model: Model,
    lowercase: bool,
    number_token: str,
    skip_punctuation: bool,
    max_vocab_size: int,
    min_count: int,
    max_grad_norm: float,
    eager: bool,
    weights_storage: str,
    scorer: Optional[Callable],
) -> "LanguageModelComponent":
    """lowercase / number_token / skip_punctuation: how words are normalised (saved with the
    model). max_vocab_size / min_count: the vocabulary built at initialization.
    eager: false (the default) computes a doc's surprisals, log_prob, lm_n_tokens and perplexity
    on the first read of any of them (a pipeline pays for the model only where they are read);
    true computes them in `nlp(text)` / `nlp.pipe`, batched, for users who read every doc's. The
    values are the same either way. A prediction setting: a saved pipeline takes the config's,
    e.g. `spacy.load(path, config={"components": {"lm": {"eager": True}}})`.
    weights_storage: "float32" or "float16" (half the size on disk, float32 in memory;
    `python -m spacy_rnn compact-weights` switches a trained pipeline)."""
    normalizer = Normalizer(lowercase=lowercase, number_token=number_token, skip_punctuation=skip_punctuation)
    return LanguageModelComponent(
        nlp.vocab,
        model,
        name,
        normalizer=normalizer,
        max_vocab_size=max_vocab_size,
        min_count=min_count,
        max_grad_norm=max_grad_norm,
        eager=eager,
        weights_storage=weights_storage,
        scorer=scorer,
    )


register_former_name("lstm_lm", "torch_lm")


def lm_score(examples: Iterable[Example], **kwargs) -> Dict[str, Optional[float]]:
    """lm_perplexity = exp(-sum log p / number of predicted tokens) over all predicted docs;
    lm_log_prob is that sum (natural log), lm_n_tokens the count. Reading the values of lazily
    processed docs computes them, in the groups the eager path reads: the same scores."""
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
    (`model.attrs["normalizer"]`) are saved with the model; cfg["eager"] is a prediction
    setting (the config's value wins over the saved one)."""

    NET_CLASS = "LanguageModelNet"
    PREDICTION_SETTINGS = ("eager",)

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
        eager: bool = False,
        weights_storage: str = "float32",
        scorer: Optional[Callable] = lm_score,
    ):
        super().__init__(vocab, model, name, labels=[], max_grad_norm=max_grad_norm, weights_storage=weights_storage, scorer=scorer)
        self.cfg.update(max_vocab_size=max_vocab_size, min_count=min_count, eager=eager)
        self.model.attrs["normalizer"] = normalizer.to_dict()
        self._weights_generation = 0

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
        self._weights_changed()

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

    def check_initialized(self) -> None:
        if not self.model.attrs["words"]:
            raise ValueError(f"[{self.name}] the language model is not initialized: call nlp.initialize() or load a trained pipeline")

    def predict(self, docs: Iterable[Doc]) -> List[Tuple[numpy.ndarray, List[int]]]:
        """Per doc: natural-log probabilities of its predicted tokens and their positions."""
        docs = list(docs)
        if not docs:
            return []
        self.check_initialized()
        streams = [self.doc_stream(doc) for doc in docs]
        log_probs = self.model.predict([ids for ids, _ in streams])
        return [(lp, positions) for lp, (_, positions) in zip(log_probs, streams)]

    def set_annotations(self, docs: Iterable[Doc], predictions) -> None:
        """Store each doc's values (the eager path)."""
        for doc, (log_probs, positions) in zip(docs, predictions):
            doc.user_data[LM_VALUES] = LMValues.from_log_probs(self.name, log_probs, _token_starts(doc, positions))

    def defer(self, docs: Sequence[Doc]) -> None:
        """The lazy path: record each doc's token stream in the group the eager path would read
        it with (`lm.scoring.reading_groups`); the first read of one of its values computes them
        for the whole group."""
        docs = list(docs)
        if not docs:
            return
        self.check_initialized()
        streams = [self.doc_stream(doc) for doc in docs]
        stamp = self._weights_stamp()
        for members in reading_groups([len(ids) for ids, _ in streams], self.model.attrs["max_batch_docs"]):
            group = LazyGroup(
                self, stamp, [streams[i][0] for i in members], [_token_starts(docs[i], streams[i][1]) for i in members]
            )
            for index, i in enumerate(members):
                docs[i].user_data[LM_VALUES] = PendingLMValues(group, index)

    def __call__(self, doc: Doc) -> Doc:
        if self.cfg.get("eager", False):
            return super().__call__(doc)
        error_handler = self.get_error_handler()
        try:
            self.defer([doc])
            return doc
        except Exception as e:
            error_handler(self.name, self, [doc], e)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        if self.cfg.get("eager", False):
            yield from super().pipe(stream, batch_size=batch_size)
            return
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                self.defer(docs)
                yield from docs
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def _read_group(self, stamp, streams: List[List[int]], token_starts: List[List[int]]) -> List[LMValues]:
        """The values of a lazy group; an error for each doc if the weights changed since."""
        if stamp != self._weights_stamp():
            error = (
                f"[{self.name}] the language model's weights changed (an update, use_params or loading) after it "
                f"read this doc and before its surprisal/perplexity were first read, so they cannot be given: read "
                f"them before changing the weights, or set the component's eager = true"
            )
            return [LMValues(self.name, error=error)] * len(streams)
        log_probs = self.model.predict(streams)
        return [LMValues.from_log_probs(self.name, lp, starts) for lp, starts in zip(log_probs, token_starts)]

    def _weights_stamp(self):
        """Changes whenever the weights may have: updates through the component and loading count
        a generation; in-place changes to the tensors (e.g. use_params) bump their versions."""
        params = tuple((id(p), p.data_ptr(), p._version) for p in self.net.parameters())
        return getattr(self, "_weights_generation", 0), params

    def _weights_changed(self) -> None:
        self._weights_generation = getattr(self, "_weights_generation", 0) + 1

    def finish_update(self, sgd) -> None:
        try:
            super().finish_update(sgd)
        finally:
            self._weights_changed()

    def from_disk(self, path, *, exclude=tuple()):
        super().from_disk(path, exclude=exclude)
        self._weights_changed()
        return self

    def from_bytes(self, bytes_data, *, exclude=tuple()):
        super().from_bytes(bytes_data, exclude=exclude)
        self._weights_changed()
        return self

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


def _token_starts(doc: Doc, positions: Sequence[int]) -> List[Tuple[int, int]]:
    """The character offsets (start, end) of the token at each position ((-1, -1) for an <eos>)."""
    if not len(doc):
        return [(-1, -1) for _ in positions]
    offsets = doc.to_array([IDX, LENGTH]).tolist()
    return [(offsets[i][0], offsets[i][0] + offsets[i][1]) if i >= 0 else (-1, -1) for i in positions]
