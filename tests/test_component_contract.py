"""The contract every torch-backed component keeps, modelled on spaCy's own pipeline tests.

Each test runs for the tagger, the named-entity recognizer and the text classifier.
"""
import json
import pickle
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example

from spacy_rnn.layers import get_torch_net

from helpers import (
    TEXTS,
    annotations,
    TINY_ENCODER,
    entity_examples,
    make_ner_nlp,
    make_tagger_nlp,
    make_textcat_nlp,
    tagged_examples,
    textcat_examples,
    train,
)


def per_doc(outputs):
    """A model's outputs for one head as one tensor per doc (token-level models return a list,
    doc-level ones a row per doc)."""
    return list(outputs)


@dataclass(frozen=True)
class Component:
    pipe: str
    make_nlp: Callable
    examples: Callable
    score: str
    is_annotated: Callable  # the token (or its doc) carries this component's annotation


COMPONENTS = {
    "tagger": Component("tagger", make_tagger_nlp, tagged_examples, "pos_acc", lambda token: bool(token.pos_)),
    "ner": Component("ner", make_ner_nlp, entity_examples, "ents_f", lambda token: bool(token.ent_iob_)),
    "textcat": Component(
        "textcat", make_textcat_nlp, textcat_examples, "cats_macro_f", lambda token: bool(token.doc.cats)
    ),
}


@pytest.fixture(params=list(COMPONENTS), scope="module")
def component(request):
    return COMPONENTS[request.param]


@pytest.fixture(scope="module")
def nlp(component, request):
    """The session's overfitted pipeline for this component (shared: do not modify it)."""
    return request.getfixturevalue(f"trained_{component.pipe}_nlp")


def test_overfits_the_training_data(component, nlp):
    for example in component.examples(nlp):
        predicted = nlp(Doc(nlp.vocab, words=[t.text for t in example.reference]))
        assert annotations(predicted) == annotations(example.reference)


def test_scores_flow_through_spacys_scorer(component, nlp):
    assert nlp.evaluate(component.examples(nlp))[component.score] == 1.0


def test_pipe_equals_call_doc_by_doc(nlp):
    texts = ["The dog sat .", "Anna reads books in Berlin", "", "Is this Paris ?"]
    piped = list(nlp.pipe(texts, batch_size=3))
    assert [annotations(doc) for doc in piped] == [annotations(nlp(text)) for text in texts]


def test_batched_outputs_equal_unbatched(component, nlp):
    """Packing: a doc's outputs do not depend on the other docs (and their lengths) in the batch."""
    model = nlp.get_pipe(component.pipe).model
    texts = ["A cat", "Two birds sang and flew away over the old red roof of Tom", "Hi"]
    docs = [nlp.make_doc(text) for text in texts]
    batched = model.predict(docs)
    alone = [model.predict([doc]) for doc in docs]
    for head in batched:
        for i, output in enumerate(per_doc(batched[head])):
            torch.testing.assert_close(output, per_doc(alone[i][head])[0], rtol=1e-5, atol=1e-5)


def test_empty_and_whitespace_docs(component, nlp):
    assert len(nlp("")) == 0
    doc = nlp("   \n\t ")
    assert all(token.is_space for token in doc) and not doc.ents
    assert list(nlp.pipe([])) == []
    docs = list(nlp.pipe(["", "Anna Smith flew to Paris", ""]))
    assert [len(d) for d in docs] == [0, 5, 0] and all(component.is_annotated(t) for t in docs[1])


def test_emoji_and_unseen_characters_are_annotated(component, nlp):
    doc = nlp("The 🐈 met Anna in Pärïs 👍🏽 .")
    assert all(component.is_annotated(token) for token in doc)


def test_long_text_is_read_in_bounded_windows(component, nlp):
    """A 1M-character text: every token annotated, the RNN never runs more than the encoder's
    window_size steps."""
    pipe = nlp.get_pipe(component.pipe)
    text = ("Anna Smith flew to Paris and the cat sat on the mat in Berlin . " * 16000)[:1_000_000]
    nlp.max_length = len(text) + 1
    longest = []
    hook = get_torch_net(pipe.model).encoder.register_forward_hook(
        lambda module, args, out: longest.append(out.shape[1])  # the batch's longest window
    )
    try:
        doc = nlp(text)
    finally:
        hook.remove()
        nlp.max_length = 1_000_000
    assert len(doc) > 190_000
    assert all(component.is_annotated(token) for token in doc)
    assert max(longest) <= TINY_ENCODER["window_size"]


def test_update_with_empty_docs_is_a_no_op(component):
    nlp = component.make_nlp()
    optimizer = nlp.initialize(lambda: component.examples(nlp))
    losses = nlp.update([Example(nlp.make_doc(""), nlp.make_doc(""))], sgd=optimizer)
    assert losses[component.pipe] == 0.0


