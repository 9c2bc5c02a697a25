"""A token encoder with one linear softmax head per token attribute (e.g. UPOS and XPOS)."""
from typing import Dict

import torch
from torch import nn

from .encoder_contract import TokenEncoder, WindowBatch
from .registry import build_net, net_spec, register_net


NEW_LABEL_MARGIN = 10.0


@torch.no_grad()
def grow_linear(linear: nn.Linear, n_new: int) -> nn.Linear:
    """linear with n_new more outputs: the old rows kept, the new ones with zero weights and a
    bias NEW_LABEL_MARGIN below the lowest old bias, so a new label wins no prediction until
    it is trained (its weights then learn from zero)."""
    grown = nn.Linear(linear.in_features, linear.out_features + n_new).to(linear.weight.device)
    grown.weight.zero_()
    grown.weight[: linear.out_features] = linear.weight
    grown.bias[: linear.out_features] = linear.bias
    grown.bias[linear.out_features :] = linear.bias.min() - NEW_LABEL_MARGIN
    return grown


@register_net
class TaggerNet(nn.Module):
    """Any `TokenEncoder` (`spacy_rnn.models.encoder_contract`), then one `nn.Linear` per head.

    forward(batch) -> {head: FloatTensor[N, n_labels]} unnormalised logits for the N tokens
    of `batch.token_index`, in that order; the loss applies the (log-)softmax.
    `hparams` rebuilds the module (encoder included) before its state dict is loaded.
    """

    def __init__(self, encoder: TokenEncoder, heads: Dict[str, int]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(
            {name: nn.Linear(self.encoder.output_width, n_labels) for name, n_labels in heads.items()}
        )

    @property
    def hparams(self) -> Dict:
        return {"encoder": net_spec(self.encoder), "heads": {name: head.out_features for name, head in self.heads.items()}}

    @classmethod
    def from_hparams(cls, hparams: Dict) -> "TaggerNet":
        return cls(build_net(hparams["encoder"]), hparams["heads"])

    def add_outputs(self, head: str, n_new: int) -> None:
        """Grow a head by n_new labels (see `grow_linear`)."""
        self.heads[head] = grow_linear(self.heads[head], n_new)

    def forward(self, batch: WindowBatch) -> Dict[str, torch.Tensor]:
        device = self.heads[next(iter(self.heads))].weight.device
        batch = batch.to(device)
        states = self.encoder(batch)
        tokens = states.reshape(-1, states.shape[-1]).index_select(0, batch.token_index)
        return {name: head(tokens) for name, head in self.heads.items()}

