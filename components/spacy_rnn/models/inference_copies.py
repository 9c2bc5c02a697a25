"""Building blocks of the encoders' inference-only copies (`TokenEncoder.formwise_copy`,
`int8_copy`; `spacy_rnn.inference` applies them): a module with one child replaced and the rest
shared, and dynamically quantised int8 copies of recurrent layers. Pure PyTorch."""
import copy
import warnings
from typing import Optional

import torch
from torch import nn

from .cells import CELLS
from .formwise_rnn import FormwiseRNN

QUANTIZED_LAYERS = {cell.module for cell in CELLS.values() if cell.quantizable}


def with_child(module: nn.Module, name: str, child: nn.Module) -> nn.Module:
    """A shallow copy of `module` whose child module `name` is `child`: every other child,
    parameter and buffer is shared with `module`, which is not modified."""
    clone = copy.copy(module)
    clone._modules = module._modules.copy()
    clone._modules[name] = child
    return clone


def quantize_int8(layer: nn.Module) -> Optional[nn.Module]:
    """A dynamically quantised int8 copy, in eval mode, of an nn.LSTM or nn.GRU, or of a
    `FormwiseRNN` (its linear and recurrent layers: int8 weights, activations quantised on the
    fly); None for any other layer (nn.RNN has no int8 kernel). `layer` is not modified."""
    if not isinstance(layer, FormwiseRNN) and type(layer) not in QUANTIZED_LAYERS:
        return None
    holder = nn.Sequential(copy.deepcopy(layer)).eval()
    layers = {nn.Linear, *QUANTIZED_LAYERS} if isinstance(layer, FormwiseRNN) else QUANTIZED_LAYERS
    with warnings.catch_warnings():
        # torch >= 2.10 marks eager-mode quantisation deprecated (in favour of torchao) but still ships it
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize.* deprecated", category=UserWarning)
        torch.ao.quantization.quantize_dynamic(holder, layers, dtype=torch.qint8, inplace=True)
    return holder[0]