def test_gradients_are_clipped_to_the_configured_norm(component, monkeypatch):
    nlp = component.make_nlp()
    optimizer = nlp.initialize(lambda: component.examples(nlp))
    pipe = nlp.get_pipe(component.pipe)
    pipe.cfg["max_grad_norm"] = 1e-3
    net = get_torch_net(pipe.model)
    seen = []
    shim = pipe.model.shims[0]
    original = shim.finish_update

    def record(sgd):
        seen.append(torch.norm(torch.stack([p.grad.norm() for p in net.parameters() if p.grad is not None])))
        original(sgd)

    monkeypatch.setattr(shim, "finish_update", record)
    nlp.update(component.examples(nlp), sgd=optimizer)
    (norm_before_clipping,) = pipe.drain_grad_norms()
    assert norm_before_clipping > 1e-3
    assert float(seen[0]) == pytest.approx(1e-3, rel=1e-3)
    assert pipe.drain_grad_norms() == []


def test_averaged_parameters_are_used_inside_use_params_and_restored_after(component):
    """With `use_averages = true`, spaCy's loop evaluates and saves under
    `nlp.use_params(optimizer.averages)`: the torch module must hold the averages there."""
    nlp = component.make_nlp()
    optimizer = nlp.initialize(lambda: component.examples(nlp))
    optimizer.averages = {}  # what `use_averages = true` sets up
    for _ in range(3):
        nlp.update(component.examples(nlp), sgd=optimizer)
    pipe = nlp.get_pipe(component.pipe)
    net = get_torch_net(pipe.model)
    shim_id = pipe.model.shims[0].id
    trained = {name: param.detach().clone() for name, param in net.named_parameters()}
    assert {(shim_id, name) for name in trained} <= set(optimizer.averages)
    with nlp.use_params(optimizer.averages):
        for name, param in net.named_parameters():
            assert torch.allclose(param, torch.as_tensor(optimizer.averages[(shim_id, name)]).reshape(param.shape))
        assert not all(torch.equal(param, trained[name]) for name, param in net.named_parameters())
    for name, param in net.named_parameters():
        assert torch.equal(param, trained[name]), name


def test_seeded_training_is_reproducible(component):
    first, second = component.make_nlp(), component.make_nlp()
    train(first, component.examples(first), n_iter=5, seed=7)
    train(second, component.examples(second), n_iter=5, seed=7)
    first_state = get_torch_net(first.get_pipe(component.pipe).model).state_dict()
    second_state = get_torch_net(second.get_pipe(component.pipe).model).state_dict()
    for name, tensor in first_state.items():
        assert torch.equal(tensor, second_state[name]), name


def test_disk_round_trip_gives_identical_predictions(component, nlp, tmp_path):
    """The annotations as loaded (with the component's inference settings, spacy_rnn.inference)
    are those of the trained pipeline, and loaded as trained (float32, per token) its outputs
    are identical: the trained weights are what is saved."""
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert [annotations(loaded(t)) for t in TEXTS] == [annotations(nlp(t)) for t in TEXTS]
    as_trained = {"precision": "float32", "input_projection": "token"}
    loaded = spacy.load(tmp_path / "nlp", config={"components": {component.pipe: as_trained}})
    original = nlp.get_pipe(component.pipe).model.predict([nlp.make_doc(TEXTS[0])])
    reloaded = loaded.get_pipe(component.pipe).model.predict([loaded.make_doc(TEXTS[0])])
    for head in original:
        assert all(map(torch.equal, per_doc(original[head]), per_doc(reloaded[head])))


def test_copies_of_cfg_entries_in_a_saved_model_are_dropped_when_it_loads(component, nlp, tmp_path):
    """Pipelines saved by earlier versions kept cfg["labels"] and cfg["max_batch_tokens"] in their
    model's attrs too: they load and predict the same, and cfg is left the one home of both."""
    saved = pickle.loads(pickle.dumps(nlp))
    pipe = saved.get_pipe(component.pipe)
    pipe.model.attrs.update(labels=pipe.label_data, max_batch_tokens=pipe.cfg["max_batch_tokens"])
    saved.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert [annotations(loaded(t)) for t in TEXTS] == [annotations(nlp(t)) for t in TEXTS]
    assert not {"labels", "max_batch_tokens"} & set(loaded.get_pipe(component.pipe).model.attrs)


def test_bytes_round_trip_gives_identical_predictions(component, nlp):
    fresh = component.make_nlp()
    fresh.from_bytes(nlp.to_bytes())
    assert [annotations(fresh(t)) for t in TEXTS] == [annotations(nlp(t)) for t in TEXTS]


def test_pickle_round_trip_gives_identical_predictions(nlp):
    unpickled = pickle.loads(pickle.dumps(nlp))
    assert [annotations(unpickled(t)) for t in TEXTS] == [annotations(nlp(t)) for t in TEXTS]


def test_fresh_process_loads_through_entry_points(nlp, tmp_path):
    """No import of spacy_rnn and no --code: the installed entry points provide the factory."""
    nlp.to_disk(tmp_path / "nlp")
    script = (
        "import json, spacy, sys; nlp = spacy.load(sys.argv[1]); docs = [nlp(x) for x in sys.argv[2:]]; "
        "print(json.dumps([[[(t.text, t.pos_, t.tag_, t.ent_iob_, t.ent_type_) for t in doc], "
        "max(doc.cats, key=doc.cats.get, default=None)] for doc in docs]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "nlp"), *TEXTS], capture_output=True, text=True, check=True
    )
    loaded = [([tuple(t) for t in tokens], cat) for tokens, cat in json.loads(out.stdout)]
    assert loaded == [annotations(nlp(t)) for t in TEXTS]
