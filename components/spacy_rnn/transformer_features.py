"""Word-piece featurization for the Transformer encoders: Docs -> pieces aligned to tokens ->
`WordPieceBatch`.

A doc's text is tokenized once by the model's fast tokenizer (the `tokenizers` library, from the
tokenizer JSON saved with the model: no `transformers` import, no files). A spaCy token's pieces
are those whose character offsets overlap the token's characters (a piece that crosses a token
boundary belongs to both tokens); a token that no piece overlaps (whitespace, a character the
tokenizer drops) has none, and the encoder gives it its learned no-piece vector.

A token window's pieces are read as one row ([CLS] pieces [SEP]) when they fit the model's
`piece_window`; otherwise as several rows of strided windows (`span_windows`: consecutive cores
with `piece_context` pieces of context on each side). The overlap is resolved deterministically:
each piece's state comes from the one row whose core holds it (the cores partition the pieces).
"""
import json
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc

from .extras import require
from .featurize import Window, span_windows
from .models.transformer import WordPieceBatch

def tokenizer_attrs(path: str) -> Dict:
    """What featurization needs from the Hugging Face tokenizer at `path` (kept in the model's
    attrs, so a saved pipeline needs neither the files nor the hub): the fast tokenizer's JSON,
    the special piece ids before and after a row's pieces, the padding id and the most pieces
    the model reads at once."""
    transformers = require("transformers", "transformers", "the Transformer encoder")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ValueError(f"{path}: the Transformer encoders need a fast tokenizer (one with character offsets)")
    backend = unpadded(tokenizer.backend_tokenizer.to_str())
    plain = backend.encode("a", add_special_tokens=False).ids
    specials = backend.encode("a", add_special_tokens=True).ids
    at = next(i for i in range(len(specials)) if specials[i : i + len(plain)] == plain)
    prefix, suffix = specials[:at], specials[at + len(plain) :]
    max_positions = getattr(transformers.AutoConfig.from_pretrained(path), "max_position_embeddings", 512)
    max_length = min(tokenizer.model_max_length, max_positions)
    return {
        "tokenizer": backend.to_str(),
        "prefix_ids": prefix,
        "suffix_ids": suffix,
        "pad_id": tokenizer.pad_token_id or 0,
        "max_pieces": max_length - len(prefix) - len(suffix),
    }


def save_tokenizer(attrs: Dict, path) -> None:
    """Save the tokenizer of `tokenizer_attrs` to the folder `path` as a Hugging Face fast
    tokenizer (`AutoTokenizer.from_pretrained(path)` reads it): the same pieces, special pieces
    and length limit; the pieces before and after a row are its cls and sep tokens, the padding
    piece its pad token."""
    transformers = require("transformers", "transformers", "the Transformer encoder")
    backend = unpadded(attrs["tokenizer"])
    model = json.loads(attrs["tokenizer"]).get("model", {})
    special = {"pad_token": backend.id_to_token(attrs["pad_id"])}
    if model.get("unk_token"):
        special["unk_token"] = model["unk_token"]
    for role, ids in (("cls_token", attrs["prefix_ids"]), ("sep_token", attrs["suffix_ids"])):
        if len(ids) == 1:
            special[role] = backend.id_to_token(ids[0])
    masks = [token for token in backend.get_added_tokens_decoder().values() if token.special and "mask" in token.content.lower()]
    if masks:
        special["mask_token"] = masks[0].content
    max_length = attrs["max_pieces"] + len(attrs["prefix_ids"]) + len(attrs["suffix_ids"])
    transformers.PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, **special).save_pretrained(path)


def unpadded(tokenizer_json: str):
    """The `tokenizers.Tokenizer` of `tokenizer_json` without its padding and truncation (some
    models' files pad every text to a fixed length)."""
    tokenizers = require("tokenizers", "transformers", "the Transformer encoder")
    tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass
class DocPieces:
    """One doc's piece ids IntArray[n_pieces] and, per token, the range of its pieces
    first[i]:end[i] (empty when first[i] == end[i])."""

    ids: numpy.ndarray
    first: numpy.ndarray
    end: numpy.ndarray


