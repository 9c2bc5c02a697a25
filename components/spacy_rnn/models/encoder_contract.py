"""The torch side of the encoder contract: what the heads (`TaggerNet`, `EntityTaggerNet`,
`TextClassifierNet`) and the inference settings (`spacy_rnn.inference`) use of their encoder
module, and nothing beyond it. `RNNEncoder`, `TransformerEncoder` and `RNNOverTransformer`
implement it; an encoder's settings build one (`spacy_rnn.encoder_contract.EncoderSpec.build`).

Pure PyTorch: no spaCy import.
"""
from typing import Dict, Optional, Protocol, runtime_checkable

import torch
from torch import nn


class WindowBatch(Protocol):
    """W padded windows of at most T tokens, as an encoder's featurizer makes them (e.g.
    `SequenceBatch`, `WordPieceBatch`); the rest of it is the encoder's own.

    lengths:     LongTensor[W] on the CPU; real tokens in each window (>= 1).
    token_index: LongTensor[N]; positions in the flattened [W * T] grid of the tokens whose
                 outputs are wanted, in output order.
    """

    lengths: torch.Tensor
    token_index: torch.Tensor

    def to(self, device: torch.device) -> "WindowBatch":
        """The batch on `device` (lengths stay on the CPU)."""


@runtime_checkable
class TokenEncoder(Protocol):
    """An `nn.Module`, registered with `register_net`, that maps windows of tokens to states.

    output_width: the width of the states.
    directions:   how the states read a window: 1 in order (a forward RNN), 2 in order and
                  reversed (a BiRNN: the forward states ++ the backward states, output_width // 2
                  each), 0 in no order (a Transformer). "last" pooling needs 1 or 2.
    hparams:      its constructor values: `from_hparams(hparams)` rebuilds it (`build_net`).
    """

    output_width: int
    directions: int
    hparams: Dict

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "TokenEncoder":
        """An encoder of the same shape (randomly initialised) from `hparams`."""

    def forward(self, batch: WindowBatch) -> torch.Tensor:
        """FloatTensor[W, T, output_width]: the states of the batch's W windows, zeros at
        padding; a window's states do not depend on the other windows of the batch."""

    def formwise_copy(self) -> Optional[nn.Module]:
        """A copy for prediction only (unconverted parts shared) whose first recurrent layer's
        input projection runs once per distinct word form of a batch (`FormwiseRNN`), or None
        when no layer of it reads word forms alone."""

    def int8_copy(self) -> Optional[nn.Module]:
        """A copy for CPU prediction only (unconverted parts shared) with dynamically quantised
        int8 recurrent layers, or None when it has no layer that quantises."""
