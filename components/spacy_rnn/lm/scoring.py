"""Reading token streams with a `LanguageModelNet` in bounded chunks (no spaCy import).

Every function reads `chunk_size` tokens at a time with the recurrent state carried over, in
eval mode without gradients; the module is left in eval mode (training switches it back), so
concurrent readers get the same answers as one."""
from typing import List, Optional, Sequence, Tuple

import numpy
import torch
import torch.nn.functional as F

from ..models.language_model import LanguageModelNet, State
from .batching import pad_streams


def reading_groups(lengths: Sequence[int], max_batch_docs: int) -> List[List[int]]:
    """The streams `stream_log_probs` reads together: indices sorted by stream length (stable),
    max_batch_docs at a time. The lazy `torch_lm` forms the same groups, so its values are those of
    the batched path bit for bit (float rounding depends on which rows share a batch)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start : start + max_batch_docs] for start in range(0, len(order), max_batch_docs)]


@torch.no_grad()
def stream_log_probs(
    net: LanguageModelNet, streams: Sequence[Sequence[int]], chunk_size: int, max_batch_docs: int
) -> List[numpy.ndarray]:
    """For each stream of n token ids, float64[n - 1]: log p(stream[i] | stream[:i]) for i >= 1
    (natural log). Up to `max_batch_docs` streams of similar length are read together,
    `chunk_size` tokens at a time with the recurrent state carried over, so memory is bounded by
    max_batch_docs * chunk_size * vocabulary size whatever the length. Streams are padded at their
    end only, which a left-to-right model never reads, so results do not depend on batching
    beyond float rounding (which streams share a batch can change the last bits).
    """
    net.eval()
    results: List[Optional[numpy.ndarray]] = [None] * len(streams)
    for group in reading_groups([len(stream) for stream in streams], max_batch_docs):
        lengths = [len(streams[i]) for i in group]
        ids = pad_streams([streams[i] for i in group], 0)
        log_probs = torch.zeros(len(group), max(max(lengths) - 1, 0), dtype=torch.float64)
        state: Optional[State] = None
        for begin in range(0, max(lengths) - 1, chunk_size):
            end = min(begin + chunk_size, max(lengths) - 1)
            logits, state = net(ids[:, begin:end], state)
            targets = ids[:, begin + 1 : end + 1].to(logits.device)
            chosen = F.log_softmax(logits.float(), dim=-1).gather(2, targets.unsqueeze(2)).squeeze(2)
            log_probs[:, begin:end] = chosen.double().cpu()
        for row, i in enumerate(group):
            results[i] = log_probs[row, : max(lengths[row] - 1, 0)].numpy()
    return results


@torch.no_grad()
def read_prefix(net: LanguageModelNet, ids: Sequence[int], chunk_size: int) -> Tuple[torch.Tensor, State]:
    """Read a non-empty stream; return the log-probabilities FloatTensor[n_words] of the token
    that follows it, and the state after it (to continue reading or generating)."""
    if not ids:
        raise ValueError("read_prefix needs at least one token id")
    net.eval()
    stream = torch.as_tensor(list(ids), dtype=torch.long).unsqueeze(0)
    state: Optional[State] = None
    for begin in range(0, stream.shape[1], chunk_size):
        logits, state = net(stream[:, begin : begin + chunk_size], state)
    return F.log_softmax(logits[0, -1].float(), dim=-1), state


@torch.no_grad()
def sample_continuation(
    net: LanguageModelNet,
    ids: Sequence[int],
    n_tokens: int,
    *,
    chunk_size: int,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    seed: int = 0,
    stop_id: Optional[int] = None,
    banned_ids: Sequence[int] = (),
) -> List[int]:
    """Sample up to n_tokens ids after the stream `ids` from softmax(logits / temperature),
    restricted to the top_k most likely when given; `banned_ids` are never drawn. Stops after
    drawing `stop_id`. The same seed gives the same continuation."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, not {temperature}")
    generator = torch.Generator().manual_seed(seed)
    log_probs, state = read_prefix(net, ids, chunk_size)
    drawn: List[int] = []
    for _ in range(n_tokens):
        scores = log_probs.cpu() / temperature
        if banned_ids:
            scores[list(banned_ids)] = float("-inf")
        if top_k is not None:
            threshold = scores.topk(min(top_k, len(scores))).values[-1]
            scores = scores.masked_fill(scores < threshold, float("-inf"))
        token = int(torch.multinomial(F.softmax(scores, dim=-1), 1, generator=generator))
        drawn.append(token)
        if token == stop_id:
            break
        logits, state = net(torch.tensor([[token]], device=log_probs.device), state)
        log_probs = F.log_softmax(logits[0, -1].float(), dim=-1)
    return drawn
