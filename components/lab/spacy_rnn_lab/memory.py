"""Peak memory on a huge text: a fresh process loads the pipeline, resets the kernel's peak-RSS
counter and processes one text of `n_chars` characters; resident memory after loading and the
peak while processing it (Linux /proc/self/status)."""
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .benchmark import Variant, load_ours

def long_text(texts: List[str], n_chars: int) -> str:
    """The texts joined, repeated as needed, cut to exactly n_chars characters."""
    joined = " ".join(text.strip() for text in texts)
    return (joined * (n_chars // max(len(joined), 1) + 1))[:n_chars]


def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _peak_memory_worker(model: str, text: str, variant: Optional[Variant], read: Optional[Callable]) -> Dict:
    nlp = load_ours(Path(model), variant)
    nlp.max_length = len(text) + 1
    loaded = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    start = time.perf_counter()
    doc = nlp(text)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    annotated = sum(1 for token in doc if token.pos_ or token.ent_iob_)
    result = {"loaded_kb": loaded, "peak_kb": peak, "n_tokens": len(doc), "n_annotated": annotated, "seconds": seconds}
    if read is not None:
        start = time.perf_counter()
        read(doc)
        result.update(read_seconds=time.perf_counter() - start, read_peak_kb=_status_kb("VmHWM"))
    return result


def peak_memory(model: Path, text: str, variant: Optional[Variant] = None, read: Optional[Callable] = None) -> Dict:
    """Resident memory (MiB) of a fresh process after loading the model (as `spacy.load` gives
    it, or with the variant's settings), and its peak while processing `text` (Linux: the peak
    counter is reset after loading). read: a module-level function of the doc (e.g.
    `read_surprisals`) called after processing; "after_read" then gives its seconds and the
    peak up to its end (processing and reading)."""
    if not Path("/proc/self/clear_refs").exists():
        raise RuntimeError("peak memory measurement needs Linux /proc (clear_refs, VmHWM)")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_peak_memory_worker, str(model), text, variant, read).result()
    memory = {
        "precision": variant.name if variant is not None else "as loaded",
        "n_chars": len(text),
        "n_tokens": result["n_tokens"],
        "n_tokens_annotated": result["n_annotated"],
        "seconds": round(result["seconds"], 2),
        "rss_after_load_mib": round(result["loaded_kb"] / 1024, 1),
        "peak_rss_mib": round(result["peak_kb"] / 1024, 1),
        "peak_increase_mib": round((result["peak_kb"] - result["loaded_kb"]) / 1024, 1),
    }
    if read is not None:
        memory["after_read"] = {
            "read": read.__name__,
            "seconds": round(result["read_seconds"], 2),
            "peak_rss_mib": round(result["read_peak_kb"] / 1024, 1),
            "peak_increase_mib": round((result["read_peak_kb"] - result["loaded_kb"]) / 1024, 1),
        }
    return memory
