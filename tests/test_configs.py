"""Every shipped config loads, validates and builds its pipeline."""
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config, load_model_from_config

from helpers import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))


def test_there_are_configs():
    assert CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_pipeline(path: Path):
    config = load_config(path)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == config["nlp"]["pipeline"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_training_section_resolves(path: Path):
    from spacy.schemas import ConfigSchemaTraining

    config = load_model_from_config(load_config(path), auto_fill=True).config.interpolate()
    training = spacy.registry.resolve(config["training"], schema=ConfigSchemaTraining)
    assert training["max_steps"] > 0 and training["optimizer"].learn_rate is not None
