"""Truncated back-propagation through time over a token stream (Zaremba et al. 2014).

The training stream is cut into `batch_size` contiguous rows that are read in parallel, `bptt`
steps at a time; the hidden state is carried from one chunk to the next (detached), so every
row is one long sequence. Separate streams (docs) are padded into rows by `pad_streams`.
"""
from typing import Iterator, Sequence, Tuple

import torch


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """LongTensor[N] -> LongTensor[batch_size, N // batch_size]: row b is the b-th contiguous
    segment of the stream. The last N % batch_size tokens (fewer than batch_size) are dropped."""
    if stream.dim() != 1:
        raise ValueError(f"expected a 1-d token stream, got shape {tuple(stream.shape)}")
    if len(stream) < 2 * batch_size:
        raise ValueError(f"a stream of {len(stream)} tokens is too short for batch_size {batch_size}")
    length = len(stream) // batch_size
    return stream[: length * batch_size].view(batch_size, length)


def bptt_chunks(rows: torch.Tensor, bptt: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """Yield (inputs, targets), both LongTensor[B, t] with t <= bptt: inputs rows[:, i:i+t] and
    targets rows[:, i+1:i+1+t]. Every position but the first of each row is a target exactly once."""
    if bptt < 1:
        raise ValueError(f"bptt must be >= 1, not {bptt}")
    length = rows.shape[1]
    for start in range(0, length - 1, bptt):
        end = min(start + bptt, length - 1)
        yield rows[:, start:end], rows[:, start + 1 : end + 1]


def n_chunks(rows: torch.Tensor, bptt: int) -> int:
    return -(-(rows.shape[1] - 1) // bptt)


PADDING = -100  # a target the loss ignores (torch's default ignore_index)


def pad_streams(streams: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Token id streams -> LongTensor[len(streams), longest]: row i is streams[i] padded with
    `value` at its end (which a left-to-right model reads only after the real tokens)."""
    rows = torch.full((len(streams), max(len(s) for s in streams)), value, dtype=torch.long)
    for row, stream in enumerate(streams):
        rows[row, : len(stream)] = torch.as_tensor(stream, dtype=torch.long)
    return rows
