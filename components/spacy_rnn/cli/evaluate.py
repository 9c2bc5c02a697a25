"""Evaluation reports on gold tokens: evaluate-tagger (UPOS/XPOS accuracy), evaluate-ner
(seqeval) and evaluate-textcat (accuracy, F1, confusions); JSON + markdown. Each refuses gold
that lacks the annotation it scores or whose labels the pipeline cannot predict
(spacy_rnn.evaluation.gold_checks), with one line naming the file."""
from pathlib import Path
from typing import Dict, List, Optional

import typer

from .common import app, echo_scores, fail, load_pipeline, split_arg

CORPUS_HELP = (
    "The dataset's name in the report's keys ({NAME}.{split}.{score}) and title; default: the folder of the "
    "first --split file (corpus/mydata/test.spacy -> mydata)"
)


def dataset_name(corpus: Optional[str], paths: Dict[str, Path]) -> str:
    """The name a report gives its dataset: `corpus` if given, else the name of the folder that
    holds the first gold file."""
    return corpus or next(iter(paths.values())).resolve().parent.name


@app.command("evaluate-tagger")
def evaluate_tagger_cmd(
    model: Path = typer.Argument(..., exists=True, help="Trained pipeline folder"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin, e.g. dev=corpus/ud_en_ewt/dev.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(Path("reports/pos"), help="Where NAME.json and NAME.md go"),
    corpus: Optional[str] = typer.Option(None, help=CORPUS_HELP),
    name: str = typer.Option("accuracy", help="Report file name"),
) -> None:
    """UPOS/XPOS accuracy overall and per tag on gold tokens, whole documents and single sentences.
    A measure the gold lacks (or the pipeline does not predict) is left out, and said so."""
    from ..evaluation.accuracy_report import not_scored_lines, tagging_report, write_tagging_report

    paths = dict(split_arg(arg) for arg in splits)
    nlp = load_pipeline(model)
    try:
        report = tagging_report(nlp, paths, dataset_name(corpus, paths), str(model))
    except (OSError, ValueError) as err:
        fail(str(err))
    write_tagging_report(report, output_dir, name)
    for line in not_scored_lines(report):
        typer.echo(line)
    echo_scores(report["scores"], output_dir / f"{name}.md")


@app.command("evaluate-ner")
def evaluate_ner_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name (any pipeline setting doc.ents)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin with doc.ents, e.g. test=corpus/conll2003/test.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(..., help="Where NAME.json and NAME.md go"),
    corpus: Optional[str] = typer.Option(None, help=CORPUS_HELP),
    label_maps: List[str] = typer.Option(
        [], "--label-map", help="FROM=TO renames a predicted label, e.g. PERSON=PER; FROM= drops it (repeatable)"
    ),
    name: str = typer.Option("seqeval", help="Report file name"),
    allow_unknown_labels: bool = typer.Option(
        False, help="Score gold entity types the pipeline cannot predict as misses (recall 0), recorded in the "
        "report, instead of refusing"
    ),
) -> None:
    """Entity precision/recall/F1 per type (seqeval, default and strict IOB2 modes) on gold tokens,
    type confusions and a sample of errors in context."""
    from ..evaluation.seqeval_report import ner_report, write_ner_report

    paths = dict(split_arg(arg) for arg in splits)
    label_map = dict(_label_map_arg(arg) for arg in label_maps)
    nlp = load_pipeline(model)
    try:
        report = ner_report(nlp, paths, dataset_name(corpus, paths), model, label_map, allow_unknown_labels=allow_unknown_labels)
    except (OSError, ValueError) as err:
        fail(str(err))
    for split, result in report["splits"].items():
        if result.get("unknown_gold_labels"):
            typer.echo(f"{split}: gold types the pipeline cannot predict, scored as misses: {', '.join(result['unknown_gold_labels'])}")
    write_ner_report(report, output_dir, name)
    echo_scores(report["scores"], output_dir / f"{name}.md", only=".f1")


def _label_map_arg(arg: str):
    source, sep, target = arg.partition("=")
    if not sep or not source:
        fail(f"--label-map takes FROM=TO (or FROM= to drop the label), got {arg!r}")
    return source, target


@app.command("evaluate-textcat")
def evaluate_textcat_cmd(
    model: str = typer.Argument(..., help="Pipeline folder or installed package name (any pipeline setting exclusive doc.cats)"),
    splits: List[str] = typer.Option(
        ..., "--split", help="NAME=PATH of a gold DocBin with doc.cats, e.g. test=corpus/sst2/test.spacy (repeatable)"
    ),
    output_dir: Path = typer.Option(..., help="Where NAME.json and NAME.md go"),
    corpus: Optional[str] = typer.Option(None, help=CORPUS_HELP),
    name: str = typer.Option("textcat", help="Report file name"),
    n_errors: int = typer.Option(25, help="Misclassified documents listed per split"),
) -> None:
    """Accuracy, macro F1, per-label precision/recall/F1, confusion matrix and the first errors
    of a document classifier on gold tokens."""
    from ..evaluation.textcat_report import textcat_report, write_textcat_report

    paths = dict(split_arg(arg) for arg in splits)
    nlp = load_pipeline(model)
    try:
        report = textcat_report(nlp, paths, dataset_name(corpus, paths), model, n_errors)
    except (OSError, ValueError) as err:
        fail(str(err))
    write_textcat_report(report, output_dir, name)
    echo_scores(report["scores"], output_dir / f"{name}.md")
