"""comparison-report builds from fixture result folders: means and sd over the runs found, "not
run" for rows without results, parameters and size from a saved pipeline, published figures."""
import json

import numpy
import spacy
import srsly
from spacy.vectors import Vectors
from typer.testing import CliRunner

from spacy_rnn_lab.cli import app
from spacy_rnn.evaluation.training_report import disk_size, parameters
from spacy_rnn_lab.comparison import _parameter_count, comparison_report, speed_axis_scale
from spacy_rnn.layers import get_torch_net

from helpers import make_ner_nlp, train_ner

MACHINE = {"processor": "Test CPU", "cpu_count": 2, "device": "cpu", "platform": "linux", "torch": "2", "torch_threads": 1}


def write_run(folder, dev_f1, test_f1, seconds, speed=None, seed=None, recorded_seed=None):
    """seed: a --system.seed override; recorded_seed: the seed training.json records."""
    srsly.write_json(folder / "seqeval.json", {"model": str(folder), "scores": {"conll2003.dev.f1": dev_f1, "conll2003.test.f1": test_f1}})
    overrides = {} if seed is None else {"system.seed": seed}
    training = {"train_seconds": seconds, "machine": MACHINE, "overrides": overrides}
    if recorded_seed is not None:
        training["seed"] = recorded_seed
    srsly.write_json(folder / "training.json", training)
    if speed is not None:
        srsly.write_json(folder / "speed.json", {
            "speed": {"words_per_second": {"ours": speed, "peer": 1000}, "one_thread": {"ours_threads": {"torch_threads": 1}}},
            "memory": {"n_chars": 1_000_000, "peak_rss_mib": 812.5, "rss_after_load_mib": 400.0},
            "machine": MACHINE,
        })


def make_spec(tmp_path):
    """A BiLSTM-CRF row with two runs of three listed, a Transformer row with one run (no model
    folder kept) and a row with nothing run."""
    model = tmp_path / "model"
    train_ner(make_ner_nlp()).to_disk(model)
    for name in ("bilstm0", "bilstm1", "finetune0"):
        (tmp_path / name).mkdir()
    write_run(tmp_path / "bilstm0", 91.0, 90.0, 600, speed=25000)
    write_run(tmp_path / "bilstm1", 93.0, 91.0, 1200, seed=1)
    write_run(tmp_path / "finetune0", 94.0, 92.0, 300, seed=5, recorded_seed=2)
    run = lambda name: {"model": str(model if name.startswith("bilstm") else tmp_path / "gone"), "reports": str(tmp_path / name)}  # noqa: E731
    return {"rows": [
        {"task": "ner", "variant": "BiLSTM-CRF", "family": "BiLSTM", "runs": [run("bilstm0"), run("bilstm1"), run("bilstm2")]},
        {"task": "ner", "variant": "MiniLM fine-tuned", "family": "Transformer fine-tuned", "runs": [run("finetune0")]},
        {"task": "ner", "variant": "MiniLM frozen", "family": "Transformer frozen", "runs": [run("frozen0")]},
    ]}


def test_rows_average_the_runs_found_and_say_what_did_not_run(tmp_path):
    bilstm, finetune, frozen = comparison_report(make_spec(tmp_path))["rows"]
    assert bilstm["scores"]["dev"] == {"mean": 92.0, "sd": 1.41, "n": 2}
    assert bilstm["scores"]["test"] == {"mean": 90.5, "sd": 0.71, "n": 2}
    assert bilstm["n_runs_listed"] == 3 and len(bilstm["runs"]) == 2
    assert bilstm["train_minutes"]["mean"] == 15.0
    assert bilstm["machines"] == ["Test CPU (2 cores)"]
    assert bilstm["cpu_speed"]["words_per_second"] == 25000 and bilstm["cpu_speed"]["torch_threads"] == 1
    assert bilstm["memory"]["peak_rss_mib"] == 812.5
    assert finetune["scores"]["test"] == {"mean": 92.0, "sd": None, "n": 1}
    assert "parameters" not in finetune and "cpu_speed" not in finetune
    assert [run["seed"] for run in finetune["per_run"]] == [2]  # the recorded seed wins
    assert "scores" not in frozen and frozen["runs"] == []
    assert [(run["seed"], run["dev"], run["test"], run["train_minutes"]) for run in bilstm["per_run"]] == [(None, 91.0, 90.0, 10.0), (1, 93.0, 91.0, 20.0)]


