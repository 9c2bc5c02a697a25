"""The `spacy project` workflow end to end on the real corpus, shortened to a few steps.

The full run (`spacy project run all`, about 7 hours) is marked slow; CI runs the same commands with
SPACY_CONFIG_OVERRIDES cutting training to a handful of steps on a slice of the corpus.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import spacy
from weasel.cli.run import project_run

from spacy_rnn_lab.comparison import disk_size, parameters

from helpers import ROOT, SHARED_CORPORA

pytestmark = pytest.mark.skipif(
    not (SHARED_CORPORA / "ud_en_ewt").exists() or not (SHARED_CORPORA / "conll2003").exists(),
    reason="needs the corpus mirror ../shared/corpora",
)
SHORT_TRAINING = "--training.max_steps=3 --training.eval_frequency=2 --corpora.train.limit=20 --corpora.dev.limit=5"
# The vector steps store (and, for the MiniLM table, encode) only the first GloVe words.
FEW_VECTORS = {"vars.vector_rows": 5000}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project (project.yml + configs) that reads corpora from the mirror."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "project.yml", root / "project.yml")
    shutil.copytree(ROOT / "configs", root / "configs")
    return root


@pytest.fixture
def short_env(monkeypatch):
    monkeypatch.setenv("SPACY_RNN_CORPORA", str(SHARED_CORPORA))
    monkeypatch.setenv("SPACY_CONFIG_OVERRIDES", SHORT_TRAINING)


def test_train_workflow_fetches_converts_and_trains(project, short_env):
    project_run(project, "train", capture=True, overrides=FEW_VECTORS)
    for split in ("train", "dev", "test"):
        assert (project / "corpus" / "ud_en_ewt" / f"{split}.spacy").exists()
    training = json.loads((project / "reports" / "pos" / "training.json").read_text())
    assert training["last_evaluated_step"] == 2 and training["train_seconds"] > 0
    assert training["seed"] == 0  # configs/pos_bilstm.cfg's
    # measured on model-best, so the comparison report rebuilds where the model folder is gone
    assert training["parameters"] == parameters(project / "training" / "pos" / "model-best")
    assert training["size"] == disk_size(project / "training" / "pos" / "model-best")
    assert (project / "reports" / "pos" / "training_curves.png").stat().st_size > 1000
    log = [json.loads(line) for line in (project / "training" / "pos" / "training_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [0, 2]
    assert log[-1]["grad_norms"]["tagger"]["n_steps"] == 2 and log[-1]["grad_norms"]["tagger"]["clip"] == 5.0
    nlp = spacy.load(project / "training" / "pos" / "model-best")
    assert nlp.pipe_names == ["tagger"] and all(t.pos_ for t in nlp("A short test."))
    for split in ("train", "dev", "test"):
        assert (project / "corpus" / "conll2003" / f"{split}.spacy").exists()
    assert json.loads((project / "reports" / "ner" / "training.json").read_text())["last_evaluated_step"] == 2
    nlp = spacy.load(project / "training" / "ner" / "model-best")
    assert nlp.pipe_names == ["ner"] and all(t.ent_iob_ for t in nlp("Anna Smith flew to Paris."))


def test_ner_evaluate_step_writes_seqeval_reports(project, short_env):
    project_run(project, "evaluate-ner", capture=True)
    report = json.loads((project / "reports" / "ner" / "seqeval.json").read_text())
    for key in ("conll2003.dev.f1", "conll2003.test.f1", "conll2003.test.f1_strict", "conll2003.test.f1_macro"):
        assert 0 <= report["scores"][key] <= 100
    test = report["splits"]["test"]
    assert test["n_gold_entities"] == 5648
    assert {label: row["support"] for label, row in test["seqeval"]["strict"]["per_type"].items()} == {
        "LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617,
    }
    assert (project / "reports" / "ner" / "spacy_evaluate_test_raw_text.json").exists()


def test_evaluate_step_writes_accuracy_reports(project, short_env):
    project_run(project, "evaluate-pos", capture=True)
    report = json.loads((project / "reports" / "pos" / "accuracy.json").read_text())
    for key in ("ud_ewt.dev.upos_acc", "ud_ewt.test.upos_acc", "ud_ewt.test.xpos_acc", "ud_ewt.test.upos_acc.sentence_unit"):
        assert 0 <= report["scores"][key] <= 100
    assert report["splits"]["test"]["document"]["upos"]["n_tokens"] == 25094
    assert "NOUN" in report["splits"]["test"]["document"]["upos"]["per_label"]
    assert "| split | unit |" in (project / "reports" / "pos" / "accuracy.md").read_text()
    assert (project / "reports" / "pos" / "spacy_evaluate_test_raw_text.json").exists()


def test_benchmark_compares_with_the_peer_and_measures_memory(project, short_env):
    model = project / "training" / "pos" / "model-best"
    out = project / "bench"
    command = [
        sys.executable, "-m", "spacy_rnn_lab", "benchmark-speed", str(model), str(project / "corpus" / "ud_en_ewt" / "dev.spacy"),
        "--repeats", "1", "--memory-chars", "50000", "--all-cores-sentences", "0", "--output-dir", str(out),
    ]
    subprocess.run(command, check=True, capture_output=True, env=os.environ.copy())
    report = json.loads((out / "speed.json").read_text())
    speed = report["speed"]
    assert speed["peer_components"] == ["tok2vec", "tagger"]
    assert speed["speed_ratio"] == pytest.approx(speed["words_per_second"]["ours"] / speed["words_per_second"]["peer"], rel=0.01)
    assert report["memory"]["n_chars"] == 50000 and report["memory"]["n_tokens_annotated"] == report["memory"]["n_tokens"]
    assert report["machine"]["cpu_count"] >= 1


def test_corpus_step_fails_clearly_on_a_corrupted_mirror(project, short_env, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "ud_en_ewt"
    mirror.mkdir(parents=True)
    for name in ("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu", "LICENSE.txt"):
        (mirror / name).write_text("not the treebank\n")
    command = [sys.executable, "-m", "spacy_rnn", "fetch-corpus", "ud_en_ewt", "--dest", str(tmp_path / "assets"),
               "--mirror", str(tmp_path / "mirror")]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode == 1
    assert "sha256" in result.stderr and "en_ewt-ud-train.conllu" in result.stderr


SHORT_LM_TRAINING = (
    "--lm_training.max_minutes=0.02 --lm_training.max_epochs=1 --lm_training.log_every=5 "
    "--components.lm.model.embed_width=16 --components.lm.model.hidden_width=16"
)


@pytest.mark.skipif(not (SHARED_CORPORA / "ptb").exists(), reason="needs ../shared/corpora/ptb")
def test_lm_workflow_trains_evaluates_and_packages(project, monkeypatch):
    """corpus-ptb -> convert-ptb -> train-lm (cut to ~1 s) -> kneser-ney -> evaluate-lm -> package-lm,
    then the AWD-LSTM-regularised model: train-lm-awd (~1 s) -> evaluate-lm-awd."""
    monkeypatch.setenv("SPACY_RNN_CORPORA", str(SHARED_CORPORA))
    monkeypatch.setenv("SPACY_CONFIG_OVERRIDES", SHORT_LM_TRAINING)
    project_run(project, "lm", capture=True)
    training = json.loads((project / "reports" / "lm" / "training.json").read_text())
    assert training["stop_reason"] == "max_minutes" and training["vocabulary_size"] == 10000
    assert (project / "reports" / "lm" / "training_curves.png").stat().st_size > 1000
    report = json.loads((project / "reports" / "lm" / "perplexity.json").read_text())
    assert report["ptb.test.n_tokens"] == 82430 and report["ptb.valid.n_tokens"] == 73760
    assert 1 < report["ptb.test.perplexity"] < 10000
    assert "Kneser-Ney 5-gram" in (project / "reports" / "lm" / "perplexity.md").read_text()
    kneser_ney = json.loads((project / "reports" / "lm" / "kneser_ney.json").read_text())
    assert kneser_ney["scores"]["kn5.ptb.test.perplexity"] == pytest.approx(141.2, abs=0.5)
    spacy_scores = json.loads((project / "reports" / "lm" / "spacy_evaluate_test.json").read_text())
    assert spacy_scores["lm"]["lm_n_tokens"] == 82430 and spacy_scores["lm"]["lm_perplexity"] > 1  # --per-component
    nlp = spacy.load(project / "training" / "lm" / "model-best")
    doc = nlp("Every morning, my neighbor yelled at the <unk>.")
    assert doc[-2].text == "<unk>" and doc._.lm_n_tokens == 9
    assert list((project / "packages").glob("en_rnn_lm_ptb-*"))
    awd = json.loads((project / "reports" / "lm" / "awd" / "training.json").read_text())
    assert awd["config"].endswith("lm_ptb_awd.cfg") and awd["settings"]["asgd"]
    assert json.loads((project / "reports" / "lm" / "awd" / "perplexity.json").read_text())["ptb.test.n_tokens"] == 82430


@pytest.mark.slow
def test_full_workflow_reaches_the_targets(tmp_path, monkeypatch):
    """`spacy project run all` as a user runs it (about 7 hours on 2 CPU cores). The thresholds
    are on dev, a little under the committed runs' dev scores: the test split is scored once per
    final configuration, never used to pass a test."""
    monkeypatch.setenv("SPACY_RNN_CORPORA", str(SHARED_CORPORA))
    monkeypatch.delenv("SPACY_CONFIG_OVERRIDES", raising=False)
    shutil.copy(ROOT / "project.yml", tmp_path / "project.yml")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    project_run(tmp_path, "all", capture=True)
    accuracy = json.loads((tmp_path / "reports" / "pos" / "accuracy.json").read_text())
    assert accuracy["scores"]["ud_ewt.dev.upos_acc"] >= 95.5
    training = json.loads((tmp_path / "reports" / "pos" / "training.json").read_text())
    assert training["train_seconds"] <= 30 * 60
    seqeval = json.loads((tmp_path / "reports" / "ner" / "seqeval.json").read_text())
    assert seqeval["scores"]["conll2003.dev.f1"] >= 93.5
    training = json.loads((tmp_path / "reports" / "ner" / "training.json").read_text())
    assert training["train_seconds"] <= 45 * 60
    perplexity = json.loads((tmp_path / "reports" / "lm" / "perplexity.json").read_text())
    assert perplexity["ptb.valid.perplexity"] <= 100
    training = json.loads((tmp_path / "reports" / "lm" / "training.json").read_text())
    assert training["train_minutes"] <= 60
    for task, target in (("sst2", 86.0), ("sst5", 45.5), ("imdb", 90.0)):
        report = json.loads((tmp_path / "reports" / task / "textcat.json").read_text())
        assert report["scores"][f"{task}.dev.accuracy"] >= target, task
    training = json.loads((tmp_path / "reports" / "imdb" / "training.json").read_text())
    assert training["train_seconds"] <= 60 * 60
