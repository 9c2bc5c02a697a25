"""Converters of Hugging Face datasets to spaCy DocBins: convert-hf-tagging, convert-hf-ner,
convert-hf-text. They read what `datasets.load_dataset` reads (`spacy_rnn.corpora.hf_sources`): a
JSON/JSON-lines, CSV, TSV or Parquet file, a folder written by save_to_disk, a folder of data
files, a hub name. A dataset, split or row that cannot be read fails with one line naming it."""
from pathlib import Path
from typing import Optional

import typer

from ..corpora.hf_sources import HFSourceError, load_hf_split
from .common import app, check_counts, echo_textcat, expectations, fail, label_names

SOURCE_HELP = (
    "A data file (.jsonl, .json, .csv, .tsv, .parquet), a folder written by Dataset.save_to_disk, a folder of "
    "data files, or a Hugging Face dataset name"
)
FORMAT_HELP = "json, csv, tsv or parquet: the data file's format when its extension does not say it"


@app.command("convert-hf-tagging")
def convert_hf_tagging_cmd(
    dataset: str = typer.Argument(..., help=SOURCE_HELP),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. en_ewt"),
    split: str = typer.Option("train", help="Split to convert (a single data file is one split)"),
    data_format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    tokens_column: str = typer.Option("tokens"),
    upos_column: str = typer.Option("upos"),
    xpos_column: str = typer.Option("xpos", help="Optional; ignored when the dataset lacks it"),
) -> None:
    """Convert a Hugging Face token-tagging dataset (tokens + upos [+ xpos]) to a spaCy DocBin."""
    from ..corpora.hf import convert_hf_tagging

    stats = _convert(
        convert_hf_tagging, dataset, config_name, split, data_format, output_path,
        tokens_column=tokens_column, upos_column=upos_column, xpos_column=xpos_column,
    )
    typer.echo(f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens -> {output_path}")


@app.command("convert-hf-ner")
def convert_hf_ner_cmd(
    dataset: str = typer.Argument(..., help=SOURCE_HELP),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration"),
    split: str = typer.Option("train", help="Split to convert (a single data file is one split)"),
    data_format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    tokens_column: str = typer.Option("tokens"),
    tags_column: str = typer.Option("ner_tags", help="IOB2 tags: strings or ClassLabel ids"),
) -> None:
    """Convert a Hugging Face NER dataset (tokens + IOB2 ner_tags, like the hub's conll2003) to a spaCy DocBin."""
    from ..corpora.hf import convert_hf_ner

    stats = _convert(
        convert_hf_ner, dataset, config_name, split, data_format, output_path, tokens_column=tokens_column, tags_column=tags_column
    )
    typer.echo(
        f"{dataset} [{split}]: {stats.n_sentences:,} sentences, {stats.n_tokens:,} tokens, "
        f"{stats.n_entities:,} entities -> {output_path}"
    )


@app.command("convert-hf-text")
def convert_hf_text_cmd(
    dataset: str = typer.Argument(..., help=SOURCE_HELP),
    output_path: Path = typer.Argument(..., help="DocBin (.spacy) to write"),
    config_name: Optional[str] = typer.Option(None, "--config", help="Dataset configuration, e.g. sst2 for glue"),
    split: str = typer.Option("train", help="Split to convert (a single data file is one split)"),
    data_format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
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
        convert_hf_text, dataset, config_name, split, data_format, output_path,
        text_column=text_column, label_column=label_column, labels=names,
    )
    echo_textcat(f"{dataset} [{split}]", "rows", stats, output_path)
    check_counts({"rows": stats.n_read}, expected)


def _convert(convert, dataset: str, config_name: Optional[str], split: str, data_format: Optional[str], output_path: Path, **columns):
    """Load the split and convert it, failing with the dataset's name and the problem."""
    try:
        data = load_hf_split(dataset, split, config_name, data_format)
        return convert(data, output_path, **columns)
    except HFSourceError as err:  # names the dataset (and the line)
        fail(str(err))
    except ValueError as err:  # names the row
        fail(f"{dataset}: {err}")
