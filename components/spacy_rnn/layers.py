"""Glue between spaCy Docs and the torch modules in `spacy_rnn.models`.

`TorchSequenceModel` is a thinc `Model[List[Doc], Dict[str, torch.Tensor]]`: it cuts docs
into bounded windows, turns them into a `SequenceBatch`, runs the wrapped torch module
through a `PyTorchShim` and returns its per-token outputs in document order (doc 0's tokens,
then doc 1's, ...). Its backward pass takes gradients for those outputs as torch tensors.

The word and character vocabularies live in the model's `attrs` (serialised by thinc); the
torch module is serialised as constructor hyper-parameters + a state dict and rebuilt from
them before the weights are loaded (`torch.load(weights_only=True)`: no pickled code runs).
"""
import io
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
import srsly
import torch
from spacy.attrs import LOWER, ORTH
from spacy.strings import get_string_id
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model
from thinc.shims import PyTorchShim
from torch import nn

from .models.classifier import TextClassifierNet
from .models.encoder import PAD_ID, UNK_ID, SequenceBatch
from .models.language_model import LanguageModelNet
from .models.ner import EntityTaggerNet
from .models.tagger import TaggerNet

CHAR_UNK, BOW, EOW = 1, 2, 3
FIRST_WORD_ID, FIRST_CHAR_ID = 2, 4
NETS = {cls.__name__: cls for cls in (TaggerNet, EntityTaggerNet, LanguageModelNet, TextClassifierNet)}

Outputs = Dict[str, torch.Tensor]


@dataclass(frozen=True)
class Window:
    """Tokens doc[start:end] go through the RNN; only doc[core_start:core_end] are output."""

    doc: int
    start: int
    end: int
    core_start: int
    core_end: int


def doc_windows(doc: Doc, size: int, context: int, by_sentence: bool = True) -> List[Tuple[int, int, int, int]]:
    """Cut a doc into (start, end, core_start, core_end) windows of at most `size` tokens.

    Sentences are the units when `by_sentence` and the doc has sentence boundaries, else the whole doc. A unit
    longer than `size` is covered by consecutive cores of `size - 2 * context` tokens, each
    read with up to `context` tokens of left and right context. Cores partition the doc.
    """
    if size <= 2 * context:
        raise ValueError(f"window_size ({size}) must exceed 2 * window_context ({context})")
    if len(doc) == 0:
        return []
    if by_sentence and doc.has_annotation("SENT_START"):
        units = [(sent.start, sent.end) for sent in doc.sents]
    else:
        units = [(0, len(doc))]
    step = size - 2 * context
    windows = []
    for unit_start, unit_end in units:
        if unit_end - unit_start <= size:
            windows.append((unit_start, unit_end, unit_start, unit_end))
            continue
        for core_start in range(unit_start, unit_end, step):
            core_end = min(core_start + step, unit_end)
            start = max(unit_start, core_start - context)
            end = min(unit_end, core_end + context)
            windows.append((start, end, core_start, core_end))
    return windows


class Vocabularies:
    """Lower-cased word forms and characters seen in training, as id lookups."""

    def __init__(self, words: Sequence[str], chars: Sequence[str], max_word_chars: int):
        self.word_ids = {get_string_id(w): i for i, w in enumerate(words, FIRST_WORD_ID)}
        self.char_ids = {c: i for i, c in enumerate(chars, FIRST_CHAR_ID)}
        self.max_word_chars = max_word_chars

    def encode_form(self, form: str) -> List[int]:
        """BOW + char ids + EOW; over-long forms keep their prefix and suffix."""
        half = self.max_word_chars // 2
        if len(form) > self.max_word_chars:
            form = form[:half] + form[-half:]
        return [BOW] + [self.char_ids.get(c, CHAR_UNK) for c in form] + [EOW]


@dataclass
class DocFeatures:
    """Per-token arrays for one doc: word ids, orth hashes, rows in the static vectors table
    (-1: no vector), or None when the model uses no static vectors."""

    word_ids: numpy.ndarray
    orths: numpy.ndarray
    vector_rows: Optional[numpy.ndarray]


