"""Component weights stored as float16 (`weights_storage`, `compact-weights`): half the size on
disk, float32 modules in memory, and a pipeline that predicts after saving and loading exactly
what it predicted when it was compacted."""
import hashlib

import pytest
import spacy
import torch
from typer.testing import CliRunner

from helpers import TEXTS, annotations, make_ner_nlp, make_tagger_nlp, make_textcat_nlp, train_ner, train_tagger, train_textcat
from lm_helpers import lm_examples, make_lm_nlp, make_net
from spacy_rnn.cli import app
from spacy_rnn.layers import deserialize_net, get_torch_net, serialize_net
from spacy_rnn.pipes.base import compact_pipeline_weights

runner = CliRunner()
LM_TEXTS = ["the cat sat on the mat", "a dog ate the fish ."]


def outputs(nlp):
    """Labels, category scores and surprisals: any change of the weights read shows."""
    docs = list(nlp.pipe(TEXTS + LM_TEXTS))
    surprisals = (lambda doc: [t._.surprisal for t in doc]) if "lm" in nlp.pipe_names else (lambda doc: None)  # noqa: E731
    return [(annotations(doc), doc.cats, surprisals(doc)) for doc in docs]


def weight_files(path):
    return {f.relative_to(path): hashlib.sha256(f.read_bytes()).hexdigest() for f in path.rglob("model") if f.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tagger, recognizer, text classifier and language model trained in float32, saved."""
    folder = tmp_path_factory.mktemp("float32")
    for name, nlp in {
        "tagger": train_tagger(make_tagger_nlp(), n_iter=20),
        "ner": train_ner(make_ner_nlp(), n_iter=20),
        "textcat": train_textcat(make_textcat_nlp(), n_iter=10),
    }.items():
        nlp.to_disk(folder / name)
    lm = make_lm_nlp()
    optimizer = lm.initialize(lambda: lm_examples(lm))
    for _ in range(10):
        lm.update(lm_examples(lm), sgd=optimizer)
    lm.to_disk(folder / "lm")
    return folder


@pytest.mark.parametrize("name", ["tagger", "ner", "textcat", "lm"])
def test_a_compacted_component_predicts_after_loading_what_it_predicted_when_compacted(trained, tmp_path, name):
    nlp = spacy.load(trained / name)
    assert nlp.get_pipe(name).cfg["weights_storage"] == "float32"
    assert compact_pipeline_weights(nlp) == [name]
    compacted = outputs(nlp)
    if name == "lm":
        assert any(value is not None for _, _, values in compacted for value in values)
    nlp.to_disk(tmp_path / "half")
    loaded = spacy.load(tmp_path / "half")
    assert loaded.config["components"][name]["weights_storage"] == "float16"
    assert loaded.get_pipe(name).cfg["weights_storage"] == "float16"
    assert outputs(loaded) == compacted
    assert all(p.dtype == torch.float32 for p in get_torch_net(loaded.get_pipe(name).model).parameters())
    loaded.to_disk(tmp_path / "again")
    assert weight_files(tmp_path / "again") == weight_files(tmp_path / "half")
    size = lambda path: (path / name / "model").stat().st_size  # noqa: E731
    assert size(tmp_path / "half") < 0.6 * size(trained / name)


def test_rounding_to_float16_barely_changes_predictions(trained):
    nlp = spacy.load(trained / "ner")
    before = [annotations(doc) for doc in nlp.pipe(TEXTS)]
    compact_pipeline_weights(nlp)
    assert [annotations(doc) for doc in nlp.pipe(TEXTS)] == before


def test_float16_storage_keeps_tied_weights_stored_once():
    net = make_net(n_words=2000, width=64, depth=1)
    assert net.decoder.weight is net.embed.weight
    full, half = serialize_net(net), serialize_net(net, "float16")
    assert len(half) < 0.55 * len(full)
    loaded = deserialize_net(None, half, torch.device("cpu"))
    assert loaded.decoder.weight is loaded.embed.weight
    for (name, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert b.dtype == torch.float32 and torch.equal(a.half().float(), b), name


def test_the_config_decides_the_storage_of_a_loaded_component(trained, tmp_path):
    nlp = spacy.load(trained / "tagger")
    compact_pipeline_weights(nlp)
    nlp.to_disk(tmp_path / "half")
    full = spacy.load(tmp_path / "half", config={"components": {"tagger": {"weights_storage": "float32"}}})
    full.to_disk(tmp_path / "full")
    assert (tmp_path / "full" / "tagger" / "model").stat().st_size > 1.7 * (tmp_path / "half" / "tagger" / "model").stat().st_size
    assert outputs(spacy.load(tmp_path / "full")) == outputs(spacy.load(tmp_path / "half"))


def test_an_unknown_storage_is_refused_naming_the_component():
    with pytest.raises(ValueError, match=r"\[tagger\] weights_storage takes float32 or float16, not 'int4'"):
        spacy.blank("en").add_pipe("torch_tagger", name="tagger", config={"weights_storage": "int4"})


def test_compact_weights_command(trained, tmp_path):
    result = runner.invoke(app, ["compact-weights", str(trained / "ner"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "weights stored as float16: ner" in result.output
    assert spacy.load(tmp_path / "out").get_pipe("ner").cfg["weights_storage"] == "float16"
    same = runner.invoke(app, ["compact-weights", str(trained / "ner"), str(trained / "ner")])
    assert same.exit_code != 0 and "another OUTPUT folder" in same.output
