"""torch_ner specifics: tag schemes, the CRF and softmax heads, valid decoding, labels and
missing annotation.

The contract it shares with every component is in test_component_contract.py."""
import numpy
import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example, biluo_tags_to_spans, iob_to_biluo

from spacy_rnn.layers import get_torch_net
from spacy_rnn.models.tag_schemes import tag_constraints

from helpers import ENTITY_SENTENCES, entity_examples, make_ner_nlp, train_ner


def entities(doc):
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def test_labels_and_tags_follow_the_scheme(trained_ner_nlp):
    ner = trained_ner_nlp.get_pipe("ner")
    assert ner.labels == ("LOC", "ORG", "PER")
    assert ner.tags[:5] == ["O", "B-LOC", "I-LOC", "L-LOC", "U-LOC"] and len(ner.tags) == 13


@pytest.mark.parametrize("crf", [True, False], ids=["crf", "softmax"])
@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_every_head_and_scheme_learns_the_entities(crf, scheme):
    """Including adjacent entities of one type ("Paris Berlin") and a sentence without any."""
    nlp = train_ner(make_ner_nlp(model={"crf": crf}, tag_scheme=scheme))
    assert len(nlp.get_pipe("ner").tags) == 1 + len(scheme.replace("O", "")) * 3
    for text, spans in ENTITY_SENTENCES:
        assert entities(nlp(Doc(nlp.vocab, words=text.split()))) == spans


def test_softmax_head_learns_no_transitions():
    nlp = make_ner_nlp(model={"crf": False})
    nlp.initialize(lambda: entity_examples(nlp))
    assert list(get_torch_net(nlp.get_pipe("ner").model).crf.parameters()) == []


def test_a_pipeline_saved_without_its_tag_scheme_takes_the_scheme_of_its_tags(tmp_path):
    """Pipelines saved before tag_scheme was a setting of the component have neither it in their
    cfg nor in their config: loaded with the default ("BILUO"), a BIO model keeps reading BIO."""
    nlp = train_ner(make_ner_nlp(tag_scheme="BIO"), n_iter=20)
    nlp.to_disk(tmp_path)
    cfg = srsly.read_json(tmp_path / "ner" / "cfg")
    del cfg["tag_scheme"]
    srsly.write_json(tmp_path / "ner" / "cfg", cfg)
    config = spacy.util.load_config(tmp_path / "config.cfg")
    del config["components"]["ner"]["tag_scheme"]
    config.to_disk(tmp_path / "config.cfg")
    loaded = spacy.load(tmp_path)
    assert loaded.get_pipe("ner").cfg["tag_scheme"] == "BIO"
    for text, spans in ENTITY_SENTENCES:
        assert entities(loaded(text)) == entities(nlp(text))


def test_unknown_scheme_is_rejected():
    with pytest.raises(ValueError, match="tag_scheme"):
        make_ner_nlp(tag_scheme="IOBES")


def test_any_emissions_decode_to_valid_entities(trained_ner_nlp):
    """Random scores (which as a plain argmax would give I- and L- tags out of place) still
    decode to tag sequences spaCy accepts as entities."""
    pipe = trained_ner_nlp.get_pipe("ner")
    torch.manual_seed(0)
    docs = [trained_ner_nlp.make_doc("a b c d e f g h i j k l " * k) for k in range(1, 30)]
    tag_ids = pipe.decode(docs, [torch.randn(len(doc), len(pipe.tags)) * 10 for doc in docs])
    allowed = tag_constraints(pipe.tags)
    for ids in tag_ids:
        assert allowed["allowed_start"][ids[0]] and allowed["allowed_end"][ids[-1]]
        assert all(allowed["allowed_transitions"][a][b] for a, b in zip(ids, ids[1:]))
    pipe.set_annotations(docs, tag_ids)
    assert sum(len(doc.ents) for doc in docs) > 0


