"""Reports are named after the user's data: evaluate-* name the dataset after the gold file's
folder unless --corpus names it (the project names its benchmarks explicitly, so its report keys
stay those the lab reads), and a training report is titled after the run's folder or --name."""
import json

import pytest
import srsly
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_rnn.cli import app

from helpers import ROOT, entity_examples, project_scripts, tagged_examples, textcat_examples

runner = CliRunner()
EVALUATED = {
    "evaluate-tagger": ("trained_tagger_nlp", tagged_examples, "accuracy.json", "mydata.test.upos_acc"),
    "evaluate-ner": ("trained_ner_nlp", entity_examples, "seqeval.json", "mydata.test.f1"),
    "evaluate-textcat": ("trained_textcat_nlp", textcat_examples, "textcat.json", "mydata.test.accuracy"),
}


@pytest.mark.parametrize("command", list(EVALUATED))
def test_the_dataset_is_named_after_the_gold_files_folder_or_corpus(command, request, tmp_path):
    fixture, examples, report, key = EVALUATED[command]
    nlp = request.getfixturevalue(fixture)
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "corpus" / "mydata").mkdir(parents=True)
    gold = tmp_path / "corpus" / "mydata" / "test.spacy"
    DocBin(docs=[eg.reference for eg in examples(nlp)]).to_disk(gold)
    args = [command, str(tmp_path / "model"), "--split", f"test={gold}", "--output-dir", str(tmp_path / "report")]
    assert runner.invoke(app, args).exit_code == 0
    written = json.loads((tmp_path / "report" / report).read_text(encoding="utf-8"))
    assert written["corpus"] == "mydata" and key in written["scores"]
    assert "on mydata" in (tmp_path / "report" / report.replace(".json", ".md")).read_text(encoding="utf-8")
    assert runner.invoke(app, args + ["--corpus", "reviews"]).exit_code == 0
    written = json.loads((tmp_path / "report" / report).read_text(encoding="utf-8"))
    assert key.replace("mydata", "reviews") in written["scores"]


# The datasets each evaluation of the project names, so the committed reports' keys stay the
# ones the lab's core report and comparison read ("ud_ewt.{split}.upos_acc", "conll2003.{split}.f1").
PROJECT_DATASETS = {"evaluate-tagger": "ud_ewt", "evaluate-ner": "conll2003"}


def test_the_project_names_its_benchmark_datasets():
    commands = srsly.read_yaml(ROOT / "project.yml")["commands"]
    evaluations = [
        (command["name"], script) for command in commands for script in project_scripts(command["name"])
        if script[:3] == ["python", "-m", "spacy_rnn"] and script[3].startswith("evaluate-") and script[3] != "evaluate-lm"
    ]
    assert len(evaluations) >= 30
    for name, script in evaluations:
        corpus = script[script.index("--corpus") + 1]
        if name.startswith("custom-"):  # the user's own corpus, named by the custom_name var
            assert corpus == "${vars.custom_name}", name
            continue
        assert corpus == PROJECT_DATASETS.get(script[3], corpus) and corpus in ("ud_ewt", "conll2003", "sst2", "sst5", "imdb"), name


def test_the_training_report_is_titled_after_the_run(trained_tagger_nlp, tmp_path):
    from spacy_rnn.evaluation.training_report import write_training_report

    run = tmp_path / "training" / "my_tagger"
    run.mkdir(parents=True)
    for checkpoint in ("model-best", "model-last"):
        trained_tagger_nlp.to_disk(run / checkpoint)
    log = [{"epoch": 0, "step": step, "losses": {"tagger": 1.0 / (step + 1)}, "scores": {"pos_acc": 50.0 + step}, "score": 0.5}
           for step in (0, 10)]
    srsly.write_jsonl(run / "training_log.jsonl", log)
    args = ("configs/pos_bilstm.cfg", run, run / "training_log.jsonl", 60.0, {})
    write_training_report(*args, tmp_path / "report")
    markdown = (tmp_path / "report" / "training.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Training: my_tagger\n") and "- config: configs/pos_bilstm.cfg" in markdown
    write_training_report(*args, tmp_path / "named", name="Tagger for my reviews")
    assert json.loads((tmp_path / "named" / "training.json").read_text(encoding="utf-8"))["name"] == "Tagger for my reviews"
