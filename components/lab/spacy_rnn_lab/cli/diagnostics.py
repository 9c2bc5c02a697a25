"""Diagnostics: one command per textbook claim about recurrent networks, each writing NAME.json
(the numbers) and NAME.png (the figure) to --output-dir, with a --seed and a --quick mode (a
few seconds, what CI runs); `diagnostics-report` assembles them into README.md. The
`diagnostics` workflow of project.yml runs them all."""
from pathlib import Path
from typing import Optional

import typer

from .app import app

OUTPUT = typer.Option(Path("reports/diagnostics"), "--output-dir", help="Where NAME.json and NAME.png go")
SEED = typer.Option(0, "--seed", help="Random seed (data, initialisation)")
QUICK = typer.Option(False, "--quick", help="A few seconds: tiny sizes, for CI (the numbers mean little)")
PASSAGE = (
    "When she tried to print her tickets, she found that the printer was out of toner. She went to the store "
    "and bought new toner. After installing the toner into the printer, she finally printed her"
)
MODEL = typer.Option(..., "--model", exists=True, file_okay=False, help="A trained pipeline directory")


def _start(seed: int) -> None:
    from ..diagnostics.output import seed_everything

    seed_everything(seed)


@app.command("diagnose-vanishing")
def vanishing_cmd(output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                  length: int = typer.Option(100, help="Sequence length T (>= 100 for the claim)"),
                  train_steps: int = typer.Option(1500, help="Most Adam updates on the adding problem")) -> None:
    """Claim 1: ||dJ_T/dh_t|| against T - t for a tanh RNN, a GRU and an LSTM of the same width,
    at initialisation and after training on the adding problem, with the fitted decay per step."""
    from ..diagnostics import vanishing

    sizes = {"length": 20, "train_steps": 20, "hidden_width": 8} if quick else {"length": length, "train_steps": train_steps}
    results = vanishing.run(output_dir, seed=seed, **sizes)
    for cell, entry in results["cells"].items():
        fits = ", ".join(f"{when} x{fit['factor_per_step']:.3f}/step" for when, fit in entry["fit"].items())
        typer.echo(f"{cell:5s} {fits} (held-out MSE {entry['held_out_mse']:.4f})")
    typer.echo(f"-> {output_dir / 'vanishing.png'}")


@app.command("diagnose-exploding")
def exploding_cmd(output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                  radius: float = typer.Option(1.5, help="Spectral radius of the recurrent matrix"),
                  learning_rate: float = typer.Option(0.1, help="SGD learning rate"),
                  clip: float = typer.Option(1.0, help="Global gradient norm of the clipped run")) -> None:
    """Claim 2: gradient norm against length for spectral radii around 1; SGD on the adding
    problem without clipping (stopped by the non-finite guard) and with norm clipping."""
    from ..diagnostics import exploding

    sizes = {"steps": 40, "lengths": (5, 10, 20), "radii": (0.8, 3.0), "length": 20, "hidden_width": 8} if quick else {}
    if quick:
        radius, learning_rate = 3.0, 1.0
    results = exploding.run(output_dir, seed=seed, radius=radius, learning_rate=learning_rate, clip=clip, **sizes)
    for name, one in results["runs"].items():
        last = one["curve"][-1]["score"] if one["curve"] else None
        typer.echo(f"{name:8s} {one['diverged'] or f'trained: held-out MSE {last:.4f}'}")
    typer.echo(f"-> {output_dir / 'exploding.png'}")


@app.command("diagnose-long-range")
def long_range_cmd(output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                   seeds: int = typer.Option(2, help="Runs per cell and task (seeds seed, seed + 1, ...)"),
                   max_steps: int = typer.Option(1500, help="Most Adam updates per run")) -> None:
    """Claim 3: updates to solve the adding problem (T = 50, 100, 200) and the copy task for a
    tanh RNN, a GRU and an LSTM, over seeds, with learning curves."""
    from ..diagnostics import long_range

    sizes = {"n_seeds": 1, "lengths": (10,), "copy_delay": 5, "max_steps": 20, "hidden_width": 8} if quick else {"n_seeds": seeds, "max_steps": max_steps}
    results = long_range.run(output_dir, seed=seed, **sizes)
    typer.echo(long_range.steps_table(results) + f"-> {output_dir / 'long_range.png'}")


