"""Inference settings of a loaded pipeline's torch components: the precision, float32 (as
trained), int8 (dynamic quantisation of the recurrent layers) or bf16 (autocast), and where the
first recurrent layer's input projection runs, once per token (as trained) or once per distinct
word form of a batch (`spacy_rnn.models.formwise_rnn`; the same states within float tolerance).

`set_inference_precision(nlp, precision, input_projection)` converts the torch module of every
component built on `spacy_rnn.layers.TorchModel` in memory, for prediction only: the files the
pipeline was loaded from are not touched, and a converted pipeline is not meant to be trained or
saved (load the pipeline again for that).

- form (the default): each encoder that is an `RNNEncoder` (the tagger's, the recognizer's, the
  text classifier's) gets a `FormwiseRNN` copy of its recurrent layers. An RNN reading
  Transformer features (`RNNOverTransformer`) keeps the per-token projection: its inputs are
  contextual, not functions of the word form.

- int8: `torch.ao.quantization.quantize_dynamic` on a copy of the module replaces its nn.LSTM
  and nn.GRU layers by ones with int8 weights whose activations are quantised on the fly. The
  linear heads stay float32 (`TaggerNet.forward` reads its first head's `weight.device`, which a
  quantised linear layer does not have), and so do embeddings and the character CNN (dynamic
  quantisation has no kernels for them). A `FormwiseRNN`'s linear layers (input projection and
  hidden-to-hidden weights) are quantised too. With the per-token projection, text classifiers
  are refused: their encoder reads the LSTM's float weights directly (`RNNEncoder.run_padded`).
- bf16: the module's forward runs under `torch.autocast("cpu", dtype=torch.bfloat16)` (the
  weights stay float32; matrix products run in bf16) and its outputs are returned as float32,
  so decoding (CRF Viterbi, confidences) is unchanged. Only on CPUs with native bf16
  (`spacy_rnn.precision.bf16_supported`; elsewhere a ValueError says so).
"""
import copy
import warnings
from functools import partial
from typing import Dict, List

import torch
from spacy.language import Language
from torch import nn

from .layers import get_torch_net
from .models.classifier import TextClassifierNet
from .models.encoder import RNNEncoder
from .models.formwise_rnn import FormwiseRNN
from .precision import bf16_autocast, use_bf16

PRECISIONS = ("float32", "int8", "bf16")
INPUT_PROJECTIONS = ("form", "token")
QUANTIZED_LAYERS = {nn.LSTM, nn.GRU}


def torch_components(nlp: Language) -> List[str]:
    """The names of the pipeline's components whose model wraps a torch module."""
    return [
        name
        for name, pipe in nlp.pipeline
        if getattr(pipe, "model", None) is not None and pipe.model.shims and isinstance(get_torch_net(pipe.model), nn.Module)
    ]


def set_inference_precision(nlp: Language, precision: str, input_projection: str = "form") -> List[str]:
    """Convert the torch module of each torch component of the loaded pipeline to `precision`
    ("float32": the trained weights) with the first layer's input projection computed per
    distinct word form ("form") or per token ("token": float32 is then no change), and return
    the names of the components converted. ValueError for an unknown precision or projection,
    bf16 on a CPU without native bf16, int8 on a text classifier with the per-token projection,
    or a component that was already converted."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if input_projection not in INPUT_PROJECTIONS:
        raise ValueError(f"input_projection must be one of {INPUT_PROJECTIONS}, not {input_projection!r}")
    if precision == "bf16":
        use_bf16("bf16", "cpu", name="precision")
    names = torch_components(nlp)
    for name in names:
        model = nlp.get_pipe(name).model
        net = get_torch_net(model)
        if getattr(net, "inference_precision", None) is not None:
            raise ValueError(f"[{name}] is already converted to {net.inference_precision}; load the pipeline again")
        if precision == "int8" and input_projection == "token" and isinstance(net, TextClassifierNet):
            raise ValueError(f"[{name}] int8 needs input_projection='form' for text classifiers (their per-token encoder reads the float LSTM weights)")
        if input_projection == "form" and isinstance(getattr(net, "encoder", None), RNNEncoder):
            net = copy.deepcopy(net).eval()
            net.encoder.rnn = FormwiseRNN(net.encoder.rnn)
        if precision == "int8":
            net = quantize_int8(net)
        elif precision == "bf16":
            net.forward = partial(_bf16_forward, net.forward)
        net.inference_precision = precision
        model.shims[0]._model = net
    return names


def quantize_int8(net: nn.Module) -> nn.Module:
    """A copy of `net` in eval mode whose LSTM/GRU layers, and the linear layers of its
    `FormwiseRNN`s, have dynamically quantised int8 weights."""
    with warnings.catch_warnings():
        # torch >= 2.10 marks eager-mode quantisation deprecated (in favour of torchao) but still ships it
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize.* deprecated", category=UserWarning)
        net = torch.ao.quantization.quantize_dynamic(copy.deepcopy(net).eval(), QUANTIZED_LAYERS, dtype=torch.qint8)
        for module in [m for m in net.modules() if isinstance(m, FormwiseRNN)]:
            torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8, inplace=True)
        return net


def _bf16_forward(forward, *args, **kwargs) -> Dict[str, torch.Tensor]:
    with bf16_autocast(True, "cpu"):
        outputs = forward(*args, **kwargs)
    return {name: value.float() for name, value in outputs.items()}
