"""Word + character + static-vector features fed through a packed multi-layer (Bi)RNN.

Pure PyTorch: no spaCy import. The glue in `spacy_rnn.layers` turns Docs into a
`SequenceBatch`; every later component (tagger, NER, classifier) reuses `SequenceEncoder`.
"""
from dataclasses import dataclass, fields
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD_ID = 0
UNK_ID = 1
RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# One layer, one direction of each cell over a batch-first input (what nn.LSTM/GRU/RNN call).
RNN_FUNCTIONS = {"lstm": torch.lstm, "gru": torch.gru, "rnn": torch.rnn_tanh}


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


class SequenceEncoder(nn.Module):
    """Embeddings -> dropout -> packed multi-layer (Bi)LSTM/GRU/RNN -> dropout.

    forward(batch, packed=True) -> FloatTensor[W, T, output_width], zeros at padding positions.
    Packing makes each window's states independent of the other windows in the batch.
    packed=False gives the same states without packing (`run_padded`): faster on CPU for
    batches with little padding (windows bucketed by length), slower for ragged ones.
    Word dropout replaces known word ids by UNK_ID with probability `word_dropout` while
    training, so the unknown-word embedding is learned.
    """

    def __init__(
        self,
        *,
        n_words: int,
        word_width: int,
        vectors_width: int,
        n_chars: int,
        char_width: int,
        char_filters: int,
        char_kernel: int,
        hidden_width: int,
        depth: int,
        cell: str,
        bidirectional: bool,
        dropout: float,
        word_dropout: float,
    ):
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"cell must be one of {sorted(RNN_CELLS)}, got {cell!r}")
        self.word_dropout = word_dropout
        self.word_embed = nn.Embedding(n_words, word_width, padding_idx=PAD_ID)
        self.char_cnn = CharCNN(n_chars, char_width, char_filters, char_kernel) if char_filters else None
        input_width = word_width + vectors_width + char_filters
        self.input_dropout = nn.Dropout(dropout)
        self.rnn = RNN_CELLS[cell](
            input_width,
            hidden_width,
            num_layers=depth,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if depth > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(dropout)
        self.output_width = hidden_width * (2 if bidirectional else 1)
        self.cell = cell

    def forward(self, batch: SequenceBatch, packed: bool = True) -> torch.Tensor:
        word_ids = batch.word_ids
        if self.training and self.word_dropout > 0:
            drop = torch.rand(word_ids.shape, device=word_ids.device) < self.word_dropout
            word_ids = word_ids.masked_fill(drop & (word_ids > UNK_ID), UNK_ID)
        features = [self.word_embed(word_ids)]
        if batch.vectors is not None:
            features.append(batch.vectors)
        if self.char_cnn is not None:
            features.append(self.char_cnn(batch.char_ids)[batch.form_index])
        inputs = self.input_dropout(torch.cat(features, dim=-1))
        if not packed:
            return self.output_dropout(self.run_padded(inputs, batch.lengths))
        packed_inputs = pack_padded_sequence(inputs, batch.lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = self.rnn(packed_inputs)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.shape[1])
        return self.output_dropout(outputs)

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
                states = RNN_FUNCTIONS[self.cell](layer_inputs, hx, params, True, 1, 0.0, self.training, False, True)[0]
                directions.append(states.gather(1, reverse.expand_as(states)) if suffix else states)
            outputs = torch.cat(directions, dim=-1)
        return outputs * is_real.unsqueeze(-1)
