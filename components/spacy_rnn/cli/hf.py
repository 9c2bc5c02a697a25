"""Converters of Hugging Face datasets (a folder written by Dataset.save_to_disk, or a hub
name) to spaCy DocBins: convert-hf-tagging, convert-hf-ner, convert-hf-text. A dataset or split
that cannot be read, has no rows or does not exist fails with one line naming it."""
import json
from pathlib import Path
from typing import Optional

import typer

from .common import app, check_counts, echo_textcat, expectations, fail, first_line, label_names


@app.command("convert-hf-tagging")
def convert_hf_tagging_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. en_ewt"),
    split: str = typer.Option("train", help="Split to convert"),
    tokens_column: str = typer.Option("tokens"),
    upos_column: str = typer.Option("upos"),
    xpos_column: str = typer.Option("xpos", help="Optional; ignored when the dataset lacks it"),
) -> None:
    """Convert a Hugging Face token-tagging dataset (tokens + upos [+ xpos]) to a spaCy DocBin."""
    from ..corpora.hf import convert_hf_tagging

    stats = _convert(
        convert_hf_tagging, dataset, config_name, split, output_path,
        tokens_column=tokens_column, upos_column=upos_column, xpos_column=xpos_column,
    )
    typer.echo(f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens -> {output_path}")


@app.command("convert-hf-ner")
def convert_hf_ner_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration"),
    split: str = typer.Option("train", help="Split to convert"),
    tokens_column: str = typer.Option("tokens"),
    tags_column: str = typer.Option("ner_tags", help="IOB2 tags: strings or ClassLabel ids"),
) -> None:
    """Convert a Hugging Face NER dataset (tokens + IOB2 ner_tags, like the hub's conll2003) to a spaCy DocBin."""
    from ..corpora.hf import convert_hf_ner

    stats = _convert(
        convert_hf_ner, dataset, config_name, split, output_path, tokens_column=tokens_column, tags_column=tags_column
    )
    typer.echo(
        f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities -> {output_path}"
    )


@app.command("convert-hf-text")
def convert_hf_text_cmd(
    dataset: str = typer.Argument(..., help="A folder written by Dataset.save_to_disk, or a Hugging Face dataset name"),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. sst2 for glue"),
    split: str = typer.Option("train", help="Split to convert"),
    text_column: str = typer.Option("text", help="e.g. sentence for glue/sst2"),
    label_column: str = typer.Option("label", help="ClassLabel ids, integer ids (with --labels) or label names"),
    labels: Optional[str] = typer.Option(
        None, help="Comma-separated label names for ids 0, 1, ... (default: the ClassLabel names)"
    ),
    expect: Optional[int] = typer.Option(None, help="Fail unless this many rows are read"),
) -> None:
    """Convert a Hugging Face text classification dataset (text + label) to a spaCy DocBin with exclusive doc.cats."""
    from ..corpora.hf import convert_hf_text

    expected = expectations(None, rows=expect)
    names = label_names("--labels", labels)
    stats = _convert(
        convert_hf_text, dataset, config_name, split, output_path,
        text_column=text_column, label_column=label_column, labels=names,
    )
    echo_textcat(f"{dataset} [{split}]", "rows", stats, output_path)
    check_counts({"rows": stats.n_read}, expected)


def _convert(convert, dataset: str, config_name: Optional[str], split: str, output_path: Path, **columns):
    """Load the split and convert it, failing with the dataset's name and the problem."""
    data = _load_hf_dataset(dataset, config_name, split)
    try:
        return convert(data, output_path, **columns)
    except ValueError as err:
        fail(f"{dataset}: {err}")


def _load_hf_dataset(dataset: str, config_name: Optional[str], split: str):
    """A split of a dataset saved with Dataset.save_to_disk (if the folder exists) or named on the hub."""
    from ..extras import require

    datasets = require("datasets", "datasets", "reading a Hugging Face dataset")
    saved = _saved_split(Path(dataset), dataset, split) if Path(dataset).exists() else None
    if saved is not None and not json.loads((saved / "state.json").read_text(encoding="utf-8")).get("_data_files"):
        # datasets cannot read such a folder back (an IndexError): say what it is instead
        fail(f"{dataset} [{split}]: the dataset has no rows (saved with none): nothing to convert")
    try:
        if saved is not None:
            return datasets.load_from_disk(str(saved))
        return datasets.load_dataset(dataset, config_name, split=split)
    except Exception as err:  # any failure to read it is one line, not a traceback
        fail(f"{dataset} [{split}]: cannot load it ({type(err).__name__}: {first_line(err)})")


def _saved_split(path: Path, dataset: str, split: str) -> Path:
    """The folder of one saved Dataset: `path` itself, or its `split` if it holds a DatasetDict
    (read alone, so that another split's problem does not stop this one)."""
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        if split not in splits:
            fail(f"{dataset}: no split {split!r}; it has {', '.join(splits)} (give one with --split)")
        path = path / split
    if not (path / "state.json").is_file():
        fail(f"{dataset}: not a folder written by Dataset.save_to_disk or DatasetDict.save_to_disk (no state.json)")
    return path
