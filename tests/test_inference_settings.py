"""Inference settings (`precision`, `input_projection`) in the components' configs: `spacy.load`
applies the saved ones with no call by the user, config overrides at load change them, the
trained float32 weights are what trains and what is saved, and int8/bf16 never crash where they
cannot run (`spacy_rnn.inference`)."""
import hashlib
import logging
import pickle
from types import SimpleNamespace

import pytest
import spacy
import torch
from torch import nn

import spacy_rnn.inference as inference
from helpers import (
    ENTITY_SENTENCES, TAGGED_SENTENCES, TEXTS, annotations, entity_examples, make_ner_nlp, make_nlp, make_tagger_nlp,
    make_textcat_nlp, tagged_examples, train_ner, train_tagger, train_textcat,
)
from spacy_rnn.inference import applied_settings, inference_copy, int8_unavailable
from spacy_rnn.layers import get_inference_net, get_torch_net, set_inference_net
from spacy_rnn.models.formwise_rnn import FormwiseRNN

SENTENCES = TEXTS + [words for words, _, _ in TAGGED_SENTENCES] + [text for text, _ in ENTITY_SENTENCES]
AS_TRAINED = {"precision": "float32", "input_projection": "token"}
INT8_FORM = {"precision": "int8", "input_projection": "form"}


def is_quantized(module):
    return type(module).__module__.startswith("torch.ao.nn.quantized.dynamic")


