"""Sharing a trained pipeline: model-card (the README that `spacy package` puts in the package),
push-to-hub (the package's wheel to a Hugging Face Hub repository) and export-encoder (a
fine-tuned Transformer encoder in the Hugging Face format)."""
from pathlib import Path
from typing import List, Optional

import typer

from .common import app, fail, first_line, load_pipeline


@app.command("model-card")
def model_card_cmd(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    reports: List[Path] = typer.Option(
        [], "--report", exists=True, dir_okay=False,
        help="A report JSON: evaluate-tagger/-ner/-textcat/-lm's, train --report-dir's training.json, a speed report (repeatable)",
    ),
    output: Optional[Path] = typer.Option(None, help="Where to write it (default: MODEL/README.md, which `spacy package` uses)"),
    name: Optional[str] = typer.Option(None, help="The package's name, e.g. my_ner (default: meta.json's)"),
    version: Optional[str] = typer.Option(None, help="The package's version, e.g. 1.0.0 (default: meta.json's)"),
    licence: Optional[str] = typer.Option(None, "--license", help="The pipeline's licence, e.g. CC-BY-4.0 (default: meta.json's)"),
    description: Optional[str] = typer.Option(None, help="One paragraph on what it is (default: meta.json's)"),
    intended_use: str = typer.Option("", help="What the pipeline is for (default: a sentence naming its task and training data)"),
    limits: str = typer.Option("", help="Where it should not be trusted (default: a caution about other text and tokenization)"),
) -> None:
    """Write a pipeline's model card: its components and labels, scores with their datasets and
    splits, training data, speed, licence, intended use, limits and how to install it. In the
    pipeline's folder (the default) it becomes the package's README: `spacy package MODEL DIR
    --build wheel` puts it in the package, pip shows it and push-to-hub shows it on the Hub.
    --name, --version, --license and --description are also written to MODEL/meta.json, where
    `spacy package` reads them."""
    import srsly

    from ..evaluation.model_card import DEFAULT_LIMITS, write_model_card

    nlp = load_pipeline(model)
    given = {"name": name, "version": version, "license": licence, "description": description}
    given = {key: value for key, value in given.items() if value is not None}
    if given:
        nlp.meta.update(given)
        srsly.write_json(model / "meta.json", {**srsly.read_json(model / "meta.json"), **given})
    try:
        path = write_model_card(nlp, output or model / "README.md", reports, intended_use=intended_use, limits=limits or DEFAULT_LIMITS)
    except (ValueError, KeyError, TypeError) as err:  # a report that is not one of ours
        fail(f"cannot read the reports ({type(err).__name__}: {first_line(err)})")
    typer.echo(f"model card -> {path}")
    if path.resolve() == (model / "README.md").resolve():
        typer.echo(f"`spacy package {model} DIR --build wheel` puts it in the package")


@app.command("push-to-hub")
def push_to_hub_cmd(
    wheel: Path = typer.Argument(..., help="The package's wheel, from `spacy package PIPELINE DIR --build wheel`"),
    repo_id: Optional[str] = typer.Option(None, help="OWNER/NAME of the Hub model repository (default: your user and the package's name)"),
    private: bool = typer.Option(False, help="Create the repository as private"),
    message: str = typer.Option("Upload spaCy pipeline", help="Commit message"),
) -> None:
    """Upload a pipeline package's wheel to a Hugging Face Hub model repository (created if
    needed), with its README (the model card) and meta.json; log in first with `hf auth login`
    (or set HF_TOKEN). Then: pip install https://huggingface.co/OWNER/NAME/resolve/main/WHEEL."""
    from ..hub import push_to_hub

    try:
        url = push_to_hub(wheel, repo_id, private=private, commit_message=message)
    except ValueError as err:
        fail(str(err))
    except OSError as err:  # the hub client's errors (no token, no network, no permission)
        fail(f"cannot push to the Hugging Face Hub: {type(err).__name__}: {first_line(err)}")
    typer.echo(f"{wheel.name} -> {url}")


@app.command("export-encoder")
def export_encoder_cmd(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline folder"),
    output_dir: Path = typer.Argument(..., help="Folder to write the Hugging Face model and tokenizer to"),
    component: Optional[str] = typer.Option(None, help="The component, when several have a Transformer encoder"),
) -> None:
    """Write a fine-tuned Transformer encoder (a component whose encoder is
    spacy_rnn.TransformerEncoder.v1) in the Hugging Face format: AutoModel.from_pretrained and
    AutoTokenizer.from_pretrained read the folder."""
    from ..hub import export_encoder

    nlp = load_pipeline(model)
    try:
        name = export_encoder(nlp, output_dir, component)
    except ValueError as err:
        fail(f"{model}: {err}")
    typer.echo(f"{name}'s Transformer -> {output_dir}")
