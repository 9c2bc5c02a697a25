"""What a speed figure was measured with: the CPU's model and the instruction-set flags that
decide int8 and bf16 speed, the thread settings, and torch's thread count for a block."""
import os
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator

# CPU flags that decide int8 (VNNI, i8mm) and bf16 (AVX512-BF16, AMX, ARM bf16) speed
X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
ARM_FLAGS = ("asimd", "bf16", "i8mm")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS")


def cpu_record() -> Dict:
    """The CPU the speed figures were measured on: its model, which of the flags that decide
    int8 and bf16 speed it has (x86: X86_FLAGS; ARM: ARM_FLAGS; from Linux /proc/cpuinfo, empty
    elsewhere), torch's CPU capability (the widest vector ISA its kernels use) and quantized
    engine."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip().lower(): value.strip() for key, value in fields.items()}
    model = fields.get("model name") or fields.get("hardware") or platform.processor() or platform.machine() or "unknown"
    words = set(text.split())
    candidates = ARM_FLAGS if platform.machine().lower() in ("aarch64", "arm64") else X86_FLAGS
    return {
        "model": model,
        "flags": {flag: flag in words for flag in candidates},
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "quantized_engine": torch.backends.quantized.engine,
    }


def cpu_line(cpu: Dict) -> str:
    """One line naming the CPU and its flags (`cpu_record`), for every speed figure."""
    present = [flag for flag, has in cpu["flags"].items() if has]
    absent = [flag for flag, has in cpu["flags"].items() if not has]
    flags = ", ".join(present) or "none of " + ", ".join(cpu["flags"])
    if present and absent:
        flags += f" (not {', '.join(absent)})"
    return f"CPU {cpu['model']}; flags {flags}; torch CPU capability {cpu['torch_capability']}, quantized engine {cpu['quantized_engine']}"


def thread_settings() -> Dict:
    """The threads torch uses now and the thread variables of the environment (None: unset)."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        **{name: os.environ.get(name) for name in THREAD_VARIABLES},
    }


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch.set_num_threads(n) inside the block, the previous setting after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_line(threads: Dict) -> str:
    variables = ", ".join(f"{name}={threads[name]}" for name in THREAD_VARIABLES if threads.get(name) is not None) or "no thread variables set"
    return f"torch {threads['torch_threads']} threads (interop {threads['torch_interop_threads']}); {variables}"


def ops_name() -> str:
    from thinc.api import get_current_ops

    return type(get_current_ops()).__name__
