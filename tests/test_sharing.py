"""Sharing a trained pipeline: its model card becomes the package's README, the package's wheel
goes to a Hugging Face Hub repository (checked up to the network call), and a fine-tuned
Transformer encoder is exported in the Hugging Face format."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import spacy
import torch
from typer.testing import CliRunner

from spacy_rnn.cli import app

from helpers import ROOT, tagged_examples, train

runner = CliRunner()


@pytest.fixture(scope="module")
def ner_pipeline(trained_ner_nlp, tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "model-best"
    trained_ner_nlp.to_disk(path)
    return path


def test_the_model_card_has_labels_scores_data_licence_use_limits_and_speed(ner_pipeline):
    reports = [ROOT / "reports" / "ner" / name for name in ("seqeval.json", "training.json", "speed.json")]
    args = ["model-card", str(ner_pipeline), "--name", "my_ner", "--version", "1.2.0", "--license", "CC-BY-4.0",
            "--intended-use", "Finding people in my notes."]
    result = runner.invoke(app, args + [arg for report in reports for arg in ("--report", str(report))])
    assert result.exit_code == 0, result.output
    card = (ner_pipeline / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# en_my_ner 1.2.0\n")
    assert "  - labels (3): LOC, ORG, PER" in card and "`torch_ner`, encoder `spacy_rnn.RNNEncoder.v1`" in card
    assert "| conll2003 | test | f1 | 90.50 | seqeval.json |" in card
    assert "- evaluated on conll2003: dev 216 docs, test 231 docs (seqeval.json)" in card
    assert "| licence | CC-BY-4.0 |" in card and "Finding people in my notes." in card and "## Limits" in card
    assert "39,658 words per second" in card and 'spacy.load("en_my_ner")' in card
    meta = json.loads((ner_pipeline / "meta.json").read_text(encoding="utf-8"))
    assert (meta["name"], meta["version"], meta["license"]) == ("my_ner", "1.2.0", "CC-BY-4.0")


@pytest.fixture(scope="module")
def wheel(trained_ner_nlp, tmp_path_factory):
    """The wheel `spacy package --build wheel` builds of a pipeline with its model card."""
    pipeline, packages = tmp_path_factory.mktemp("carded") / "model-best", tmp_path_factory.mktemp("packages")
    trained_ner_nlp.to_disk(pipeline)
    assert runner.invoke(app, ["model-card", str(pipeline), "--name", "card_ner", "--version", "0.0.1"]).exit_code == 0
    command = [sys.executable, "-m", "spacy", "package", str(pipeline), str(packages), "--build", "wheel", "--force"]
    subprocess.run(command, check=True, capture_output=True)
    return packages / "en_card_ner-0.0.1" / "dist" / "en_card_ner-0.0.1-py3-none-any.whl"


def test_spacy_package_builds_a_wheel_with_the_model_card_as_its_readme(wheel):
    """`spacy package --build wheel` works from [dev] (it needs `build`), and takes the card."""
    with zipfile.ZipFile(wheel) as archive:
        readme = archive.read("en_card_ner/en_card_ner-0.0.1/README.md").decode("utf-8")
        metadata = archive.read("en_card_ner-0.0.1.dist-info/METADATA").decode("utf-8")
    assert readme.startswith("# en_card_ner 0.0.1\n") and "## Components and labels" in readme
    assert "# en_card_ner 0.0.1" in metadata  # pip's description of the package


def test_push_to_hub_uploads_the_wheel_card_and_meta_to_the_named_repository(wheel, monkeypatch):
    """Everything up to the network call: huggingface_hub's repository creation and upload are replaced."""
    import huggingface_hub

    calls = {}

    def create_repo(self, repo_id, **options):
        calls["create_repo"] = (repo_id, options)

    def upload_folder(self, *, repo_id, folder_path, **options):
        calls["upload_folder"] = repo_id
        calls["files"] = {path.name: path.read_bytes() for path in Path(folder_path).iterdir()}

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub.HfApi, "whoami", lambda self: {"name": "someone"})
    result = runner.invoke(app, ["push-to-hub", str(wheel)])
    assert result.exit_code == 0, result.output
    assert calls["create_repo"] == ("someone/en_card_ner", {"private": False, "exist_ok": True})
    assert calls["upload_folder"] == "someone/en_card_ner" and "someone/en_card_ner" in result.output
    assert set(calls["files"]) == {"README.md", "meta.json", wheel.name}
    assert calls["files"][wheel.name] == wheel.read_bytes()
    readme = calls["files"]["README.md"].decode("utf-8")
    assert readme.startswith('---\nlibrary_name: spacy\ntags:\n- spacy\n- spacy-rnn\n- token-classification\nlanguage:\n- "en"\n---\n')
    assert "# en_card_ner 0.0.1" in readme
    assert runner.invoke(app, ["push-to-hub", str(wheel), "--repo-id", "team/ner", "--private"]).exit_code == 0
    assert calls["create_repo"] == ("team/ner", {"private": True, "exist_ok": True})


