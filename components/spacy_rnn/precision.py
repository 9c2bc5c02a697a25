"""Mixed precision: the one rule every place that autocasts to bf16 follows (the language-model
trainer, inference settings, any later encoder).

A `mixed_precision` setting is one of
- "auto" (the default): bf16 autocast where the device runs it natively, float32 elsewhere; the
  choice is logged once per device;
- "bf16": bf16 autocast, and a `ValueError` at once (before any corpus is read) on a device
  without native bf16;
- "none": float32.

Native bf16 means: on a CPU, the avx512_bf16 or amx_bf16 instructions (Linux /proc/cpuinfo)
*and* a bf16 LSTM step that actually runs (oneDNN may be capped below the CPU's instruction set,
e.g. `ONEDNN_MAX_CPU_ISA=AVX2`, and then has no bf16 LSTM kernel at all: "could not create a
primitive descriptor for the LSTM forward propagation primitive"); on a GPU,
`torch.cuda.is_bf16_supported()`. Elsewhere bf16 is emulated (slower than float32) or missing.
"""
import functools
import logging
import os
from contextlib import nullcontext
from pathlib import Path
from typing import ContextManager

import torch

MIXED_PRECISIONS = ("auto", "bf16", "none")
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) that still include native bf16 instructions
BF16_ISA_CAPS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512_AMX_2", "ALL", "DEFAULT"}

logger = logging.getLogger("spacy_rnn")


def cpu_flags() -> set:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    cpuinfo = Path("/proc/cpuinfo")
    return set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()


@functools.lru_cache(maxsize=None)
def bf16_supported(device: str = "cpu") -> bool:
    """Whether `device` ("cpu", "cuda", "cuda:0", ...) runs bf16 autocast natively."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind != "cpu" or not cpu_flags() & NATIVE_BF16_FLAGS:
        return False
    isa_cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if isa_cap and isa_cap not in BF16_ISA_CAPS:
        return False
    return _bf16_lstm_runs()


def _bf16_lstm_runs() -> bool:
    """Run one tiny LSTM step forward and backward under CPU bf16 autocast: the check that the
    kernels this package needs exist in this process (the flags alone do not say so)."""
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output, _ = lstm(torch.zeros(1, 2, 4))
        output.float().sum().backward()
    except RuntimeError:
        return False
    return True


def use_bf16(setting: str, device: str = "cpu", *, name: str = "mixed_precision", fix: str = "") -> bool:
    """Resolve a mixed-precision setting ("auto", "bf16", "none") on `device`: whether to
    autocast to bf16. ValueError, naming the setting `name` (and ending with `fix`, what to set
    instead; default: "auto" or "none"), for an unknown value or for "bf16" on a device without
    native bf16. "auto" logs its choice."""
    if setting not in MIXED_PRECISIONS:
        raise ValueError(f"{name} must be one of {MIXED_PRECISIONS}, not {setting!r}")
    if setting == "none":
        return False
    native = bf16_supported(device)
    if setting == "bf16" and not native:
        raise ValueError(
            f"{name} = \"bf16\" needs native bf16 on {device} (a CPU with avx512_bf16 or amx_bf16, or a GPU "
            f"with bf16 support), which this machine lacks{_isa_note()}: "
            + (fix or f"set {name} = \"auto\" (bf16 where native, else float32) or \"none\"")
        )
    if setting == "auto":
        _log_auto_choice(device, native)
    return native


@functools.lru_cache(maxsize=None)
def _log_auto_choice(device: str, native: bool) -> None:
    if native:
        logger.info("mixed precision auto: bf16 on %s (native bf16)", device)
    else:
        logger.info("mixed precision auto: float32 on %s (no native bf16%s)", device, _isa_note())


def _isa_note() -> str:
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"; ONEDNN_MAX_CPU_ISA={cap}" if cap else ""


def bf16_autocast(enabled: bool, device: str = "cpu") -> ContextManager:
    """`torch.autocast` to bf16 on the device's type when enabled, else a no-op context."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