class WordPieceFeaturizer:
    """Docs -> `DocPieces` -> `WordPieceBatch` for `TransformerEncoder`.

    attrs: `tokenizer_attrs`; pooling: "first" or "mean"; piece_window: the most pieces in one
    row (0 or more than the model reads: the model's maximum); piece_context: pieces of context
    around a row's core (at most (piece_window - 1) // 2, so that every core holds a piece).
    """

    def __init__(self, attrs: Dict, pooling: str, piece_window: int, piece_context: int):
        self.tokenizer = unpadded(attrs["tokenizer"])
        self.prefix = numpy.asarray(attrs["prefix_ids"], dtype="int64")
        self.suffix = numpy.asarray(attrs["suffix_ids"], dtype="int64")
        self.pad_id = attrs["pad_id"]
        self.pooling = pooling
        self.piece_window = min(piece_window or attrs["max_pieces"], attrs["max_pieces"])
        self.piece_context = min(piece_context, (self.piece_window - 1) // 2)

    def doc_features(self, docs: Sequence[Doc]) -> List[DocPieces]:
        return [self.doc_pieces(doc) for doc in docs]

    def doc_pieces(self, doc: Doc) -> DocPieces:
        encoding = self.tokenizer.encode(doc.text, add_special_tokens=False)
        offsets = numpy.asarray(encoding.offsets, dtype="int64").reshape(-1, 2)
        starts = numpy.asarray([token.idx for token in doc], dtype="int64")
        ends = starts + numpy.asarray([len(token) for token in doc], dtype="int64")
        # Pieces overlapping [start, end): piece end > start and piece start < end (offsets ascend).
        first = numpy.searchsorted(offsets[:, 1], starts, side="right")
        end = numpy.maximum(numpy.searchsorted(offsets[:, 0], ends, side="left"), first)
        return DocPieces(numpy.asarray(encoding.ids, dtype="int64"), first, end)

    def piece_rows(self, n_pieces: int) -> List[Tuple[int, int, int, int]]:
        """(start, end, core_start, core_end) piece windows over a token window's n pieces."""
        return span_windows(0, n_pieces, self.piece_window, self.piece_context)

    def make_batch(self, windows: Sequence[Window], features: Sequence[DocPieces], docs: Sequence[Doc]) -> WordPieceBatch:
        """Pad the windows' piece rows into a `WordPieceBatch` whose token_index lists the
        windows' core tokens in order."""
        n_tokens = max(w.end - w.start for w in windows)
        rows: List[numpy.ndarray] = []
        token_slots, piece_slots, weights, no_piece, token_index = [], [], [], [], []
        for w, window in enumerate(windows):
            pieces = features[window.doc]
            first = pieces.first[window.start : window.end]
            end = pieces.end[window.start : window.end]
            offset = int(first[0])
            n_pieces = int(end.max()) - offset
            # Where each of the window's pieces is read: row * P + position, with P filled in below.
            piece_row = numpy.zeros(n_pieces, dtype="int64")
            piece_pos = numpy.zeros(n_pieces, dtype="int64")
            for start, stop, core_start, core_stop in self.piece_rows(n_pieces):
                piece_row[core_start:core_stop] = len(rows)
                piece_pos[core_start:core_stop] = len(self.prefix) + numpy.arange(core_start - start, core_stop - start)
                rows.append(numpy.concatenate([self.prefix, pieces.ids[offset + start : offset + stop], self.suffix]))
            for t in range(window.end - window.start):
                slot = w * n_tokens + t
                owned = numpy.arange(first[t], end[t]) - offset
                if not len(owned):
                    no_piece.append(slot)
                    continue
                if self.pooling == "first":
                    owned = owned[:1]
                token_slots.extend([slot] * len(owned))
                piece_slots.append(numpy.stack([piece_row[owned], piece_pos[owned]], axis=1))
                weights.extend([1.0 / len(owned)] * len(owned))
            token_index.extend(range(w * n_tokens + window.core_start - window.start, w * n_tokens + window.core_end - window.start))
        width = max((len(row) for row in rows), default=0)
        input_ids = numpy.full((len(rows), width), self.pad_id, dtype="int64")
        mask = numpy.zeros((len(rows), width), dtype="int64")
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        pairs = numpy.concatenate(piece_slots) if piece_slots else numpy.zeros((0, 2), dtype="int64")
        return WordPieceBatch(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(mask),
            token_slots=torch.tensor(token_slots, dtype=torch.int64),
            piece_slots=torch.from_numpy(pairs[:, 0] * width + pairs[:, 1]),
            weights=torch.tensor(weights, dtype=torch.float32),
            no_piece=torch.tensor(no_piece, dtype=torch.int64),
            lengths=torch.tensor([w.end - w.start for w in windows], dtype=torch.int64),
            token_index=torch.tensor(token_index, dtype=torch.int64),
        )
