"""A sequence encoder with one linear softmax head per token attribute (e.g. UPOS and XPOS)."""
from typing import Dict

import torch
from torch import nn

from .encoder import SequenceBatch, SequenceEncoder


class TaggerNet(nn.Module):
    """Shared `SequenceEncoder`, then one `nn.Linear` per head.

    forward(batch) -> {head: FloatTensor[N, n_labels]} unnormalised logits for the N tokens
    of `batch.token_index`; the loss applies the (log-)softmax.
    `hparams` holds every constructor argument, so the module can be rebuilt before its
    state dict is loaded.
    """

    def __init__(self, encoder: Dict, heads: Dict[str, int]):
        super().__init__()
        self.hparams = {"encoder": dict(encoder), "heads": dict(heads)}
        self.encoder = SequenceEncoder(**encoder)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(self.encoder.output_width, n_labels) for name, n_labels in heads.items()}
        )

    def forward(self, batch: SequenceBatch) -> Dict[str, torch.Tensor]:
        device = self.heads[next(iter(self.heads))].weight.device
        batch = batch.to(device)
        states = self.encoder(batch)
        tokens = states.reshape(-1, states.shape[-1]).index_select(0, batch.token_index)
        return {name: head(tokens) for name, head in self.heads.items()}
