"""Ablations: a config retrained without each of its parts, every variant with the same budget,
compared on dev only (`ablate-ner`, `ablate-lm`)."""
import json
import os
from pathlib import Path

from spacy import util

from spacy_rnn_lab.ablations import LM_ABLATIONS, NER_ABLATIONS, ablation_report, already_trained, run_ablations, write_ablation_report

from lm_helpers import CORPUS

ROOT = Path(__file__).resolve().parents[1]


def config_value(config, dotted):
    section = config
    for key in dotted.split("."):
        section = section[key]
    return section


def tiny_awd_config(tmp_path: Path) -> Path:
    """configs/lm_ptb_awd.cfg shrunk to 8 units and a few sentences, saved in tmp_path."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 4) + "\n")
    tiny = {
        "paths.train": str(corpus), "paths.dev": str(corpus),
        "components.lm.model.embed_width": 8, "components.lm.model.hidden_width": 8,
        "components.lm.model.chunk_size": 5, "lm_training.batch_size": 2, "lm_training.bptt": 5,
        "lm_training.mixed_precision": "none",
    }
    config = tmp_path / "tiny.cfg"
    util.load_config(ROOT / "configs/lm_ptb_awd.cfg", overrides=tiny, interpolate=False).to_disk(config)
    return config


def test_each_lm_ablation_switches_off_regularisers_that_the_awd_config_switches_on():
    config = util.load_config(ROOT / "configs/lm_ptb_awd.cfg", interpolate=False)
    for name, overrides in LM_ABLATIONS.variants.items():
        for key, value in overrides.items():
            assert config_value(config, key), f"{name}: {key} is already off in the AWD config"
            assert not value
    single = [name for name in LM_ABLATIONS.variants if name.startswith("no_")]
    assert set(LM_ABLATIONS.variants["none"]) == {key for name in single for key in LM_ABLATIONS.variants[name]}
    assert LM_ABLATIONS.variants["full"] == {}


def test_each_ner_ablation_names_a_setting_of_the_ner_config():
    config = util.load_config(ROOT / "configs/ner_bilstm_crf.cfg", interpolate=False)
    for overrides in NER_ABLATIONS.variants.values():
        for key in overrides:
            config_value(config, key)


def test_the_report_compares_dev_scores_with_the_full_config_and_reads_no_test_set(tmp_path):
    for name, perplexity, minutes in [("full", 80.0, 30.0), ("no_asgd", 83.5, 29.9)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "training.json").write_text(json.dumps({"best_dev_perplexity": perplexity, "train_minutes": minutes}))
    report = ablation_report(LM_ABLATIONS, ["full", "no_asgd"], tmp_path)
    assert report["variants"]["no_asgd"]["dev"] == 83.5
    assert report["variants"]["no_asgd"]["change"] == 3.5
    assert report["higher_is_better"] is False
    write_ablation_report(report, tmp_path, Path("configs/lm_ptb_awd.cfg"), "30 minutes", 2)
    text = (tmp_path / "ablations.md").read_text()
    assert "| no_asgd | lm_training.asgd=false, lm_training.asgd_start_fraction=0.0 | 83.50 | +3.50 | 29.9 |" in text
    assert "30 minutes" in text and "lower is better" in text
    assert "test" not in json.dumps(json.loads((tmp_path / "ablations.json").read_text())["variants"])


def test_ablate_lm_trains_each_variant_with_the_same_budget(tmp_path):
    report = run_ablations(LM_ABLATIONS, tiny_awd_config(tmp_path), tmp_path / "models", tmp_path / "reports", budget=0.02, only=["full", "no_weight_dropout"])
    assert list(report["variants"]) == ["full", "no_weight_dropout"]
    for name in report["variants"]:
        training = json.loads((tmp_path / "reports" / name / "training.json").read_text())
        assert training["overrides"]["lm_training.max_minutes"] == 0.02
        assert (tmp_path / "models" / name / "model-best").is_dir()
    assert json.loads((tmp_path / "reports/no_weight_dropout/training.json").read_text())["overrides"]["components.lm.model.weight_dropout"] == 0.0
    assert (tmp_path / "reports/ablations.md").exists()


def test_a_resumed_ablation_keeps_the_variants_an_interrupted_run_finished(tmp_path):
    config = tiny_awd_config(tmp_path)
    reports = tmp_path / "reports"
    run_ablations(LM_ABLATIONS, config, tmp_path / "models", reports, budget=0.02, only=["full"])
    finished = (reports / "full" / "training.json").stat().st_mtime_ns
    assert already_trained(LM_ABLATIONS, config, "full", reports, 0.02)
    assert not already_trained(LM_ABLATIONS, config, "full", reports, 0.03), "another budget is another run"
    assert not already_trained(LM_ABLATIONS, config, "no_asgd", reports, 0.02), "another variant is another run"
    os.utime(config, ns=(finished + 10**9, finished + 10**9))
    assert not already_trained(LM_ABLATIONS, config, "full", reports, 0.02), "the config changed since"
    os.utime(config, ns=(finished - 10**9, finished - 10**9))

    report = run_ablations(LM_ABLATIONS, config, tmp_path / "models", reports, budget=0.02, only=["full", "no_asgd"], resume=True)
    assert (reports / "full" / "training.json").stat().st_mtime_ns == finished
    assert list(report["variants"]) == ["full", "no_asgd"]
    assert json.loads((reports / "no_asgd" / "training.json").read_text())["overrides"]["lm_training.asgd"] is False
