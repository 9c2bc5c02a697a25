"""Claim 2, exploding gradients and clipping (Pascanu et al. 2013): a tanh RNN whose recurrent
matrix has spectral radius > 1 has gradient norms that grow with the sequence length; trained
with plain SGD on the adding problem it diverges (the guard stops it, naming the update, and
the last good checkpoint still loads), while the same run with norm clipping trains."""
import math
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch

from spacy_rnn.errors import TrainingDiverged
from .output import new_figure, save, seed_everything
from .tasks import ADDING_BASELINE_MSE, SequenceModel, TrainingSettings, adding_batch, adding_loss, train_sequence_model


def scaled_rnn(radius: float, hidden_width: int) -> SequenceModel:
    """A tanh-RNN SequenceModel for the adding problem whose recurrent matrix is a random
    orthogonal matrix times `radius` (so its spectral radius is exactly `radius`)."""
    model = SequenceModel("rnn", 2, hidden_width, 1)
    with torch.no_grad():
        orthogonal, _ = torch.linalg.qr(torch.randn(hidden_width, hidden_width))
        model.rnn.weight_hh_l0.copy_(radius * orthogonal)
    return model


def parameter_gradient_norm(model: SequenceModel, length: int, generator: torch.Generator) -> float:
    """||dJ/dtheta||_2 of the adding-problem loss on one batch of 32 sequences of `length`."""
    model.zero_grad()
    adding_loss(model, *adding_batch(32, length, generator)).backward()
    return math.sqrt(sum(float(p.grad.norm()) ** 2 for p in model.parameters()))


def train_run(
    radius: float, hidden_width: int, length: int, steps: int, learning_rate: float, clip: Optional[float], seed: int
) -> Dict:
    """SGD on the adding problem from the seed's scaled_rnn; evaluated (held-out MSE) and
    checkpointed at its best held-out MSE. Returns {"clip", "curve", "diverged": the guard's message or
    None, "checkpoint_mse": the held-out MSE of the reloaded last good checkpoint or None}."""
    generator = seed_everything(seed)
    model = scaled_rnn(radius, hidden_width)
    held_out = adding_batch(256, length, torch.Generator().manual_seed(seed + 2000))
    evaluate = lambda m: float(adding_loss(m, *held_out))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "last_good.pt"
        settings = TrainingSettings(steps=steps, learning_rate=learning_rate, optimizer="sgd", clip=clip, eval_every=1, checkpoint=checkpoint)
        run = {"clip": clip, "curve": [], "diverged": None, "checkpoint_mse": None}
        try:
            train_sequence_model(model, lambda: adding_batch(32, length, generator), adding_loss, evaluate, settings, curve=run["curve"])
        except TrainingDiverged as err:
            run["diverged"] = str(err).replace(str(checkpoint), checkpoint.name)  # the folder is temporary
            if checkpoint.exists():
                reloaded = scaled_rnn(radius, hidden_width)
                reloaded.load_state_dict(torch.load(checkpoint, weights_only=True))
                with torch.no_grad():
                    run["checkpoint_mse"] = evaluate(reloaded.eval())
        return run


def run(
    output_dir: Path, *, seed: int = 0, radius: float = 1.5, hidden_width: int = 32, length: int = 50, steps: int = 300,
    learning_rate: float = 0.1, clip: float = 1.0, radii: Sequence[float] = (0.8, 1.0, 1.5, 3.0),
    lengths: Sequence[int] = (5, 10, 20, 50, 100, 200),
) -> Dict:
    """Gradient norm at initialisation against the length for each of `radii`; the training
    curves without and with clipping for `radius`. Writes exploding.json/.png."""
    results: Dict = {"claim": "exploding gradients and clipping", "seed": seed, "radius": radius, "length": length,
                     "learning_rate": learning_rate, "hidden_width": hidden_width, "grad_norm_by_length": {}}
    for r in radii:
        generator = seed_everything(seed)
        model = scaled_rnn(r, hidden_width)
        results["grad_norm_by_length"][str(r)] = {str(n): parameter_gradient_norm(model, n, generator) for n in lengths}
    results["runs"] = {name: train_run(radius, hidden_width, length, steps, learning_rate, c, seed) for name, c in (("no_clip", None), ("clip", clip))}
    fig, (left, right) = new_figure(2)
    for r, norms in results["grad_norm_by_length"].items():
        left.semilogy([int(n) for n in norms], list(norms.values()), "o-", label=f"spectral radius {r}")
    left.set(xlabel="sequence length T", ylabel="||dJ/dtheta|| at initialisation", title="gradient norm against length (tanh RNN)")
    left.legend()
    for name, run_ in results["runs"].items():
        steps_, losses = [p["step"] for p in run_["curve"]], [p["score"] for p in run_["curve"]]
        label = "no clipping" if run_["clip"] is None else f"clipped to norm {run_['clip']}"
        if run_["diverged"]:
            label += f": {run_['diverged'].split(':')[0]}"
        line = right.semilogy(steps_, losses, label=label)[0]
        if run_["diverged"] and steps_:
            right.plot(steps_[-1], losses[-1], "x", color=line.get_color(), markersize=12)
    right.axhline(ADDING_BASELINE_MSE, color="grey", linestyle=":", label="always answer 1 (MSE 1/6)")
    right.set(xlabel="SGD update", ylabel="held-out MSE", title=f"adding problem T = {length}, radius {radius}, lr {learning_rate}")
    right.legend()
    save(results, fig, output_dir, "exploding")
    return results