def file_hashes(folder):
    return {path.relative_to(folder): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


def outputs(nlp, name):
    return nlp.get_pipe(name).model.predict([nlp.make_doc(text) for text in SENTENCES])


def same_outputs(first, second):
    for head in first:
        assert all(map(torch.equal, list(first[head]), list(second[head]))), head


def label_agreement(found, expected):
    tokens = [(a, b) for doc_found, doc_expected in zip(found, expected) for a, b in zip(doc_found[0], doc_expected[0])]
    return sum(a == b for a, b in tokens) / len(tokens)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tiny trained pipelines saved with their factory defaults (int8, per form)."""
    folder = tmp_path_factory.mktemp("saved")
    train_tagger(make_tagger_nlp()).to_disk(folder / "tagger")
    train_ner(make_ner_nlp()).to_disk(folder / "ner")
    train_textcat(make_textcat_nlp()).to_disk(folder / "textcat")
    return folder


def load(saved, name, **settings):
    return spacy.load(saved / name, config={"components": {name: settings}} if settings else {})


@pytest.mark.parametrize("name", ["tagger", "ner", "textcat"])
def test_a_saved_pipeline_loads_with_its_settings_applied(saved, name):
    pipe = load(saved, name).get_pipe(name)
    assert {key: pipe.cfg[key] for key in INT8_FORM} == INT8_FORM
    assert applied_settings(pipe.model) == INT8_FORM
    rnn = get_inference_net(pipe.model).encoder.rnn
    assert isinstance(rnn, FormwiseRNN) and is_quantized(rnn.input_projection) and all(map(is_quantized, rnn.recurrent))
    trained = get_torch_net(pipe.model)
    assert type(trained.encoder.rnn) is nn.LSTM  # the trained module is kept as it is
    assert get_inference_net(pipe.model).encoder.word_embed is trained.encoder.word_embed  # unconverted parts shared


def test_config_overrides_at_load_change_the_settings(saved):
    exact = load(saved, "ner", **AS_TRAINED).get_pipe("ner")
    assert {key: exact.cfg[key] for key in AS_TRAINED} == AS_TRAINED
    assert get_inference_net(exact.model) is get_torch_net(exact.model) and applied_settings(exact.model) == AS_TRAINED
    per_form = load(saved, "tagger", precision="float32").get_pipe("tagger")
    assert applied_settings(per_form.model) == {"precision": "float32", "input_projection": "form"}
    assert type(get_inference_net(per_form.model).encoder.rnn.input_projection) is nn.Linear
    with pytest.raises(ValueError, match="precision must be one of"):
        load(saved, "tagger", precision="fp16")
    with pytest.raises(ValueError, match="input_projection must be one of"):
        load(saved, "tagger", input_projection="word")


@pytest.mark.parametrize("name", ["tagger", "ner"])
def test_predictions_as_loaded_are_those_of_the_explicit_conversion(saved, name):
    as_loaded = load(saved, name)
    explicit = load(saved, name, **AS_TRAINED)
    model = explicit.get_pipe(name).model
    float_annotations = [annotations(doc) for doc in explicit.pipe(SENTENCES)]
    set_inference_net(model, inference_copy(get_torch_net(model), "int8", "form", name))
    same_outputs(outputs(as_loaded, name), outputs(explicit, name))
    found = [annotations(doc) for doc in as_loaded.pipe(SENTENCES)]
    assert found == [annotations(doc) for doc in explicit.pipe(SENTENCES)]
    assert label_agreement(found, float_annotations) >= 0.95  # int8's tolerance (tests/test_benchmark.py)


@pytest.mark.parametrize("name", ["tagger", "ner", "textcat"])
def test_a_loaded_pipeline_saves_its_trained_weights_and_loads_again_identically(saved, name, tmp_path):
    """Issue 38: to_disk of a converted pipeline used to save the converted weights, which
    spacy.load then refused."""
    first = load(saved, name)
    first.to_disk(tmp_path / "once")
    assert file_hashes(tmp_path / "once") == file_hashes(saved / name)  # the float32 weights and the settings
    second = spacy.load(tmp_path / "once")
    second.to_disk(tmp_path / "twice")
    third = spacy.load(tmp_path / "twice")
    expected = [annotations(doc) for doc in first.pipe(SENTENCES)]
    for nlp in (second, third):
        assert [annotations(doc) for doc in nlp.pipe(SENTENCES)] == expected
        same_outputs(outputs(nlp, name), outputs(first, name))
    from_bytes = spacy.util.load_model_from_config(first.config).from_bytes(first.to_bytes())
    same_outputs(outputs(from_bytes, name), outputs(first, name))
    unpickled = pickle.loads(pickle.dumps(first))
    same_outputs(outputs(unpickled, name), outputs(first, name))


def test_training_a_fresh_pipeline_runs_the_float32_per_token_module():
    nlp = make_tagger_nlp()
    examples = tagged_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    model = nlp.get_pipe("tagger").model
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
        assert get_inference_net(model) is get_torch_net(model) and type(get_torch_net(model).encoder.rnn) is nn.LSTM
    nlp("The cat sat")
    assert applied_settings(model) == AS_TRAINED
    assert nlp.get_pipe("tagger").cfg["precision"] == "int8"  # applied once the pipeline is saved and loaded


def test_updating_a_loaded_pipeline_trains_its_float32_weights(saved, tmp_path, caplog):
    nlp = load(saved, "ner")
    model = nlp.get_pipe("ner").model
    before = {name: param.detach().clone() for name, param in get_torch_net(model).named_parameters()}
    optimizer = nlp.resume_training()
    with caplog.at_level(logging.INFO, logger="spacy_rnn"):
        losses = nlp.update(entity_examples(nlp), sgd=optimizer)
    assert losses["ner"] > 0 and "its float32 weights are trained" in caplog.text
    assert get_inference_net(model) is get_torch_net(model) and applied_settings(model) == AS_TRAINED
    changed = [name for name, param in get_torch_net(model).named_parameters() if not torch.equal(param, before[name])]
    assert any(name.startswith("encoder.rnn.") for name in changed)
    nlp.to_disk(tmp_path / "updated")
    trained = spacy.load(tmp_path / "updated", config={"components": {"ner": AS_TRAINED}})
    same_outputs(outputs(trained, "ner"), outputs(nlp, "ner"))  # predictions run the updated float32 weights
    assert applied_settings(spacy.load(tmp_path / "updated").get_pipe("ner").model) == INT8_FORM


def test_adding_a_label_to_a_loaded_pipeline_predicts_with_the_grown_module(saved):
    nlp = load(saved, "ner")
    pipe = nlp.get_pipe("ner")
    assert pipe.add_label("NORP") == 1
    assert get_inference_net(pipe.model) is get_torch_net(pipe.model)
    assert nlp("Tom met Anna in Berlin")  # the grown heads predict without error


def test_int8_falls_back_to_float32_without_a_quantized_engine(saved, monkeypatch, caplog):
    monkeypatch.setattr(torch.backends, "quantized", SimpleNamespace(engine="none", supported_engines=["none"]))
    inference._log_int8_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="spacy_rnn"):
        first, second = load(saved, "ner"), load(saved, "tagger")
    for nlp in (first, second):
        pipe = nlp.pipeline[0][1]
        assert pipe.cfg["precision"] == "int8"
        assert applied_settings(pipe.model) == {"precision": "float32", "input_projection": "form"}
        assert not any(map(is_quantized, get_inference_net(pipe.model).modules()))
    fallbacks = [record for record in caplog.records if "int8 inference is not available" in record.getMessage()]
    assert len(fallbacks) == 1 and "no quantized engine" in fallbacks[0].getMessage()  # logged once
    assert [annotations(doc) for doc in first.pipe(SENTENCES)] == [annotations(doc) for doc in load(saved, "ner", **AS_TRAINED).pipe(SENTENCES)]


def test_int8_falls_back_where_the_engine_cannot_run_it_or_the_module_is_on_a_gpu(saved, monkeypatch):
    assert int8_unavailable(torch.device("cpu")) is None  # this machine runs it
    assert "CPU only" in int8_unavailable(torch.device("cuda"))
    monkeypatch.setattr(inference, "_int8_runs", lambda engine: False)
    assert "fails to run" in int8_unavailable(torch.device("cpu"))
    pipe = load(saved, "tagger").get_pipe("tagger")
    assert applied_settings(pipe.model)["precision"] == "float32"


def test_explicit_bf16_without_native_support_fails_at_load(saved, monkeypatch):
    monkeypatch.setattr("spacy_rnn.precision.bf16_supported", lambda device="cpu": False)
    with pytest.raises(ValueError, match=r'\[ner\] precision = "bf16" needs native bf16 on cpu'):
        load(saved, "ner", precision="bf16")
    assert applied_settings(load(saved, "ner").get_pipe("ner").model) == INT8_FORM  # the defaults never need it
    nlp = make_nlp("torch_ner", "ner", pipe={"precision": "bf16"})  # building and training are float32
    train_ner(nlp, n_iter=1)


def test_unknown_settings_are_refused_when_the_component_is_built():
    with pytest.raises(ValueError, match=r"\[tagger\] precision must be one of"):
        make_nlp("torch_tagger", "tagger", pipe={"precision": "int4"})
    with pytest.raises(ValueError, match=r"\[textcat\] input_projection must be one of"):
        make_nlp("torch_textcat", "textcat", pipe={"input_projection": "word"})


def test_confidences_off_at_load_on_the_converted_recognizer(saved):
    nlp = load(saved, "ner", confidences=False)
    assert applied_settings(nlp.get_pipe("ner").model) == INT8_FORM
    docs = list(nlp.pipe(SENTENCES))
    assert any(doc.ents for doc in docs) and all(ent._.confidence is None for doc in docs for ent in doc.ents)
    assert all(ent._.confidence is not None for doc in load(saved, "ner").pipe(SENTENCES) for ent in doc.ents)
