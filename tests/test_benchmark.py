"""The speed benchmark's parts: the variants (the pipeline as loaded and config overrides of its
inference settings), thread settings, the peer check, the texts' record, accuracy, the profile's
stages, the CPU record and the report. Nothing here is timed."""
import hashlib
import json
import os
from pathlib import Path

import pytest
from thinc.api import Config
import spacy
import torch
from spacy.tokens import DocBin

from helpers import (
    ENTITY_SENTENCES, TAGGED_SENTENCES, TEXTS, annotations, make_ner_nlp, make_tagger_nlp, make_textcat_nlp, tagged_examples,
    textcat_examples, train_ner, train_tagger, train_textcat,
)
from spacy_rnn_lab.benchmark import (
    Variant, accuracy, entity_agreement, load_ours, loaded_variant, make_variants, peer_check, read_texts, repeat_texts,
    summarize_runs,
)
from spacy_rnn_lab.benchmark_report import write_benchmark_report
from spacy_rnn_lab.machine import ARM_FLAGS, X86_FLAGS, cpu_line, cpu_record, thread_settings, torch_threads
from spacy_rnn_lab.profiler import input_projection_share, profile_stages
from spacy_rnn.inference import applied_settings
from spacy_rnn.precision import bf16_supported
from spacy_rnn.layers import get_inference_net, get_torch_net
from spacy_rnn.models.formwise_rnn import FormwiseRNN

SENTENCES = TEXTS + [words for words, _, _ in TAGGED_SENTENCES] + [text for text, _ in ENTITY_SENTENCES]


def file_hashes(folder: Path):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def saved_pipelines(tmp_path_factory):
    """A tiny tagger and recognizer saved with their default inference settings (int8, per form)."""
    folder = tmp_path_factory.mktemp("pipelines")
    train_tagger(make_tagger_nlp()).to_disk(folder / "tagger")
    train_ner(make_ner_nlp()).to_disk(folder / "ner")
    return folder


def float_annotations(path: Path, name: str):
    """The annotations of the pipeline as trained: float32, per-token projection."""
    nlp = spacy.load(path, config={"components": {name: {"precision": "float32", "input_projection": "token"}}})
    return [annotations(doc) for doc in nlp.pipe(SENTENCES)]


def label_agreement(found, expected):
    tokens = [(a, b) for doc_found, doc_expected in zip(found, expected) for a, b in zip(doc_found[0], doc_expected[0])]
    return sum(a == b for a, b in tokens) / len(tokens)


@pytest.mark.parametrize("projection", ["token", "form"])
@pytest.mark.parametrize("name", ["tagger", "ner"])
def test_int8_predicts_the_float_labels_and_leaves_the_model_file_untouched(saved_pipelines, name, projection):
    before = file_hashes(saved_pipelines / name)
    expected = float_annotations(saved_pipelines / name, name)
    nlp = load_ours(saved_pipelines / name, Variant("int8", None, projection))
    assert applied_settings(nlp.get_pipe(name).model) == {"precision": "int8", "input_projection": projection}
    rnn = get_inference_net(nlp.get_pipe(name).model).encoder.rnn
    quantized = [rnn] if projection == "token" else [rnn.input_projection, *rnn.recurrent]
    assert all(type(module).__module__.startswith("torch.ao.nn.quantized.dynamic") for module in quantized)
    assert label_agreement([annotations(doc) for doc in nlp.pipe(SENTENCES)], expected) >= 0.95
    assert file_hashes(saved_pipelines / name) == before


@pytest.mark.parametrize("name", ["tagger", "ner"])
def test_the_per_form_projection_predicts_what_the_trained_model_predicts(saved_pipelines, name):
    nlp = load_ours(saved_pipelines / name, Variant("float32", None, "form"))
    assert isinstance(get_inference_net(nlp.get_pipe(name).model).encoder.rnn, FormwiseRNN)
    assert [annotations(doc) for doc in nlp.pipe(SENTENCES)] == float_annotations(saved_pipelines / name, name)


@pytest.mark.skipif(not bf16_supported(), reason="no native bf16 on this CPU")
def test_bf16_predicts_the_float_labels(saved_pipelines):
    expected = float_annotations(saved_pipelines / "ner", "ner")
    nlp = load_ours(saved_pipelines / "ner", Variant("bf16", None, "token"))
    outputs = nlp.get_pipe("ner").model.predict([nlp(SENTENCES[0])])
    assert outputs["tags"][0].dtype == torch.float32
    assert label_agreement([annotations(doc) for doc in nlp.pipe(SENTENCES)], expected) >= 0.95


