"""Registered architectures: `lstm.Encoder.v1` (settings shared by every component) and the
models built on it. Referenced from config files as `@architectures = "lstm.Tagger.v1"`."""
from typing import Dict, List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

from .layers import Outputs, TorchSequenceModel, encoder_hparams
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
