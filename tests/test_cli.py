"""The command line: help is instant and errors are clear, with a non-zero exit."""
import subprocess
import sys
import time

import pytest
import srsly
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora.counts import COUNTS
from spacy_rnn_lab.cli import app as lab_app

from helpers import (
    ROOT,
    entity_examples,
    make_ner_nlp,
    make_tagger_nlp,
    make_textcat_nlp,
    project_scripts,
    tagged_examples,
    textcat_examples,
)

runner = CliRunner()
# The user's commands (python -m spacy_rnn), in the order --help lists them.
COMMANDS = [
    "fetch-corpus",
    "convert-conllu",
    "convert-conll2003",
    "convert-sst",
    "convert-sst2",
    "convert-imdb",
    "convert-lm-text",
    "convert-columns",
    "convert-jsonl",
    "convert-hf-tagging",
    "convert-hf-ner",
    "convert-hf-text",
    "init-vectors",
    "compact-vectors",
    "compact-weights",
    "init-config",
    "train",
    "add-labels",
    "evaluate-tagger",
    "evaluate-ner",
    "evaluate-textcat",
    "kneser-ney",
    "train-lm",
    "evaluate-lm",
    "calibrate",
    "calibration-report",
    "model-card",
    "push-to-hub",
    "export-encoder",
    "prune-vectors",
    "demo",
    "annotate",
]
# The lab's commands (python -m spacy_rnn_lab): what measures the project rather than a user's data.
LAB_COMMANDS = [
    "benchmark-speed",
    "annotate-scaling",
    "ablate-ner",
    "ablate-lm",
    "vectors-curve",
    "core-report",
    "compact-vectors-report",
    "comparison-report",
    "continued-training",
    "custom-route",
    "diagnose-vanishing",
    "diagnose-exploding",
    "diagnose-long-range",
    "diagnose-gates",
    "diagnose-context",
    "diagnose-bidirectional",
    "diagnose-surprisal",
    "diagnostics-report",
    "check-gpu",
]


@pytest.mark.parametrize("module", ["spacy_rnn.cli", "spacy_rnn_lab.cli"])
def test_help_does_not_import_torch_or_spacy(module):
    start = time.perf_counter()
    code = f"import sys; from {module} import app; print('torch' in sys.modules, 'spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("module,commands", [("spacy_rnn", COMMANDS), ("spacy_rnn_lab", LAB_COMMANDS)])
def test_python_m_lists_every_command(module, commands):
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
    listed = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("│ ") and line[2] != " "]
    assert [name for name in listed if not name.startswith("-")] == commands


@pytest.mark.parametrize("cli,command", [(app, c) for c in COMMANDS] + [(lab_app, c) for c in LAB_COMMANDS])
def test_every_command_has_help(cli, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_convert_conllu_checks_official_counts(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "mini.conllu"
    ok = runner.invoke(app, ["convert-conllu", str(fixture), str(tmp_path / "ok.spacy"), "--expect-sentences", "4"])
    assert ok.exit_code == 0 and "4 sentences" in ok.output
    bad = runner.invoke(app, ["convert-conllu", str(fixture), str(tmp_path / "bad.spacy"), "--expect-sentences", "5"])
    assert bad.exit_code == 1 and "expected 5 sentences, found 4" in bad.output


def test_expect_counts_checks_a_published_entry(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "mini.conllu"
    args = ["convert-conllu", str(fixture), str(tmp_path / "out.spacy"), "--expect-counts"]
    unknown = runner.invoke(app, [*args, "ud_en_ewt/nope"])
    assert unknown.exit_code == 1 and "no published counts for 'ud_en_ewt/nope'" in unknown.output
    other_units = runner.invoke(app, [*args, "conll2003/dev"])
    assert other_units.exit_code == 1 and "does not count docs, entities" in other_units.output
    assert not (tmp_path / "out.spacy").exists()  # both failed before converting
    ewt = runner.invoke(app, [*args, "ud_en_ewt/dev"])
    assert ewt.exit_code == 1 and "expected 2,001 sentences, found 4" in ewt.output


def test_project_checks_every_converted_docbin_against_its_published_counts():
    """Every benchmark corpus (a user's own, custom-convert's, has no published counts)."""
    commands = srsly.read_yaml(ROOT / "project.yml")["commands"]
    checked = []
    for name in [command["name"] for command in commands if command["name"] != "custom-convert"]:
        for args in project_scripts(name):
            if args[:3] != ["python", "-m", "spacy_rnn"] or not args[3].startswith("convert-"):
                continue
            assert [arg for arg in args if arg.startswith("--expect")] == ["--expect-counts"], args
            entry = args[args.index("--expect-counts") + 1]
            assert args[5] == f"corpus/{entry}.spacy"
            checked.append(entry)
    assert sorted(checked) == sorted(set(COUNTS) - {"ptb/train"})


def test_convert_conllu_rejects_n_sents_0(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "mini.conllu"
    result = runner.invoke(app, ["convert-conllu", str(fixture), str(tmp_path / "out.spacy"), "--n-sents", "0"])
    assert result.exit_code == 1 and "--n-sents must be at least 1, got 0" in result.output
    assert not (tmp_path / "out.spacy").exists()


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


EVALUATED = {
    "evaluate-tagger": (make_tagger_nlp, tagged_examples, []),
    "evaluate-ner": (make_ner_nlp, entity_examples, []),
    "evaluate-textcat": (make_textcat_nlp, textcat_examples, ["--corpus", "toy"]),
}


@pytest.mark.parametrize("command", list(EVALUATED))
def test_evaluating_against_an_empty_gold_file_fails_with_a_message(command, tmp_path):
    """Scores of 0.00 from a file without documents would look like a result."""
    make_nlp, examples, options = EVALUATED[command]
    nlp = make_nlp()
    nlp.initialize(lambda: examples(nlp))
    nlp.to_disk(tmp_path / "model")
    DocBin().to_disk(tmp_path / "empty.spacy")
    args = [command, str(tmp_path / "model"), "--split", f"test={tmp_path / 'empty.spacy'}", "--output-dir", str(tmp_path)]
    result = runner.invoke(app, args + options)
    assert result.exit_code == 1 and "holds no documents" in result.output, result.output
