"""Inference speed against a peer pipeline in the same run, and peak memory on a huge text.

Speed: both pipelines run `nlp.pipe` over the same raw texts (tokenizer included), alternating
runs so that machine noise hits both; words/second is the best of `repeats` runs each.
Memory: a fresh process loads the pipeline, resets the kernel's peak-RSS counter and tags one
text of `n_chars` characters; the report gives resident memory after loading and the peak while
tagging (Linux /proc/self/status).
"""
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

from .reports import machine_info, markdown_table, write_json


def words_per_second(nlp, texts: Sequence[str], batch_size: int) -> float:
    start = time.perf_counter()
    n_words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    return n_words / (time.perf_counter() - start)


def load_peer(name: str, components: Sequence[str]):
    """The peer pipeline with only `components` enabled (e.g. tok2vec + tagger)."""
    import spacy

    peer = spacy.load(name)
    disabled = [pipe for pipe in peer.pipe_names if pipe not in components]
    missing = [c for c in components if c not in peer.pipe_names]
    if missing:
        raise ValueError(f"peer {name} has no components {missing}; it has {peer.pipe_names}")
    return spacy.load(name, exclude=disabled)


def speed_benchmark(
    model: Path, peer: str, peer_components: Sequence[str], texts: List[str], repeats: int = 3, batch_size: int = 256
) -> Dict:
    import spacy

    ours = spacy.load(model)
    theirs = load_peer(peer, peer_components)
    n_words = sum(len(doc) for doc in ours.tokenizer.pipe(texts))
    for nlp in (ours, theirs):  # warm up: lexeme creation, lazy initialisation
        words_per_second(nlp, texts[: max(1, len(texts) // 10)], batch_size)
    runs: Dict[str, List[float]] = {"ours": [], "peer": []}
    for _ in tqdm(range(repeats), desc="timed runs (ours, peer)", unit="run"):
        runs["ours"].append(words_per_second(ours, texts, batch_size))
        runs["peer"].append(words_per_second(theirs, texts, batch_size))
    best_ours, best_peer = max(runs["ours"]), max(runs["peer"])
    return {
        "model": str(model),
        "model_components": ours.pipe_names,
        "peer": peer,
        "peer_components": theirs.pipe_names,
        "n_texts": len(texts),
        "n_words": n_words,
        "repeats": repeats,
        "batch_size": batch_size,
        "words_per_second": {"ours": round(best_ours), "peer": round(best_peer)},
        "runs_words_per_second": {k: [round(v) for v in vs] for k, vs in runs.items()},
        "speed_ratio": round(best_ours / best_peer, 2),
    }


def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _peak_memory_worker(model: str, text: str) -> Dict:
    import spacy

    nlp = spacy.load(model)
    nlp.max_length = len(text) + 1
    loaded = _status_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    start = time.perf_counter()
    doc = nlp(text)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    annotated = sum(1 for token in doc if token.pos_ or token.ent_iob_)
    return {"loaded_kb": loaded, "peak_kb": peak, "n_tokens": len(doc), "n_annotated": annotated, "seconds": seconds}


def peak_memory(model: Path, text: str) -> Dict:
    """Resident memory (MiB) of a fresh process after loading the model, and its peak while
    processing `text` (Linux: the peak counter is reset after loading)."""
    if not Path("/proc/self/clear_refs").exists():
        raise RuntimeError("peak memory measurement needs Linux /proc (clear_refs, VmHWM)")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_peak_memory_worker, str(model), text).result()
    return {
        "n_chars": len(text),
        "n_tokens": result["n_tokens"],
        "n_tokens_annotated": result["n_annotated"],
        "seconds": round(result["seconds"], 2),
        "rss_after_load_mib": round(result["loaded_kb"] / 1024, 1),
        "peak_rss_mib": round(result["peak_kb"] / 1024, 1),
        "peak_increase_mib": round((result["peak_kb"] - result["loaded_kb"]) / 1024, 1),
    }


def benchmark_markdown(report: Dict) -> str:
    speed = report["speed"]
    machine = report["machine"]
    lines = [
        f"# Speed: {speed['model']} vs {speed['peer']}",
        "",
        f"Machine: {machine['processor']}, {machine['cpu_count']} cores, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), device {machine['device']}.",
        f"Texts: {speed['n_texts']} raw texts, {speed['n_words']:,} words; `nlp.pipe(batch_size="
        f"{speed['batch_size']})`, best of {speed['repeats']} alternating runs, tokenizer included.",
        "",
        markdown_table(
            ["pipeline", "components", "words/s"],
            [
                ["ours", " + ".join(speed["model_components"]), f"{speed['words_per_second']['ours']:,}"],
                [speed["peer"], " + ".join(speed["peer_components"]), f"{speed['words_per_second']['peer']:,}"],
            ],
        ),
        "",
        f"**Speed ratio (ours / peer): {speed['speed_ratio']:.2f}**",
        "",
    ]
    memory: Optional[Dict] = report.get("memory")
    if memory:
        lines += [
            f"## Peak memory processing one text of {memory['n_chars']:,} characters",
            "",
            f"{memory['n_tokens']:,} tokens ({memory['n_tokens_annotated']:,} annotated: POS or entity tag) in "
            f"{memory['seconds']} s; "
            f"resident memory {memory['rss_after_load_mib']} MiB after loading, peak {memory['peak_rss_mib']} MiB "
            f"while processing it (+{memory['peak_increase_mib']} MiB).",
            "",
        ]
    return "\n".join(lines)


def write_benchmark_report(report: Dict, output_dir: Path, name: str = "speed") -> None:
    report["machine"] = machine_info()
    write_json(report, output_dir / f"{name}.json")
    (output_dir / f"{name}.md").write_text(benchmark_markdown(report), encoding="utf-8")