def test_push_to_hub_refuses_a_file_that_is_not_a_package_wheel(tmp_path):
    (tmp_path / "model.zip").write_bytes(b"")
    result = runner.invoke(app, ["push-to-hub", str(tmp_path / "model.zip")])
    assert result.exit_code == 1 and "not a wheel file; build one with `spacy package" in result.output


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    """A tagger on a tiny random BERT, fine-tuned a few steps, saved; and the BERT it started from."""
    from spacy_rnn.models.transformer import save_random_bert
    from helpers import TAGGED_SENTENCES

    bert = save_random_bert(tmp_path_factory.mktemp("bert"), [w for text, *_ in TAGGED_SENTENCES for w in text.split()])
    nlp = spacy.blank("en")
    encoder = {"@architectures": "spacy_rnn.TransformerEncoder.v1", "transformer": str(bert), "window_size": 12, "window_context": 2}
    nlp.add_pipe("torch_tagger", name="tagger", config={"model": {"encoder": encoder}, "max_batch_tokens": 64})
    train(nlp, tagged_examples(nlp), n_iter=4)
    path = tmp_path_factory.mktemp("fine_tuned") / "model-best"
    nlp.to_disk(path)
    return path, bert


def test_export_encoder_writes_the_fine_tuned_transformer_that_automodel_reads(fine_tuned, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from spacy_rnn.layers import get_torch_net

    pipeline, bert = fine_tuned
    result = runner.invoke(app, ["export-encoder", str(pipeline), str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    tokenizer, original_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf"), AutoTokenizer.from_pretrained(bert)
    text = "Anna gave Tom a small gift ."
    assert tokenizer(text)["input_ids"] == original_tokenizer(text)["input_ids"]
    pieces = torch.tensor([tokenizer(text)["input_ids"]])
    fine_tuned_net = get_torch_net(spacy.load(pipeline).get_pipe("tagger").model).encoder.transformer.eval()
    with torch.no_grad():
        exported = AutoModel.from_pretrained(tmp_path / "hf").eval()(input_ids=pieces).last_hidden_state
        expected = fine_tuned_net(input_ids=pieces).last_hidden_state
        initial = AutoModel.from_pretrained(bert).eval()(input_ids=pieces).last_hidden_state
    assert torch.allclose(exported, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(exported, initial, atol=1e-3)  # the fine-tuned weights, not the initial ones


def test_export_encoder_refuses_a_pipeline_without_a_transformer_encoder(ner_pipeline, tmp_path):
    result = runner.invoke(app, ["export-encoder", str(ner_pipeline), str(tmp_path / "hf")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1
    assert "no component has a Transformer encoder (spacy_rnn.TransformerEncoder.v1); the pipeline has ner (spacy_rnn.RNNEncoder.v1)" in lines[0]
