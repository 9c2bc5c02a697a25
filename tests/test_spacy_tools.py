"""spaCy's own tools work on the shipped configs and on pipelines trained with them: `spacy debug
data` (test_configs.py runs it on every from-scratch config; here the command line, and the
continued-training config on a sourced pipeline), `spacy debug config`, `spacy init fill-config`
and `spacy evaluate`. `spacy package` builds an sdist (test_package.py) and a wheel with the model
card (test_sharing.py).

The language-model configs are read by `python -m spacy_rnn train-lm`, not by spaCy's training
(they have no [training] or [corpora]), and configs/assemble by `spacy assemble`: spaCy's training
tools do not apply to them."""
import json
import subprocess
import sys

import pytest
from spacy.tokens import DocBin
from spacy.util import load_config

from helpers import ROOT, entity_examples
from test_configs import TRAINING_CONFIGS, tiny_bert, tiny_corpus  # noqa: F401 (tiny_bert: a fixture)

FROM_SCRATCH = [path for path in TRAINING_CONFIGS if "continue" not in path.parts]


def spacy_command(*args):
    return subprocess.run([sys.executable, "-m", "spacy", *map(str, args)], capture_output=True, text=True)


def test_spacy_debug_data_command_line(tmp_path):
    corpus = tiny_corpus(ROOT / "configs" / "ner_bilstm_crf.cfg", tmp_path)
    result = spacy_command(
        "debug", "data", ROOT / "configs" / "ner_bilstm_crf.cfg",
        "--paths.train", corpus / "train.spacy", "--paths.dev", corpus / "dev.spacy", "--paths.vectors", "null",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Data file validation" in result.stdout and "checks passed" in result.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "continue").glob("*.cfg")), ids=lambda p: p.name)
def test_spacy_debug_data_on_a_continued_training_config(path, trained_ner_nlp, tmp_path):
    from spacy.cli.debug_data import debug_data

    trained_ner_nlp.to_disk(tmp_path / "source")
    debug_data(path, config_overrides=tiny_overrides(path, tmp_path, None, tmp_path / "source"), silent=True)


def tiny_overrides(path, folder, tiny_bert, source=None):
    """A config's overrides for the tiny corpora, no vectors, the tiny BERT for its Transformer
    encoders and, for a continued-training config, a trained pipeline to source."""
    corpus = tiny_corpus(ROOT / "configs" / "ner_bilstm_crf.cfg" if source else path, folder)
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy")}
    if source:
        return {**overrides, "paths.source": str(source)}
    overrides["paths.vectors"] = None
    for name, block in load_config(path)["components"].items():
        if "transformer" in block.get("model", {}).get("encoder", {}):
            overrides[f"components.{name}.model.encoder.transformer"] = tiny_bert
    return overrides


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_spacy_debug_config_validates_every_training_config(path, trained_ner_nlp, tiny_bert, tmp_path, capsys):
    from spacy.cli.debug_config import debug_config

    source = None
    if "continue" in path.parts:
        source = tmp_path / "source"
        trained_ner_nlp.to_disk(source)
    debug_config(path, overrides=tiny_overrides(path, tmp_path, tiny_bert, source), show_funcs=True)
    assert "Config is valid" in capsys.readouterr().out


def flat(config, prefix=""):
    """{"section.key": value} of a config's every leaf."""
    leaves = {}
    for key, value in config.items():
        leaves.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return leaves


@pytest.mark.parametrize("path", FROM_SCRATCH, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_spacy_init_fill_config_keeps_every_value_of_a_shipped_config(path, tmp_path):
    """Filling adds only defaults (e.g. an encoder's `packed`, score weights left unset) and changes
    or drops none of the config's values."""
    from spacy.cli.init_config import fill_config

    fill_config(tmp_path / "filled.cfg", path, silent=True)
    shipped, filled = flat(load_config(path, interpolate=True)), flat(load_config(tmp_path / "filled.cfg", interpolate=True))
    assert {key: filled.get(key, "missing") for key in shipped} == shipped


def test_spacy_evaluate_scores_a_trained_pipeline(trained_ner_nlp, tmp_path):
    trained_ner_nlp.to_disk(tmp_path / "model")
    DocBin(docs=[eg.reference for eg in entity_examples(trained_ner_nlp)]).to_disk(tmp_path / "gold.spacy")
    result = spacy_command("evaluate", tmp_path / "model", tmp_path / "gold.spacy", "--output", tmp_path / "scores.json")
    assert result.returncode == 0, result.stdout + result.stderr
    scores = json.loads((tmp_path / "scores.json").read_text(encoding="utf-8"))
    assert scores["ents_f"] == pytest.approx(1.0) and set(scores["ents_per_type"]) == {"PER", "LOC", "ORG"}