def test_parameters_and_size_come_from_the_saved_pipeline(tmp_path):
    nlp = train_ner(make_ner_nlp())
    nlp.to_disk(tmp_path / "model")
    net = get_torch_net(nlp.get_pipe("ner").model)
    expected = sum(p.numel() for p in net.parameters())
    assert parameters(tmp_path / "model") == {"total": expected, "trained": expected}


def test_parameters_come_from_a_later_seed_when_the_first_model_is_gone(tmp_path):
    spec = make_spec(tmp_path)
    bilstm = spec["rows"][0]
    model = bilstm["runs"][0]["model"]
    bilstm["runs"][0]["model"] = str(tmp_path / "gone")
    row = comparison_report(spec)["rows"][0]
    assert row["model"] == model
    assert row["parameters"] == parameters(model)


def test_parameters_recorded_at_training_need_no_model_folder(tmp_path):
    spec = make_spec(tmp_path)
    training = srsly.read_json(tmp_path / "finetune0" / "training.json")
    training.update(model_best="training/finetune/seed0/model-best", parameters={"total": 22_713_090, "trained": 22_713_090},
                    size={"mib": 87.4, "vectors_mib": 0.0})
    srsly.write_json(tmp_path / "finetune0" / "training.json", training)
    finetune = comparison_report(spec)["rows"][1]
    assert finetune["model"] == "training/finetune/seed0/model-best"
    assert finetune["parameters"] == {"total": 22_713_090, "trained": 22_713_090}
    assert finetune["size"] == {"mib": 87.4, "vectors_mib": 0.0}


def test_parameter_counts_show_in_millions_and_a_tiny_head_exactly():
    assert _parameter_count(22_713_090) == "22.71M"
    assert _parameter_count(774) == "774"  # a frozen encoder's head would read "0.00M"


def test_size_on_disk_gives_the_vectors_table_apart(tmp_path):
    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(data=numpy.zeros((1024, 256), dtype="float32"))  # 1 MiB
    nlp.to_disk(tmp_path / "model")
    size = disk_size(tmp_path / "model")
    assert size["vectors_mib"] == 1.0
    assert 1.0 <= size["mib"] < 1.5


def test_command_writes_markdown_json_and_chart(tmp_path):
    spec = tmp_path / "comparison.yml"
    srsly.write_yaml(spec, make_spec(tmp_path))
    output = tmp_path / "report"
    result = CliRunner().invoke(app, ["comparison-report", "--spec", str(spec), "--output-dir", str(output)])
    assert result.exit_code == 0, result.output
    markdown = (output / "README.md").read_text()
    assert "| BiLSTM-CRF | BiLSTM | 2 of 3 | 92.00 ± 1.41 | 90.50 ± 0.71 |" in markdown
    assert "| MiniLM fine-tuned | Transformer fine-tuned | 1 of 1 | 94.00 | 92.00 | model not found |" in markdown
    assert "| MiniLM frozen | Transformer frozen | 0 of 1 | not run | not run |" in markdown
    assert f"| BiLSTM-CRF | 1 | 93.00 | 91.00 | 20.0 min | `{tmp_path / 'bilstm1'}` |" in markdown  # one line per run
    assert "BERT-base, fine-tuned 92.4 (Devlin et al. 2019)" in markdown
    assert "BiLSTM-CRF 90.94 (Lample et al. 2016)" in markdown
    assert "uncased" in markdown and "6 layers" in markdown
    assert "![ner](ner.png)" in markdown and "## POS" not in markdown
    assert (output / "ner.png").read_bytes()[:4] == b"\x89PNG"
    assert not (output / "pos.png").exists()
    rows = json.loads((output / "comparison.json").read_text())["rows"]
    assert [row.get("scores", {}).get("test", {}).get("n") for row in rows] == [2, 1, None]


def test_speed_axis_is_logarithmic_only_over_more_than_a_decade():
    assert speed_axis_scale([756, 822, 39_091]) == "log"
    assert speed_axis_scale([1_271, 1_300, 1_448]) == "linear"
    assert speed_axis_scale([]) == "linear"


def test_command_refuses_an_unknown_task(tmp_path):
    spec = tmp_path / "comparison.yml"
    srsly.write_yaml(spec, {"rows": [{"task": "chunking", "variant": "x", "family": "BiLSTM", "runs": [{"model": "m", "reports": "r"}]}]})
    result = CliRunner().invoke(app, ["comparison-report", "--spec", str(spec), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "task must be one of pos, ner, sst2, sst5" in result.output
