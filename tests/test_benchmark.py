"""The speed benchmark's parts: inference precisions, thread settings, the peer check, the texts'
record, accuracy, the profile's stages and the report. Nothing here is timed."""
import hashlib
import json
import os
from pathlib import Path

import pytest
from thinc.api import Config
import spacy
import torch
from spacy.tokens import DocBin

from helpers import ENTITY_SENTENCES, TAGGED_SENTENCES, TEXTS, annotations, make_ner_nlp, make_tagger_nlp, train_ner, train_tagger, tagged_examples
from spacy_rnn.evaluation.benchmark import (
    Variant, accuracy, entity_agreement, input_projection_share, make_variants, peer_check, profile_stages,
    read_texts, repeat_texts, summarize_runs, thread_settings, torch_threads, write_benchmark_report,
)
from spacy_rnn.inference import set_inference_precision
from spacy_rnn.precision import bf16_supported
from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.formwise_rnn import FormwiseRNN

SENTENCES = TEXTS + [words for words, _, _ in TAGGED_SENTENCES] + [text for text, _ in ENTITY_SENTENCES]


def file_hashes(folder: Path):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def saved_pipelines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipelines")
    train_tagger(make_tagger_nlp()).to_disk(folder / "tagger")
    train_ner(make_ner_nlp()).to_disk(folder / "ner")
    return folder


@pytest.mark.parametrize("projection", ["token", "form"])
@pytest.mark.parametrize("name", ["tagger", "ner"])
def test_int8_predicts_the_float_labels_and_leaves_the_model_file_untouched(saved_pipelines, name, projection):
    before = file_hashes(saved_pipelines / name)
    expected = [annotations(doc) for doc in spacy.load(saved_pipelines / name).pipe(SENTENCES)]
    nlp = spacy.load(saved_pipelines / name)
    assert set_inference_precision(nlp, "int8", projection) == [name]
    rnn = get_torch_net(nlp.get_pipe(name).model).encoder.rnn
    quantized = [rnn] if projection == "token" else [rnn.input_projection, *rnn.recurrent]
    assert all(type(module).__module__.startswith("torch.ao.nn.quantized.dynamic") for module in quantized)
    found = [annotations(doc) for doc in nlp.pipe(SENTENCES)]
    tokens = [(a, b) for doc_found, doc_expected in zip(found, expected) for a, b in zip(doc_found[0], doc_expected[0])]
    assert sum(a == b for a, b in tokens) >= 0.95 * len(tokens)
    assert file_hashes(saved_pipelines / name) == before


@pytest.mark.parametrize("name", ["tagger", "ner"])
def test_the_per_form_projection_predicts_what_the_trained_model_predicts(saved_pipelines, name):
    expected = [annotations(doc) for doc in spacy.load(saved_pipelines / name).pipe(SENTENCES)]
    nlp = spacy.load(saved_pipelines / name)
    set_inference_precision(nlp, "float32", "form")
    assert isinstance(get_torch_net(nlp.get_pipe(name).model).encoder.rnn, FormwiseRNN)
    assert [annotations(doc) for doc in nlp.pipe(SENTENCES)] == expected


@pytest.mark.skipif(not bf16_supported(), reason="no native bf16 on this CPU")
def test_bf16_predicts_the_float_labels(saved_pipelines):
    expected = [annotations(doc) for doc in spacy.load(saved_pipelines / "ner").pipe(SENTENCES)]
    nlp = spacy.load(saved_pipelines / "ner")
    set_inference_precision(nlp, "bf16")
    outputs = nlp.get_pipe("ner").model.predict([nlp(SENTENCES[0])])
    assert outputs["tags"][0].dtype == torch.float32
    found = [annotations(doc) for doc in nlp.pipe(SENTENCES)]
    tokens = [(a, b) for doc_found, doc_expected in zip(found, expected) for a, b in zip(doc_found[0], doc_expected[0])]
    assert sum(a == b for a, b in tokens) >= 0.95 * len(tokens)


