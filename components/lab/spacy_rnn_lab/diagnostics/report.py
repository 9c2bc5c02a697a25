"""Assemble reports/diagnostics/README.md from the NAME.json + NAME.png files the diagnose-*
commands wrote: one section per claim found, with its figure, its numbers, the published
result it reproduces and where ours differs. A claim whose JSON is missing is listed as not run."""
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional

from spacy_rnn.models.cells import CELLS

COMMANDS = "python -m spacy_rnn"


def _vanishing(r: Dict) -> List[str]:
    rows = ["| cell | decay factor per step, at init | after training | updates | held-out MSE |", "|---|---|---|---|---|"]
    for cell, e in r["cells"].items():
        rows.append(f"| {CELLS[cell].title} | {e['fit']['init']['factor_per_step']:.3f} | {e['fit']['trained']['factor_per_step']:.3f} "
                    f"| {e.get('updates', r['train_steps'])} | {e['held_out_mse']:.4f} |")
    return [
        f"Adding problem, T = {r['length']}, {r['hidden_width']} units per cell, seed {r['seed']}; "
        "the factor is exp(slope) of a least-squares line through log ||dJ_T/dh_t|| against T - t.", "", *rows, "",
        "**Literature.** Bengio et al. (1994) and Pascanu et al. (2013, Section 2) show that the product of "
        "Jacobians shrinks exponentially when the recurrent weights' largest singular value is below 1/γ (γ = 1 "
        "for tanh); gates were introduced so the cell state's Jacobian can stay near 1 (Hochreiter & Schmidhuber "
        "1997). **What we see.** " + _decay_summary(r),
    ]


def _decay_summary(r: Dict) -> str:
    """Sentences comparing the fitted factors (written from the numbers, not assumed)."""
    def described(when: str) -> str:
        parts = []
        for cell, e in r["cells"].items():
            factor = e["fit"][when]["factor_per_step"]
            over = factor ** 50
            parts.append(f"{CELLS[cell].title} x{factor:.3f} per step ({over:.1e} over 50 steps)")
        return "; ".join(parts)

    init = [e["fit"]["init"]["factor_per_step"] for e in r["cells"].values()]
    same = max(init) - min(init) < 0.05
    return (
        f"At initialisation (PyTorch's default initialisation): {described('init')}"
        + (" — the cells decay alike: untrained gates (near 0.5) do not protect the gradient. " if same else ". ")
        + f"After training: {described('trained')}. A factor near 1 means the gradient reaches the start of the "
        "sequence almost undiminished; one well below 1 means it vanishes exponentially."
    )