def test_float32_per_token_runs_the_trained_module(saved_pipelines):
    nlp = load_ours(saved_pipelines / "tagger", Variant("float32", None, "token"))
    model = nlp.get_pipe("tagger").model
    assert get_inference_net(model) is get_torch_net(model)


@pytest.mark.parametrize("projection", ["form", "token"])
def test_int8_text_classifier_keeps_its_decisions(trained_textcat_nlp, tmp_path, projection):
    texts = ["I loved this film .", "It was dull and far too long .", "An excellent cast .", ""]
    expected = [doc.cats for doc in trained_textcat_nlp.pipe(texts)]
    trained_textcat_nlp.to_disk(tmp_path / "textcat")
    nlp = load_ours(tmp_path / "textcat", Variant("int8", None, projection))
    assert applied_settings(nlp.get_pipe("textcat").model) == {"precision": "int8", "input_projection": projection}
    found = [doc.cats for doc in nlp.pipe(texts)]
    for cats, reference in zip(found, expected):
        assert max(cats, key=cats.get) == max(reference, key=reference.get)
        assert cats == pytest.approx(reference, abs=0.05)


def test_the_headline_variant_is_the_pipeline_as_loaded(saved_pipelines):
    loaded = loaded_variant(load_ours(saved_pipelines / "ner"))
    assert loaded == Variant("int8", True, "form", as_loaded=True)
    assert loaded.name == "int8, per-form projection, confidences on (as loaded)"
    assert load_ours(saved_pipelines / "ner", loaded).get_pipe("ner").cfg["precision"] == "int8"
    overridden = load_ours(saved_pipelines / "ner", Variant("float32", False, "token"))
    assert overridden.get_pipe("ner").cfg["confidences"] is False
    assert applied_settings(overridden.get_pipe("ner").model) == {"precision": "float32", "input_projection": "token"}
    assert loaded_variant(overridden) == Variant("float32", False, "token", as_loaded=True)


def test_variants_start_as_loaded_and_cover_confidences_only_for_a_recognizer(saved_pipelines):
    tagger = saved_pipelines / "tagger"
    loaded = loaded_variant(load_ours(tagger))
    assert make_variants(tagger, loaded, ["float32", "int8"], [True, False]) == [Variant("int8", None, "form", as_loaded=True), Variant("float32")]
    ner = saved_pipelines / "ner"
    variants = make_variants(ner, loaded_variant(load_ours(ner)), ["int8"], [True, False], ["form", "token"])
    assert [variant.name for variant in variants] == [
        "int8, per-form projection, confidences on (as loaded)", "int8, per-form projection, confidences off",
        "int8, per-token projection, confidences on", "int8, per-token projection, confidences off",
    ]


def test_variants_of_a_transformer_pipeline_name_no_input_projection(tmp_path):
    config = {"components": {"textcat": {"factory": "torch_textcat", "model": {"encoder": {"@architectures": "spacy_rnn.TransformerEncoder.v1"}}}}}
    Config(config).to_disk(tmp_path / "config.cfg")
    loaded = Variant("float32", None, "token", as_loaded=True)
    variants = make_variants(tmp_path, loaded, ["float32"], [True], ["form", "token"])
    assert variants == [Variant("float32", None, None, as_loaded=True)] and variants[0].name == "float32 (as loaded)"


