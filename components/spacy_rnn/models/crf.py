"""A batched, masked linear-chain CRF whose tag-transition constraints (for entity tags:
`spacy_rnn.models.tag_schemes.tag_constraints`) make invalid BIO / BILUO sequences impossible,
in training and in decoding. Pure PyTorch.

A sequence y of length n scores
    start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{n-1}]
and p(y | x) = exp(score(y)) / Z. Forbidden starts, ends and transitions get IMPOSSIBLE added.
"""
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
from torch import nn

IMPOSSIBLE = -10_000.0


class Segments(NamedTuple):
    """K tag segments over the rows of a batch: segment k gives row rows[k] its sizes[k] tags
    (of tags, segment after segment) from position firsts[k] on, and the next token none of
    the tags where not_next[k] is True."""

    rows: torch.Tensor  # LongTensor[K]
    firsts: torch.Tensor  # LongTensor[K]
    sizes: torch.Tensor  # LongTensor[K], each >= 1
    tags: torch.Tensor  # LongTensor[sum(sizes)]
    not_next: torch.Tensor  # BoolTensor[K, C]


def segment_positions(sizes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """For segments of the given sizes (LongTensor[K]) laid end to end: the segment of each of
    their positions and the position's offset in it, LongTensor[sum(sizes)] each."""
    owner = torch.repeat_interleave(torch.arange(len(sizes), device=sizes.device), sizes)
    offsets = torch.arange(len(owner), device=sizes.device) - (sizes.cumsum(0) - sizes)[owner]
    return owner, offsets


class LinearChainCRF(nn.Module):
    """CRF over C tags with learned start, end and transition scores.

    allowed_*: from `tag_constraints` (None: everything allowed). learn_transitions=False keeps
    the learned scores at zero, so `decode` is an argmax over emissions under the constraints
    (the softmax-only ablation).
    Inputs are emissions FloatTensor[B, T, C] and mask BoolTensor[B, T] (True on real tokens,
    each row a prefix of at least one token).
    """

    def __init__(
        self,
        n_tags: int,
        allowed_start: Optional[List[bool]] = None,
        allowed_end: Optional[List[bool]] = None,
        allowed_transitions: Optional[List[List[bool]]] = None,
        learn_transitions: bool = True,
    ):
        super().__init__()
        self.n_tags = n_tags
        shapes = {"start": (n_tags,), "end": (n_tags,), "transitions": (n_tags, n_tags)}
        for name, shape in shapes.items():
            if learn_transitions:
                self.register_parameter(name, nn.Parameter(torch.zeros(shape)))
            else:
                self.register_buffer(name, torch.zeros(shape))
        allowed = {"start": allowed_start, "end": allowed_end, "transitions": allowed_transitions}
        for name, shape in shapes.items():
            mask = torch.ones(shape, dtype=torch.bool) if allowed[name] is None else torch.tensor(allowed[name])
            if mask.shape != shape:
                raise ValueError(f"allowed_{name} has shape {tuple(mask.shape)}, expected {shape}")
            penalty = torch.zeros(shape).masked_fill(~mask, IMPOSSIBLE)
            self.register_buffer(f"{name}_penalty", penalty, persistent=False)

    def _scores(self, temperature: float = 1.0):
        """Learned scores divided by temperature, with IMPOSSIBLE added where forbidden (finite,
        so gradients stay defined)."""
        return (
            self.start / temperature + self.start_penalty,
            self.end / temperature + self.end_penalty,
            self.transitions / temperature + self.transitions_penalty,
        )

    def _decoding_scores(self):
        """Learned scores with -inf where forbidden: no score, however large, can select a
        forbidden start, end or transition."""
        return tuple(
            learned.masked_fill(penalty < 0, float("-inf"))
            for learned, penalty in (
                (self.start, self.start_penalty),
                (self.end, self.end_penalty),
                (self.transitions, self.transitions_penalty),
            )
        )

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z for each sequence: FloatTensor[B] (the forward algorithm)."""
        start, end, transitions = self._scores()
        alpha = start + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def neg_log_likelihood(self, emissions: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log p(gold | emissions) per sequence: FloatTensor[B].

        gold: LongTensor[B, T] of tag ids; a negative id marks a token whose tag is unknown,
        which is marginalised (any tag the constraints allow), so partial annotation trains.
        """
        known = gold >= 0
        gold_only = nn.functional.one_hot(gold.clamp(min=0), self.n_tags).bool() | ~known.unsqueeze(2)
        restricted = emissions.masked_fill(~gold_only, IMPOSSIBLE)
        both = self.log_partition(torch.cat([emissions, restricted]), torch.cat([mask, mask]))
        log_z, gold_score = both.split(emissions.shape[0])
        return log_z - gold_score

    @torch.no_grad()
    def forward_backward(self, emissions: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """alpha, beta FloatTensor[B, T, C] and log Z FloatTensor[B] (the forward-backward
        algorithm, without gradients). alpha[b, t, c]: log of the summed scores of the allowed
        tags y_0..y_t with y_t = c (emissions up to t included); beta[b, t, c]: the same for
        y_t+1.. given y_t = c (end score included). So log p(y_t = c) = alpha + beta - log Z.
        Meaningless on padding."""
        scores = tuple(scores.to(emissions.dtype) for scores in self._scores())
        alpha, beta, log_z = self._forward_backward(emissions, mask, scores)
        rows = torch.arange(len(emissions), device=emissions.device).unsqueeze(1)
        positions = torch.arange(emissions.shape[1], device=emissions.device)
        return alpha(rows, positions), beta(rows, positions), log_z

    def _forward_backward(
        self, emissions: torch.Tensor, mask: torch.Tensor, scores: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> Tuple[Callable, Callable, torch.Tensor]:
        """`forward_backward` with its tables read only where needed, for the start, end and
        transition scores `scores` (`_scores`, in the emissions' dtype): alpha(rows, positions)
        and beta(rows, positions) give FloatTensor[..., C] at those indices (LongTensors or ints,
        broadcast together); and log Z FloatTensor[B].

        Both recursions run in one loop of T - 1 batched matrix products over scores rescaled
        to sum to 1 at each step (the logs of the scales are summed after the loop); the
        backward one over each row reversed, so that it starts at every row's last token."""
        start, end, transitions = scores
        batch_size, length, _ = emissions.shape
        lengths = mask.sum(dim=1)
        rows = torch.arange(batch_size, device=emissions.device)
        positions = torch.arange(length, device=emissions.device).unsqueeze(1)
        # Step s reads each row at position s forward and at n - 1 - s backward (0 on padding).
        steps = torch.stack([positions.expand(-1, batch_size), (lengths - 1 - positions).clamp(min=0)], dim=1)  # [T, 2, B]
        reads = (rows * length + steps).flatten()  # indices into emissions.flatten(0, 1)
        peaks = emissions.max(dim=2).values.flatten()[reads].view(length, 2, batch_size)
        factors = emissions.flatten(0, 1).index_select(0, reads).view(length, 2, batch_size, -1)
        factors.sub_(peaks.unsqueeze(3)).exp_()  # [T, 2, B, C]
        top = transitions.max()
        weights = (torch.stack([transitions, transitions.T]) - top).exp()  # [2, C, C]
        initial = torch.stack([start, end])  # [2, C]: alpha before y_0's emission; beta at the last token
        initial_peak = initial.max(dim=1).values  # [2]
        states = torch.empty_like(factors)  # [T, 2, B, C]: at step s, alpha before position s's emission and beta at n - 1 - s
        states[0] = (initial - initial_peak.unsqueeze(1)).exp().unsqueeze(1)
        totals = torch.ones_like(factors[:, :, :, :1])  # [T, 2, B, 1]: the sums divided away
        previous = states[0]
        for factor, state, total in zip(factors[:-1], states[1:], totals[1:]):
            torch.bmm(previous * factor, weights, out=state)
            torch.sum(state, dim=2, keepdim=True, out=total)
            previous = state.div_(total)
        shifts = torch.cat([initial_peak.view(1, 2, 1).expand(-1, -1, batch_size), peaks[:-1] + top])
        log_scales = (totals.squeeze(3).log() + shifts).cumsum(dim=0)  # [T, 2, B]

        def alpha(rows, positions):
            return states[positions, 0, rows].log() + log_scales[positions, 0, rows].unsqueeze(-1) + emissions[rows, positions]

        def beta(rows, positions):
            reversed_positions = (lengths[rows] - 1 - positions).clamp(min=0)
            return states[reversed_positions, 1, rows].log() + log_scales[reversed_positions, 1, rows].unsqueeze(-1)

        return alpha, beta, torch.logsumexp(alpha(rows, 0) + beta(rows, 0), dim=1)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """p(y_t = c | emissions) over the allowed sequences: FloatTensor[B, T, C], rows of real
        tokens summing to 1, zeros on padding (without gradients)."""
        alpha, beta, log_z = self.forward_backward(emissions, mask)
        return (alpha + beta - log_z[:, None, None]).exp().masked_fill(~mask.unsqueeze(-1), 0.0)

    @torch.no_grad()
    def segment_log_probs(
        self, emissions: torch.Tensor, mask: torch.Tensor, segments: Segments, temperature: float = 1.0
    ) -> torch.Tensor:
        """log p(y_first.. = tags, and y after them not in not_next) for each of the K segments
        of a batch (emissions FloatTensor[B, T, C], mask BoolTensor[B, T]): FloatTensor[K],
        from `forward_backward`'s tables read at the segments' edges only. With a temperature,
        under the CRF whose learned scores and emissions are divided by it (the constraints
        stay): above 1 the distribution moves towards the uniform one over the allowed sequences,
        below 1 towards the best sequence, which (`decode`) is the same at every temperature."""
        start, end, transitions = (scores.to(emissions.dtype) for scores in self._scores(temperature))
        emissions = emissions / temperature
        alpha, beta, log_z = self._forward_backward(emissions, mask, (start, end, transitions))
        rows, firsts, sizes, tags, not_next = segments
        owner, offsets = segment_positions(sizes)
        lasts = firsts + sizes - 1
        ends = sizes.cumsum(0)
        first_tags, last_tags = tags[ends - sizes], tags[ends - 1]
        inside = torch.zeros_like(firsts, dtype=emissions.dtype)  # the segments' emissions and transitions
        inside.index_add_(0, owner, emissions[rows[owner], firsts[owner] + offsets, tags])
        pairs = offsets[1:] > 0  # consecutive tags of one segment
        inside.index_add_(0, owner[1:][pairs], transitions[tags[:-1][pairs], tags[1:][pairs]])
        before = alpha(rows, (firsts - 1).clamp(min=0)) + transitions[:, first_tags].T  # [K, C]
        left = torch.where(firsts == 0, start[first_tags], before.logsumexp(dim=1))
        following = (lasts + 1).clamp(max=emissions.shape[1] - 1)
        after = transitions[last_tags] + emissions[rows, following] + beta(rows, following)  # [K, C]
        at_end = lasts == mask.sum(dim=1)[rows] - 1
        right = torch.where(at_end, end[last_tags], after.masked_fill(not_next, float("-inf")).logsumexp(dim=1))
        return left + inside + right - log_z[rows]

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The highest-scoring allowed tag sequence (Viterbi): LongTensor[B, T], with the last
        real tag repeated over padding. Emissions of -inf forbid a tag at a position."""
        start, end, transitions = self._decoding_scores()
        batch_size, length, n_tags = emissions.shape
        score = start + emissions[:, 0]
        keep = torch.arange(n_tags, device=emissions.device).expand(batch_size, n_tags)
        backpointers = torch.empty((length, batch_size, n_tags), dtype=torch.int64, device=emissions.device)
        for t in range(1, length):
            best, best_prev = (score.unsqueeze(2) + transitions).max(dim=1)
            real = mask[:, t : t + 1]
            score = torch.where(real, best + emissions[:, t], score)
            backpointers[t] = torch.where(real, best_prev, keep)
        tags = torch.empty((batch_size, length), dtype=torch.int64, device=emissions.device)
        tags[:, -1] = (score + end).argmax(dim=1)
        for t in range(length - 1, 0, -1):
            tags[:, t - 1] = backpointers[t].gather(1, tags[:, t : t + 1]).squeeze(1)
        return tags