@pytest.mark.parametrize("scheme", ["BILUO", "BIO"])
def test_decoded_tags_are_read_as_spacy_reads_them(scheme):
    """`tag_spans` (the fast reader that entities and their confidences share) gives exactly
    spaCy's spans for any valid tag sequence, adjacent entities of one type included."""
    pipe = make_ner_nlp(tag_scheme=scheme).get_pipe("ner")
    pipe.initialize(lambda: entity_examples(make_ner_nlp(tag_scheme=scheme)))
    tags = pipe.tags
    rng = numpy.random.default_rng(0)
    for _ in range(200):
        sequence = []
        while len(sequence) < 30:
            label = rng.choice(["LOC", "ORG", "PER", "O"])
            if label == "O":
                sequence.append("O")
                continue
            n = int(rng.integers(1, 4))
            if scheme == "BILUO":
                sequence += [f"U-{label}"] if n == 1 else [f"B-{label}"] + [f"I-{label}"] * (n - 2) + [f"L-{label}"]
            else:
                sequence += [f"B-{label}"] + [f"I-{label}"] * (n - 1)
        doc = Doc(pipe.vocab, words=[f"w{i}" for i in range(len(sequence))])
        biluo = sequence if scheme == "BILUO" else iob_to_biluo(sequence)
        expected = [(span.start, span.end, span.label_) for span in biluo_tags_to_spans(doc, biluo)]
        assert pipe.tag_spans(numpy.array([tags.index(tag) for tag in sequence])) == expected


def test_whitespace_tokens_are_never_in_entities(trained_ner_nlp):
    pipe = trained_ner_nlp.get_pipe("ner")
    doc = trained_ner_nlp.make_doc("Anna  \n Tom")
    everything_u_per = torch.nn.functional.one_hot(torch.full((3,), pipe.tags.index("U-PER")), len(pipe.tags))
    pipe.set_annotations([doc], pipe.decode([doc], [everything_u_per * 10.0]))
    assert [(t.text, t.ent_iob_) for t in doc] == [("Anna", "B"), (" \n ", "O"), ("Tom", "B")]


def test_decoding_in_small_groups_equals_one_group(trained_ner_nlp, monkeypatch):
    pipe = trained_ner_nlp.get_pipe("ner")
    docs = [trained_ner_nlp.make_doc(text) for text, _ in ENTITY_SENTENCES] * 3
    together = pipe.predict(docs)
    monkeypatch.setitem(pipe.cfg, "max_batch_tokens", 5)
    for one, other in zip(together, pipe.predict(docs)):
        numpy.testing.assert_array_equal(one, other)


def test_scores_per_type_flow_through_spacys_scorer(trained_ner_nlp):
    scores = trained_ner_nlp.evaluate(entity_examples(trained_ner_nlp))
    assert scores["ents_f"] == 1.0 and set(scores["ents_per_type"]) == {"PER", "LOC", "ORG"}


def test_initialize_without_entities_raises_clear_error():
    nlp = make_ner_nlp()
    examples = [Example(nlp.make_doc("no entities here"), nlp.make_doc("no entities here"))]
    with pytest.raises(ValueError, match="no entity labels"):
        nlp.initialize(lambda: examples)


def test_update_with_unknown_gold_label_raises():
    nlp = make_ner_nlp()
    optimizer = nlp.initialize(lambda: entity_examples(nlp))
    reference = Doc(nlp.vocab, words=["On", "Monday"])
    reference.set_ents([Span(reference, 1, 2, "DATE")], default="outside")
    with pytest.raises(ValueError, match="'DATE'"):
        nlp.update([Example(nlp.make_doc("On Monday"), reference)], sgd=optimizer)


def test_missing_annotation_is_marginalised():
    """A doc without entity annotation adds no loss; one known token makes the loss positive."""
    nlp = make_ner_nlp()
    nlp.initialize(lambda: entity_examples(nlp))
    pipe = nlp.get_pipe("ner")
    unannotated = Example(nlp.make_doc("Anna met Tom"), nlp.make_doc("Anna met Tom"))
    outputs = pipe.model.predict([unannotated.predicted])
    loss, d_outputs = pipe.get_loss([unannotated], outputs)
    assert loss == pytest.approx(0.0, abs=1e-5) and float(d_outputs["tags"][0].abs().max()) < 1e-5
    partial = Doc(nlp.vocab, words=["Anna", "met", "Tom"], ents=["B-PER", None, None])
    loss, _ = pipe.get_loss([Example(nlp.make_doc("Anna met Tom"), partial)], outputs)
    assert loss > 0
