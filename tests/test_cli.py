"""The command line: help is instant and errors are clear, with a non-zero exit."""
import subprocess
import sys
import time

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app

from conftest import ROOT

runner = CliRunner()
COMMANDS = [
    "fetch-corpus",
    "convert-conllu",
    "convert-hf-tagging",
    "convert-conll2003",
    "convert-hf-ner",
    "init-vectors",
    "train",
    "evaluate-tagger",
    "evaluate-ner",
    "evaluate-textcat",
    "benchmark-speed",
]


def test_help_does_not_import_torch_or_spacy():
    start = time.perf_counter()
    code = "import sys; from spacy_rnn.cli import app; print('torch' in sys.modules, 'spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_convert_conllu_checks_official_counts(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "mini.conllu"
    ok = runner.invoke(app, ["convert-conllu", str(fixture), str(tmp_path / "ok.spacy"), "--expect-sentences", "4"])
    assert ok.exit_code == 0 and "4 sentences" in ok.output
    bad = runner.invoke(app, ["convert-conllu", str(fixture), str(tmp_path / "bad.spacy"), "--expect-sentences", "5"])
    assert bad.exit_code == 1 and "expected 5 sentences, found 4" in bad.output


def test_convert_conllu_names_file_and_line_of_malformed_input(tmp_path):
    path = tmp_path / "broken.conllu"
    path.write_text("# text = Hi\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\n\n", encoding="utf8")
    result = runner.invoke(app, ["convert-conllu", str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "broken.conllu:2:" in result.output


def test_convert_hf_tagging_from_a_saved_dataset(tmp_path):
    features = Features(
        {"tokens": Sequence(Value("string")), "upos": Sequence(ClassLabel(names=["NOUN", "VERB", "PUNCT"]))}
    )
    Dataset.from_dict({"tokens": [["Birds", "sing", "."]], "upos": [[0, 1, 2]]}, features=features).save_to_disk(
        tmp_path / "ds"
    )
    result = runner.invoke(app, ["convert-hf-tagging", str(tmp_path / "ds"), str(tmp_path / "out.spacy")])
    assert result.exit_code == 0, result.output
    (doc,) = DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab())
    assert [(t.text, t.pos_) for t in doc] == [("Birds", "NOUN"), ("sing", "VERB"), (".", "PUNCT")]


def test_init_vectors_reads_a_glove_text_file(tmp_path):
    glove = tmp_path / "tiny.txt"
    glove.write_text("cat 0.1 0.2 0.3\ndog 0.4 0.5 0.6\n", encoding="utf8")
    result = runner.invoke(app, ["init-vectors", str(tmp_path / "vectors"), "--input", str(glove)])
    assert result.exit_code == 0, result.output
    assert "2 vectors of width 3" in result.output


def test_init_vectors_reports_a_missing_file(tmp_path):
    result = runner.invoke(app, ["init-vectors", str(tmp_path / "v"), "--input", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1 and "nope.txt" in result.output
