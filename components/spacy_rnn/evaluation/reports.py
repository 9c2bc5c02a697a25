"""Writing reports: JSON for machines, markdown for people, and the machine they ran on; reading
the gold documents they score."""
import json
import os
import platform
from pathlib import Path
from typing import Dict, List, Sequence

from spacy.language import Language
from spacy.tokens import Doc, DocBin


def machine_info() -> Dict[str, object]:
    """What the numbers were measured on."""
    import torch

    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        # processes competing for the cores when the report was written (1 min average; 0 on a quiet machine)
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    return info


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def write_json(data: Dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def directory_mib(path: Path) -> float:
    """MiB on disk of every file under path (a saved pipeline, a vectors folder), one decimal."""
    return round(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20, 1)


def markdown_table(header: Sequence[str], rows: List[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def gold_docs(nlp: Language, path: Path, assigns: Sequence[str]) -> List[Doc]:
    """The gold documents of a DocBin, after checking that the pipeline has a component that
    sets one of `assigns` (e.g. "doc.ents") and that the file holds documents: an evaluation
    that could only report zeros is an error, not a report."""
    setters = [name for name in nlp.pipe_names if set(assigns) & set(nlp.get_pipe_meta(name).assigns)]
    if not setters:
        raise ValueError(
            f"the pipeline has no component that sets {' or '.join(assigns)} (its components: "
            f"{', '.join(nlp.pipe_names) or 'none'}): nothing to evaluate"
        )
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    if not docs:
        raise ValueError(f"{path}: the file holds no documents")
    return docs
