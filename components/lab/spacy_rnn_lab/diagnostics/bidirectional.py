"""Claim 6, bidirectional context: the same config trained with a forward-only and with a
bidirectional encoder (short runs of spaCy's loop, same seed and steps) for the sentiment
classifier and the recognizer; then, with the two classifiers, how the representation of a word
("terribly" in "the movie was terribly exciting") and the prediction change with the words to
its right. A forward-only encoder cannot see them: its state for the word is the same whatever
follows, while a bidirectional one's changes."""
import json
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .gates import capture_encoder
from .output import new_figure, save

SENTENCES = ("the movie was terribly exciting", "the movie was terribly boring", "the movie was terribly")
TASKS = {  # name: (config, component, dev score key)
    "sentiment": ("configs/sentiment_sst2.cfg", "textcat", "cats_macro_f"),
    "recognizer": ("configs/ner_bilstm_crf.cfg", "ner", "ents_f"),
}


def train_variant(config: Path, component: str, bidirectional: bool, steps: int, seed: int, output: Path,
                  vectors: Optional[Path] = None) -> Dict:
    """Train `config` for `steps` updates (one evaluation, at the end) with the encoder's
    bidirectional setting (and paths.vectors, when given) overridden; return model-best's dev
    scores."""
    from spacy.cli.train import train

    overrides = {
        f"components.{component}.model.encoder.bidirectional": bidirectional,
        "training.max_steps": steps, "training.optimizer.learn_rate.total_steps": steps,
        "training.eval_frequency": steps, "system.seed": seed,
    }
    if vectors is not None:
        overrides["paths.vectors"] = str(vectors)
    train(config, output, use_gpu=-1, overrides=overrides)
    return json.loads((output / "model-best" / "meta.json").read_text(encoding="utf8"))["performance"]


def word_states(nlp, pipe_name: str, word: str, sentences: Sequence[str]) -> Dict[str, Dict]:
    """For each sentence: the encoder's state of `word` (list of floats) and the doc's cats."""
    rows = {}
    for sentence in sentences:
        doc, _, outputs = capture_encoder(nlp, nlp.get_pipe(pipe_name), sentence)
        index = [t.text for t in doc].index(word)
        rows[sentence] = {"state": outputs[0, index].tolist(), "cats": dict(doc.cats)}
    return rows


def cosine(a: List[float], b: List[float]) -> float:
    return float(torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b), dim=0))


def run(output_dir: Path, *, seed: int = 0, steps: Dict[str, int] = None, word: str = "terribly",
        sentences: Sequence[str] = SENTENCES, tasks: Sequence[str] = ("sentiment", "recognizer"),
        vectors: Optional[Path] = None) -> Dict:
    """Train both variants of each task (steps[task] updates, defaults 300 and 200) and compare
    dev scores; read `sentences` with both sentiment models. Writes bidirectional.json/.png."""
    import spacy

    steps = {"sentiment": 300, "recognizer": 200, **(steps or {})}
    results: Dict = {"claim": "bidirectional context", "seed": seed, "steps": steps, "vectors": str(vectors or "each config's"), "scores": {}, "word": word, "sentences": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            config, component, key = TASKS[task]
            results["scores"][task] = {"metric": key}
            for bidirectional in (False, True):
                variant = "bidirectional" if bidirectional else "forward"
                out = Path(tmp) / f"{task}_{variant}"
                results["scores"][task][variant] = train_variant(Path(config), component, bidirectional, steps[task], seed, out, vectors)[key]
                if task == "sentiment":
                    results["sentences"][variant] = word_states(spacy.load(out / "model-best"), component, word, sentences)
    if results["sentences"]:
        first = sentences[0]
        for variant, rows in results["sentences"].items():
            for sentence, row in rows.items():
                row["cosine_to_first"] = cosine(row["state"], rows[first]["state"])
    fig, (left, right) = new_figure(2)
    task_names = list(results["scores"])
    for offset, variant in ((-0.2, "forward"), (0.2, "bidirectional")):
        left.bar([i + offset for i in range(len(task_names))], [results["scores"][t][variant] for t in task_names], 0.4, label=variant)
    left.set(xticks=range(len(task_names)), xticklabels=[f"{t}\n({results['scores'][t]['metric']}, {steps[t]} steps)" for t in task_names],
             ylabel="dev score", ylim=(0, 1.15), title="forward-only against bidirectional encoder (short runs)")
    left.legend(loc="upper center", ncol=2)
    for variant, rows in results["sentences"].items():
        positive = [max((v for k, v in row["cats"].items() if k.lower().startswith("pos")), default=0.0) for row in rows.values()]
        right.plot(range(len(rows)), positive, "o-", label=f"{variant}: P(positive)")
        right.plot(range(len(rows)), [row["cosine_to_first"] for row in rows.values()], "s--", label=f"{variant}: cos(\"{word}\", in sentence 1)")
    right.set(xticks=range(len(sentences)), xticklabels=[s.replace(" was ", " was\n") for s in sentences], ylim=(-0.05, 1.05),
              title=f'"{word}" and the prediction as the right context changes')
    right.legend(fontsize=7)
    save(results | {"sentences": {v: {s: {k: x for k, x in r.items() if k != "state"} for s, r in rows.items()}
                                  for v, rows in results["sentences"].items()}}, fig, output_dir, "bidirectional")
    return results


def report_lines(r: Dict) -> List[str]:
    """The report's lines for this claim."""
    rows = ["| task | metric | steps | forward-only | bidirectional |", "|---|---|---|---|---|"]
    for task, s in r["scores"].items():
        rows.append(f"| {task} | {s['metric']} | {r['steps'][task]} | {s['forward']:.3f} | {s['bidirectional']:.3f} |")
    gaps = ", ".join(f"{task} {s['bidirectional'] - s['forward']:+.3f}" for task, s in r["scores"].items())
    lines = [f"Short runs of spaCy's loop (the step counts below, seed {r['seed']}, static vectors: "
             f"{r.get('vectors', 'each config')}); far from converged, so the gap, not the absolute score, is the point. "
             f"Bidirectional minus forward-only: {gaps}.", "", *rows, ""]
    if r["sentences"]:
        lines += [f"| sentence | variant | P(positive) | cos(\"{r['word']}\", its state in sentence 1) |", "|---|---|---|---|"]
        for variant, rows_ in r["sentences"].items():
            for sentence, row in rows_.items():
                positive = max((v for k, v in row["cats"].items() if k.lower().startswith("pos")), default=float("nan"))
                lines.append(f"| {sentence} | {variant} | {positive:.3f} | {row['cosine_to_first']:.3f} |")
        lines += ["", "A forward-only encoder's state for the word is identical (cosine 1) whatever follows it: only the "
                  "pooled prediction can change. The bidirectional encoder's state already differs."]
    return lines
