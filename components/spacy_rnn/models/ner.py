"""A sequence encoder with a linear emission head and a linear-chain CRF over entity tags."""
from typing import Dict, List

from .crf import LinearChainCRF, tag_constraints
from .tagger import TaggerNet


class EntityTaggerNet(TaggerNet):
    """`TaggerNet` with one head, "tags", whose logits are the CRF's emission scores.

    forward(batch) -> {"tags": FloatTensor[N, len(tags)]} for the N tokens of batch.token_index.
    The sequence-level parts (likelihood, Viterbi) run over whole docs in the component, with
    `self.crf`. tags are named "O", "B-X", "I-X" (and "L-X", "U-X" for BILUO); the CRF forbids
    invalid sequences. crf=False keeps the transition scores at zero (softmax-only ablation:
    decoding is then a constrained argmax).
    """

    def __init__(self, encoder: Dict, tags: List[str], crf: bool = True):
        super().__init__(encoder, heads={"tags": len(tags)})
        self.hparams = {"encoder": dict(encoder), "tags": list(tags), "crf": crf}
        self.crf = LinearChainCRF(len(tags), **tag_constraints(tags), learn_transitions=crf)
