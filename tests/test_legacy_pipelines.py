"""Pipelines saved by the code before the restructuring (commit 9eda078) still load and predict
identically: tags, entities, text categories and language-model probabilities.

The fixtures in tests/fixtures/legacy_pipelines/ were written once by make_fixtures.py there,
with the old code; expected.json holds their predictions at that time. Strings must match
exactly, floats to a relative tolerance of 1e-6 (absolute 1e-7).
"""
import json
import math
import sys
from pathlib import Path

import pytest
import spacy

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_pipelines"
sys.path.insert(0, str(LEGACY))
from make_fixtures import predict  # noqa: E402  (the fixtures' own reading of predictions; no spacy_rnn import)

EXPECTED = json.loads((LEGACY / "expected.json").read_text(encoding="utf8"))
REL_TOL, ABS_TOL = 1e-6, 1e-7

# What each pipeline's predictions are, per sample text (see make_fixtures.predict).
FIELDS = {
    "tagger": ("tokens", "pos", "tag"),
    "ner": ("tokens", "ents", "ent_iob"),
    "textcat": ("tokens", "cats"),
    "lm": ("tokens", "surprisal", "perplexity", "log_prob", "lm_n_tokens", "next_words"),
}


def assert_same(actual, expected, where):
    """Strings, ints, None and structure exactly; floats with math.isclose."""
    if isinstance(expected, float):
        assert isinstance(actual, float), f"{where}: {actual!r} is not a float"
        assert math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL), f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{i}]")
    else:
        assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"


# The expected predictions were made as trained: float32, per-token input projection. Loaded
# without overrides, the components run their default inference settings (spacy_rnn.inference;
# tests/test_inference_settings.py).
AS_TRAINED = {"precision": "float32", "input_projection": "token"}


@pytest.fixture(scope="module", params=sorted(FIELDS))
def legacy(request):
    kind = request.param
    record = EXPECTED["pipelines"][kind]
    path = LEGACY / record["path"]
    components = spacy.util.load_config(path / "config.cfg")["components"]
    converted = {name: AS_TRAINED for name, block in components.items() if block.get("factory") in ("bilstm_tagger", "bilstm_crf_ner", "lstm_textcat")}
    return kind, spacy.load(path, config={"components": converted}), record["samples"]


def test_every_legacy_pipeline_has_its_expected_predictions():
    assert sorted(EXPECTED["pipelines"]) == sorted(FIELDS)
    for kind, record in EXPECTED["pipelines"].items():
        texts = [sample["text"] for sample in record["samples"]]
        assert "" in texts and len(texts) >= 6, kind
        for sample in record["samples"]:
            assert set(FIELDS[kind]) <= set(sample), kind


def test_a_pipeline_saved_before_the_restructuring_loads_and_predicts_identically(legacy):
    """A pipeline saved by the code before the restructuring loads and predicts identically,
    on every sample text: the empty text, unknown words and a text read in several windows."""
    kind, nlp, samples = legacy
    for i, sample in enumerate(samples):
        actual = predict(kind, nlp, sample["text"])
        for field in FIELDS[kind]:
            assert_same(actual[field], sample[field], f"{kind} sample {i} ({sample['text'][:30]!r}) {field}")


def test_a_legacy_pipeline_predicts_the_same_in_a_batch(legacy):
    """nlp.pipe over all sample texts at once gives the same tags, entities and categories,
    and the language model the same probabilities, as one text at a time."""
    kind, nlp, samples = legacy
    docs = list(nlp.pipe([sample["text"] for sample in samples], batch_size=len(samples)))
    for i, (doc, sample) in enumerate(zip(docs, samples)):
        where = f"{kind} batched sample {i}"
        assert_same([t.text for t in doc], sample["tokens"], f"{where} tokens")
        if kind == "tagger":
            assert_same([t.pos_ for t in doc], sample["pos"], f"{where} pos")
            assert_same([t.tag_ for t in doc], sample["tag"], f"{where} tag")
        elif kind == "ner":
            assert_same([[e.start, e.end, e.label_] for e in doc.ents], sample["ents"], f"{where} ents")
        elif kind == "textcat":
            for label, score in sample["cats"].items():
                assert math.isclose(doc.cats[label], score, rel_tol=1e-4, abs_tol=1e-6), f"{where} {label}"
        elif kind == "lm":
            assert doc._.lm_n_tokens == sample["lm_n_tokens"], where
            assert math.isclose(doc._.log_prob, sample["log_prob"], rel_tol=1e-4, abs_tol=1e-6), where