def _exploding(r: Dict) -> List[str]:
    lengths = list(next(iter(r["grad_norm_by_length"].values())))
    rows = ["| spectral radius | " + " | ".join(f"T = {n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for radius, norms in r["grad_norm_by_length"].items():
        rows.append(f"| {radius} | " + " | ".join("inf" if norms[n] is None else f"{norms[n]:.3g}" for n in lengths) + " |")
    runs = []
    for name, one in r["runs"].items():
        outcome = (one["diverged"] or "").rstrip(".") or f"trained {len(one['curve'])} updates, final held-out MSE {one['curve'][-1]['score']:.4f}"
        if one.get("checkpoint_mse") is not None:
            outcome += f"; the last good checkpoint reloads (held-out MSE {one['checkpoint_mse']:.3f})"
        how = "no clipping" if one["clip"] is None else f"clipped to norm {one['clip']}"
        runs.append(f"- **{how}**: {outcome}")
    return [
        f"||dJ/dθ|| at initialisation of a tanh RNN whose recurrent matrix is a random orthogonal matrix times the "
        f"spectral radius ({r['hidden_width']} units, adding-problem loss, 32 sequences):", "", *rows, "",
        f"Plain SGD, learning rate {r['learning_rate']}, adding problem T = {r['length']}, radius {r['radius']}:", "", *runs, "",
        "**Literature.** Pascanu et al. (2013): a spectral radius above 1 is necessary (not sufficient) for "
        "exploding gradients; rescaling the gradient when its norm exceeds a threshold (their Algorithm 1) keeps "
        "training stable. **What we see.** The table and the two runs above: where the radius exceeds 1 the "
        "norm grows with T; the unclipped run is stopped by the guard, the clipped one stays finite (a tanh RNN "
        "does not solve the adding problem at this length within the budget, claim 3, so it stays near the "
        "trivial baseline). **Guards.** Every trainer stops on a "
        "non-finite loss or gradient with `spacy_rnn.errors.TrainingDiverged` ('training diverged at update N: "
        "...') and leaves the checkpoints saved before it in place: this loop (`diagnostics.tasks`), the spaCy-loop "
        "components (`TorchPipe.update`/`finish_update`) and the language-model trainer (`components/spacy_rnn/lm/step.py`).",
    ]


def _long_range(r: Dict) -> List[str]:
    from .long_range import steps_table

    return [
        f"Adam updates (batch {r['batch_size']}, learning rate {r['learning_rate']}, {r['hidden_width']} units, "
        f"gradients clipped to norm 1) until the held-out MSE is below {r['solved_mse']} (adding; always answering 1 "
        f"gives {r['baseline_mse']:.3f}) or the recall accuracy reaches {r['copy']['solved_recall']:.0%} (copy, "
        f"{r['copy']['n_symbols']} symbols); one number per seed ({', '.join(map(str, r['seeds']))}); '-' = not "
        f"solved within {r['max_steps']} updates.", "", steps_table(r),
        "**Literature.** Hochreiter & Schmidhuber (1997, Experiment 4) solve the adding problem with LSTM at "
        "T = 100–1000 (values in [-1, 1], error < 0.04 per sequence), after tens to hundreds of thousands of training "
        "sequences, where earlier recurrent nets failed; Le et al. (2015) use the variant here (values in [0, 1], MSE "
        "against 0.167) at T = 150–400, where tanh RNNs stay at the baseline while LSTMs solve the shorter lengths. Arjovsky et al. "
        "(2016) define the copy task (there with 10 symbols and delays of 100–500). **What we see.** "
        + _solved_summary(r) + " **Where ours differs.** Our budget is at most "
        f"{r['max_steps'] * r['batch_size']:,} training sequences per run, so '-' means 'not within this budget'; "
        "the LSTM uses PyTorch's default initialisation (forget-gate bias 0, not the +1 of Gers et al. 2000 / "
        "Jozefowicz et al. 2015), which is one reason it starts slower than the GRU here.",
    ]


def _solved_summary(r: Dict) -> str:
    """How many runs of each cell solved each task."""
    tasks = [(f"adding T = {n}", runs) for n, runs in r["adding"].items()] + [("copy", r["copy"]["runs"])]
    parts = []
    for cell in r["copy"]["runs"]:
        counts = [f"{sum(x['steps_to_solve'] is not None for x in runs[cell])}/{len(runs[cell])} {name}" for name, runs in tasks]
        parts.append(f"{CELLS[cell].title} solved " + ", ".join(counts))
    best = {cell: max(1 - p["score"] for x in runs for p in x["curve"]) for cell, runs in r["copy"]["runs"].items()}
    copy = ", ".join(f"{CELLS[c].title} {v:.0%}" for c, v in best.items())
    return "; ".join(parts) + f". Best copy recall accuracy reached: {copy} (chance {1 / r['copy']['n_symbols']:.0%})."


def _context(r: Dict) -> List[str]:
    curve = r["perplexity_by_context"]
    rows = ["| context (tokens) | " + " | ".join(curve) + " |", "|---|" + "---|" * len(curve)]
    for name, label in (("lstm", "LSTM LM"), ("ngram", f"Kneser-Ney {r['ngram_order']}-gram")):
        rows.append(f"| {label} | " + " | ".join(f"{row[name]:.1f}" for row in curve.values()) + " |")
    p = r["passage"]
    probs = p["probabilities"]
    prows = ["| context | " + " | ".join(probs) + " |", "|---|" + "---|" * len(probs)]
    for name, label in (("lstm", "LSTM LM"), ("ngram", "Kneser-Ney")):
        prows.append(f"| {label} | " + " | ".join(f"{row[name]:.2e}" for row in probs.values()) + " |")
    return [
        f"Perplexity on every {r['stride']}th token of `{r['test']}` ({r['n_targets']:,} targets) when the model "
        "may read only the last k tokens ('full': the LSTM carries its state over the whole test stream; the n-gram "
        "model never reads across a sentence):", "", *rows, "",
        f"p(\"{p['word']}\") after the passage ({p['context_tokens']} tokens; \"{p['word']}\" "
        f"{'is' if p['in_vocabulary'] else 'is not'} in the vocabulary):", "", *prows, "",
        "**Literature.** Khandelwal et al. (2018) find that an LSTM LM on PTB and Wikitext-103 uses about "
        "200 tokens of context on average: the loss stops improving beyond that, and word order matters only "
        "within the last ~50 tokens. **What we see.** " + _context_summary(r) + " **Where ours differs.** Our "
        "contexts are read from a zero state, only the listed lengths up to 200 are tried (Khandelwal et al. also try longer "
        "contexts), and the n-gram curve is flat beyond order − 1 words by construction.",
    ]


def _context_summary(r: Dict) -> str:
    """Where each model's curve reaches (within 1%) its full-context perplexity, and how much the
    passage's word gains from the full context over the last token alone."""
    curve = r["perplexity_by_context"]
    ks = [k for k in curve if k != "full"]
    reach = {}
    for name in ("lstm", "ngram"):
        within = [k for k in ks if curve[k][name] <= 1.01 * curve["full"][name]]
        reach[name] = f"k = {within[0]}" if within else f"no k up to {ks[-1]}"
    probs = r["passage"]["probabilities"]
    ratio = probs["full"]["lstm"] / probs["1"]["lstm"] if "1" in probs else float("nan")
    return (f"The LSTM comes within 1% of its full-context perplexity at {reach['lstm']}, the n-gram model at "
            f"{reach['ngram']}. With the whole passage the LSTM gives \"{r['passage']['word']}\" {ratio:.2f} times "
            "the probability it gives after the last token alone.")


def _gates(r: Dict) -> List[str]:
    return [
        f"`{r['model']}`, pipe `{r['pipe']}`, layer {r['layer']}: the {len(r['units'])} units whose cell state "
        f"varies most over the text. Read with `GatedLSTM`, which copies the trained nn.LSTM's weights; largest "
        f"difference from the model's own outputs: {r['max_abs_difference_from_nn_lstm']:.1e}.", "",
        "| gate (mean over all units) | mean over tokens | lowest at | highest at |", "|---|---|---|---|",
        *(_gate_row(r, gate) for gate in ("input", "forget", "output")),
    ]


def _gate_row(r: Dict, gate: str) -> str:
    values, tokens = r["mean_over_units"][gate], r["tokens"]
    low, high = min(range(len(values)), key=values.__getitem__), max(range(len(values)), key=values.__getitem__)
    return (f"| {gate} | {sum(values) / len(values):.2f} | `{tokens[low]}` ({values[low]:.2f}) "
            f"| `{tokens[high]}` ({values[high]:.2f}) |")


def _surprisal(r: Dict) -> List[str]:
    return [
        f"Perplexity {r['perplexity']:.1f}; shading from 0 to {r['max_bits']:g}+ bits ([HTML](surprisal.html); in "
        "a notebook: `from spacy_rnn_lab.diagnostics.surprisal import render_surprisal; render_surprisal(doc)`). "
        "Words outside the language model's vocabulary are scored as `<unk>` (on PTB's 10k words, e.g. \"toner\"), "
        "and punctuation is not scored.",
    ]


SECTIONS: Dict[str, tuple] = {
    "vanishing": ("1. Vanishing gradients", "diagnose-vanishing", _vanishing),
    "exploding": ("2. Exploding gradients and clipping", "diagnose-exploding", _exploding),
    "long_range": ("3. Long-range dependencies", "diagnose-long-range", _long_range),
    "gates_lm": ("4. The gates: language model", "diagnose-gates --name gates_lm", _gates),
    "gates_pos": ("4. The gates: POS tagger (forward direction)", "diagnose-gates --name gates_pos", _gates),
    "context": ("5. Context in language models", "diagnose-context", _context),
    "bidirectional": ("6. Bidirectional context", "diagnose-bidirectional", None),
    "surprisal": ("7. Surprisal you can see", "diagnose-surprisal", _surprisal),
}


def write_report(output_dir: Path, note: Optional[str] = None) -> Path:
    """Write output_dir/README.md from the diagnostics' JSON + PNG there; return its path."""
    from .bidirectional import report_lines

    lines = ["# Diagnostics: textbook claims about recurrent networks, reproduced", ""]
    if note:
        lines += [note, ""]
    lines += [f"Each section's numbers and figure come from `{COMMANDS} <command>` (its JSON and PNG in this folder); "
              "`spacy project run diagnostics` rebuilds all of them and this page.", ""]
    for name, (title, command, describe) in SECTIONS.items():
        describe: Callable = describe or report_lines
        json_path = output_dir / f"{name}.json"
        lines += [f"## {title}", "", f"`{COMMANDS} {command}`", ""]
        if not json_path.exists():
            lines += ["Not run.", ""]
            continue
        results = json.loads(json_path.read_text(encoding="utf8"))
        lines += [f"![{title}]({name}.png)", "", *describe(results), ""]
    path = output_dir / "README.md"
    path.write_text("\n".join(lines), encoding="utf8")
    return path
