"""A trained pipeline's model card (README.md): what it predicts, how well on which data, how
fast, under which licence, for what and within which limits, and how to install it.

Written into the pipeline's folder, it is the README that `spacy package` puts in the package
(spaCy uses a README.md it finds in the pipeline instead of generating one from meta.json),
that pip shows as the package's description and that a Hugging Face Hub repository shows.

Scores come from the report JSON files given: evaluate-tagger/-ner/-textcat reports (keys
"{dataset}.{split}.{score}" under "scores"), evaluate-lm's (the same keys at the top level), the
training report (best dev scores) and a speed report (`python -m spacy_rnn_lab benchmark-speed`).
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from spacy.language import Language

from .reports import markdown_table

DEFAULT_LIMITS = (
    "The scores above were measured on the datasets named there, on their gold tokens; on text of another "
    "domain, genre or period, or tokenized differently, expect lower scores. It predicts only the labels listed "
    "above. Check it on a sample of your own text before relying on it."
)


def model_card(
    nlp: Language,
    reports: Sequence[Path] = (),
    *,
    intended_use: str = "",
    limits: str = DEFAULT_LIMITS,
) -> str:
    """The model card of `nlp` (a loaded pipeline) as Markdown, with the scores of `reports`
    (paths of report JSON files); name, version, description and licence from its meta.
    intended_use: default a sentence naming the pipeline's task and training data."""
    meta = nlp.meta
    name = f"{meta['lang']}_{meta['name']}"
    loaded = [(Path(path), json.loads(Path(path).read_text(encoding="utf-8"))) for path in reports]
    lines = [f"# {name} {meta['version']}", ""]
    if meta.get("description"):
        lines += [meta["description"], ""]
    vectors = meta.get("vectors", {})
    lines += [
        markdown_table(["", "value"], [
            ["pipeline", ", ".join(nlp.pipe_names)],
            ["language", meta["lang"]],
            ["spaCy", meta["spacy_version"]],
            ["static vectors", f"{vectors.get('vectors', 0):,} rows of width {vectors.get('width', 0)}" if vectors.get("width") else "none"],
            ["licence", meta.get("license") or "not given"],
            ["author", meta.get("author") or "not given"],
        ]),
        "",
        "## Components and labels",
        "",
    ]
    for component in nlp.pipe_names:
        lines += _component_lines(nlp, component)
    lines += ["## Scores", ""] + _score_lines(loaded)
    lines += ["## Data", ""] + _data_lines(nlp, loaded)
    speed = [report for _, report in loaded if "speed" in report]
    if speed:
        lines += ["## Speed", ""] + [_speed_line(report["speed"]) for report in speed] + [""]
    lines += ["## Intended use", "", intended_use or _default_use(nlp), "", "## Limits", "", limits, ""]
    lines += _install_lines(name, meta["version"])
    return "\n".join(lines)


def write_model_card(nlp: Language, output: Path, reports: Sequence[Path] = (), **options: str) -> Path:
    """Write `model_card(nlp, reports, **options)` to output; returns output."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(model_card(nlp, reports, **options), encoding="utf-8")
    return output


def _component_lines(nlp: Language, component: str) -> List[str]:
    """The component's factory (and encoder) and its labels, one list per head."""
    block = nlp.config["components"][component]
    encoder = block.get("model", {}).get("encoder", {}).get("@architectures") if isinstance(block.get("model"), dict) else None
    about = f"`{block.get('factory', component)}`" + (f", encoder `{encoder}`" if encoder else "")
    lines = [f"- **{component}** ({about})"]
    labels = getattr(nlp.get_pipe(component), "label_data", None)
    heads = labels if isinstance(labels, dict) else {"labels": labels} if labels else {}
    for head, names in heads.items():
        if names:
            lines.append(f"  - {head} ({len(names)}): {', '.join(map(str, names))}")
    return lines + [""]


def _scores(report: Dict) -> Dict[str, float]:
    """A report's "{dataset}.{split}.{score}" values: its "scores", or evaluate-lm's top-level keys."""
    if isinstance(report.get("scores"), dict):
        return report["scores"]
    return {key: value for key, value in report.items() if key.count(".") >= 2 and isinstance(value, (int, float))}


def _score_lines(loaded) -> List[str]:
    rows = []
    for path, report in loaded:
        dataset = report.get("corpus")
        for key, value in _scores(report).items():
            name, split, score = _split_key(key, dataset)
            rows.append([name, split, score, f"{value:.2f}" if isinstance(value, float) else f"{value:,}", path.name])
        dev = f"training's dev set ({report.get('overrides', {}).get('paths.dev') or 'its config'})"
        for score, value in report.get("best_dev_scores", {}).items():
            if isinstance(value, (int, float)):
                rows.append([dev, f"dev, step {report.get('best_step', '?')}", score, f"{value:.2f}", path.name])
    if not rows:
        return ["No evaluation report was given.", ""]
    return [markdown_table(["dataset", "split", "score", "value", "report"], rows), "",
            "Accuracies, precisions, recalls and F1 are in percent.", ""]


def _split_key(key: str, dataset: Optional[str]):
    """("mydata", "test", "f1") from "mydata.test.f1" (the dataset name may hold dots)."""
    if dataset and key.startswith(dataset + "."):
        split, _, score = key[len(dataset) + 1:].partition(".")
        return dataset, split, score
    name, split, score = key.split(".", 2)
    return name, split, score


def _data_lines(nlp: Language, loaded) -> List[str]:
    paths = nlp.config.get("paths", {})
    lines = [f"- training data: {paths.get('train') or 'not recorded'}; dev data: {paths.get('dev') or 'not recorded'}"]
    for source in nlp.meta.get("sources") or []:
        source = source if isinstance(source, dict) else {"name": source}
        extra = ", ".join(str(source[k]) for k in ("url", "license") if source.get(k))
        lines.append(f"- source: {source.get('name', '')}" + (f" ({extra})" if extra else ""))
    for path, report in loaded:
        if report.get("corpus") and isinstance(report.get("splits"), dict):
            sizes = ", ".join(f"{split} {result.get('n_docs', '?'):,} docs" if isinstance(result.get("n_docs"), int)
                              else split for split, result in report["splits"].items())
            lines.append(f"- evaluated on {report['corpus']}: {sizes} ({path.name})")
    return lines + [""]


def _speed_line(speed: Dict) -> str:
    words = speed.get("words_per_second", {})
    line = f"- {words.get('ours', 0):,} words per second ({speed.get('headline', 'as loaded')})"
    if speed.get("cpu", {}).get("model"):
        line += f" (CPU: {speed['cpu']['model']})"
    if words.get("peer"):
        line += f"; {speed.get('peer')}: {words['peer']:,} words per second in the same run"
    return line


def _default_use(nlp: Language) -> str:
    factories = sorted({nlp.config["components"][name].get("factory", name) for name in nlp.pipe_names})
    train = nlp.config.get("paths", {}).get("train")
    return (
        f"Annotating {type(nlp).__name__} text with its components ({', '.join(factories)}), text like the data it "
        f"was trained on{f' ({train})' if train else ''}."
    )


def _install_lines(name: str, version: str) -> List[str]:
    return [
        "## Install and use",
        "",
        "```bash",
        f"pip install {name}-{version}-py3-none-any.whl   # the wheel `spacy package --build wheel` builds",
        "```",
        "",
        "```python",
        "import spacy",
        f'nlp = spacy.load("{name}")',
        "```",
        "",
        "It needs `spacy-rnn` (a requirement of the package).",
        "",
    ]
