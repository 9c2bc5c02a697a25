"""The bilstm_tagger component contract (modelled on spaCy's own tagger tests)."""
import json
import pickle
import subprocess
import sys

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example

from spacy_rnn.layers import get_torch_net

from conftest import TAGGED_SENTENCES, make_tagger_nlp, tagged_examples, train_tagger


def tags(doc):
    return [(t.text, t.pos_, t.tag_) for t in doc]


def gold_tags(words, upos, xpos):
    return list(zip(words.split(), upos.split(), xpos.split()))


def test_overfits_the_training_sentences(trained_tagger_nlp):
    for words, upos, xpos in TAGGED_SENTENCES:
        doc = trained_tagger_nlp(Doc(trained_tagger_nlp.vocab, words=words.split()))
        assert tags(doc) == gold_tags(words, upos, xpos)


def test_labels_are_collected_per_head(trained_tagger_nlp):
    tagger = trained_tagger_nlp.get_pipe("tagger")
    assert "NOUN" in tagger.label_data["pos"] and "NNS" in tagger.label_data["tag"]
    assert tagger.labels == tuple(tagger.label_data["pos"])


def test_scores_flow_through_spacys_scorer(trained_tagger_nlp):
    scores = trained_tagger_nlp.evaluate(tagged_examples(trained_tagger_nlp))
    assert scores["pos_acc"] == 1.0 and scores["tag_acc"] == 1.0


def test_pipe_equals_call_doc_by_doc(trained_tagger_nlp):
    texts = ["The dog sat .", "Anna reads books quickly", "", "Is this tea ?"]
    piped = list(trained_tagger_nlp.pipe(texts, batch_size=3))
    assert [tags(doc) for doc in piped] == [tags(trained_tagger_nlp(text)) for text in texts]


def test_batched_logits_equal_unbatched(trained_tagger_nlp):
    """Packing: a doc's outputs do not depend on the other docs (and their lengths) in the batch."""
    model = trained_tagger_nlp.get_pipe("tagger").model
    docs = [trained_tagger_nlp.make_doc(t) for t in ["A cat", "Two birds sang and flew away over the old red roof", "Hi"]]
    batched = model.predict(docs)
    alone = [model.predict([doc]) for doc in docs]
    for head in batched:
        torch.testing.assert_close(batched[head], torch.cat([out[head] for out in alone]), rtol=1e-5, atol=1e-5)


def test_empty_and_whitespace_docs(trained_tagger_nlp):
    assert len(trained_tagger_nlp("")) == 0
    doc = trained_tagger_nlp("   \n\t ")
    assert all(token.is_space for token in doc)
    assert list(trained_tagger_nlp.pipe([])) == []
    docs = list(trained_tagger_nlp.pipe(["", "The cat sat", ""]))
    assert [len(d) for d in docs] == [0, 3, 0] and docs[1][1].pos_ == "NOUN"


def test_emoji_and_unseen_characters_are_tagged(trained_tagger_nlp):
    doc = trained_tagger_nlp("The 🐈 sat on the ŝtrangé mat 👍🏽 .")
    assert all(token.pos_ for token in doc)


def test_long_text_is_read_in_bounded_windows(trained_tagger_nlp):
    """A 1M-character text: every token tagged, the RNN never runs more than window_size steps."""
    nlp = trained_tagger_nlp
    settings = nlp.get_pipe("tagger").model.attrs["settings"]
    text = ("The cat sat on the mat and the dog chased two red balls " * 20000)[:1_000_000]
    nlp.max_length = len(text) + 1
    net = get_torch_net(nlp.get_pipe("tagger").model)
    longest = []
    hook = net.encoder.rnn.register_forward_hook(lambda module, args, out: longest.append(int(args[0].batch_sizes.numel())))
    try:
        doc = nlp(text)
    finally:
        hook.remove()
        nlp.max_length = 1_000_000
    assert len(doc) > 190_000
    assert all(token.pos_ for token in doc)
    assert max(longest) <= settings["window_size"]
    assert doc[1].pos_ == "NOUN" and doc[-2].pos_ in {"ADJ", "NOUN"}


def test_initialize_without_annotation_raises_clear_error():
    nlp = make_tagger_nlp()
    examples = [Example(nlp.make_doc("no tags here"), nlp.make_doc("no tags here"))]
    with pytest.raises(ValueError, match="no labels"):
        nlp.initialize(lambda: examples)


def test_initialize_rejects_non_universal_pos_labels():
    nlp = make_tagger_nlp()
    labels = {"pos": ["NOUN", "NOTATAG"], "tag": ["NN"]}
    with pytest.raises(ValueError, match="not Universal POS"):
        nlp.get_pipe("tagger").initialize(lambda: tagged_examples(nlp), nlp=nlp, labels=labels)


def test_update_with_unknown_gold_label_raises():
    nlp = make_tagger_nlp()
    optimizer = nlp.initialize(lambda: tagged_examples(nlp))
    doc = nlp.make_doc("The cat")
    example = Example.from_dict(doc, {"pos": ["DET", "NOUN"], "tags": ["DT", "NEWTAG"]})
    with pytest.raises(ValueError, match="NEWTAG"):
        nlp.update([example], sgd=optimizer)


