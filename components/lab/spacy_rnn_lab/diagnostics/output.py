"""Writing a diagnostic's numbers (JSON) and figure (PNG), and seeding."""
import json
import math
import random
from pathlib import Path
from typing import Dict, Tuple

import numpy
import torch

from spacy_rnn.extras import pyplot


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a torch.Generator seeded with `seed` for the data."""
    random.seed(seed)
    numpy.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def finite(value):
    """`value` with every float inside dicts and lists rounded to 6 significant digits and every
    non-finite one (inf, nan) replaced by None, so the JSON is standard and compact."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    return value


def new_figure(n_panels: int = 1, width: float = 6.0, height: float = 4.0, vertical: bool = False) -> Tuple[object, list]:
    """A matplotlib figure (Agg backend, no display needed) with n_panels of width x height
    inches side by side (or stacked when vertical)."""
    plt = pyplot("the diagnostics figures")

    if vertical:
        fig, axes = plt.subplots(n_panels, 1, figsize=(width, height * n_panels), squeeze=False)
        return fig, list(axes[:, 0])
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, list(axes[0])


def save(results: Dict, fig, output_dir: Path, name: str) -> Tuple[Path, Path]:
    """Write output_dir/name.json (results) and output_dir/name.png (fig); return both paths."""
    plt = pyplot("the diagnostics figures")
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = output_dir / f"{name}.json", output_dir / f"{name}.png"
    json_path.write_text(json.dumps(finite(results), indent=2) + "\n", encoding="utf8")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return json_path, png_path
