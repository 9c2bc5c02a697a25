"""Pure PyTorch modules (no spaCy import): token encoders and the heads built on them."""
from .classifier import TextClassifierNet
from .encoder import RNNEncoder, RNNEncoderSettings, SequenceBatch
from .language_model import LanguageModelNet
from .ner import EntityTaggerNet
from .registry import NETS, build_net, net_spec
from .tagger import TaggerNet

__all__ = [
    "NETS", "EntityTaggerNet", "LanguageModelNet", "RNNEncoder", "RNNEncoderSettings", "SequenceBatch",
    "TaggerNet", "TextClassifierNet", "build_net", "net_spec",
]