def test_missing_gold_values_are_not_counted():
    nlp = make_tagger_nlp()
    nlp.initialize(lambda: tagged_examples(nlp))
    tagger = nlp.get_pipe("tagger")
    doc = nlp.make_doc("The cat sat")
    example = Example.from_dict(doc, {"pos": ["DET", "", "VERB"], "tags": ["DT", "NN", "VBD"]})
    outputs = tagger.model.predict([doc])
    _, d_outputs = tagger.get_loss([example], outputs)
    assert torch.all(d_outputs["pos"][1] == 0) and torch.any(d_outputs["pos"][0] != 0)


def test_update_with_empty_docs_is_a_no_op():
    nlp = make_tagger_nlp()
    optimizer = nlp.initialize(lambda: tagged_examples(nlp))
    losses = nlp.update([Example(nlp.make_doc(""), nlp.make_doc(""))], sgd=optimizer)
    assert losses["tagger"] == 0.0


def test_gradients_are_clipped_to_the_configured_norm(monkeypatch):
    nlp = make_tagger_nlp()
    optimizer = nlp.initialize(lambda: tagged_examples(nlp))
    tagger = nlp.get_pipe("tagger")
    tagger.cfg["max_grad_norm"] = 1e-3
    net = get_torch_net(tagger.model)
    seen = []
    shim = tagger.model.shims[0]
    original = shim.finish_update

    def record(sgd):
        seen.append(torch.norm(torch.stack([p.grad.norm() for p in net.parameters() if p.grad is not None])))
        original(sgd)

    monkeypatch.setattr(shim, "finish_update", record)
    nlp.update(tagged_examples(nlp), sgd=optimizer)
    (norm_before_clipping,) = tagger.drain_grad_norms()
    assert norm_before_clipping > 1e-3
    assert float(seen[0]) == pytest.approx(1e-3, rel=1e-3)
    assert tagger.drain_grad_norms() == []


def test_seeded_training_is_reproducible():
    first = train_tagger(make_tagger_nlp(), n_iter=5, seed=7)
    second = train_tagger(make_tagger_nlp(), n_iter=5, seed=7)
    first_state = get_torch_net(first.get_pipe("tagger").model).state_dict()
    second_state = get_torch_net(second.get_pipe("tagger").model).state_dict()
    for name, tensor in first_state.items():
        assert torch.equal(tensor, second_state[name]), name


TEXTS = ["The cat sat on the mat .", "Anna reads old books", "Zyx qwv 42 !"]


def test_disk_round_trip_gives_identical_predictions(trained_tagger_nlp, tmp_path):
    trained_tagger_nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert [tags(loaded(t)) for t in TEXTS] == [tags(trained_tagger_nlp(t)) for t in TEXTS]
    original = trained_tagger_nlp.get_pipe("tagger").model.predict([trained_tagger_nlp.make_doc(TEXTS[0])])
    reloaded = loaded.get_pipe("tagger").model.predict([loaded.make_doc(TEXTS[0])])
    for head in original:
        assert torch.equal(original[head], reloaded[head])


def test_bytes_round_trip_gives_identical_predictions(trained_tagger_nlp):
    nlp = make_tagger_nlp()
    nlp.from_bytes(trained_tagger_nlp.to_bytes())
    assert [tags(nlp(t)) for t in TEXTS] == [tags(trained_tagger_nlp(t)) for t in TEXTS]


def test_pickle_round_trip_gives_identical_predictions(trained_tagger_nlp):
    nlp = pickle.loads(pickle.dumps(trained_tagger_nlp))
    assert [tags(nlp(t)) for t in TEXTS] == [tags(trained_tagger_nlp(t)) for t in TEXTS]


def test_fresh_process_loads_through_entry_points(trained_tagger_nlp, tmp_path):
    """No import of spacy_rnn and no --code: the installed entry points provide the factory."""
    trained_tagger_nlp.to_disk(tmp_path / "nlp")
    script = (
        "import json, spacy, sys; nlp = spacy.load(sys.argv[1]); "
        "print(json.dumps([[(t.text, t.pos_, t.tag_) for t in nlp(x)] for x in sys.argv[2:]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "nlp"), *TEXTS], capture_output=True, text=True, check=True
    )
    assert [[tuple(t) for t in doc] for doc in json.loads(out.stdout)] == [tags(trained_tagger_nlp(t)) for t in TEXTS]


def test_set_annotations_writes_every_head(trained_tagger_nlp):
    tagger = trained_tagger_nlp.get_pipe("tagger")
    docs = [trained_tagger_nlp.make_doc("The cat"), trained_tagger_nlp.make_doc("Dogs")]
    guesses = {head: numpy.zeros(3, dtype="int64") for head in tagger.heads}
    tagger.set_annotations(docs, guesses)
    first_pos, first_tag = tagger.label_data["pos"][0], tagger.label_data["tag"][0]
    assert [(t.pos_, t.tag_) for doc in docs for t in doc] == [(first_pos, first_tag)] * 3
