"""Registered architectures: `lstm.Encoder.v1` (settings shared by every component) and the
models built on it. Referenced from config files as `@architectures = "lstm.Tagger.v1"`."""
from typing import Dict, List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

from thinc.shims import PyTorchShim
from torch import nn

from .layers import Outputs, TorchDocModel, TorchSequenceModel, deserialize_net, encoder_hparams, get_torch_net, serialize_net
from .lm.scoring import stream_log_probs
from .models.language_model import LanguageModelNet
from .models.classifier import POOLINGS, TextClassifierNet
from .models.ner import EntityTaggerNet
from .models.tagger import TaggerNet


@registry.architectures("lstm.Encoder.v1")
def build_encoder_settings(
    word_width: int = 100,
    min_word_freq: int = 2,
    word_dropout: float = 0.05,
    char_width: int = 30,
    char_filters: int = 50,
    char_kernel: int = 3,
    max_word_chars: int = 20,
    hidden_width: int = 100,
    depth: int = 2,
    cell: str = "lstm",
    bidirectional: bool = True,
    dropout: float = 0.33,
    window_size: int = 128,
    window_context: int = 16,
    max_batch_tokens: int = 8192,
) -> Dict:
    """Hyper-parameters of the shared encoder.

    word_width: trainable embeddings of lower-cased words seen `min_word_freq` times in
        training (others share the unknown-word row; `word_dropout` trains it).
    Static vectors from `nlp.vocab.vectors` (e.g. GloVe via `[initialize] vectors`) are
        concatenated, frozen, when the vocab has any.
    char_filters: width of the character CNN features (0 disables them); char_width, char_kernel
        and max_word_chars (longer words keep prefix + suffix) configure it.
    cell: "lstm", "gru" or "rnn" (tanh); hidden_width per direction; depth layers.
    dropout: on the input features, between layers and on the outputs.
    window_size / window_context: sentences (or whole docs without sentence boundaries) longer
        than window_size tokens are read in windows with that much context on each side.
    max_batch_tokens: at prediction time, windows are run in chunks of at most this many tokens.
    """
    return {
        "word_width": word_width,
        "min_word_freq": min_word_freq,
        "word_dropout": word_dropout,
        "char_width": char_width,
        "char_filters": char_filters,
        "char_kernel": char_kernel,
        "max_word_chars": max_word_chars,
        "hidden_width": hidden_width,
        "depth": depth,
        "cell": cell,
        "bidirectional": bidirectional,
        "dropout": dropout,
        "window_size": window_size,
        "window_context": window_context,
        "max_batch_tokens": max_batch_tokens,
    }


@registry.architectures("lstm.Tagger.v1")
def build_tagger_model(encoder: Dict) -> Model[List[Doc], Outputs]:
    """Encoder + one softmax head per token attribute; heads are set by the component."""
    return TorchSequenceModel("lstm_tagger", build_tagger_net, encoder)


def build_tagger_net(model: Model) -> TaggerNet:
    return TaggerNet(encoder=encoder_hparams(model), heads=model.attrs["heads"])


@registry.architectures("lstm.EntityRecognizer.v1")
def build_entity_recognizer_model(encoder: Dict, tag_scheme: str = "BILUO", crf: bool = True) -> Model[List[Doc], Outputs]:
    """Encoder + emission head + linear-chain CRF over entity tags.

    tag_scheme: "BILUO" or "BIO"; crf: learn transition scores (False: softmax-only ablation,
    trained with token cross-entropy and decoded as a constrained argmax). The component sets
    attrs["tags"] from its entity labels.
    """
    if tag_scheme not in ("BILUO", "BIO"):
        raise ValueError(f"tag_scheme must be 'BILUO' or 'BIO', not {tag_scheme!r}")
    settings = {**encoder, "tag_scheme": tag_scheme, "crf": crf}
    return TorchSequenceModel("lstm_crf_ner", build_entity_tagger_net, settings, attrs={"tags": []})


def build_entity_tagger_net(model: Model) -> EntityTaggerNet:
    return EntityTaggerNet(encoder=encoder_hparams(model), tags=model.attrs["tags"], crf=model.attrs["settings"]["crf"])