@app.command("diagnose-gates")
def gates_cmd(model: Path = MODEL, output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
              text: str = typer.Option(PASSAGE + " tickets.", help="The text to read"),
              name: str = typer.Option("gates", help="Output file name (without extension)"),
              layer: str = typer.Option("", help='LSTM layer, e.g. "l0" or "l1_reverse" (default: the last forward one)')) -> None:
    """Claim 4: heatmaps of the input, forget and output gates and the cell state per token of a
    trained LSTM (an torch_lm pipeline or an RNNEncoder-based tagger/recognizer/classifier)."""
    from ..diagnostics import gates

    _start(seed)
    results = gates.run(model, text.split(".")[0] if quick else text, output_dir, name=name, layer=layer, n_units=8 if quick else 24)
    typer.echo(f"{results['pipe']} {results['layer']}: max |GatedLSTM - nn.LSTM| = {results['max_abs_difference_from_nn_lstm']:.2e}")
    typer.echo(f"-> {output_dir / name}.png")


@app.command("diagnose-context")
def context_cmd(model: Path = MODEL, output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                train: Path = typer.Option(Path("assets/ptb/ptb.train.txt"), exists=True, dir_okay=False, help="The n-gram model's training text"),
                test: Path = typer.Option(Path("assets/ptb/ptb.test.txt"), exists=True, dir_okay=False, help="Test text, one sentence a line"),
                passage: str = typer.Option(PASSAGE, help="The context of --word"),
                word: str = typer.Option("tickets", help="The word whose probability after the passage is shown"),
                order: int = typer.Option(5, help="Kneser-Ney order"),
                stride: int = typer.Option(40, help="Score every stride-th test token (40: about 2,000 of PTB test)")) -> None:
    """Claim 5: p(word | passage) with full and cut contexts, and test perplexity against usable
    context length (Khandelwal et al. 2018) for the LSTM LM and a Kneser-Ney model."""
    from ..diagnostics import context

    _start(seed)
    sizes = {"ks": (1, 2, 5), "max_tokens": 200, "order": 3} if quick else {"order": order}
    results = context.run(model, train, test, output_dir, passage=passage, word=word, stride=stride, **sizes)
    for k, row in results["perplexity_by_context"].items():
        typer.echo(f"context {k:>4s}: LSTM {row['lstm']:8.2f}  n-gram {row['ngram']:8.2f}")
    typer.echo(f"-> {output_dir / 'context.png'}")


@app.command("diagnose-bidirectional")
def bidirectional_cmd(output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                      sentiment_steps: int = typer.Option(300, help="Updates of each sentiment classifier (SST-2)"),
                      recognizer_steps: int = typer.Option(200, help="Updates of each recognizer (CoNLL-2003)"),
                      word: str = typer.Option("terribly", help="The word whose state is compared across sentences"),
                      vectors: Optional[Path] = typer.Option(None, help="Static vectors for both tasks (default: each config's paths.vectors)")) -> None:
    """Claim 6: forward-only against bidirectional encoders (short runs of configs/sentiment_sst2.cfg
    and configs/ner_bilstm_crf.cfg) and how a word's state and the prediction change with the
    words to its right. Run from the project root (the configs' corpus paths)."""
    from ..diagnostics import bidirectional

    steps = {"sentiment": 2, "recognizer": 2} if quick else {"sentiment": sentiment_steps, "recognizer": recognizer_steps}
    results = bidirectional.run(output_dir, seed=seed, steps=steps, word=word, vectors=vectors, tasks=("sentiment",) if quick else ("sentiment", "recognizer"))
    typer.echo("\n".join(bidirectional.report_lines(results)) + f"\n-> {output_dir / 'bidirectional.png'}")


@app.command("diagnose-surprisal")
def surprisal_cmd(model: Path = MODEL, output_dir: Path = OUTPUT, seed: int = SEED, quick: bool = QUICK,
                  text: str = typer.Option(PASSAGE + " tickets.", help="The text to shade"),
                  max_bits: float = typer.Option(16.0, help="Surprisal (bits) of the darkest shade")) -> None:
    """Claim 7: the text shaded token by token by its surprisal under an torch_lm pipeline
    (surprisal.html, displaCy-like; surprisal.png; surprisal.json)."""
    from ..diagnostics import surprisal

    _start(seed)
    results = surprisal.run(model, text.split(".")[0] if quick else text, output_dir, max_bits)
    typer.echo(f"perplexity {results['perplexity']:.1f} -> {output_dir / 'surprisal.html'}, .png")


@app.command("diagnostics-report")
def report_cmd(output_dir: Path = OUTPUT, note: Optional[str] = typer.Option(None, help="A note under the title (e.g. which models were read)")) -> None:
    """Assemble README.md in --output-dir from the JSON + PNG the diagnose-* commands wrote there."""
    from ..diagnostics import report

    path = report.write_report(output_dir, note=note)
    typer.echo(f"-> {path}")
