"""Language modelling: kneser-ney (n-gram baselines), train-lm and evaluate-lm (perplexity)."""
from pathlib import Path
from typing import List, Optional

import typer

from .common import app, fail, spacy_cli_util, split_arg


@app.command("kneser-ney", context_settings={"allow_extra_args": True})
def kneser_ney_cmd(
    ctx: typer.Context,
    train: Path = typer.Option(..., exists=True, dir_okay=False, help="Training text, one sentence a line"),
    valid: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Validation text"),
    test: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="Test text"),
    orders: List[int] = typer.Option([2, 3, 4, 5], help="N-gram orders: --orders 2 3 4 5 (or --orders 2 --orders 3)"),
    max_vocab: Optional[int] = typer.Option(None, help="Vocabulary size including <eos> and <unk> (default: all words)"),
    min_count: int = typer.Option(1, help="Keep training words seen at least this often"),
    corpus: str = typer.Option("ptb", help="Corpus name used in the report keys"),
    context: str = typer.Option("yelled at the", help="Example context whose predictions are explained"),
    words: List[str] = typer.Option(["dog", "man", "end", "<eos>"], "--word", help="Example word to explain (repeatable)"),
    output_dir: Path = typer.Option(Path("reports/lm"), help="Where kneser_ney.json and kneser_ney.md go"),
) -> None:
    """Interpolated modified Kneser-Ney n-gram baselines: perplexity of each order on the valid and
    test texts (same vocabulary and <eos> convention as the LSTM LM) and the counts behind an example."""
    from ..evaluation.kneser_ney_report import kneser_ney_report, write_kneser_ney_report
    from ..lm.kneser_ney import explanation_text

    extra = [arg for arg in ctx.args if not arg.isdigit()]
    if extra:
        fail(f"unexpected arguments {extra}")
    orders = sorted(set(orders) | {int(arg) for arg in ctx.args})
    if orders[0] < 1:
        fail(f"n-gram orders must be at least 1, got {orders}")
    splits = {name: path for name, path in (("valid", valid), ("test", test)) if path is not None}
    try:
        report = kneser_ney_report(
            train, splits, orders, corpus, max_vocab, min_count, context.split(), words, progress=True
        )
    except ValueError as err:  # also CorpusFormatError
        fail(str(err))
    write_kneser_ney_report(report, output_dir)
    for key, value in report["scores"].items():
        typer.echo(f"{key:40s} {value:8.2f}")
    for word, entries in report["example"]["words"].items():
        typer.echo(f'\np({word} | "{context}"):\n{explanation_text(entries)}')
    typer.echo(f"report -> {output_dir / 'kneser_ney.md'}")


@app.command("train-lm", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_lm_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Language-model config (.cfg) with [lm_training]"),
    output_dir: Path = typer.Argument(..., help="Where model-best, model-last and training_log.jsonl go"),
    report_dir: Optional[Path] = typer.Option(None, help="Write training.json/.md and training_curves.png here"),
    device: str = typer.Option("cpu", help="torch device, e.g. cpu or cuda"),
    text_column: str = typer.Option("text", help="Column holding the text when a corpus path is a saved datasets.Dataset"),
) -> None:
    """Train an torch_lm pipeline with truncated BPTT on paths.train (a text file, one sentence a
    line, or a folder written by Dataset.save_to_disk), selecting on paths.dev perplexity.
    Extra `--section.key value` arguments override the config."""
    from spacy import util

    from ..evaluation.lm_report import write_lm_training_report
    from ..lm.trainer import LMTrainingSettings
    from ..extras import require
    from ..precision import use_bf16
    from ..errors import TrainingDiverged
    from ..lm.training import train_language_model

    overrides = spacy_cli_util().parse_config_overrides(ctx.args)
    if report_dir is not None:
        require("matplotlib", "reports", "train-lm --report-dir (its training curves)")
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    resolved = config.interpolate()
    util.fix_random_seed(resolved["system"]["seed"])
    nlp = util.load_model_from_config(config, auto_fill=True, validate=True)
    settings = LMTrainingSettings(**resolved["lm_training"])
    try:  # before any corpus is read: a device without native bf16 stops here
        bf16 = use_bf16(settings.mixed_precision, device, name="lm_training.mixed_precision")
    except ValueError as err:
        fail(f"{config_path}: {err}")
    typer.echo(f"precision: {'bf16 autocast' if bf16 else 'float32'} (lm_training.mixed_precision = {settings.mixed_precision!r}, device {device})")
    train = _lm_sentences(Path(resolved["paths"]["train"]), text_column)
    dev = _lm_sentences(Path(resolved["paths"]["dev"]), text_column)
    try:
        record = train_language_model(nlp, train, dev, settings, output_dir, device=device)
    except (ValueError, TrainingDiverged) as err:  # e.g. a corpus too short for the batch size
        fail(f"training on {resolved['paths']['train']}: {err}")
    typer.echo(
        f"best dev perplexity {record['best_dev_perplexity']:.2f} after {record['train_minutes']:.1f} min "
        f"({record['stop_reason']}) -> {output_dir / 'model-best'}"
    )
    if report_dir is not None:
        write_lm_training_report(record, config_path, overrides, report_dir)
        typer.echo(f"training report -> {report_dir}")


def _lm_sentences(path: Path, text_column: str) -> List[List[str]]:
    from ..corpora import CorpusFormatError
    from ..corpora.ptb import read_sentences, sentences_from_hf

    if path.is_dir():
        from ..extras import require

        datasets = require("datasets", "datasets", "reading a Hugging Face dataset")
        return list(sentences_from_hf(datasets.load_from_disk(str(path)), column=text_column))
    if not path.is_file():
        fail(f"corpus not found: {path}")
    try:
        return list(read_sentences(path))
    except CorpusFormatError as err:
        fail(str(err))


@app.command("evaluate-lm")
def evaluate_lm_cmd(
    model: str = typer.Argument(..., help="Trained pipeline with an torch_lm component"),
    split: List[str] = typer.Option(..., help="NAME=PATH of a text file, one sentence a line (repeatable)"),
    output_dir: Path = typer.Option(Path("reports/lm"), help="Where the JSON + markdown report goes"),
    corpus: str = typer.Option("ptb", help="Corpus name used in the report keys"),
    name: str = typer.Option("perplexity", help="Report file name (without extension)"),
    baseline: Optional[Path] = typer.Option(None, exists=True, dir_okay=False, help="kneser_ney.json to compare with in the same table"),
) -> None:
    """Perplexity of a trained pipeline on text files (through the component: each file as one
    stream, and sentence by sentence), next-word predictions and samples -> NAME.json / NAME.md."""
    import spacy
    import srsly

    from ..corpora import CorpusFormatError
    from ..evaluation.lm_report import evaluate_lm, write_lm_report

    nlp = spacy.load(model)
    try:
        report = evaluate_lm(nlp, [split_arg(arg) for arg in split], corpus)
    except CorpusFormatError as err:
        fail(str(err))
    write_lm_report(report, output_dir, model, name, baseline=srsly.read_json(baseline) if baseline else None)
    for key, value in report.items():
        if key.endswith(".perplexity"):
            typer.echo(f"{key}: {value:.2f}")
    typer.echo(f"report -> {output_dir / name}.json, .md")
