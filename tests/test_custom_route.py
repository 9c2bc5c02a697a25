"""A user's own corpus: the training budget derived from its size (spacy_rnn.training_budget),
`init-config` (a shipped config made the corpus's: paths, vectors, labels, budget), and the
project's `custom` workflow from column files to a calibrated, evaluated package."""
import json

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.util import load_config
from typer.testing import CliRunner
from weasel.cli.run import project_run

from helpers import ROOT, entity_examples, tagged_examples, textcat_examples
from spacy_rnn.cli import app
from spacy_rnn.corpus_config import config_for_corpus
from spacy_rnn.training_budget import MIN_STEPS, batch_words, budget_for

runner = CliRunner()
NER_CONFIG = ROOT / "configs" / "ner_bilstm_crf.cfg"
SHIPPED = {"max_steps": 8000, "eval_frequency": 500, "patience": 4000, "optimizer": {"learn_rate": {"warmup_steps": 200}}}


def test_a_small_corpus_gets_twenty_four_epochs_and_ten_evaluations():
    budget = budget_for(43_077, 1000, SHIPPED)  # the first 3,000 sentences of CoNLL-2003 train
    assert budget.steps_per_epoch == 44 and budget.eval_frequency == 110
    assert budget.max_steps == 1100  # 24 x 44 = 1,056, rounded up to an evaluation
    assert budget.patience == 440 and budget.warmup_steps == 110
    assert budget.overrides()["training.optimizer.learn_rate.total_steps"] == budget.max_steps


def test_a_tiny_corpus_gets_the_minimum_steps():
    budget = budget_for(500, 1000, SHIPPED)
    assert budget.max_steps == MIN_STEPS and budget.eval_frequency == 30 and budget.warmup_steps == 30


def test_a_large_corpus_gets_the_config_s_own_budget():
    budget = budget_for(2_000_000, 1000, SHIPPED)
    assert (budget.max_steps, budget.eval_frequency, budget.patience, budget.warmup_steps) == (8000, 500, 2000, 200)


def test_conll2003_train_gets_fewer_steps_than_its_tuned_config():
    budget = budget_for(203_621, 1000, SHIPPED)
    assert (budget.max_steps, budget.eval_frequency) == (4900, 490)


def test_no_early_stopping_and_no_step_limit_in_the_config_are_kept():
    budget = budget_for(43_077, 1000, {**SHIPPED, "patience": 0, "max_steps": 0})
    assert budget.patience == 0 and budget.max_steps == 1100


def test_a_constant_learning_rate_gets_no_warm_up_and_references_are_refused():
    assert budget_for(43_077, 1000, {**SHIPPED, "optimizer": {"learn_rate": 0.001}}).warmup_steps == 0
    with pytest.raises(ValueError, match="give --budget config"):
        budget_for(43_077, 1000, {**SHIPPED, "max_steps": "${vars.steps}"})


def test_init_config_sets_only_the_schedule_settings_the_config_has(ner_corpus, tmp_path):
    config = load_config(NER_CONFIG, interpolate=False)
    config["training"]["optimizer"]["learn_rate"] = 0.001  # constant: no warm-up, no end
    constant = tmp_path / "constant.cfg"
    config.to_disk(constant)
    made = config_for_corpus(constant, *ner_corpus)
    assert made["config"]["training"]["optimizer"]["learn_rate"] == 0.001
    assert made["config"]["training"]["max_steps"] == MIN_STEPS


def test_batch_size_is_read_from_a_number_or_a_schedule():
    assert batch_words({"batcher": {"size": 1000}}) == 1000
    assert batch_words({"batcher": {"size": {"@schedules": "compounding.v1", "start": 100, "stop": 1000}}}) == 1000
    with pytest.raises(ValueError, match="--budget config"):
        batch_words({"batcher": {"size": {"@schedules": "constant.v1", "rate": 3}}})


def write_docbin(docs, path):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


@pytest.fixture
def ner_corpus(tmp_path):
    docs = [example.reference for example in entity_examples(spacy.blank("en"))]
    return write_docbin(docs, tmp_path / "train.spacy"), write_docbin(docs[:3], tmp_path / "dev.spacy")


def test_init_config_sets_paths_vectors_and_the_budget(ner_corpus, tmp_path):
    train, dev = ner_corpus
    output = tmp_path / "custom" / "mine.cfg"
    result = runner.invoke(app, ["init-config", str(NER_CONFIG), str(output), "--train", str(train), "--dev", str(dev), "--vectors", ""])
    assert result.exit_code == 0, result.output
    assert "labels LOC, ORG, PER" in result.output and f"max_steps {MIN_STEPS}" in result.output
    text = output.read_text()
    assert text.startswith("# Made by `python -m spacy_rnn init-config`") and "# Rule: S = ceil(" in text
    config = load_config(output, interpolate=False)
    assert config["paths"]["train"] == str(train) and config["paths"]["dev"] == str(dev) and config["paths"]["vectors"] is None
    assert config["training"]["max_steps"] == config["training"]["optimizer"]["learn_rate"]["total_steps"] == MIN_STEPS
    assert config["components"]["ner"] == load_config(NER_CONFIG, interpolate=False)["components"]["ner"]


