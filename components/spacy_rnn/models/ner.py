"""A token encoder with a linear emission head and a linear-chain CRF over entity tags: the
net owns its loss (CRF likelihood) and its decoding (constrained Viterbi)."""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .batching import length_groups
from .crf import LinearChainCRF, Segments, segment_positions
from .encoder_contract import TokenEncoder
from .registry import build_net, net_spec, register_net
from .tag_schemes import ENTITY_PREFIXES, scheme_of, tag_constraints
from .tagger import TaggerNet


def pad_docs(rows: List[torch.Tensor]) -> "tuple[torch.Tensor, torch.Tensor]":
    """Per-doc tensors [n_i, ...] (n_i >= 1) -> padded [B, max n_i, ...] and its mask BoolTensor[B, T]."""
    padded = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([len(row) for row in rows], device=padded.device)
    mask = torch.arange(padded.shape[1], device=padded.device) < lengths.unsqueeze(1)
    return padded, mask


@register_net
class EntityTaggerNet(TaggerNet):
    """`TaggerNet` with one head, "tags", whose logits are the CRF's emission scores.

    forward(batch) -> {"tags": FloatTensor[N, len(tags)]} for the N tokens of batch.token_index.
    `loss` and `decode` take those emissions per doc. tags are named "O", "B-X", "I-X" (and
    "L-X", "U-X" for BILUO); the CRF forbids invalid sequences. crf=False keeps the transition
    scores at zero (the softmax-only ablation: token cross-entropy, constrained argmax).
    """

    def __init__(self, encoder: TokenEncoder, tags: List[str], crf: bool = True):
        super().__init__(encoder, heads={"tags": len(tags)})
        self.tags = list(tags)
        self.use_crf = crf
        self.crf = LinearChainCRF(len(tags), **tag_constraints(tags), learn_transitions=crf)

    @property
    def hparams(self) -> Dict:
        return {"encoder": net_spec(self.encoder), "tags": list(self.tags), "crf": self.use_crf}

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "EntityTaggerNet":
        return cls(build_net(hparams["encoder"]), hparams["tags"], hparams["crf"])

    def add_tags(self, tags: List[str]) -> None:
        """Append tags (e.g. B-X, I-X, L-X, U-X of a new label): their emission rows start low
        (see `grow_linear`), the CRF gets their constraints, and the learned start, end and
        transition scores of the old tags are kept (the new ones start at 0)."""
        n_old = len(self.tags)
        self.add_outputs("tags", len(tags))
        self.tags = self.tags + list(tags)
        crf = LinearChainCRF(len(self.tags), **tag_constraints(self.tags), learn_transitions=self.use_crf)
        crf = crf.to(self.heads["tags"].weight.device)
        with torch.no_grad():
            crf.start[:n_old] = self.crf.start
            crf.end[:n_old] = self.crf.end
            crf.transitions[:n_old, :n_old] = self.crf.transitions
        self.crf = crf

    def loss(self, emissions: List[torch.Tensor], gold: List[torch.Tensor]) -> torch.Tensor:
        """The training loss for docs' emissions FloatTensor[n_i, C] and gold tag ids LongTensor[n_i]
        (negative: unknown tag). CRF: summed negative log-likelihood per token (unknown tags
        marginalised); otherwise the mean token cross-entropy over the known tags."""
        gold = [ids.to(emissions[0].device) for ids in gold]
        if not self.use_crf:
            targets = torch.cat(gold)
            n_known = int((targets >= 0).sum())
            if n_known == 0:
                return emissions[0].sum() * 0.0
            return F.cross_entropy(torch.cat(emissions), targets.masked_fill(targets < 0, -100), reduction="sum") / n_known
        n_tokens = sum(len(ids) for ids in gold)
        kept = [i for i, ids in enumerate(gold) if len(ids)]
        padded, mask = pad_docs([emissions[i] for i in kept])
        gold_ids, _ = pad_docs([gold[i] for i in kept])
        return self.crf.neg_log_likelihood(padded, gold_ids, mask).sum() / max(1, n_tokens)

    @torch.no_grad()
    def decode(self, emissions: List[torch.Tensor], outside: List[torch.Tensor], max_cells: int) -> List[torch.Tensor]:
        """The best valid tag sequence (LongTensor[n_i]) of each doc given its emissions
        FloatTensor[n_i, C]; tokens where `outside` (BoolTensor[n_i]) is True get "O" (tag 0).
        Docs of similar length are decoded together, at most `max_cells` padded positions a group."""
        results = [torch.zeros(len(e), dtype=torch.int64) for e in emissions]
        for group in length_groups([len(e) for e in emissions], max_cells):
            padded, mask = self.padded_scores(emissions, outside, group)
            best = self.crf.decode(padded, mask).cpu()
            for row, i in enumerate(group):
                results[i] = best[row, : len(emissions[i])]
        return results

    def padded_scores(
        self, emissions: List[torch.Tensor], outside: List[torch.Tensor], group: List[int]
    ) -> "tuple[torch.Tensor, torch.Tensor]":
        """The CRF's scores for the docs in `group`, padded (FloatTensor[B, T, C]), and their mask:
        the emissions (their log-softmax without learned transitions), finite, with -inf for
        every tag but "O" where `outside`."""
        padded, mask = pad_docs([emissions[i] for i in group])
        fixed, _ = pad_docs([outside[i].to(padded.device) for i in group])
        scores = padded.log_softmax(dim=-1) if not self.use_crf else padded
        scores = torch.nan_to_num(scores, nan=0.0).clamp(-1e30, 1e30)  # finite, so -inf below rules
        scores[fixed, 1:] = float("-inf")
        return scores, mask

    @torch.no_grad()
    def span_probabilities(
        self,
        emissions: List[torch.Tensor],
        outside: List[torch.Tensor],
        spans: List[List[Tuple[int, int, str]]],
        max_cells: int,
        temperature: float = 1.0,
    ) -> List[List[float]]:
        """For each doc, the probability of each of its entity spans (start, end exclusive,
        label), e.g. the decoded ones, under the CRF: the total probability of the valid tag
        sequences (with "O" where `outside`) that give exactly that span its tags (BIO: and do
        not continue it on the next token). From the forward-backward tables, in float64; docs
        of similar length together, at most `max_cells` padded positions a group.
        temperature: every score of the CRF divided by it (`LinearChainCRF.segment_log_probs`;
        without learned transitions, the same as a softmax of the emissions divided by it)."""
        probabilities: List[List[float]] = [[] for _ in spans]
        lengths = [len(e) if doc_spans else 0 for e, doc_spans in zip(emissions, spans)]
        for group in length_groups(lengths, max_cells):
            padded, mask = self.padded_scores(emissions, outside, group)
            segments = self.span_segments([spans[i] for i in group], padded.device)
            values = iter(self.crf.segment_log_probs(padded.double(), mask, segments, temperature).exp().tolist())
            for i in group:
                probabilities[i] = [next(values) for _ in spans[i]]
        return probabilities

    def span_segments(self, spans: List[List[Tuple[int, int, str]]], device: torch.device) -> Segments:
        """The CRF segments of each row's spans (start, end exclusive, label), in order: for a
        span to be an entity, U-X or B-X I-X... L-X (BILUO); B-X I-X... and not I-X next (BIO)."""
        index = {tag: i for i, tag in enumerate(self.tags)}
        scheme = scheme_of(self.tags)
        labels = sorted({label for row_spans in spans for _, _, label in row_spans})
        label_ids = {label: k for k, label in enumerate(labels)}
        # Per label: the tags of an entity's first, middle, last and only token (BIO: B-X I-X I-X B-X).
        roles = [[index[f"{prefix}-{label}"] for prefix in ENTITY_PREFIXES[scheme]] for label in labels]
        flat = [(row, start, end, label_ids[label]) for row, row_spans in enumerate(spans) for start, end, label in row_spans]
        rows, firsts, ends, span_labels = torch.tensor(flat, dtype=torch.int64, device=device).reshape(-1, 4).T
        sizes = ends - firsts
        span_roles = torch.tensor(roles, dtype=torch.int64, device=device).reshape(-1, 4)[span_labels]  # [K, 4]
        owner, offsets = segment_positions(sizes)
        size = sizes[owner]
        role = torch.where(offsets == 0, torch.where(size == 1, 3, 0), torch.where(offsets == size - 1, 2, 1))
        # I-X, forbidden after BIO spans only
        not_next = F.one_hot(span_roles[:, 1], len(self.tags)).bool() & (scheme == "BIO")
        return Segments(rows, firsts, sizes, span_roles[owner, role], not_next)
