"""Registered architectures: the heads, each over any encoder from `spacy_rnn.encoders`.

Referenced from config files as `@architectures = "spacy_rnn.Tagger.v1"` with an
`[...model.encoder]` block (`spacy_rnn.RNNEncoder.v1`).
"""
from functools import partial
from typing import List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

from .layers import DocModel, DocOutputs, TokenModel, TokenOutputs, TorchModel, get_torch_net
from .lm.scoring import stream_log_probs
from .models.classifier import POOLINGS, TextClassifierNet
from .models.language_model import LanguageModelNet, LanguageModelSettings
from .models.ner import EntityTaggerNet
from .models.tagger import TaggerNet

@registry.architectures("spacy_rnn.Tagger.v1")
def build_tagger_model(encoder) -> Model[List[Doc], TokenOutputs]:
    """Encoder + one softmax head per token attribute (the component sets attrs["heads"])."""
    return TokenModel("rnn_tagger", partial(build_tagger_net, encoder=encoder), encoder)


def build_tagger_net(model: Model, *, encoder) -> TaggerNet:
    return TaggerNet(encoder.build(model.attrs), heads=model.attrs["heads"])


@registry.architectures("spacy_rnn.EntityRecognizer.v1")
def build_entity_recognizer_model(encoder, crf: bool = True) -> Model[List[Doc], TokenOutputs]:
    """Encoder + emission head + linear-chain CRF over the entity tags the component sets
    (attrs["tags"]). crf=False: the softmax-only ablation (token cross-entropy, constrained
    argmax)."""
    model = TokenModel("rnn_crf_ner", partial(build_entity_tagger_net, encoder=encoder, crf=crf), encoder)
    model.attrs["tags"] = []
    return model


def build_entity_tagger_net(model: Model, *, encoder, crf: bool) -> EntityTaggerNet:
    return EntityTaggerNet(encoder.build(model.attrs), tags=model.attrs["tags"], crf=crf)


@registry.architectures("spacy_rnn.TextClassifier.v1")
def build_text_classifier_model(encoder, pooling: str = "max", long_text: str = "window") -> Model[List[Doc], DocOutputs]:
    """Encoder + pooling over each whole doc + linear head: {"cats": logits[n_docs, n_labels]}.

    pooling: "last" (final states of both directions), "max", "mean" or "attention".
    long_text: "window" reads a doc longer than the encoder's window_size in windows whose pooled
        states are merged exactly as if the doc had been pooled at once; "truncate" reads only
        its first window_size tokens. The component sets attrs["heads"]["cats"].
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if long_text not in ("window", "truncate"):
        raise ValueError(f"long_text must be 'window' or 'truncate', not {long_text!r}")
    build_net = partial(build_text_classifier_net, encoder=encoder, pooling=pooling)
    return DocModel("rnn_textcat", build_net, encoder, long_text)


def build_text_classifier_net(model: Model, *, encoder, pooling: str) -> TextClassifierNet:
    return TextClassifierNet(encoder.build(model.attrs), n_labels=model.attrs["heads"]["cats"], pooling=pooling)


# Language model


@registry.architectures("spacy_rnn.LanguageModel.v1")
def build_language_model(
    embed_width: int = 400,
    hidden_width: int = 400,
    depth: int = 2,
    cell: str = "lstm",
    tied: bool = True,
    embed_dropout: float = 0.4,
    layer_dropout: float = 0.4,
    output_dropout: float = 0.4,
    chunk_size: int = 256,
    max_batch_docs: int = 16,
    locked_dropout: bool = False,
    word_type_dropout: float = 0.0,
    weight_dropout: float = 0.0,
) -> Model:
    """A word-level LSTM/GRU/RNN language model (`LanguageModelNet`, hyper-parameters as in
    `LanguageModelSettings`) over the component's vocabulary (attrs["words"], set at
    initialization, <eos> and <unk> first).

    Token id streams -> per stream float64[len - 1], the natural-log probability of each token
    after the first given the tokens before it (prediction only: the `torch_lm` component trains
    the module itself). chunk_size: tokens read at a time with the state carried over (also the
    truncated-BPTT length of the component's update); max_batch_docs: streams read together.
    Memory stays bounded by max_batch_docs * chunk_size * vocabulary size for any length.
    locked_dropout, word_type_dropout, weight_dropout: the AWD-LSTM regularisers (off by
    default; training only), see `LanguageModelSettings`.
    """
    settings = LanguageModelSettings.take(locals())
    if chunk_size < 1 or max_batch_docs < 1:
        raise ValueError(f"chunk_size ({chunk_size}) and max_batch_docs ({max_batch_docs}) must be at least 1")
    attrs = {"words": [], "normalizer": {}, "chunk_size": chunk_size, "max_batch_docs": max_batch_docs}
    return TorchModel("rnn_lm", _language_model_forward, partial(build_language_model_net, settings=settings), attrs)


def build_language_model_net(model: Model, *, settings: LanguageModelSettings) -> LanguageModelNet:
    return LanguageModelNet(settings, n_words=len(model.attrs["words"]))


def _language_model_forward(model: Model, streams: List[List[int]], is_train: bool):
    if is_train:
        raise NotImplementedError("spacy_rnn.LanguageModel.v1 is trained through the torch_lm component's update")
    log_probs = stream_log_probs(get_torch_net(model), streams, model.attrs["chunk_size"], model.attrs["max_batch_docs"])
    return log_probs, lambda d_log_probs: []
