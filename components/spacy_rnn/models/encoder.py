"""Word + character + static-vector features fed through a multi-layer (Bi)RNN.

Pure PyTorch: no spaCy import. `spacy_rnn.featurize` turns Docs into a `SequenceBatch`.
`RNNEncoder` is the recurrent `TokenEncoder` (`spacy_rnn.models.encoder_contract`: what the
heads use of an encoder).
"""
from dataclasses import asdict, dataclass, fields
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .cells import CELLS
from .formwise_rnn import FormwiseRNN, first_occurrences
from .inference_copies import quantize_int8, with_child
from .registry import register_net

PAD_ID = 0
UNK_ID = 1


MAX_SIZE = 16_384  # no layer width, depth or window a config asks for may exceed this


def check_settings(settings, sizes) -> None:
    """ValueError unless settings.cell is a known cell, every size named is within 0..MAX_SIZE,
    and any hidden_width and depth are at least 1: a config cannot ask for absurd allocations."""
    if settings.cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {settings.cell!r}")
    for name in sizes:
        if not 0 <= getattr(settings, name) <= MAX_SIZE:
            raise ValueError(f"{name} = {getattr(settings, name)} is outside 0..{MAX_SIZE}")
    for name in ("hidden_width", "depth"):
        if name in sizes and getattr(settings, name) < 1:
            raise ValueError(f"{name} must be at least 1, not {getattr(settings, name)}")


@dataclass(frozen=True)
class RNNEncoderSettings:
    """Hyper-parameters of `RNNEncoder` (the data-dependent sizes come separately).

    word_width: trainable word embeddings; word_dropout: probability of replacing a known word
        by the unknown word while training (so its row is learned).
    char_filters: width of the character CNN features (0 disables them), over char_width-wide
        character embeddings with kernels of char_kernel characters.
    cell: "lstm", "gru" or "rnn" (tanh); hidden_width per direction; depth layers.
    dropout: on the input features, between layers and on the outputs.
    packed: run the RNN over the windows packed (`pack_padded_sequence`); False: over the
        padded windows, one layer and direction at a time (`RNNEncoder.run_padded`): the same
        states (float tolerance), faster on CPU for windows of similar length (a text
        classifier's long ones, bucketed by length), slower for ragged ones. Inference copies
        (int8, per form) always pack.
    """

    word_width: int = 100
    word_dropout: float = 0.05
    char_width: int = 30
    char_filters: int = 50
    char_kernel: int = 3
    hidden_width: int = 100
    depth: int = 2
    cell: str = "lstm"
    bidirectional: bool = True
    dropout: float = 0.33
    packed: bool = True

    def __post_init__(self) -> None:
        check_settings(self, ("word_width", "char_width", "char_filters", "char_kernel", "hidden_width", "depth"))

    @classmethod
    def take(cls, values: Dict) -> "RNNEncoderSettings":
        """The settings among `values` (a dict of these and other settings)."""
        return cls(**{field.name: values[field.name] for field in fields(cls) if field.name in values})


@dataclass
class SequenceBatch:
    """Padded inputs for W windows of at most T tokens, U distinct word forms of at most L chars.

    word_ids:    LongTensor[W, T]; 0 = padding, 1 = unknown word.
    char_ids:    LongTensor[U, L]; 0 = padding (each row holds at least one real char).
    form_index:  LongTensor[W, T]; row of `char_ids` for each token (0 at padding).
    vectors:     FloatTensor[W, T, V] static (frozen) word vectors, or None when V == 0.
    lengths:     LongTensor[W] on the CPU; number of real tokens in each window (>= 1).
    token_index: LongTensor[N]; positions in the flattened [W * T] grid of the tokens
                 whose outputs are wanted, in output order.
    """

    word_ids: torch.Tensor
    char_ids: torch.Tensor
    form_index: torch.Tensor
    vectors: Optional[torch.Tensor]
    lengths: torch.Tensor
    token_index: torch.Tensor

    def to(self, device: torch.device) -> "SequenceBatch":
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            keep_on_cpu = field.name == "lengths" or value is None
            moved[field.name] = value if keep_on_cpu else value.to(device)
        return SequenceBatch(**moved)


