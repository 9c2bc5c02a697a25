"""Inference precision of a loaded pipeline's torch components: float32 (as trained), int8
(dynamic quantisation of the recurrent layers) or bf16 (autocast).

`set_inference_precision(nlp, precision)` converts the torch module of every component built on
`spacy_rnn.layers.TorchModel` in memory, for prediction only: the files the pipeline was loaded
from are not touched, and a converted pipeline is not meant to be trained or saved (load the
float32 pipeline again for that).

- int8: `torch.ao.quantization.quantize_dynamic` on a copy of the module replaces its nn.LSTM
  and nn.GRU layers by ones with int8 weights whose activations are quantised on the fly. The
  linear heads stay float32 (`TaggerNet.forward` reads its first head's `weight.device`, which a
  quantised linear layer does not have), and so do embeddings and the character CNN (dynamic
  quantisation has no kernels for them). Text classifiers are refused: their encoder reads the
  LSTM's float weights directly (`RNNEncoder.run_padded`).
- bf16: the module's forward runs under `torch.autocast("cpu", dtype=torch.bfloat16)` (the
  weights stay float32; matrix products run in bf16) and its outputs are returned as float32,
  so decoding (CRF Viterbi, confidences) is unchanged. Only on CPUs with native bf16
  instructions (`bf16_supported`).
"""
import copy
import warnings
from functools import partial
from pathlib import Path
from typing import Dict, List

import torch
from spacy.language import Language
from torch import nn

from .layers import get_torch_net
from .models.classifier import TextClassifierNet

PRECISIONS = ("float32", "int8", "bf16")
QUANTIZED_LAYERS = {nn.LSTM, nn.GRU}


def bf16_supported() -> bool:
    """Whether the CPU has native bf16 instructions (AVX512-BF16 or AMX-BF16, Linux
    /proc/cpuinfo); elsewhere bf16 would be emulated, slower than float32."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return False
    flags = set(cpuinfo.read_text().split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def torch_components(nlp: Language) -> List[str]:
    """The names of the pipeline's components whose model wraps a torch module."""
    return [
        name
        for name, pipe in nlp.pipeline
        if getattr(pipe, "model", None) is not None and pipe.model.shims and isinstance(get_torch_net(pipe.model), nn.Module)
    ]


def set_inference_precision(nlp: Language, precision: str) -> List[str]:
    """Convert the torch module of each torch component of the loaded pipeline to `precision`
    ("float32": no change) and return the names of the components converted. ValueError for an
    unknown precision, bf16 on a CPU without native bf16, int8 on a text classifier, or a
    component that was already converted."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "bf16" and not bf16_supported():
        raise ValueError("bf16 inference needs a CPU with native bf16 instructions (avx512_bf16 or amx_bf16)")
    names = torch_components(nlp)
    for name in names:
        model = nlp.get_pipe(name).model
        net = get_torch_net(model)
        if getattr(net, "inference_precision", "float32") != "float32":
            raise ValueError(f"[{name}] is already converted to {net.inference_precision}; load the pipeline again")
        if precision == "int8":
            if isinstance(net, TextClassifierNet):
                raise ValueError(f"[{name}] int8 is not available for text classifiers (their encoder reads the float LSTM weights)")
            net = quantize_int8(net)
        elif precision == "bf16":
            net.forward = partial(_bf16_forward, net.forward)
        net.inference_precision = precision
        model.shims[0]._model = net
    return names


def quantize_int8(net: nn.Module) -> nn.Module:
    """A copy of `net` in eval mode whose LSTM/GRU layers have dynamically quantised int8 weights."""
    with warnings.catch_warnings():
        # torch >= 2.10 marks eager-mode quantisation deprecated (in favour of torchao) but still ships it
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize.* deprecated", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(net).eval(), QUANTIZED_LAYERS, dtype=torch.qint8)


def _bf16_forward(forward, *args, **kwargs) -> Dict[str, torch.Tensor]:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs = forward(*args, **kwargs)
    return {name: value.float() for name, value in outputs.items()}
