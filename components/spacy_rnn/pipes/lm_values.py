"""What the language model leaves on a Doc: its values (`LMValues`: per-token surprisal, the doc's
log-probability, token count and perplexity), kept in `doc.user_data[LM_VALUES]`, computed on
the first read when the component is lazy (`PendingLMValues` in a `LazyGroup`), and the
extensions that read them (`token._.surprisal`, `doc._.log_prob`, `doc._.perplexity`,
`doc._.lm_n_tokens`). The component that writes them is `spacy_rnn.pipes.lm`.
"""
import math
import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
import srsly
from spacy.tokens import Doc, Token


# The doc.user_data key of a doc's values: an `LMValues`, a `PendingLMValues` until the first
# read, or the plain dict `LMValues.to_dict` gives after the doc was deserialized. A doc-level
# extension key, so `Span.as_doc(copy_user_data=True)` and `Doc.from_docs` leave it out: the
# values belong to the doc the model read, not to a part or a concatenation of it.
LM_VALUES = ("._.", "lm_values", None, None)


class LMValues:
    """What the language model gives one doc (surprisal: {token.idx: bits} of the predicted
    words; ends: {token.idx: the token's end offset}, so a token merged or split since reads
    None, not another token's value; None for values stored before ends were kept), or why it
    cannot (`error`, raised when read). Shared, never modified, by copies of the doc; serialized
    (msgpack, pickle) as the plain dict `to_dict`."""

    __slots__ = ("component", "log_prob", "n_tokens", "perplexity", "surprisal", "ends", "error")

    def __init__(
        self,
        component: str,
        log_prob: float = 0.0,
        n_tokens: int = 0,
        perplexity: Optional[float] = None,
        surprisal: Optional[Dict[int, float]] = None,
        error: Optional[str] = None,
        ends: Optional[Dict[int, int]] = None,
    ):
        self.component = component
        self.log_prob, self.n_tokens, self.perplexity = log_prob, n_tokens, perplexity
        self.surprisal = {} if surprisal is None else surprisal
        self.ends = ends
        self.error = error

    @classmethod
    def from_log_probs(cls, component: str, log_probs: numpy.ndarray, token_spans: Sequence[Tuple[int, int]]) -> "LMValues":
        """log_probs: natural-log probabilities of the predicted tokens; token_spans: the
        character offsets (start, end) of the token each stands for ((-1, -1) for an <eos>)."""
        surprisal, ends = {}, {}
        for log_prob, (start, end) in zip(log_probs.tolist(), token_spans):
            if start >= 0:
                surprisal[start], ends[start] = -log_prob / math.log(2), end
        log_prob = float(log_probs.sum())
        n_tokens = len(token_spans)
        return cls(component, log_prob, n_tokens, math.exp(-log_prob / n_tokens) if n_tokens else None, surprisal, ends=ends)

    def to_dict(self) -> Dict:
        if self.error is not None:
            return {"component": self.component, "error": self.error}
        return {
            "component": self.component,
            "log_prob": self.log_prob,
            "n_tokens": self.n_tokens,
            "perplexity": self.perplexity,
            "idx": list(self.surprisal),
            "surprisal": list(self.surprisal.values()),
            **({"end": [self.ends.get(start, -1) for start in self.surprisal]} if self.ends is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Dict) -> "LMValues":
        if data.get("error") is not None:
            return cls(data.get("component", "lm"), error=data["error"])
        surprisal = dict(zip(data["idx"], data["surprisal"]))
        ends = dict(zip(data["idx"], data["end"])) if "end" in data else None
        return cls(data["component"], data["log_prob"], data["n_tokens"], data["perplexity"], surprisal, ends=ends)

    def __reduce__(self):
        return (dict, (self.to_dict(),))

    def __copy__(self) -> "LMValues":
        return self

    def __deepcopy__(self, memo) -> "LMValues":
        return self


class LazyGroup:
    """Docs the eager path reads in one batch: their token streams, the component and the
    state of its weights when it recorded them; the values of all of them once one is read
    (by one thread: others wait for them)."""

    __slots__ = ("component", "stamp", "streams", "token_starts", "results", "lock")

    def __init__(self, component, stamp, streams: List[List[int]], token_starts: List[List[int]]):
        self.component, self.stamp, self.streams, self.token_starts = component, stamp, streams, token_starts
        self.results: Optional[List[LMValues]] = None
        self.lock = threading.Lock()

    def values(self, index: int) -> LMValues:
        if self.results is None:
            with self.lock:
                if self.results is None:
                    self.results = self.component._read_group(self.stamp, self.streams, self.token_starts)
                    self.component = self.streams = self.token_starts = None
        return self.results[index]


class PendingLMValues:
    """A doc's values before their first read: its place in a `LazyGroup`. Copies of the doc
    share it; pickling or msgpack (Doc.to_bytes, DocBin) computes the values and stores them."""

    __slots__ = ("group", "index")

    def __init__(self, group: LazyGroup, index: int):
        self.group, self.index = group, index

    def resolve(self) -> LMValues:
        return self.group.values(self.index)

    def to_dict(self) -> Dict:
        return self.resolve().to_dict()

    def __reduce__(self):
        return (dict, (self.to_dict(),))

    def __copy__(self) -> "PendingLMValues":
        return self

    def __deepcopy__(self, memo) -> "PendingLMValues":
        return self


def lm_values(doc: Doc) -> Optional[LMValues]:
    """The doc's language-model values, computed on the first read; None when no `torch_lm` read
    the doc (or its user data was not kept). Raises ValueError when they cannot be given (the
    model's weights changed between reading the doc and the first read of its values)."""
    entry = doc.user_data.get(LM_VALUES)
    if entry is None:
        return None
    if type(entry) is not LMValues:
        if isinstance(entry, PendingLMValues):
            entry = entry.resolve()
        elif isinstance(entry, dict):
            entry = LMValues.from_dict(entry)
        else:
            raise TypeError(f"doc.user_data[{LM_VALUES!r}] holds a {type(entry).__name__}, not language-model values")
        doc.user_data[LM_VALUES] = entry
    if entry.error is not None:
        raise ValueError(entry.error)
    return entry


def _token_surprisal(token: Token) -> Optional[float]:
    """The token's surprisal; None when the model did not predict it (no values, whitespace or
    skipped punctuation) or the token is not one it read (merged or split since)."""
    values = lm_values(token.doc)
    if values is None:
        return None
    if values.ends is not None and values.ends.get(token.idx) != token.idx + len(token):
        return None
    return values.surprisal.get(token.idx)


def _doc_value(attr: str) -> Callable[[Doc], object]:
    def getter(doc: Doc):
        values = lm_values(doc)
        return None if values is None else getattr(values, attr)

    return getter


for _name in ("log_prob", "perplexity", "n_tokens"):
    Doc.set_extension("lm_n_tokens" if _name == "n_tokens" else _name, getter=_doc_value(_name), force=True)
Token.set_extension("surprisal", getter=_token_surprisal, force=True)


def _encode_lm_values(obj, chain=None):
    """srsly's msgpack (Doc.to_bytes, DocBin, nlp.pipe's worker processes) stores a doc's values,
    computing them first if they were not read yet."""
    if isinstance(obj, (LMValues, PendingLMValues)):
        return obj.to_dict()
    return obj if chain is None else chain(obj)


srsly.msgpack_encoders.register("spacy_rnn.lm_values", func=_encode_lm_values)