def doc_features(doc: Doc, vocabs: Vocabularies, vectors_width: int) -> DocFeatures:
    keys = doc.to_array([ORTH, LOWER])
    word_ids = numpy.fromiter(
        (vocabs.word_ids.get(key, UNK_ID) for key in keys[:, 1].tolist()), dtype="int64", count=len(doc)
    )
    vector_rows = None
    if vectors_width:
        table = doc.vocab.vectors
        vector_rows = table.find(keys=keys[:, 0])
        missing = vector_rows < 0
        vector_rows[missing] = table.find(keys=keys[missing, 1])
    return DocFeatures(word_ids, keys[:, 0], vector_rows)


def make_batch(
    windows: Sequence[Window], features: Sequence[DocFeatures], docs: Sequence[Doc], vocabs: Vocabularies
) -> SequenceBatch:
    """Pad the windows into one SequenceBatch whose token_index lists their core tokens in order."""
    n_windows = len(windows)
    width = max(w.end - w.start for w in windows)
    word_ids = numpy.full((n_windows, width), PAD_ID, dtype="int64")
    form_index = numpy.zeros((n_windows, width), dtype="int64")
    table = docs[0].vocab.vectors
    use_vectors = features[0].vector_rows is not None
    vectors = numpy.zeros((n_windows, width, table.shape[1]), dtype="float32") if use_vectors else None
    forms: Dict[int, int] = {}
    token_index = []
    for row, window in enumerate(windows):
        feats = features[window.doc]
        span = slice(window.start, window.end)
        n = window.end - window.start
        word_ids[row, :n] = feats.word_ids[span]
        if vectors is not None:
            rows = feats.vector_rows[span]
            vectors[row, :n] = table.data[rows]
            vectors[row, :n][rows < 0] = 0.0
        form_index[row, :n] = [forms.setdefault(orth, len(forms)) for orth in feats.orths[span].tolist()]
        offset = row * width - window.start
        token_index.extend(range(window.core_start + offset, window.core_end + offset))
    strings = docs[0].vocab.strings
    encoded = [vocabs.encode_form(strings[orth]) for orth in forms]
    char_ids = numpy.zeros((len(encoded), max(len(chars) for chars in encoded)), dtype="int64")
    for row, chars in enumerate(encoded):
        char_ids[row, : len(chars)] = chars
    return SequenceBatch(
        word_ids=torch.from_numpy(word_ids),
        char_ids=torch.from_numpy(char_ids),
        form_index=torch.from_numpy(form_index),
        vectors=None if vectors is None else torch.from_numpy(vectors),
        lengths=torch.tensor([w.end - w.start for w in windows], dtype=torch.int64),
        token_index=torch.tensor(token_index, dtype=torch.int64),
    )


def text_windows(doc: Doc, long_text: str, max_tokens: int, context: int) -> List[Tuple[int, int, int, int]]:
    """The windows through which a doc-level model reads a whole doc (sentences ignored):
    long_text "truncate" reads only its first `max_tokens` tokens; "window" reads all of it in
    windows of at most `max_tokens` tokens with `context` tokens of context (`doc_windows`)."""
    if long_text == "truncate":
        n_tokens = min(len(doc), max_tokens)
        return [(0, n_tokens, 0, n_tokens)] if n_tokens else []
    return doc_windows(doc, max_tokens, context, by_sentence=False)


def bucket_windows(windows: Sequence[Window], max_tokens: int) -> List[List[int]]:
    """Indices of the windows, longest first, in groups whose padded size (number of windows x
    longest window) is at most `max_tokens` (a longer window forms a group alone). Windows of
    similar length go together, so padding stays small."""
    lengths = [window.end - window.start for window in windows]
    groups: List[List[int]] = []
    for i in sorted(range(len(windows)), key=lambda i: -lengths[i]):
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= max_tokens:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def chunk_windows(windows: List[Window], max_tokens: int) -> Iterator[List[Window]]:
    """Consecutive groups of windows with at most `max_tokens` tokens (at least one window)."""
    chunk: List[Window] = []
    n_tokens = 0
    for window in windows:
        size = window.end - window.start
        if chunk and n_tokens + size > max_tokens:
            yield chunk
            chunk, n_tokens = [], 0
        chunk.append(window)
        n_tokens += size
    if chunk:
        yield chunk


