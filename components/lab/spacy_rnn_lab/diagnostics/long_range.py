"""Claim 3, long-range dependencies: updates to solve the adding problem (Hochreiter &
Schmidhuber 1997, experiment 4; held-out MSE < 0.01 against the trivial 1/6) at several
lengths, and the copy task (recall accuracy >= 0.99), for a tanh RNN, a GRU and an LSTM of the
same width over seeds, with their learning curves."""
from pathlib import Path
from typing import Dict, Sequence

import torch

from spacy_rnn.models.cells import CELLS

from .output import new_figure, save, seed_everything
from .tasks import (
    ADDING_BASELINE_MSE, SequenceModel, TrainingSettings, adding_batch, adding_loss, copy_accuracy,
    copy_batch, copy_loss, train_sequence_model,
)

SOLVED_MSE = 0.01
SOLVED_RECALL = 0.99
N_SYMBOLS = 8


def adding_run(cell: str, length: int, seed: int, settings: TrainingSettings, hidden_width: int, batch_size: int) -> Dict:
    """One training run on the adding problem: {"steps_to_solve", "curve"} (score = MSE)."""
    generator = seed_everything(seed)
    model = SequenceModel(cell, 2, hidden_width, 1)
    held_out = adding_batch(256, length, torch.Generator().manual_seed(seed + 2000))
    return train_sequence_model(
        model, lambda: adding_batch(batch_size, length, generator), adding_loss,
        lambda m: float(adding_loss(m, *held_out)), settings, solved=lambda mse: mse < SOLVED_MSE,
    )


def copy_run(cell: str, delay: int, seed: int, settings: TrainingSettings, hidden_width: int, batch_size: int) -> Dict:
    """One training run on the copy task: {"steps_to_solve", "curve"} (score = 1 - recall accuracy)."""
    generator = seed_everything(seed)
    model = SequenceModel(cell, N_SYMBOLS + 2, hidden_width, N_SYMBOLS + 2)
    held_out = copy_batch(256, delay, torch.Generator().manual_seed(seed + 2000), N_SYMBOLS)
    return train_sequence_model(
        model, lambda: copy_batch(batch_size, delay, generator, N_SYMBOLS), copy_loss,
        lambda m: 1.0 - copy_accuracy(m, *held_out), settings, solved=lambda error: error <= 1 - SOLVED_RECALL,
    )


def run(
    output_dir: Path, *, seed: int = 0, n_seeds: int = 2, lengths: Sequence[int] = (50, 100, 200), copy_delay: int = 50,
    max_steps: int = 1500, hidden_width: int = 32, batch_size: int = 32, learning_rate: float = 0.01,
    cells: Sequence[str] = ("rnn", "gru", "lstm"),
) -> Dict:
    """Every cell x length (adding) and cell (copy) for seeds seed..seed + n_seeds - 1, each
    run until solved or max_steps Adam updates (clipped to norm 1, evaluated every 50 on 256
    held-out sequences). Writes long_range.json/.png; steps_to_solve None = not solved."""
    settings = TrainingSettings(steps=max_steps, learning_rate=learning_rate, eval_every=min(50, max_steps))
    seeds = list(range(seed, seed + n_seeds))
    results: Dict = {"claim": "long-range dependencies", "seeds": seeds, "max_steps": max_steps, "hidden_width": hidden_width,
                     "batch_size": batch_size, "learning_rate": learning_rate, "solved_mse": SOLVED_MSE,
                     "baseline_mse": ADDING_BASELINE_MSE, "copy": {"delay": copy_delay, "n_symbols": N_SYMBOLS,
                     "solved_recall": SOLVED_RECALL, "runs": {}}, "adding": {}}
    for length in lengths:
        results["adding"][str(length)] = {
            cell: [adding_run(cell, length, s, settings, hidden_width, batch_size) for s in seeds] for cell in cells
        }
    for cell in cells:
        results["copy"]["runs"][cell] = [copy_run(cell, copy_delay, s, settings, hidden_width, batch_size) for s in seeds]
    fig, axes = new_figure(len(lengths) + 1, width=4.5, height=3.6)
    colors = {"rnn": "tab:blue", "gru": "tab:orange", "lstm": "tab:green"}
    panels = [(f"adding problem, T = {n}", results["adding"][str(n)], "held-out MSE") for n in lengths]
    panels.append((f"copy task, delay {copy_delay}", results["copy"]["runs"], "1 - recall accuracy"))
    for ax, (title, runs, ylabel) in zip(axes, panels):
        for cell, cell_runs in runs.items():
            for i, one in enumerate(cell_runs):
                ax.plot([p["step"] for p in one["curve"]], [max(p["score"], 1e-4) for p in one["curve"]],
                        color=colors.get(cell), alpha=0.8, label=CELLS[cell].title if i == 0 else None)
        if ylabel == "held-out MSE":  # log scale: solving is a drop by more than an order of magnitude
            ax.set_yscale("log")
            ax.axhline(ADDING_BASELINE_MSE, color="grey", linestyle=":", label="answer 1 (1/6)")
            ax.axhline(SOLVED_MSE, color="black", linestyle="--", linewidth=0.8, label="solved (0.01)")
        else:
            ax.axhline(1 - 1 / N_SYMBOLS, color="grey", linestyle=":", label="guessing")
            ax.axhline(1 - SOLVED_RECALL, color="black", linestyle="--", linewidth=0.8, label="solved (99%)")
            ax.set_ylim(0, 1)
        ax.set(title=title, xlabel="Adam update", ylabel=ylabel)
    axes[0].legend(fontsize=8)
    save(results, fig, output_dir, "long_range")
    return results


def steps_table(results: Dict) -> str:
    """A markdown table of the updates to solve each task, one column per cell ("-" = not
    solved within max_steps), from `run`'s results."""
    cells = list(results["copy"]["runs"])
    header = "| task | " + " | ".join(CELLS[c].title for c in cells) + " |\n|---|" + "---|" * len(cells) + "\n"
    rows = [(f"adding, T = {n}", runs) for n, runs in results["adding"].items()]
    rows.append((f"copy, delay {results['copy']['delay']}", results["copy"]["runs"]))
    lines = []
    for name, runs in rows:
        cells_text = [", ".join(str(r["steps_to_solve"] or "-") for r in runs[c]) for c in cells]
        lines.append(f"| {name} | " + " | ".join(cells_text) + " |")
    return header + "\n".join(lines) + "\n"