def test_init_config_keeps_the_budget_of_the_config_when_asked(ner_corpus):
    made = config_for_corpus(NER_CONFIG, *ner_corpus, budget="config")
    assert made["config"]["training"]["max_steps"] == 8000 and "budget" not in made["summary"]


def test_given_labels_must_cover_the_training_labels(ner_corpus):
    made = config_for_corpus(NER_CONFIG, *ner_corpus, labels=["PER", "LOC", "ORG", "MISC"])
    assert made["config"]["initialize"]["components"]["ner"]["labels"] == ["PER", "LOC", "ORG", "MISC"]
    with pytest.raises(ValueError, match="train.spacy has labels the given ones lack: ORG"):
        config_for_corpus(NER_CONFIG, *ner_corpus, labels=["PER", "LOC"])


def test_a_text_classifier_config_takes_the_corpus_s_classes(tmp_path):
    docs = [example.reference for example in textcat_examples(spacy.blank("en"))]
    train, dev = write_docbin(docs, tmp_path / "train.spacy"), write_docbin(docs, tmp_path / "dev.spacy")
    made = config_for_corpus(ROOT / "configs" / "sentiment_sst2.cfg", train, dev)
    assert made["config"]["initialize"]["components"]["textcat"]["labels"] == ["negative", "neutral", "positive"]


def test_a_tagger_takes_no_labels_option(tmp_path):
    docs = [example.reference for example in tagged_examples(spacy.blank("en"))]
    train = write_docbin(docs, tmp_path / "train.spacy")
    with pytest.raises(ValueError, match="a tagger reads its POS and TAG labels"):
        config_for_corpus(ROOT / "configs" / "pos_bilstm.cfg", train, train, labels=["NOUN"])


def test_a_corpus_without_the_component_s_annotation_is_refused(tmp_path):
    docs = [example.reference for example in tagged_examples(spacy.blank("en"))]
    train = write_docbin(docs, tmp_path / "train.spacy")
    result = runner.invoke(app, ["init-config", str(NER_CONFIG), str(tmp_path / "x.cfg"), "--train", str(train), "--dev", str(train)])
    assert result.exit_code == 1 and f"{train}: no TorchEntityRecognizer annotation" in result.output


