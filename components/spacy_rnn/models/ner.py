"""A token encoder with a linear emission head and a linear-chain CRF over entity tags: the
net owns its loss (CRF likelihood) and its decoding (constrained Viterbi)."""
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from .crf import LinearChainCRF, tag_constraints
from .registry import build_net, net_spec, register_net
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

    def __init__(self, encoder: nn.Module, tags: List[str], crf: bool = True):
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
        order = sorted((i for i in range(len(emissions)) if len(emissions[i])), key=lambda i: -len(emissions[i]))
        while order:
            size = max(1, max_cells // len(emissions[order[0]]))
            group, order = order[:size], order[size:]
            rows = []
            for i in group:
                scores = emissions[i].log_softmax(dim=-1) if not self.use_crf else emissions[i]
                scores = torch.nan_to_num(scores, nan=0.0).clamp(-1e30, 1e30)  # finite, so -inf below rules
                scores[outside[i].to(scores.device), 1:] = float("-inf")
                rows.append(scores)
            padded, mask = pad_docs(rows)
            best = self.crf.decode(padded, mask).cpu()
            for row, i in enumerate(group):
                results[i] = best[row, : len(emissions[i])]
        return results
