"""A batched, masked linear-chain CRF whose tag-transition constraints make invalid
BIO / BILUO sequences impossible, in training and in decoding. Pure PyTorch.

A sequence y of length n scores
    start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{n-1}]
and p(y | x) = exp(score(y)) / Z. Forbidden starts, ends and transitions get IMPOSSIBLE added.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from torch import nn

IMPOSSIBLE = -10_000.0


def tag_constraints(tags: Sequence[str]) -> Dict[str, List]:
    """Allowed starts, ends and transitions for tags named "O", "B-X", "I-X", "L-X", "U-X".

    The scheme is BILUO when any tag starts with "L-" or "U-", else BIO. BIO: I-X only after
    B-X or I-X. BILUO: after B-X or I-X only I-X or L-X; elsewhere only O, B-* or U-*; a
    sequence starts like a new entity and ends like a finished one.
    Returns {"allowed_start": [C], "allowed_end": [C], "allowed_transitions": [C][C]} (bools).
    """
    parsed = [("O", None) if tag == "O" else tuple(tag.split("-", 1)) for tag in tags]
    for tag, (prefix, _label) in zip(tags, parsed):
        if prefix not in {"O", "B", "I", "L", "U"}:
            raise ValueError(f"Tag {tag!r} is not O or B-, I-, L-, U- followed by a label")
    biluo = any(prefix in {"L", "U"} for prefix, _ in parsed)

    def inside(prefix: str) -> bool:
        return prefix in {"B", "I"} if biluo else False

    def allowed(prev: tuple, nxt: tuple) -> bool:
        (prev_prefix, prev_label), (next_prefix, next_label) = prev, nxt
        continues = next_prefix in ({"I", "L"} if biluo else {"I"})
        if continues:
            return prev_prefix in {"B", "I"} and prev_label == next_label
        return not inside(prev_prefix)

    starts_entity = {"O", "B", "U"}
    return {
        "allowed_start": [prefix in starts_entity for prefix, _ in parsed],
        "allowed_end": [not inside(prefix) for prefix, _ in parsed],
        "allowed_transitions": [[allowed(prev, nxt) for nxt in parsed] for prev in parsed],
    }


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

    def _scores(self):
        """Learned scores with IMPOSSIBLE added where forbidden (finite, so gradients stay defined)."""
        return (
            self.start + self.start_penalty,
            self.end + self.end_penalty,
            self.transitions + self.transitions_penalty,
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

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor, parallel: bool = False) -> torch.Tensor:
        """log Z for each sequence: FloatTensor[B] (the forward algorithm).

        parallel=True runs the forward algorithm as a log-depth scan: the per-step score
        matrices [B, T-1, C, C] are multiplied pairwise in the log semiring, so there are
        O(log T) sequential steps instead of T (faster on a GPU for long docs; O(T C^3) work,
        so slower on a CPU). Same value up to float rounding.
        """
        start, end, transitions = self._scores()
        alpha = start + emissions[:, 0]
        if parallel and emissions.shape[1] > 1:
            steps = transitions + emissions[:, 1:].unsqueeze(2)  # [B, T-1, C, C]: previous -> next tag
            identity = torch.full((self.n_tags, self.n_tags), IMPOSSIBLE, device=emissions.device).fill_diagonal_(0.0)
            steps = torch.where(mask[:, 1:, None, None], steps, identity)  # padding carries alpha over
            while steps.shape[1] > 1:
                if steps.shape[1] % 2:
                    steps = torch.cat([steps, identity.expand(len(steps), 1, -1, -1)], dim=1)
                steps = (steps[:, 0::2].unsqueeze(-1) + steps[:, 1::2].unsqueeze(-3)).logsumexp(dim=-2)
            alpha = (alpha.unsqueeze(2) + steps[:, 0]).logsumexp(dim=1)
        elif not parallel:
            for t in range(1, emissions.shape[1]):
                step = torch.logsumexp(alpha.unsqueeze(2) + transitions + emissions[:, t].unsqueeze(1), dim=1)
                alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def neg_log_likelihood(
        self, emissions: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor, parallel: bool = False
    ) -> torch.Tensor:
        """-log p(gold | emissions) per sequence: FloatTensor[B].

        gold: LongTensor[B, T] of tag ids; a negative id marks a token whose tag is unknown,
        which is marginalised (any tag the constraints allow), so partial annotation trains.
        parallel: see `log_partition`.
        """
        known = gold >= 0
        gold_only = nn.functional.one_hot(gold.clamp(min=0), self.n_tags).bool() | ~known.unsqueeze(2)
        restricted = emissions.masked_fill(~gold_only, IMPOSSIBLE)
        both = self.log_partition(torch.cat([emissions, restricted]), torch.cat([mask, mask]), parallel)
        log_z, gold_score = both.split(emissions.shape[0])
        return log_z - gold_score

    def forward_backward(self, emissions: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """alpha, beta FloatTensor[B, T, C] and log Z FloatTensor[B] (the forward-backward
        algorithm). alpha[b, t, c]: log of the summed scores of the allowed tags y_0..y_t with
        y_t = c (emissions up to t included); beta[b, t, c]: the same for y_t+1.. given y_t = c
        (end score included). So log p(y_t = c) = alpha + beta - log Z. Meaningless on padding."""
        start, end, transitions = self._scores()
        top = transitions.max()
        weights = (transitions - top).exp().to(emissions.dtype)  # log-sum-exp as a matrix product

        def log_matmul(scores: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
            """log(exp(scores) @ exp(matrix + top)) for scores FloatTensor[B, C], each row finite somewhere."""
            peak = scores.max(dim=1, keepdim=True).values
            return ((scores - peak).exp() @ matrix).log() + peak + top

        alphas = [start + emissions[:, 0]]
        for t in range(1, emissions.shape[1]):
            step = log_matmul(alphas[-1], weights) + emissions[:, t]
            alphas.append(torch.where(mask[:, t : t + 1], step, alphas[-1]))
        final = end.to(emissions.dtype).expand(len(emissions), -1)
        betas = [final]
        for t in range(emissions.shape[1] - 2, -1, -1):
            step = log_matmul(emissions[:, t + 1] + betas[0], weights.T)
            betas.insert(0, torch.where(mask[:, t + 1 : t + 2], step, final))
        log_z = torch.logsumexp(alphas[-1] + end, dim=1)
        return torch.stack(alphas, dim=1), torch.stack(betas, dim=1), log_z

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """p(y_t = c | emissions) over the allowed sequences: FloatTensor[B, T, C], rows of real
        tokens summing to 1, zeros on padding."""
        alpha, beta, log_z = self.forward_backward(emissions, mask)
        return (alpha + beta - log_z[:, None, None]).exp() * mask.unsqueeze(-1)

    def segment_log_probs(
        self, emissions: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, log_z: float, segments: List[Tuple[int, List[int], List[int]]]
    ) -> List[float]:
        """For one sequence (emissions, alpha, beta: [n, C], as `forward_backward` gives them),
        log p(y_first.. = tags, and y after them not in not_next) for each (first, tags, not_next)."""
        start, end, transitions = (scores.detach().double().cpu().numpy() for scores in self._scores())
        emissions, alpha, beta = (x.detach().double().cpu().numpy() for x in (emissions, alpha, beta))
        log_probs = []
        for first, tags, not_next in segments:
            last = first + len(tags) - 1
            score = start[tags[0]] if first == 0 else _logsumexp(alpha[first - 1] + transitions[:, tags[0]])
            score += emissions[numpy.arange(first, last + 1), tags].sum() + transitions[tags[:-1], tags[1:]].sum()
            if last == len(emissions) - 1:
                score += end[tags[-1]]
            else:
                following = transitions[tags[-1]] + emissions[last + 1] + beta[last + 1]
                following[not_next] = -numpy.inf
                score += _logsumexp(following)
            log_probs.append(float(score - log_z))
        return log_probs

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


def _logsumexp(values: numpy.ndarray) -> float:
    top = values.max()
    return float(top) if top == -numpy.inf else float(top + numpy.log(numpy.exp(values - top).sum()))