def test_float32_per_token_changes_nothing_and_bad_requests_are_refused(saved_pipelines, trained_textcat_nlp):
    nlp = spacy.load(saved_pipelines / "tagger")
    net = get_torch_net(nlp.get_pipe("tagger").model)
    assert set_inference_precision(nlp, "float32", "token") == ["tagger"]
    assert get_torch_net(nlp.get_pipe("tagger").model) is net
    with pytest.raises(ValueError, match="already converted to float32"):
        set_inference_precision(nlp, "int8")
    fresh = spacy.load(saved_pipelines / "tagger")
    with pytest.raises(ValueError, match="precision must be one of"):
        set_inference_precision(fresh, "fp16")
    with pytest.raises(ValueError, match="input_projection must be one of"):
        set_inference_precision(fresh, "int8", "word")
    with pytest.raises(ValueError, match="text classifiers"):
        set_inference_precision(trained_textcat_nlp, "int8", "token")


def test_int8_text_classifier_with_the_per_form_projection_keeps_its_decisions(trained_textcat_nlp, tmp_path):
    texts = ["I loved this film .", "It was dull and far too long .", "An excellent cast .", ""]
    expected = [doc.cats for doc in trained_textcat_nlp.pipe(texts)]
    trained_textcat_nlp.to_disk(tmp_path / "textcat")
    nlp = spacy.load(tmp_path / "textcat")
    set_inference_precision(nlp, "int8", "form")
    found = [doc.cats for doc in nlp.pipe(texts)]
    for cats, reference in zip(found, expected):
        assert max(cats, key=cats.get) == max(reference, key=reference.get)
        assert cats == pytest.approx(reference, abs=0.05)


def test_variants_cover_confidences_only_for_a_recognizer(saved_pipelines):
    assert make_variants(saved_pipelines / "tagger", ["float32", "int8"], [True, False]) == [Variant("float32"), Variant("int8")]
    variants = make_variants(saved_pipelines / "ner", ["int8"], [True, False], ["form", "token"])
    assert [variant.name for variant in variants] == [
        "int8, per-form projection, confidences on", "int8, per-form projection, confidences off",
        "int8, per-token projection, confidences on", "int8, per-token projection, confidences off",
    ]


def test_variants_of_a_transformer_pipeline_name_no_input_projection(tmp_path):
    config = {"components": {"textcat": {"factory": "lstm_textcat", "model": {"encoder": {"@architectures": "spacy_rnn.TransformerEncoder.v1"}}}}}
    Config(config).to_disk(tmp_path / "config.cfg")
    variants = make_variants(tmp_path, ["float32"], [True], ["form", "token"])
    assert variants == [Variant("float32", None, None)] and variants[0].name == "float32"


