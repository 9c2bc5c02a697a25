"""torch_tagger specifics: two heads (UPOS, XPOS), label checks, missing gold values.

The contract it shares with every component is in test_component_contract.py."""
import numpy
import pytest
import torch
from spacy.training import Example

from helpers import make_tagger_nlp, tagged_examples


def test_labels_are_collected_per_head(trained_tagger_nlp):
    tagger = trained_tagger_nlp.get_pipe("tagger")
    assert "NOUN" in tagger.label_data["pos"] and "NNS" in tagger.label_data["tag"]
    assert tagger.labels == tuple(tagger.label_data["pos"])


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
    d_pos = d_outputs["pos"][0]  # the one doc's tokens
    assert torch.all(d_pos[1] == 0) and torch.any(d_pos[0] != 0)




def test_set_annotations_writes_every_head(trained_tagger_nlp):
    tagger = trained_tagger_nlp.get_pipe("tagger")
    docs = [trained_tagger_nlp.make_doc("The cat"), trained_tagger_nlp.make_doc("Dogs")]
    guesses = {head: [numpy.zeros(len(doc), dtype="int64") for doc in docs] for head in tagger.heads}
    tagger.set_annotations(docs, guesses)
    first_pos, first_tag = tagger.label_data["pos"][0], tagger.label_data["tag"][0]
    assert [(t.pos_, t.tag_) for doc in docs for t in doc] == [(first_pos, first_tag)] * 3