def serialize_net(net: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    msg = {"net": type(net).__name__, "hparams": net.hparams, "state": buffer.getvalue()}
    return srsly.msgpack_dumps(msg)


def deserialize_net(_placeholder: nn.Module, data: bytes, device: torch.device) -> nn.Module:
    """Rebuild the module from its saved hyper-parameters, then load tensors only."""
    msg = srsly.msgpack_loads(data)
    if msg["net"] not in NETS:
        raise ValueError(f"Unknown torch module {msg['net']!r}; expected one of {sorted(NETS)}")
    net = NETS[msg["net"]](**msg["hparams"])
    state = torch.load(io.BytesIO(msg["state"]), map_location=device, weights_only=True)
    net.load_state_dict(state)
    return net.to(device)


def get_torch_net(model: Model) -> nn.Module:
    """The torch module wrapped by a TorchSequenceModel."""
    return model.shims[0]._model


def TorchSequenceModel(
    name: str, build_net: Callable[[Model], nn.Module], settings: Dict, attrs: Optional[Dict] = None
) -> Model[List[Doc], Outputs]:
    """Wrap a token-level torch module; `build_net(model)` creates it from `model.attrs`
    when the model is initialized (a module-level function, so the model pickles).

    settings: the `lstm.Encoder.v1` dict (window_size, window_context, max_batch_tokens,
    min_word_freq, max_word_chars, and the torch hyper-parameters). attrs filled at
    initialization: words, chars, vectors_width (`fit_vocabularies`) and heads
    ({output name: width}, set by the component). `attrs` declares further attributes with
    their empty values (thinc only restores attributes the freshly built model has).
    """
    return _torch_model(name, _forward, build_net, settings, attrs)


def TorchDocModel(name: str, build_net: Callable[[Model], nn.Module], settings: Dict) -> Model[List[Doc], Outputs]:
    """Wrap a doc-level torch module (`TextClassifierNet`): docs -> {"cats": FloatTensor[len(docs), n]}.

    Each doc is read whole (sentence boundaries ignored) through `text_windows` (settings
    long_text, max_tokens, window_context). At prediction time the windows of all docs are
    sorted by length and run in groups of at most max_batch_tokens padded tokens
    (`bucket_windows`), so the cost follows the real tokens and memory stays bounded for a
    doc of any length; the module merges the windows' pooled states per doc. When training,
    the batch's windows go through the module at once (the batcher bounds the batch).
    Other settings and attrs as in `TorchSequenceModel`.
    """
    return _torch_model(name, _doc_forward, build_net, settings, None)


def _torch_model(
    name: str, forward: Callable, build_net: Callable[[Model], nn.Module], settings: Dict, attrs: Optional[Dict]
) -> Model:
    shim = PyTorchShim(nn.Module(), serialize_model=serialize_net, deserialize_model=deserialize_net)
    model_attrs = {"settings": dict(settings), "words": [], "chars": [], "vectors_width": 0, "heads": {}}
    model_attrs.update(attrs or {})
    return Model(
        name,
        partial(forward, cache={}),
        init=partial(_init, build_net=build_net),
        attrs=model_attrs,
        shims=[shim],
    )


def _init(model: Model, X=None, Y=None, *, build_net: Callable[[Model], nn.Module]) -> None:
    model.shims[0]._model = build_net(model)


def _vocabularies(model: Model, cache: Dict) -> Vocabularies:
    words, chars = model.attrs["words"], model.attrs["chars"]
    if cache.get("words") is not words or cache.get("chars") is not chars:
        settings = model.attrs["settings"]
        cache.update(words=words, chars=chars, vocabs=Vocabularies(words, chars, settings["max_word_chars"]))
    return cache["vocabs"]


def _forward(model: Model, docs: List[Doc], is_train: bool, *, cache: Dict) -> Tuple[Outputs, Callable]:
    settings = model.attrs["settings"]
    shim = model.shims[0]
    windows = [
        Window(i, *spans)
        for i, doc in enumerate(docs)
        for spans in doc_windows(doc, settings["window_size"], settings["window_context"])
    ]
    if not windows:
        empty = {name: torch.zeros(0, n) for name, n in model.attrs["heads"].items()}
        return empty, lambda d_outputs: []
    vocabs = _vocabularies(model, cache)
    features = [doc_features(doc, vocabs, model.attrs["vectors_width"]) for doc in docs]
    if is_train:
        batch = make_batch(windows, features, docs, vocabs)
        outputs, backprop_shim = shim(ArgsKwargs(args=(batch,), kwargs={}), is_train=True)
        return outputs, partial(_backprop, outputs, backprop_shim)
    n_outputs = sum(window.core_end - window.core_start for window in windows)
    outputs: Outputs = {}
    offset = 0
    for chunk in chunk_windows(windows, settings["max_batch_tokens"]):
        chunk_outputs = shim.predict(ArgsKwargs(args=(make_batch(chunk, features, docs, vocabs),), kwargs={}))
        for name, tensor in chunk_outputs.items():
            if name not in outputs:
                outputs[name] = tensor.new_empty((n_outputs, tensor.shape[1]))
            outputs[name][offset : offset + len(tensor)] = tensor
        offset += len(tensor)
    return outputs, lambda d_outputs: []


def _backprop(outputs: Outputs, backprop_shim: Callable, d_outputs: Outputs) -> List:
    """Backpropagate gradients for the shim's outputs (torch tensors) into the torch module."""
    names = list(outputs)
    tensors = tuple(outputs[name] for name in names)
    grads = tuple(d_outputs[name] for name in names)
    backprop_shim(ArgsKwargs(args=(tensors,), kwargs={"grad_tensors": grads}))
    return []


def _doc_forward(model: Model, docs: List[Doc], is_train: bool, *, cache: Dict) -> Tuple[Outputs, Callable]:
    settings = model.attrs["settings"]
    shim = model.shims[0]
    windows = [
        Window(i, *spans)
        for i, doc in enumerate(docs)
        for spans in text_windows(doc, settings["long_text"], settings["max_tokens"], settings["window_context"])
    ]
    vocabs = _vocabularies(model, cache)
    features = [doc_features(doc, vocabs, model.attrs["vectors_width"]) for doc in docs]
    window_docs = torch.tensor([window.doc for window in windows], dtype=torch.int64)
    if is_train:
        batches = [make_batch(windows, features, docs, vocabs)] if windows else []
        inputs = ArgsKwargs(args=(batches, torch.arange(len(windows)), window_docs, len(docs)), kwargs={})
        outputs, backprop_shim = shim(inputs, is_train=True)
        return outputs, partial(_backprop, outputs, backprop_shim)
    groups = bucket_windows(windows, settings["max_batch_tokens"])
    rows = torch.tensor([i for group in groups for i in group], dtype=torch.int64)
    batches = (make_batch([windows[i] for i in group], features, docs, vocabs) for group in groups)
    outputs = shim.predict(ArgsKwargs(args=(batches, rows, window_docs, len(docs)), kwargs={}))
    return outputs, lambda d_outputs: []


def fit_vocabularies(model: Model, docs: Iterable[Doc], vectors_width: int) -> None:
    """Collect lower-cased words seen `min_word_freq` times and all characters of the docs."""
    settings = model.attrs["settings"]
    word_counts: Counter = Counter()
    char_counts: Counter = Counter()
    for doc in docs:
        for token in doc:
            word_counts[token.lower_] += 1
            char_counts.update(token.text)
    model.attrs["words"] = sorted(w for w, n in word_counts.items() if n >= settings["min_word_freq"])
    model.attrs["chars"] = sorted(char_counts)
    model.attrs["vectors_width"] = vectors_width


def encoder_hparams(model: Model) -> Dict:
    """`SequenceEncoder` constructor arguments from the settings and fitted vocabularies."""
    settings = model.attrs["settings"]
    return {
        "n_words": len(model.attrs["words"]) + FIRST_WORD_ID,
        "word_width": settings["word_width"],
        "vectors_width": model.attrs["vectors_width"],
        "n_chars": len(model.attrs["chars"]) + FIRST_CHAR_ID,
        "char_width": settings["char_width"],
        "char_filters": settings["char_filters"],
        "char_kernel": settings["char_kernel"],
        "hidden_width": settings["hidden_width"],
        "depth": settings["depth"],
        "cell": settings["cell"],
        "bidirectional": settings["bidirectional"],
        "dropout": settings["dropout"],
        "word_dropout": settings["word_dropout"],
    }