class CharCNN(nn.Module):
    """Character CNN word features with a masked max-pool (Ma & Hovy 2016).

    forward(char_ids LongTensor[U, L]) -> FloatTensor[U, n_filters]. Padding positions are
    excluded from the max, so a word's features do not depend on how long the longest word
    in its batch is.
    """

    def __init__(self, n_chars: int, char_width: int, n_filters: int, kernel_size: int):
        super().__init__()
        self.embed = nn.Embedding(n_chars, char_width, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(char_width, n_filters, kernel_size, padding=kernel_size // 2)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(self.embed(char_ids).transpose(1, 2))  # [U, F, L]
        hidden = hidden.masked_fill((char_ids == PAD_ID).unsqueeze(1), float("-inf"))
        return torch.tanh(hidden.max(dim=2).values)


@register_net
class RNNEncoder(nn.Module):
    """Embeddings -> dropout -> multi-layer (Bi)LSTM/GRU/RNN -> dropout, a `TokenEncoder`.

    forward(batch) -> FloatTensor[W, T, output_width], zeros at padding positions; the RNN runs
    over the windows packed, or padded (`run_padded`) with settings.packed False.
    Inputs per token: a word embedding (n_words rows), the static vectors given in the batch
    (vectors_width, frozen), and character CNN features.
    """

    def __init__(self, settings: RNNEncoderSettings, *, n_words: int, n_chars: int, vectors_width: int):
        super().__init__()
        settings = RNNEncoderSettings.take(asdict(settings))
        self.hparams = {"settings": asdict(settings), "n_words": n_words, "n_chars": n_chars, "vectors_width": vectors_width}
        self.word_dropout = settings.word_dropout
        self.word_embed = nn.Embedding(n_words, settings.word_width, padding_idx=PAD_ID)
        self.char_cnn = None
        if settings.char_filters:
            self.char_cnn = CharCNN(n_chars, settings.char_width, settings.char_filters, settings.char_kernel)
        self.input_width = settings.word_width + vectors_width + settings.char_filters
        self.input_dropout = nn.Dropout(settings.dropout)
        self.rnn = CELLS[settings.cell].module(
            self.input_width,
            settings.hidden_width,
            num_layers=settings.depth,
            bidirectional=settings.bidirectional,
            batch_first=True,
            dropout=settings.dropout if settings.depth > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(settings.dropout)
        self.directions = 2 if settings.bidirectional else 1
        self.output_width = settings.hidden_width * self.directions
        self.cell = settings.cell
        self.packed = settings.packed

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "RNNEncoder":
        settings = RNNEncoderSettings(**hparams["settings"])
        return cls(settings, n_words=hparams["n_words"], n_chars=hparams["n_chars"], vectors_width=hparams["vectors_width"])

    def formwise_copy(self) -> "RNNEncoder":
        """A copy for prediction only whose RNN is a `FormwiseRNN` of this one's: the first
        layer's input projection runs once per distinct word form (its input, dropout off, is a
        function of the form). The other parts are shared."""
        return with_child(self, "rnn", FormwiseRNN(self.rnn))

    def int8_copy(self) -> Optional["RNNEncoder"]:
        """A copy for CPU prediction only whose RNN (nn.LSTM, nn.GRU or a `FormwiseRNN`) is
        quantised to int8 (`quantize_int8`); None for an nn.RNN. The other parts are shared."""
        rnn = quantize_int8(self.rnn)
        return None if rnn is None else with_child(self, "rnn", rnn)

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        if isinstance(self.rnn, FormwiseRNN):
            if self.training:
                raise RuntimeError("an encoder converted for inference (FormwiseRNN) cannot be trained; load the pipeline again")
            return self.rnn(self.form_features(batch), batch.form_index, batch.lengths)
        inputs = self.input_dropout(self.token_features(batch))
        if not self.packed and isinstance(self.rnn, nn.RNNBase):  # a quantised RNN (int8 inference) has no float weights to read
            return self.output_dropout(self.run_padded(inputs, batch.lengths))
        packed_inputs = pack_padded_sequence(inputs, batch.lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = self.rnn(packed_inputs)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
        return self.output_dropout(outputs)

    def token_features(self, batch: SequenceBatch) -> torch.Tensor:
        """FloatTensor[W, T, input_width]: each token's word embedding (training: with word
        dropout), static vectors and character features."""
        word_ids = batch.word_ids
        if self.training and self.word_dropout > 0:
            drop = torch.rand(word_ids.shape, device=word_ids.device) < self.word_dropout
            word_ids = word_ids.masked_fill(drop & (word_ids > UNK_ID), UNK_ID)
        features = [self.word_embed(word_ids)]
        self.check_vectors(batch)
        if batch.vectors is not None:
            features.append(batch.vectors)
        if self.char_cnn is not None:
            features.append(self.char_cnn(batch.char_ids)[batch.form_index])
        return torch.cat(features, dim=-1)

    def form_features(self, batch: SequenceBatch) -> torch.Tensor:
        """FloatTensor[U, input_width]: the inference features of each distinct form of the batch
        (row u of `char_ids`), read at one of its tokens: a token's word id and static vectors
        are functions of its form (`spacy_rnn.featurize`)."""
        first = first_occurrences(batch.form_index, batch.lengths, batch.char_ids.shape[0])
        features = [self.word_embed(batch.word_ids.flatten()[first])]
        self.check_vectors(batch)
        if batch.vectors is not None:
            features.append(batch.vectors.flatten(0, 1)[first])
        if self.char_cnn is not None:
            features.append(self.char_cnn(batch.char_ids))
        return torch.cat(features, dim=-1)

    def check_vectors(self, batch: SequenceBatch) -> None:
        vectors_width = 0 if batch.vectors is None else batch.vectors.shape[-1]
        if vectors_width != self.hparams["vectors_width"]:
            raise ValueError(f"the batch has static vectors of width {vectors_width}, this encoder reads {self.hparams['vectors_width']}")

    def run_padded(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The RNN's outputs over right-padded inputs FloatTensor[W, T, input_width], as packing
        gives them (zeros at padding), with `self.rnn`'s weights run one layer and direction at
        a time: the forward direction reads each window as it is, the backward direction reads
        it reversed within its length, so padding never comes before a real token. PyTorch's
        packed backward direction slices its input once per time step, and each slice's
        gradient is a zero-filled copy of the whole input: O(T x tokens) work on CPU, which
        dominates training on long windows (about 5x slower at T = 400 here).
        """
        steps = torch.arange(inputs.shape[1], device=inputs.device).unsqueeze(0)
        lengths = lengths.to(inputs.device).unsqueeze(1)
        is_real = steps < lengths
        reverse = torch.where(is_real, lengths - 1 - steps, steps).unsqueeze(-1)  # its own inverse
        outputs = inputs
        for layer in range(self.rnn.num_layers):
            if layer:
                outputs = F.dropout(outputs, self.rnn.dropout, self.training)
            directions = []
            for suffix in ("", "_reverse")[: 1 + self.rnn.bidirectional]:
                names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                params = [getattr(self.rnn, f"{name}_l{layer}{suffix}") for name in names]
                layer_inputs = outputs.gather(1, reverse.expand_as(outputs)) if suffix else outputs
                h0 = inputs.new_zeros((1, len(inputs), self.rnn.hidden_size))
                hx = (h0, h0) if self.cell == "lstm" else h0
                states = CELLS[self.cell].run_layer(layer_inputs, hx, params, self.training)[0]
                directions.append(states.gather(1, reverse.expand_as(states)) if suffix else states)
            outputs = torch.cat(directions, dim=-1)
        return outputs * is_real.unsqueeze(-1)
