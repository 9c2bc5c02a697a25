"""The continued-training experiment's report (continued_training.py runs it): README.md with the
per-label tables of each view, continued.json and continued.png."""
from pathlib import Path
from typing import Dict, List

from spacy_rnn.evaluation.reports import markdown_table, write_json
from spacy_rnn.extras import pyplot

from .continued_training import NEW_LABEL, OLD_LABELS, VARIANTS


VIEW_NOTES = {
    "old_labels": "**Old labels**, the fair comparison: the gold NORP entities are masked out, with every "
    "prediction overlapping one, and other predicted NORP are dropped; PER/LOC/ORG/MISC on the rest of the text.",
    "relabelled": "**Relabelled dev**, every label as it is: the trained model predicts no NORP, so its NORP F1 "
    "is 0 and its MISC predictions of demonyms count against MISC precision.",
    "original": "**Original labels**: the dev set as published, predicted NORP renamed MISC (the trained "
    "model's own task: its column is `evaluate-ner`'s dev score).",
}


def _labels(report: Dict, view: str) -> List[str]:
    """The labels of a view's table in a fixed order, then "micro"."""
    found = {label for result in report["results"].values() for label in result["scores"][view]["per_type"]}
    return [label for label in OLD_LABELS + (NEW_LABEL,) if label in found] + ["micro"]


def _row(scores: Dict, label: str) -> Dict:
    """A label's scores in a view (zeros for a label with neither gold nor predicted entities)."""
    if label == "micro":
        return scores["micro"]
    return scores["per_type"].get(label, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})


def _summary(report: Dict) -> str:
    results = report["results"]
    old = {variant: _row(results[variant]["scores"]["old_labels"], "micro")["f1"] for variant in VARIANTS}
    new = {variant: _row(results[variant]["scores"]["relabelled"], NEW_LABEL)["f1"] for variant in VARIANTS}
    return (
        f"Old labels' micro F1 (NORP masked): before {old['before']:.2f}, A {old['new_only']:.2f} "
        f"({old['new_only'] - old['before']:+.2f}), B {old['rehearsal']:.2f} ({old['rehearsal'] - old['before']:+.2f}). "
        f"NORP F1: before {new['before']:.2f}, A {new['new_only']:.2f}, B {new['rehearsal']:.2f}."
    )


def _top(counts: Dict[str, int], n: int) -> str:
    return ", ".join(f"{text} {count}" for text, count in list(counts.items())[:n])