def test_the_cpu_record_names_the_model_and_the_flags_that_matter():
    cpu = cpu_record()
    assert cpu["model"] and set(cpu["flags"]) in (set(X86_FLAGS), set(ARM_FLAGS))
    assert cpu["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    assert cpu["quantized_engine"] == torch.backends.quantized.engine
    if Path("/proc/cpuinfo").exists():
        words = set(Path("/proc/cpuinfo").read_text().split())
        assert cpu["flags"] == {flag: flag in words for flag in cpu["flags"]}
    record = {"model": "Intel Xeon", "flags": {"avx2": True, "avx512f": True, "avx512_bf16": False}, "torch_capability": "AVX512", "quantized_engine": "x86"}
    assert cpu_line(record) == "CPU Intel Xeon; flags avx2, avx512f (not avx512_bf16); torch CPU capability AVX512, quantized engine x86"


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


def test_accuracy_scores_a_text_classifier(tmp_path):
    nlp = train_textcat(make_textcat_nlp())
    DocBin(docs=[eg.reference for eg in textcat_examples(nlp)]).to_disk(tmp_path / "gold.spacy")
    scores = accuracy(nlp, tmp_path / "gold.spacy")
    assert set(scores) == {"cats_acc", "cats_macro_f"} and scores["cats_acc"] > 90


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


LOADED, OTHER = "int8 (as loaded)", "float32"
CPU = {"model": "AMD EPYC 9654", "flags": {"avx2": True, "avx512f": True, "avx512_vnni": True, "avx512_bf16": True, "amx_bf16": False},
       "torch_capability": "AVX512", "quantized_engine": "x86"}
CPU_LINE = ("CPU AMD EPYC 9654; flags avx2, avx512f, avx512_vnni, avx512_bf16 (not amx_bf16); torch CPU capability AVX512, "
            "quantized engine x86")
REPORT = {
    "unsupported_precisions": {"bf16": "unsupported (no native bf16 instructions on this CPU)"},
    "texts": {"path": "corpus/x.spacy", "sha256": "ab" * 32, "n_texts": 2, "n_chars": 30, "n_sentences": 3},
    "speed": {
        "model": "training/ner/model-best", "model_components": ["ner"], "peer": "en_core_web_sm", "peer_components": ["ner"],
        "peer_ops": "NumpyOps", "n_texts": 2, "n_words": 12, "repeats": 3, "batch_size": 256, "cpu": CPU,
        "variants": [
            {"name": LOADED, "precision": "int8", "confidences": None, "input_projection": None, "as_loaded": True},
            {"name": OTHER, "precision": "float32", "confidences": None, "input_projection": None, "as_loaded": False},
        ],
        "headline": f"one thread each; ours {LOADED}", "words_per_second": {"ours": 4000, "peer": 1000}, "speed_ratio": 4.0,
        "one_thread": {
            "ours_threads": {"torch_threads": 1, "torch_interop_threads": 2, "OMP_NUM_THREADS": "1"}, "peer_n_process": 1,
            "words_per_second": {LOADED: 4000, OTHER: 3000, "peer": 1000}, "speed_ratio": {LOADED: 4.0, OTHER: 3.0},
        },
        "all_cores": {
            "ours_threads": {"torch_threads": 2, "torch_interop_threads": 2}, "peer_n_process": 2, "copies": 7, "n_texts": 14,
            "n_sentences": 21, "n_words": 84, "words_per_second": {LOADED: 6000, OTHER: 5000, "peer": 2500},
            "speed_ratio": {LOADED: 2.4, OTHER: 2.0},
        },
        "peer_check": {"components": ["ner"], "reference_components": ["tok2vec", "ner"], "peer_entities_identical": True,
                       "n_entities": 5, "n_entities_reference": 5, "n_texts_differing": 0},
    },
    "accuracy": {"split": "corpus/dev.spacy", "scores": {LOADED: {"ents_f": 90.5}, OTHER: {"ents_f": 90.42}}},
    "profile": {
        name: {"n_words": 12, "distinct_forms_per_token": 0.5, "input_projection_share": 0.6,
               "stages": {"tokenizer": 0.1, "ner: encoder: LSTM": 0.3, "other (spaCy's pipe loop)": 0.1}}
        for name in (LOADED, OTHER)
    },
    "memory": {"precision": LOADED, "n_chars": 1000, "n_tokens": 200, "n_tokens_annotated": 200, "seconds": 0.1,
               "rss_after_load_mib": 100.0, "peak_rss_mib": 120.0, "peak_increase_mib": 20.0},
}


def test_report_labels_the_thread_settings_the_cpu_and_lists_every_measurement(tmp_path):
    write_benchmark_report(json.loads(json.dumps(REPORT)), tmp_path)
    assert json.loads((tmp_path / "speed.json").read_text())["machine"]["cpu_count"] == os.cpu_count()
    text = (tmp_path / "speed.md").read_text()
    assert f"**Headline (one thread each; ours int8 (as loaded)): 4,000 vs 1,000 words/s, ratio 4.00** ({CPU_LINE})" in text
    assert "## One thread each (headline)" in text and "Ours: torch 1 threads (interop 2); OMP_NUM_THREADS=1." in text
    assert "| ours | ner | int8 (as loaded) | 4,000 | 4.00 |" in text and "| ours | ner | float32 | 3,000 | 3.00 |" in text
    assert "| en_core_web_sm | ner |  | 1,000 | 1.00 |" in text
    assert "## All cores" in text and "`nlp.pipe(n_process=2)`" in text and "| ours | ner | float32 | 5,000 | 2.00 |" in text
    assert "are identical to those with tok2vec + ner on these texts (5 vs 5 entities)" in text
    assert "| float32 | 90.42 (-0.08) |" in text and "(dev; gold tokens" in text
    assert "| ner: encoder: LSTM | 300 ms (60%) | 300 ms (60%) |" in text and "| total | 500 ms | 500 ms |" in text
    assert "Not benchmarked: bf16, unsupported (no native bf16 instructions on this CPU)." in text
    assert "(int8 (as loaded))" in text and "+20.0 MiB" in text
    # the CPU next to every speed figure: headline, both speed tables, the profile and the memory
    assert text.count(CPU_LINE) == 5
