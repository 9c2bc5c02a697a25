"""The spaCy side of the encoder contract: what the heads' architectures (`spacy_rnn.architectures`),
the Doc-level layers (`spacy_rnn.layers`) and the components (`spacy_rnn.pipes`) use of an
encoder's settings, and nothing beyond it. The torch side, the module `EncoderSpec.build` makes,
is `spacy_rnn.models.encoder_contract.TokenEncoder`. The implementations are in
`spacy_rnn.encoders`.
"""
from typing import Any, Dict, List, Protocol, Sequence, runtime_checkable

from spacy.tokens import Doc
from spacy.vectors import Vectors

from .featurize import Window
from .models.encoder_contract import TokenEncoder, WindowBatch


class EncoderSettingError(ValueError):
    """A setting of the encoder block that cannot work, e.g. a Transformer found nowhere; the
    component puts the block's name before the message: "[components.ner.model.encoder] ..."."""

    def __init__(self, setting: str, value, problem: str):
        super().__init__(f"{setting} = {value!r}: {problem}")


class Featurizer(Protocol):
    """Docs -> the batches of the torch encoder built from the same attrs."""

    def doc_features(self, docs: Sequence[Doc]) -> List[Any]:
        """Per doc, what the batches of its windows are made of (e.g. word ids, word pieces)."""

    def make_batch(self, windows: Sequence[Window], features: Sequence[Any], docs: Sequence[Doc]) -> WindowBatch:
        """The batch of `windows` of `docs`, whose doc_features are `features`."""


@runtime_checkable
class EncoderSpec(Protocol):
    """An encoder's settings, as the `[...model.encoder]` block of a config gives them (a frozen
    dataclass registered as an architecture, e.g. `spacy_rnn.RNNEncoder.v1`). They travel whole
    from the config to the torch module: `build` hands them to it.

    window_size, window_context: a sequence longer than window_size tokens is read in windows
        with window_context tokens of context on each side (`spacy_rnn.featurize`).
    """

    window_size: int
    window_context: int

    def empty_features(self) -> Dict:
        """The model attrs its fitted features live in, empty; saved with the weights."""

    def fit(self, docs: Sequence[Doc], vectors: Vectors) -> Dict:
        """Those attrs fitted on the training docs and the pipeline's static vectors (may raise
        EncoderSettingError)."""

    def check_vectors(self, attrs: Dict, vectors: Vectors) -> None:
        """Nothing when `vectors` (the pipeline's, once it is loaded) are those the attrs were
        fitted with; a ValueError saying how to fix it otherwise."""

    def featurizer(self, attrs: Dict) -> Featurizer:
        """Docs -> batches, for the module built from the same attrs."""

    def build(self, attrs: Dict) -> TokenEncoder:
        """The torch encoder for the fitted attrs (may raise EncoderSettingError)."""