def continued_markdown(report: Dict) -> str:
    results, data, training = report["results"], report["data"], report["training"]
    train, dev = report["relabelling"]["train"], report["relabelling"]["dev"]
    lines = [
        f"# Continued training on a new label: {NEW_LABEL} in CoNLL-2003 (dev scores)",
        "",
        f"`{report['model']}`, trained on PER, LOC, ORG and MISC, learns {NEW_LABEL} (nationalities and",
        f"peoples, taken out of MISC) from {data['new_label_sentences']} training sentences alone (**A**) or",
        f"mixed with {data['old_sentences']} sentences of the old training data (**B**, rehearsal). Every score",
        f"is on the relabelled CoNLL-2003 **dev** set (`{report['corpus']['dev']}`); the test set is not used.",
        f"Written by `python -m spacy_rnn_lab continued-training {report['model']} --n-sentences {data['n_sentences']}",
        f"--rehearsal {data['rehearsal']} --steps {training['steps']} --seed {data['seed']}`; the rule and the views",
        "in full: `spacy_rnn_lab/continued_training.py`.",
        "",
        _summary(report),
        "",
        "## Dev F1 per label (%)",
        "",
    ]
    for view in ("old_labels", "relabelled", "original"):
        rows = []
        for label in _labels(report, view):
            f1 = [_row(results[variant]["scores"][view], label)["f1"] for variant in VARIANTS]
            support = _row(results["before"]["scores"][view], label)["support"]
            rows.append([label if label != "micro" else "*micro*", support] + f1 + [f"{f - f1[0]:+.2f}" for f in f1[1:]])
        header = ["label", "gold entities", "before", "A", "B", "A − before", "B − before"]
        lines += [VIEW_NOTES[view], "", markdown_table(header, rows), ""]
    lines += ["![Dev F1 per label before and after continued training](continued.png)", ""]
    lines += [
        "## The new label",
        "",
        "A MISC entity becomes NORP when its text is a demonym: its lowercased text, or each of its words,",
        "is in `DEMONYMS` (names of nations' and continents' people and of ethnic groups; not religious or",
        "political groups, languages, or the people of cities and regions). Every split is relabelled the",
        "same way, so no sentence contradicts another.",
        "",
        markdown_table(
            ["split", "MISC entities", "relabelled NORP", "most frequent NORP", "most frequent MISC kept"],
            [
                [name, stats["n_misc"], stats["n_relabelled"], _top(stats["relabelled"], 12), _top(stats["misc_kept"], 8)]
                for name, stats in (("train", train), ("dev", dev))
            ],
        ),
        "",
        "## Training",
        "",
        f"Both variants start from the trained pipeline after `add_label(\"{NEW_LABEL}\")` (saved, then sourced by",
        f"`{training['config']}`: spaCy resumes a sourced component instead of initializing it, so the label is",
        f"added before), and train {training['steps']} steps with seed {training['seed']} and learn rate",
        f"`{training['optimizer']['learn_rate']}` (batches and the rest: the config). The sentences are sampled",
        f"with seed {data['seed']} from {data['pool_new_label_sentences']:,} training sentences with a NORP entity",
        f"and {data['pool_old_sentences']:,} without.",
        "",
        markdown_table(
            ["variant", "sentences with NORP", "old sentences", "entities", "training run, wall time (s)"],
            [
                [
                    VARIANTS[variant],
                    data["new_label_sentences"],
                    data["old_sentences"] if variant == "rehearsal" else 0,
                    ", ".join(f"{label} {n}" for label, n in data["entities"][variant].items()),
                    results[variant]["seconds"],
                ]
                for variant in ("new_only", "rehearsal")
            ],
        ),
        "",
        f"## Machine (the whole command: {report['seconds']:.0f} s)",
        "",
        markdown_table(["key", "value"], [[key, value] for key, value in report["machine"].items()]),
        "",
    ]
    return "\n".join(lines)


def plot_continued(report: Dict, png_path: Path) -> None:
    """Grouped bars of dev F1 per label, before / A / B: old-label view and relabelled view."""
    plt = pyplot("the continued-training figure")

    views = ("old_labels", "relabelled")
    fig, axes = plt.subplots(1, len(views), figsize=(13, 4.2), sharey=True)
    width = 0.8 / len(VARIANTS)
    for ax, view in zip(axes, views):
        labels = _labels(report, view)
        for i, (variant, description) in enumerate(VARIANTS.items()):
            f1 = [_row(report["results"][variant]["scores"][view], label)["f1"] for label in labels]
            ax.bar([x + (i - 1) * width for x in range(len(labels))], f1, width, label=description)
        ax.set_xticks(range(len(labels)), labels)
        ax.set(title={"old_labels": "old labels (gold NORP masked)", "relabelled": "relabelled dev"}[view], ylim=(0, 100))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("dev F1 (%)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(VARIANTS), frameon=False)
    fig.suptitle(f"Continued training on {NEW_LABEL}: CoNLL-2003 dev F1 per label")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def write_continued_report(report: Dict, output_dir: Path) -> None:
    """output_dir/continued.json, README.md and continued.png."""
    write_json(report, output_dir / "continued.json")
    (output_dir / "README.md").write_text(continued_markdown(report), encoding="utf-8")
    plot_continued(report, output_dir / "continued.png")
