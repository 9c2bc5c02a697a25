"""Inference settings of the torch components (`torch_tagger`, `torch_ner`,
`torch_textcat`): each has `precision` and `input_projection` in its config, saved with the
pipeline and applied by `spacy.load` after the weights are read (`TorchPipe.from_disk` /
`from_bytes`); `spacy.load(path, config={"components": {name: {"precision": ...}}})` overrides
them.

- precision "float32": the trained weights; "int8": the encoder's `int8_copy`, dynamically
  quantised recurrent layers (nn.LSTM and nn.GRU, and a `FormwiseRNN`'s linear layers: int8
  weights, activations quantised on the fly; embeddings, the character CNN, Transformers and the
  linear heads stay float32); "bf16": the module's forward runs under CPU/GPU bf16 autocast
  (weights float32, matrix products bf16) and returns float32 outputs, so decoding (CRF Viterbi,
  confidences) is unchanged.
- input_projection "form": the encoder's `formwise_copy`, whose first recurrent layer's input
  projection runs once per distinct word form of a batch (`spacy_rnn.models.formwise_rnn`; the
  same states within float tolerance): an `RNNEncoder`'s (an RNN over Transformer features keeps
  it per token: its inputs are contextual); "token": once per token, as trained.

The conversion makes an *inference copy* of the trained module (`inference_copy`; unconverted
submodules are shared with it, not copied) that prediction runs (`spacy_rnn.layers`); the
encoder makes its own converted copies (the encoder contract,
`spacy_rnn.models.encoder_contract.TokenEncoder`). The
trained float32 module stays the component's: training updates it (and drops the copy) and
`to_disk`/`to_bytes` save it with the settings, so a loaded pipeline saves and loads again to
the same predictions.

bf16 follows `spacy_rnn.precision`'s rule: only where the device runs it natively
(`spacy_rnn.precision.bf16_supported`); a component whose config asks for it elsewhere fails
to load with a ValueError that says so. int8 runs only on the CPU with a quantized engine that
works in this process (`int8_unavailable`); elsewhere the component runs float32 and that is
logged once.
"""
import copy
import functools
import logging
from functools import partial
from typing import Dict, List, Optional

import torch
from spacy.language import Language
from torch import nn

from . import precision as mixed_precision
from .layers import get_inference_net, get_torch_net
from .models.formwise_rnn import FormwiseRNN
from .models.inference_copies import quantize_int8, with_child

PRECISIONS = ("float32", "int8", "bf16")
INPUT_PROJECTIONS = ("form", "token")
# What `spacy.load` gives a module it does not convert.
TRAINED_SETTINGS = {"precision": "float32", "input_projection": "token"}

logger = logging.getLogger("spacy_rnn")


def check_settings(precision: str, input_projection: str) -> None:
    """ValueError for an unknown precision or input projection."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if input_projection not in INPUT_PROJECTIONS:
        raise ValueError(f"input_projection must be one of {INPUT_PROJECTIONS}, not {input_projection!r}")


def torch_components(nlp: Language) -> List[str]:
    """The names of the pipeline's components whose model wraps a torch module."""
    return [
        name
        for name, pipe in nlp.pipeline
        if getattr(pipe, "model", None) is not None and pipe.model.shims and isinstance(get_torch_net(pipe.model), nn.Module)
    ]


def applied_settings(model) -> Dict[str, str]:
    """The precision and input projection a `TorchModel`'s predictions run with now (after any
    int8 fallback; float32 per token when the module was not converted)."""
    return dict(getattr(get_inference_net(model), "inference_settings", TRAINED_SETTINGS))


def inference_copy(net: nn.Module, precision: str, input_projection: str, name: str = "") -> Optional[nn.Module]:
    """The trained head `net` (with its `TokenEncoder` as `net.encoder`) converted to
    `precision` with its encoder's first recurrent layer's input projection per
    `input_projection`, in eval mode, with `inference_settings` (what was applied); None when
    that is `net` unchanged (float32 per token, or nothing to convert). `net` is not modified.
    ValueError (naming the component `name`) for bf16 where the device has no native bf16."""
    check_settings(precision, input_projection)
    device = next(net.parameters()).device
    where = f"[{name}] " if name else ""
    if precision == "bf16":
        mixed_precision.use_bf16(
            "bf16", str(device), name=f"{where}precision",
            fix=f"load the pipeline with precision \"int8\" or \"float32\", e.g. spacy.load(path, config="
            f"{{\"components\": {{\"{name or '<name>'}\": {{\"precision\": \"int8\"}}}}}})",
        )
    if precision == "int8":
        reason = int8_unavailable(device)
        if reason:
            _log_int8_fallback(reason)
            precision = "float32"
    encoder = net.encoder
    applied = dict(TRAINED_SETTINGS)
    formwise = encoder.formwise_copy() if input_projection == "form" else None
    if formwise is not None:
        encoder = formwise
        applied["input_projection"] = "form"
    int8 = encoder.int8_copy() if precision == "int8" else None
    if int8 is not None:
        encoder = int8
        applied["precision"] = "int8"
    converted = net if encoder is net.encoder else with_child(net, "encoder", encoder)
    if precision == "bf16":
        converted = copy.copy(converted)  # its own forward; every submodule shared
        converted.forward = partial(_bf16_forward, converted.forward, device.type)
        applied["precision"] = "bf16"
    if converted is net:
        return None
    converted.eval()
    converted.inference_settings = applied
    return converted


def int8_unavailable(device: torch.device) -> Optional[str]:
    """Why dynamic int8 quantisation cannot run a module on `device` in this process, or None
    when it can."""
    if torch.device(device).type != "cpu":
        return f"dynamic quantisation runs on the CPU only, not on {torch.device(device).type}"
    quantized = torch.backends.quantized
    engines = [engine for engine in quantized.supported_engines if engine != "none"]
    if not engines or quantized.engine == "none":
        return f"torch has no quantized engine for this platform (engine {quantized.engine!r}, supported {list(quantized.supported_engines)})"
    if not _int8_runs(quantized.engine):
        return f"the quantized engine {quantized.engine!r} fails to run a dynamically quantised LSTM here"
    return None


@functools.lru_cache(maxsize=None)
def _int8_runs(engine: str) -> bool:
    """Whether a tiny quantised `FormwiseRNN` (int8 linear layers and LSTM) runs with `engine`
    (an engine may be present but lack these kernels)."""
    try:
        rnn = quantize_int8(FormwiseRNN(nn.LSTM(4, 4, num_layers=2, batch_first=True)))
        rnn(torch.zeros(1, 4), torch.zeros(1, 2, dtype=torch.long), torch.tensor([2]))
    except (RuntimeError, NotImplementedError, AssertionError):
        return False
    return True


@functools.lru_cache(maxsize=None)
def _log_int8_fallback(reason: str) -> None:
    logger.warning("int8 inference is not available (%s): the components configured for int8 run float32", reason)


def _bf16_forward(forward, device_type: str, *args, **kwargs) -> Dict[str, torch.Tensor]:
    with mixed_precision.bf16_autocast(True, device_type):
        outputs = forward(*args, **kwargs)
    return {name: value.float() for name, value in outputs.items()}