@registry.architectures("lstm.TextClassifier.v1")
def build_text_classifier_model(
    encoder: Dict, pooling: str = "max", long_text: str = "window", max_tokens: int = 512
) -> Model[List[Doc], Outputs]:
    """Encoder + pooling over each whole doc + linear head: {"cats": logits[n_docs, n_labels]}.

    pooling: "last" (final states of both directions), "max", "mean" or "attention".
    long_text: "window" reads a doc longer than max_tokens in windows of max_tokens tokens
        (with the encoder's window_context on each side) whose pooled states are merged exactly
        as if the doc had been pooled at once; "truncate" reads only its first max_tokens tokens.
    The encoder's window_size (for token-level components) is not used; max_batch_tokens
    bounds the padded tokens per prediction batch. The component sets attrs["heads"]["cats"].
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if long_text not in ("window", "truncate"):
        raise ValueError(f"long_text must be 'window' or 'truncate', not {long_text!r}")
    if long_text == "window" and max_tokens <= 2 * encoder["window_context"]:
        raise ValueError(f"max_tokens ({max_tokens}) must exceed 2 * window_context ({encoder['window_context']})")
    settings = {**encoder, "pooling": pooling, "long_text": long_text, "max_tokens": max_tokens}
    return TorchDocModel("lstm_textcat", build_text_classifier_net, settings)


def build_text_classifier_net(model: Model) -> TextClassifierNet:
    return TextClassifierNet(
        encoder=encoder_hparams(model), n_labels=model.attrs["heads"]["cats"], pooling=model.attrs["settings"]["pooling"]
    )


LANGUAGE_MODEL_HPARAMS = (
    "embed_width", "hidden_width", "depth", "cell", "tied", "embed_dropout", "layer_dropout", "output_dropout"
)


@registry.architectures("lstm.LanguageModel.v1")
def build_language_model(
    embed_width: int = 400,
    hidden_width: int = 400,
    depth: int = 2,
    cell: str = "lstm",
    tied: bool = True,
    embed_dropout: float = 0.4,
    layer_dropout: float = 0.4,
    output_dropout: float = 0.4,
    window_size: int = 256,
    batch_size: int = 16,
) -> Model:
    """A word-level LSTM/GRU/RNN language model (`LanguageModelNet`) over the component's
    vocabulary (attrs["words"], set at initialization, <eos> and <unk> first).

    tied: the decoder reuses the embedding matrix (needs embed_width == hidden_width).
    Dropout on the embeddings, between layers and on the outputs (Zaremba et al. 2014).
    window_size / batch_size: at prediction time up to batch_size docs are read together,
    window_size tokens at a time with the state carried, so memory stays bounded for any length.
    """
    settings = {
        "embed_width": embed_width,
        "hidden_width": hidden_width,
        "depth": depth,
        "cell": cell,
        "tied": tied,
        "embed_dropout": embed_dropout,
        "layer_dropout": layer_dropout,
        "output_dropout": output_dropout,
        "window_size": window_size,
        "batch_size": batch_size,
    }
    shim = PyTorchShim(nn.Module(), serialize_model=serialize_net, deserialize_model=deserialize_net)
    return Model(
        "lstm_lm",
        _language_model_forward,
        init=_init_language_model,
        attrs={"settings": settings, "words": [], "normalizer": {}},
        shims=[shim],
    )


def _init_language_model(model: Model, X=None, Y=None) -> None:
    settings = model.attrs["settings"]
    hparams = {key: settings[key] for key in LANGUAGE_MODEL_HPARAMS}
    model.shims[0]._model = LanguageModelNet(n_words=len(model.attrs["words"]), **hparams)


def _language_model_forward(model: Model, streams: List[List[int]], is_train: bool):
    """Token id streams -> per-stream natural-log probabilities of tokens 1.. given the tokens
    before them (prediction only: the component trains the torch module directly)."""
    if is_train:
        raise NotImplementedError("lstm.LanguageModel.v1 is trained through the lstm_lm component's update")
    settings = model.attrs["settings"]
    net = get_torch_net(model)
    return stream_log_probs(net, streams, settings["window_size"], settings["batch_size"]), lambda d: []