def test_a_file_that_is_not_a_docbin_is_named(ner_corpus, tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("Anna B-PER\n")
    result = runner.invoke(app, ["init-config", str(NER_CONFIG), str(tmp_path / "x.cfg"), "--train", str(text), "--dev", str(ner_corpus[1])])
    assert result.exit_code == 1 and f"{text} is not a DocBin" in result.output and "convert the corpus first" in result.output


def test_spacy_debug_data_reads_the_written_config(tmp_path):
    from spacy.cli.debug_data import debug_data

    from test_configs import tiny_corpus

    corpus, output = tiny_corpus(NER_CONFIG, tmp_path), tmp_path / "mine.cfg"
    args = ["init-config", str(NER_CONFIG), str(output), "--train", str(corpus / "train.spacy"), "--dev", str(corpus / "dev.spacy"), "--vectors", ""]
    assert runner.invoke(app, args).exit_code == 0
    debug_data(output, silent=True)  # raises SystemExit on an error


COLUMNS = [
    "Anna B-PER\nSmith I-PER\nflew O\nto O\nParis B-LOC\n.\tO\n",
    "Google B-ORG\nhired O\nJohn B-PER\nLee I-PER\n",
    "Tom B-PER\nmet O\nAnna B-PER\nin O\nBerlin B-LOC\n",
]


def test_the_custom_workflow_goes_from_column_files_to_a_package(tmp_path, monkeypatch):
    """`spacy project run custom` on a user's three column files, training cut to a few steps."""
    import shutil

    shutil.copy(ROOT / "project.yml", tmp_path / "project.yml")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        (data / f"{split}.txt").write_text("\n".join(COLUMNS * 3).replace("\t", " "), encoding="utf8")
    monkeypatch.setenv("SPACY_CONFIG_OVERRIDES", "--training.max_steps=4 --training.eval_frequency=2")
    variables = {
        "vars.custom_name": "tweets", "vars.custom_train": str(data / "train.txt"), "vars.custom_dev": str(data / "dev.txt"),
        "vars.custom_test": str(data / "test.txt"), "vars.vector_rows": 2000, "vars.custom_labels": "PER,LOC,ORG,MISC",
    }
    project_run(tmp_path, "custom", capture=True, overrides=variables)
    config = load_config(tmp_path / "configs" / "custom" / "tweets.cfg", interpolate=False)
    assert config["training"]["max_steps"] == MIN_STEPS and config["initialize"]["components"]["ner"]["labels"] == ["PER", "LOC", "ORG", "MISC"]
    reports = tmp_path / "reports" / "tweets"
    evaluation = json.loads((reports / "evaluation.json").read_text())
    assert evaluation["corpus"] == "tweets" and {"tweets.dev.f1", "tweets.test.f1"} <= set(evaluation["scores"])
    assert (reports / "evaluation.md").read_text().startswith("# Entity scores (seqeval)")
    assert json.loads((reports / "training" / "training.json").read_text())["name"] == "tweets"
    temperature = json.loads((reports / "temperature.json").read_text())["components"]["ner"]["fits"]["temperature"]
    calibrated = spacy.load(tmp_path / "training" / "tweets" / "calibrated")
    assert calibrated.get_pipe("ner").cfg["temperature"] == pytest.approx(temperature["after"]["temperature"])
    assert set(json.loads((reports / "ner_calibration.json").read_text())["splits"]) == {"dev", "test"}
    assert "tweets" in (tmp_path / "training" / "tweets" / "calibrated" / "README.md").read_text()
    assert list((tmp_path / "packages" / "en_tweets-0.1.0" / "dist").glob("en_tweets-0.1.0.tar.gz"))


def test_every_documented_task_and_format_names_a_command():
    """custom-convert runs convert-${custom_format}, custom-evaluate evaluate-${custom_task} and
    calibration-report --task ${custom_task}: each value project.yml documents must exist."""
    import srsly
    import typer

    from spacy_rnn.evaluation.calibration import TASKS

    commands = {command.name for command in typer.main.get_command(app).commands.values()}
    variables = srsly.read_yaml(ROOT / "project.yml")["vars"]
    assert f"convert-{variables['custom_format']}" in commands and f"evaluate-{variables['custom_task']}" in commands
    for converter in ("columns", "conllu", "jsonl", "hf-ner", "hf-tagging", "hf-text"):
        assert f"convert-{converter}" in commands
    for task in ("ner", "tagger", "textcat"):
        assert f"evaluate-{task}" in commands and task in TASKS


def test_the_lab_s_route_writes_the_first_sentences_as_the_user_s_files(tmp_path):
    from spacy_rnn_lab.custom_route import user_files

    corpora = tmp_path / "conll2003"
    corpora.mkdir()
    (corpora / "eng.train").write_text("-DOCSTART- -X- O O\n\nA x x O\n\nB x x B-PER\nC x x O\n\nD x x O\n\n", encoding="utf8")
    for name in ("eng.testa", "eng.testb"):
        (corpora / name).write_text("E x x O\n\n", encoding="utf8")
    files = user_files(corpora, tmp_path / "assets", 2)
    assert files["train"].read_text() == "-DOCSTART- -X- O O\n\nA x x O\n\nB x x B-PER\nC x x O\n\n"
    assert files["dev"].read_text() == files["test"].read_text() == "E x x O\n\n"
    with pytest.raises(ValueError, match="has 3 sentences, fewer than 4"):
        user_files(corpora, tmp_path / "assets", 4)


def test_the_lab_s_route_report_says_whether_each_target_was_met():
    from spacy_rnn_lab.custom_route import custom_route_markdown

    def route(seed, train_seconds, dev_f1):
        results = {
            "dev_f1": dev_f1, "test_f1": dev_f1 - 4, "temperature": 1.0, "dev_ece_before": 1.0, "dev_ece_after": 0.9,
            "test_ece_before": 2.0, "test_ece_after": 1.9, "best_step": 1100, "last_evaluated_step": 1100,
            "budget": {"max_steps": 1100, "eval_frequency": 110, "patience": 440, "warmup_steps": 110},
        }
        steps = [{"step": "custom-train", "seconds": train_seconds}, {"step": "custom-package", "seconds": 600.0}]
        return {"seed": seed, "clone_seconds": 0.5, "steps": steps, "load_before": 1.0, "load_after": 1.0, "results": results}

    routes = [route(2, 420.0, 87.0), route(0, 590.0, 84.5)]
    report = {
        "sentences": 3000, "routes": routes, "minutes_to_report": [7.01, 9.84], "targets": {"minutes": 10.0, "dev_f1": 85.0},
        "mean": {key: 1.0 for key in ("dev_f1", "test_f1", "dev_ece_before", "dev_ece_after", "test_ece_before", "test_ece_after")},
        "cpu": {"model": "CPU", "flags": {"avx2": True}, "torch_capability": "AVX2", "quantized_engine": "x86"},
        "machine": {"cpu_count": 2, "torch": "2.13"},
    }
    markdown = custom_route_markdown(report, "python -m spacy_rnn_lab custom-route")
    assert "| **to the seqeval report (min)** | **7.01** | **9.84** |" in markdown  # packaging comes after the report
    assert "≤ 10 min: **met** (slowest run 9.84 min)" in markdown and "dev F1 ≥ 85 in every run: **missed**" in markdown