def test_thread_settings_are_recorded_and_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    with torch_threads(1):
        settings = thread_settings()
    assert settings["torch_threads"] == 1 and settings["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == before


def test_ratios_are_best_runs_over_the_peers_best():
    summary = summarize_runs({"float32": [900.0, 1000.0], "int8": [1500.0, 1400.0], "peer": [400.0, 500.0]})
    assert summary["words_per_second"] == {"float32": 1000, "int8": 1500, "peer": 500}
    assert summary["speed_ratio"] == {"float32": 2.0, "int8": 3.0}


def ruler_pipeline(*ruler_patterns):
    """A blank pipeline with one entity_ruler per pattern list, named tok2vec, ner, ..."""
    nlp = spacy.blank("en")
    for name, patterns in zip(["tok2vec", "ner"], ruler_patterns):
        nlp.add_pipe("entity_ruler", name=name).add_patterns(patterns)
    return nlp


PERSON = [{"label": "PER", "pattern": "Anna"}]
PLACE = [{"label": "LOC", "pattern": "Paris"}]


def test_entity_agreement_counts_entities_and_differing_texts():
    same = entity_agreement(ruler_pipeline(PERSON), ruler_pipeline(PERSON), SENTENCES, batch_size=4)
    assert same == {"peer_entities_identical": True, "n_entities": 4, "n_entities_reference": 4, "n_texts_differing": 0}
    different = entity_agreement(ruler_pipeline(PERSON), ruler_pipeline(PERSON + PLACE), SENTENCES, batch_size=4)
    assert different["peer_entities_identical"] is False
    assert (different["n_entities"], different["n_entities_reference"], different["n_texts_differing"]) == (4, 8, 4)


def test_peer_check_compares_against_the_peer_with_its_tok2vec(tmp_path):
    ruler_pipeline(PLACE, PERSON).to_disk(tmp_path / "peer")
    without = spacy.load(tmp_path / "peer", exclude=["tok2vec"])
    check = peer_check(str(tmp_path / "peer"), without, SENTENCES, batch_size=4)
    assert check["components"] == ["ner"] and check["reference_components"] == ["tok2vec", "ner"]
    assert check["peer_entities_identical"] is False and check["n_texts_differing"] == 4
    assert peer_check(str(tmp_path / "peer"), spacy.load(tmp_path / "peer"), SENTENCES, batch_size=4) is None


def test_texts_are_identified_and_repeated_to_enough_sentences(tmp_path):
    nlp = spacy.blank("en")
    docs = [nlp("One sentence here."), nlp("Another one.")]
    docs[0][0].is_sent_start = True
    DocBin(docs=docs).to_disk(tmp_path / "texts.spacy")
    texts, record = read_texts(tmp_path / "texts.spacy")
    assert texts == ["One sentence here.", "Another one."]
    assert record["sha256"] == hashlib.sha256(b"One sentence here.\nAnother one.").hexdigest()
    assert (record["n_texts"], record["n_sentences"], record["n_chars"]) == (2, 2, 30)
    assert repeat_texts(texts, 2, 5) == (texts * 3, 3)
    assert repeat_texts(texts, 2, 1) == (texts, 1)


def test_accuracy_scores_the_task_on_gold_tokens(saved_pipelines, tmp_path):
    nlp = spacy.load(saved_pipelines / "tagger")
    DocBin(docs=[eg.reference for eg in tagged_examples(nlp)]).to_disk(tmp_path / "gold.spacy")
    scores = accuracy(nlp, tmp_path / "gold.spacy")
    assert set(scores) == {"pos_acc", "tag_acc"} and scores["pos_acc"] > 90


def test_profile_accounts_for_every_stage_of_a_recognizer(saved_pipelines):
    nlp = spacy.load(saved_pipelines / "ner")
    profile = profile_stages(nlp, SENTENCES, batch_size=4)
    assert profile["n_words"] == sum(len(nlp.make_doc(text)) for text in SENTENCES)
    assert 0 < profile["distinct_forms_per_token"] <= 1
    for stage in ("tokenizer", "ner: featurize + batching", "ner: encoder: LSTM", "ner: decoding: CRF Viterbi",
                  "ner: decoding: entity confidences", "ner: set_annotations", "other (spaCy's pipe loop)"):
        assert stage in profile["stages"]
    assert [annotations(doc) for doc in nlp.pipe(SENTENCES)] == [annotations(doc) for doc in spacy.load(saved_pipelines / "ner").pipe(SENTENCES)]
    assert "predict" not in vars(nlp.get_pipe("ner")) and type(nlp.get_pipe("ner").model).__name__ == "Model"


def test_input_projection_share_of_a_two_layer_bilstm():
    net = get_torch_net(make_tagger_nlp().get_pipe("tagger").model)
    assert input_projection_share(net) is None  # not built yet
    rnn = torch.nn.LSTM(50, 10, num_layers=2, bidirectional=True)
    net = torch.nn.Module()
    net.encoder = torch.nn.Module()
    net.encoder.rnn = rnn
    # per direction: 4*10*50 first-layer input, 4*10*10 recurrent per layer, 4*10*20 second-layer input
    assert input_projection_share(net) == round(2000 / (2000 + 400 + 800 + 400), 3)


REPORT = {
    "unsupported_precisions": {"bf16": "unsupported (no native bf16 instructions on this CPU)"},
    "texts": {"path": "corpus/x.spacy", "sha256": "ab" * 32, "n_texts": 2, "n_chars": 30, "n_sentences": 3},
    "speed": {
        "model": "training/ner/model-best", "model_components": ["ner"], "peer": "en_core_web_sm", "peer_components": ["ner"],
        "peer_ops": "NumpyOps", "n_texts": 2, "n_words": 12, "repeats": 3, "batch_size": 256,
        "variants": [{"name": "float32", "precision": "float32", "confidences": None}, {"name": "int8", "precision": "int8", "confidences": None}],
        "headline": "one thread each; ours float32", "words_per_second": {"ours": 3000, "peer": 1000}, "speed_ratio": 3.0,
        "one_thread": {
            "ours_threads": {"torch_threads": 1, "torch_interop_threads": 2, "OMP_NUM_THREADS": "1"}, "peer_n_process": 1,
            "words_per_second": {"float32": 3000, "int8": 4000, "peer": 1000}, "speed_ratio": {"float32": 3.0, "int8": 4.0},
        },
        "all_cores": {
            "ours_threads": {"torch_threads": 2, "torch_interop_threads": 2}, "peer_n_process": 2, "copies": 7, "n_texts": 14,
            "n_sentences": 21, "n_words": 84, "words_per_second": {"float32": 5000, "int8": 6000, "peer": 2500},
            "speed_ratio": {"float32": 2.0, "int8": 2.4},
        },
        "peer_check": {"components": ["ner"], "reference_components": ["tok2vec", "ner"], "peer_entities_identical": True,
                       "n_entities": 5, "n_entities_reference": 5, "n_texts_differing": 0},
    },
    "accuracy": {"split": "corpus/dev.spacy", "scores": {"float32": {"ents_f": 90.5}, "int8": {"ents_f": 90.42}}},
    "profile": {
        name: {"n_words": 12, "distinct_forms_per_token": 0.5, "input_projection_share": 0.6,
               "stages": {"tokenizer": 0.1, "ner: encoder: LSTM": 0.3, "other (spaCy's pipe loop)": 0.1}}
        for name in ("float32", "int8")
    },
    "memory": {"precision": "float32", "n_chars": 1000, "n_tokens": 200, "n_tokens_annotated": 200, "seconds": 0.1,
               "rss_after_load_mib": 100.0, "peak_rss_mib": 120.0, "peak_increase_mib": 20.0},
}


def test_report_labels_the_thread_settings_and_lists_every_measurement(tmp_path):
    write_benchmark_report(json.loads(json.dumps(REPORT)), tmp_path)
    assert json.loads((tmp_path / "speed.json").read_text())["machine"]["cpu_count"] == os.cpu_count()
    text = (tmp_path / "speed.md").read_text()
    assert "**Headline (one thread each; ours float32): 3,000 vs 1,000 words/s, ratio 3.00**" in text
    assert "## One thread each (headline)" in text and "Ours: torch 1 threads (interop 2); OMP_NUM_THREADS=1." in text
    assert "| ours | ner | int8 | 4,000 | 4.00 |" in text and "| en_core_web_sm | ner |  | 1,000 | 1.00 |" in text
    assert "## All cores" in text and "`nlp.pipe(n_process=2)`" in text and "| ours | ner | int8 | 6,000 | 2.40 |" in text
    assert "are identical to those with tok2vec + ner on these texts (5 vs 5 entities)" in text
    assert "| int8 | 90.42 (-0.08) |" in text and "(dev; gold tokens" in text
    assert "| ner: encoder: LSTM | 300 ms (60%) | 300 ms (60%) |" in text and "| total | 500 ms | 500 ms |" in text
    assert "Not benchmarked: bf16, unsupported (no native bf16 instructions on this CPU)." in text
    assert "(float32)" in text and "+20.0 MiB" in text
