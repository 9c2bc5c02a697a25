"""Training curves from the JSON-lines log written by spaCy's ConsoleLogger.v3 (`output_file`)."""
from pathlib import Path
from typing import Dict, List

import srsly

from ..extras import pyplot
from .reports import directory_mib


def read_training_log(path: Path) -> List[Dict]:
    """One dict per evaluation: epoch, step, losses {pipe: loss}, scores {name: percent}, score,
    and from spacy_rnn.TrainingLogger.v1 grad_norms {pipe: {mean, max, clip, n_steps, n_clipped}}."""
    return list(srsly.read_jsonl(path))


def plot_training_curves(log: List[Dict], png_path: Path, title: str) -> None:
    """Loss per component, every dev score and (when logged) gradient norms against the step."""
    plt = pyplot("the training curves")

    steps = [entry["step"] for entry in log]
    grad_pipes = sorted({name for entry in log for name, g in entry.get("grad_norms", {}).items() if g})
    fig, axes = plt.subplots(1, 3 if grad_pipes else 2, figsize=(16 if grad_pipes else 11, 4))
    loss_ax, score_ax = axes[0], axes[1]
    # spaCy sums the loss over the steps since the previous evaluation: show the mean per step.
    n_steps = [max(step - previous, 1) for step, previous in zip(steps, [0] + steps[:-1])]
    for pipe in log[0]["losses"]:
        loss_ax.plot(steps, [e["losses"][pipe] / n for e, n in zip(log, n_steps)], label=pipe)
    loss_ax.set(xlabel="step", ylabel="training loss (mean per step)", yscale="log")
    loss_ax.legend()
    for name in log[0]["scores"]:
        values = [entry["scores"][name] for entry in log]
        if all(isinstance(v, (int, float)) for v in values):
            score_ax.plot(steps, values, label=name)
    score_ax.set(xlabel="step", ylabel="dev score (%)", ylim=(max(0, _floor(log) - 5), 100))
    score_ax.grid(alpha=0.3)
    score_ax.legend()
    if grad_pipes:
        _plot_grad_norms(axes[2], log, grad_pipes)
    fig.suptitle(title)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def _plot_grad_norms(ax, log: List[Dict], pipes: List[str]) -> None:
    """Mean and max gradient L2 norm (before clipping) between evaluations, with the threshold."""
    for pipe in pipes:
        points = [(e["step"], e["grad_norms"][pipe]) for e in log if e.get("grad_norms", {}).get(pipe)]
        steps = [step for step, _ in points]
        (line,) = ax.plot(steps, [g["mean"] for _, g in points], label=f"{pipe} mean")
        ax.plot(steps, [g["max"] for _, g in points], linestyle=":", color=line.get_color(), label=f"{pipe} max")
        ax.axhline(points[0][1]["clip"], color="grey", linestyle="--", label="clipping threshold")
    ax.set(xlabel="step", ylabel="gradient L2 norm before clipping", yscale="log")
    ax.legend()


def _floor(log: List[Dict]) -> float:
    """Lowest score in the second half of training, so the plot zooms on convergence."""
    late = log[len(log) // 2 :]
    values = [v for e in late for v in e["scores"].values() if isinstance(v, (int, float))]
    return min(values) if values else 0.0


def parameters(model: Path) -> Dict[str, int]:
    """Parameters of the torch components of the saved pipeline: all, and those training updates
    (a frozen Transformer's are not). Loading rebuilds the modules from the saved hparams and
    tensors only (no unpickling)."""
    from ..checkpoints import load_pipeline
    from ..inference import torch_components
    from ..layers import get_torch_net

    nlp = load_pipeline(model)
    nets = [get_torch_net(nlp.get_pipe(name).model) for name in torch_components(nlp)]
    params = [p for net in nets for p in net.parameters()]
    return {"total": sum(p.numel() for p in params), "trained": sum(p.numel() for p in params if p.requires_grad)}


def disk_size(model: Path) -> Dict[str, float]:
    """MiB on disk of the pipeline folder, and of its static vectors table (vocab/vectors)."""
    vectors = Path(model) / "vocab" / "vectors"
    return {"mib": directory_mib(model), "vectors_mib": round(vectors.stat().st_size / 2**20, 1) if vectors.exists() else 0.0}


def write_training_report(
    config_path: Path, output_dir: Path, log_path: Path, seconds: float, overrides: Dict, report_dir: Path, name: str = ""
) -> Dict:
    """training.json / training.md (wall time, machine, the seed the saved model was trained with,
    best dev scores, model-best's parameters and size on disk) + training_curves.png, titled
    `name` (default: the name of output_dir, the run's folder)."""
    from .reports import machine_info, markdown_table, write_json

    from spacy.util import load_config

    log = read_training_log(log_path)
    best = max(log, key=lambda entry: entry["score"])
    name = name or output_dir.resolve().name
    report = {
        "name": name,
        "config": str(config_path),
        "overrides": {k: v for k, v in overrides.items() if k != "training.logger.output_file"},
        "seed": load_config(output_dir / "model-last" / "config.cfg", interpolate=True)["training"]["seed"],
        "train_seconds": round(seconds, 1),
        "last_evaluated_step": log[-1]["step"],
        "last_evaluated_epoch": log[-1]["epoch"],
        "best_step": best["step"],
        "best_dev_scores": best["scores"],
        "model_best": str(output_dir / "model-best"),
        "parameters": parameters(output_dir / "model-best"),
        "size": disk_size(output_dir / "model-best"),
        "machine": machine_info(),
    }
    write_json(report, report_dir / "training.json")
    rows = [[name, f"{value:.2f}" if isinstance(value, float) else value] for name, value in best["scores"].items()]
    markdown = [
        f"# Training: {name}",
        "",
        f"- config: {config_path}",
        f"- wall time: {seconds / 60:.1f} min; last evaluation at step {report['last_evaluated_step']} "
        f"(epoch {report['last_evaluated_epoch']}), "
        f"on {report['machine']['processor']} ({report['machine']['cpu_count']} cores, "
        f"device {report['machine']['device']})",
        f"- model-best: {report['parameters']['total']:,} parameters ({report['parameters']['trained']:,} trained), "
        f"{report['size']['mib']} MiB on disk ({report['size']['vectors_mib']} of them the static vectors)",
        f"- best dev score at step {best['step']}:",
        "",
        markdown_table(["dev metric", "value"], rows),
        "",
        "![training curves](training_curves.png)",
        "",
    ]
    (report_dir / "training.md").write_text("\n".join(markdown), encoding="utf-8")
    plot_training_curves(log, report_dir / "training_curves.png", f"{name}: training curves")
    return report
