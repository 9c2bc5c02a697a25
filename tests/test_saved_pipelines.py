"""Pipelines saved by a release load and predict exactly what they predicted when saved: tags
and their confidences, entities and theirs, text categories, the language model's surprisals
and perplexity, also with float16 weights and int8 vectors. A pipeline the library cannot read
(weights of another serialization format, an architecture name removed before the first
release) fails with one line that names the file and says what to do.

The fixtures in tests/fixtures/saved_pipelines/ were saved by the commit recorded in their
expected.json (made by make_fixtures.py there, with that commit's library); they guard
serialization format 2, the format of v0.1.0. Labels must match exactly, scores to a relative
1e-6.
"""
import json
import math
import re
import shutil
import sys
from pathlib import Path

import pytest
import spacy
import srsly

from spacy_rnn.checkpoints import load_pipeline
from spacy_rnn.layers import SERIALIZATION_FORMAT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "saved_pipelines"
sys.path.insert(0, str(FIXTURES))
from make_fixtures import predictions  # noqa: E402  (how the fixtures' predictions were read)

EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf8"))
# fixture: (its torch component, that component's factory)
COMPONENTS = {
    "tagger": ("tagger", "bilstm_tagger"),
    "ner": ("ner", "bilstm_crf_ner"),
    "textcat": ("textcat", "lstm_textcat"),
    "lm": ("lm", "lstm_lm"),
    "compact": ("tagger", "bilstm_tagger"),
}


def assert_same(found, expected, where: str) -> None:
    """Structure, strings, ints and None exactly; floats to a relative 1e-6."""
    if isinstance(expected, float):
        assert isinstance(found, float) and math.isclose(found, expected, rel_tol=1e-6), f"{where}: {found!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert isinstance(found, dict) and list(found) == list(expected), f"{where}: {found!r} != {expected!r}"
        for key in expected:
            assert_same(found[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(found, list) and len(found) == len(expected), f"{where}: {found!r} != {expected!r}"
        for i, (item, expected_item) in enumerate(zip(found, expected)):
            assert_same(item, expected_item, f"{where}[{i}]")
    else:
        assert found == expected and type(found) is type(expected), f"{where}: {found!r} != {expected!r}"


def weights_message(model_file: Path) -> dict:
    """The saved torch module of a component's model file (`spacy_rnn.layers.serialize_net`)."""
    model = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(model["shims"][0][0])
    return srsly.msgpack_loads(shim["state"])


def rewrite_weights_message(model_file: Path, change) -> None:
    model = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(model["shims"][0][0])
    message = srsly.msgpack_loads(shim["state"])
    change(message)
    shim["state"] = srsly.msgpack_dumps(message)
    model["shims"][0][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(model))


def test_the_fixtures_cover_every_component_and_the_compact_storage():
    assert sorted(EXPECTED["pipelines"]) == sorted(COMPONENTS)
    for fixture, (name, factory) in COMPONENTS.items():
        config = spacy.util.load_config(FIXTURES / fixture / "config.cfg")
        assert config["components"][name]["factory"] == factory
        assert weights_message(FIXTURES / fixture / name / "model")["format"] == EXPECTED["format"] == 2
    compact = spacy.util.load_config(FIXTURES / "compact" / "config.cfg")
    assert compact["components"]["tagger"]["weights_storage"] == "float16"
    assert compact["nlp"]["vectors"] == {"@vectors": "spacy_rnn.Int8Vectors.v1"}
    assert "" in EXPECTED["texts"] and any(len(text.split()) > 40 for text in EXPECTED["texts"])


@pytest.mark.parametrize("fixture", sorted(COMPONENTS))
def test_a_saved_pipeline_loads_and_predicts_what_it_predicted_when_saved(fixture):
    nlp = spacy.load(FIXTURES / fixture)
    for text, expected in zip(EXPECTED["texts"], EXPECTED["pipelines"][fixture]):
        assert_same(predictions(nlp, text), expected, f"{fixture} on {text[:30]!r}")


@pytest.fixture
def tagger_copy(tmp_path):
    shutil.copytree(FIXTURES / "tagger", tmp_path / "tagger")
    return tmp_path / "tagger"


def as_format_1(message: dict) -> None:
    """What the code before 0.1.0 saved: no format, no checksum, the encoder's settings flat."""
    encoder = message["hparams"]["encoder"]["hparams"]
    message["hparams"]["encoder"] = {**encoder.pop("settings"), **encoder}
    del message["format"], message["sha256"]


def as_next_format(message: dict) -> None:
    message["format"] = SERIALIZATION_FORMAT + 1


@pytest.mark.parametrize(
    "change, saved, remedy",
    [
        (as_format_1, 1, "train the pipeline again with this version"),
        (as_next_format, SERIALIZATION_FORMAT + 1, "install the spacy-rnn version that saved it"),
    ],
)
def test_weights_of_another_format_fail_with_the_file_and_what_to_do(tagger_copy, change, saved, remedy):
    model_file = tagger_copy / "tagger" / "model"
    rewrite_weights_message(model_file, change)
    with pytest.raises(ValueError) as raised:
        spacy.load(tagger_copy)
    message = str(raised.value)
    assert message.startswith(f"[tagger] {model_file}: the TaggerNet weights were saved in format {saved}, ")
    assert message.endswith(f"reads format {SERIALIZATION_FORMAT} only: {remedy}.") and "\n" not in message


def test_an_architecture_name_from_before_the_first_release_fails_with_the_file_and_what_to_do(tagger_copy):
    config = tagger_copy / "config.cfg"
    config.write_text(config.read_text(encoding="utf8").replace('"spacy_rnn.Tagger.v1"', '"lstm.Tagger.v1"'), encoding="utf8")
    with pytest.raises(ValueError) as raised:
        load_pipeline(tagger_copy)
    message = str(raised.value)
    assert re.fullmatch(re.escape(f'{config}: "lstm.Tagger.v1" is an architecture name from before spacy-rnn 0.1.0') + r".*train the pipeline again.*", message)
