"""The GPU path's plumbing, checked on a CPU: every torch module is built on the device of
thinc's current ops (a GPU after `spacy train --gpu-id 0`, which calls `require_gpu`), so
training does not silently stay on the CPU. The real GPU run is `python -m spacy_rnn_lab check-gpu`."""
import pytest
import torch

import spacy_rnn.layers
from spacy_rnn_lab.gpu_check import compare, cpu_predictions, predictions, run_gpu_check
from spacy_rnn.layers import get_torch_net

from helpers import TEXTS, entity_examples, make_ner_nlp, make_tagger_nlp, make_textcat_nlp, tagged_examples, textcat_examples, train_ner


@pytest.mark.parametrize(
    "make_nlp, examples",
    [(make_tagger_nlp, tagged_examples), (make_ner_nlp, entity_examples), (make_textcat_nlp, textcat_examples)],
)
def test_initialize_builds_the_module_on_the_device_of_thincs_ops(monkeypatch, make_nlp, examples):
    monkeypatch.setattr(spacy_rnn.layers, "get_torch_default_device", lambda: torch.device("meta"))
    nlp = make_nlp()
    nlp.initialize(lambda: examples(nlp))
    devices = {p.device.type for pipe in nlp.pipe_names for p in get_torch_net(nlp.get_pipe(pipe).model).parameters()}
    assert devices == {"meta"}


def test_the_gpu_check_refuses_to_run_without_a_cuda_device(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        run_gpu_check(tmp_path)
    with pytest.raises(RuntimeError, match="unknown checks"):
        run_gpu_check(tmp_path, only=["parser"])


def test_a_saved_pipeline_predicts_the_same_in_a_fresh_cpu_process(tmp_path):
    nlp = train_ner(make_ner_nlp(), n_iter=20)
    nlp.to_disk(tmp_path / "model")
    here = [predictions(doc) for doc in nlp.pipe(TEXTS)]
    there = cpu_predictions(tmp_path / "model", TEXTS, tmp_path)
    assert there == here
    assert compare(here, there) == {"entity_doc_agreement": 1.0, "passed": True}


def test_the_comparison_fails_beyond_float_tolerance():
    gpu = [{"tags": ["NOUN NN", "VERB VBD"], "cats": {"pos": 0.7, "neg": 0.3}}]
    assert compare(gpu, gpu)["passed"]
    assert not compare(gpu, [{"tags": ["NOUN NN", "NOUN NN"], "cats": {"pos": 0.7, "neg": 0.3}}])["passed"]
    assert not compare(gpu, [{"tags": ["NOUN NN", "VERB VBD"], "cats": {"pos": 0.69, "neg": 0.31}}])["passed"]
    assert compare(gpu, [{"tags": ["NOUN NN", "VERB VBD"], "cats": {"pos": 0.7 + 1e-6, "neg": 0.3 - 1e-6}}])["passed"]
