"""Confidences: CRF marginals and entity probabilities against brute force over every tag
sequence; `ent._.confidence`, `token._.pos_confidence` / `token._.tag_confidence` on docs."""
import itertools
import pickle

import pytest
import spacy
import torch
from spacy.tokens import Doc, Span
from test_crf import BILUO_TAGS, BIO_TAGS, brute_force_scores, random_crf
from torch import nn

from helpers import ENTITY_SENTENCES, TAGGED_SENTENCES, make_nlp, train_ner
from spacy_rnn.models.ner import EntityTaggerNet


class NoEncoder(nn.Module):
    """Stands in for an encoder: the net's CRF is all these tests use."""

    output_width = 1


def random_net(tags, seed=0):
    net = EntityTaggerNet(NoEncoder(), tags)
    net.crf = random_crf(tags, seed)
    return net


def brute_force_probability(crf, tags, emissions, keep, scores=None):
    """The total probability of the valid sequences for which keep(sequence) is true
    (scores: brute_force_scores of the emissions, when already computed)."""
    scores = scores or brute_force_scores(crf, tags, emissions, len(emissions))
    log_z = torch.logsumexp(torch.stack(list(scores.values())), dim=0)
    kept = [score for sequence, score in scores.items() if keep(sequence)]
    return float((torch.logsumexp(torch.stack(kept), dim=0) - log_z).exp()) if kept else 0.0


@pytest.mark.parametrize("tags", [BILUO_TAGS, BIO_TAGS], ids=["BILUO", "BIO"])
def test_marginals_sum_to_one_and_equal_brute_force(tags):
    crf = random_crf(tags)
    torch.manual_seed(2)
    emissions = torch.randn(2, 4, len(tags))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    marginals = crf.marginals(emissions, mask)
    torch.testing.assert_close(marginals.sum(dim=-1), mask.float())
    for row, n in enumerate(mask.sum(dim=1).tolist()):
        scores = brute_force_scores(crf, tags, emissions[row], n)
        for t, tag in itertools.product(range(n), range(len(tags))):
            expected = brute_force_probability(crf, tags, emissions[row, :n], lambda seq: seq[t] == tag, scores)
            assert float(marginals[row, t, tag]) == pytest.approx(expected, abs=1e-5)


SPANS = [(0, 2, "PER"), (1, 2, "LOC"), (3, 4, "PER"), (0, 4, "LOC"), (1, 3, "PER")]


@pytest.mark.parametrize("tags", [BILUO_TAGS, BIO_TAGS], ids=["BILUO", "BIO"])
def test_span_probability_equals_the_brute_force_sum(tags):
    """p(span) = the probability of the valid sequences in which that labelled span is an
    entity: its tokens carry its tags, and (BIO) the next token does not continue it."""
    net = random_net(tags)
    torch.manual_seed(3)
    emissions = torch.randn(4, len(tags)) * 2
    (probabilities,) = net.span_probabilities([emissions], [torch.zeros(4, dtype=torch.bool)], [SPANS], max_cells=7)
    for span, probability in zip(SPANS, probabilities):
        expected = brute_force_probability(net.crf, tags, emissions, lambda seq: span in spans_of([tags[i] for i in seq]))
        assert probability == pytest.approx(expected, abs=1e-6)


def spans_of(tags):
    """(start, end, label) entities of a valid BIO or BILUO tag sequence."""
    entities, start = [], None
    for i, tag in enumerate(tags + ["O"]):
        if start is not None and not tag.startswith(("I-", "L-")):
            entities.append((start, i, tags[start][2:]))
            start = None
        if tag.startswith(("B-", "U-")):
            start = i
    return entities


def test_span_probability_respects_tokens_forced_outside():
    net = random_net(BILUO_TAGS)
    torch.manual_seed(4)
    emissions = torch.randn(4, len(BILUO_TAGS))
    outside = torch.tensor([False, False, True, False])
    span = (0, 2, "PER")
    (probabilities,) = net.span_probabilities([emissions], [outside], [[span]], max_cells=100)
    expected = brute_force_probability(
        net.crf, BILUO_TAGS, emissions, lambda seq: seq[2] == 0 and (0, 2, "PER") in spans_of([BILUO_TAGS[i] for i in seq])
    ) / brute_force_probability(net.crf, BILUO_TAGS, emissions, lambda seq: seq[2] == 0)
    assert probabilities[0] == pytest.approx(expected, abs=1e-6)


def test_docs_without_spans_get_no_probabilities():
    net = random_net(BIO_TAGS)
    emissions = [torch.randn(3, len(BIO_TAGS)), torch.randn(0, len(BIO_TAGS))]
    outside = [torch.zeros(3, dtype=torch.bool), torch.zeros(0, dtype=torch.bool)]
    assert net.span_probabilities(emissions, outside, [[], []], max_cells=10) == [[], []]


def test_predicted_entities_get_their_probability(trained_ner_nlp):
    docs = list(trained_ner_nlp.pipe(text for text, _ in ENTITY_SENTENCES))
    confidences = [ent._.confidence for doc in docs for ent in doc.ents]
    assert confidences and all(0.5 < p <= 1.0 + 1e-9 for p in confidences)  # overfitted: confident
    doc = trained_ner_nlp("Anna Smith flew to Zyxwv on Monday .")
    assert all(0.0 < ent._.confidence <= 1.0 + 1e-9 for ent in doc.ents)


def test_confidences_survive_serialization_of_the_doc(trained_ner_nlp):
    doc = trained_ner_nlp("Tom met Anna in Berlin")
    expected = [(ent.text, ent._.confidence) for ent in doc.ents]
    for copy in (Doc(trained_ner_nlp.vocab).from_bytes(doc.to_bytes()), pickle.loads(pickle.dumps(doc))):
        assert [(ent.text, ent._.confidence) for ent in copy.ents] == expected


def test_preset_entities_have_no_confidence(trained_ner_nlp):
    doc = trained_ner_nlp.make_doc("Tom met Anna in Berlin")
    doc.set_ents([Span(doc, 0, 1, "ORG")], default="unmodified")
    doc = trained_ner_nlp.get_pipe("ner")(doc)
    assert doc.ents[0].label_ == "ORG" and doc.ents[0]._.confidence is None
    assert all(ent._.confidence is not None for ent in doc.ents[1:])


def test_confidences_can_be_switched_off():
    nlp = train_ner(make_nlp("torch_ner", "ner", pipe={"confidences": False}), n_iter=2)
    assert nlp.get_pipe("ner").cfg["confidences"] is False
    doc = nlp("Tom met Anna in Berlin")
    assert all(ent._.confidence is None for ent in doc.ents)


def test_confidences_can_be_switched_off_when_loading(trained_ner_nlp, tmp_path):
    trained_ner_nlp.to_disk(tmp_path / "ner")
    nlp = spacy.load(tmp_path / "ner", config={"components": {"ner": {"confidences": False}}})
    assert nlp.get_pipe("ner").cfg["confidences"] is False
    assert all(ent._.confidence is None for ent in nlp("Tom met Anna in Berlin").ents)
    assert spacy.load(tmp_path / "ner").get_pipe("ner").cfg["confidences"] is True


def test_tag_confidences_are_the_chosen_labels_probabilities(trained_tagger_nlp):
    tagger = trained_tagger_nlp.get_pipe("tagger")
    doc = trained_tagger_nlp(TAGGED_SENTENCES[0][0])
    for head in ("pos", "tag"):
        top = tagger.top_labels(doc, head, k=3)
        for token, labels in zip(doc, top):
            label, probability = labels[0]
            assert label == (token.pos_ if head == "pos" else token.tag_)
            assert token._.get(f"{head}_confidence") == pytest.approx(probability, abs=1e-6)
            assert [p for _, p in labels] == sorted((p for _, p in labels), reverse=True)
    assert all(token._.pos_confidence > 0.5 for token in doc)  # overfitted
    assert trained_tagger_nlp.make_doc("untagged")[0]._.pos_confidence is None



def tag_values(doc):
    return {(token.idx, token.text): (token._.pos_confidence, token._.tag_confidence) for token in doc}


def test_tag_confidences_move_with_their_tokens_or_are_cleared(trained_tagger_nlp):
    """Retokenizing, copying a span or relabelling never gives a token another token's value:
    untouched tokens keep theirs, merged, split or relabelled tokens read None."""
    doc = trained_tagger_nlp("She quickly reads old books .")
    before = tag_values(doc)
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[1:3])  # "quickly reads"
    for token in doc:
        expected = (None, None) if token.text == "quickly reads" else before[(token.idx, token.text)]
        assert (token._.pos_confidence, token._.tag_confidence) == expected, token.text
    assert doc._.pos_confidences == [value[0] for value in tag_values(doc).values()]
    with doc.retokenize() as retokenizer:
        retokenizer.split(doc[3], ["bo", "oks"], heads=[(doc[3], 1), doc[2]])
    assert [token._.pos_confidence for token in doc[3:5]] == [None, None]
    assert doc[5]._.pos_confidence == before[(doc[5].idx, ".")][0]
    doc[0].pos_ = "X"  # relabelled after tagging: the probability was not the new label's
    assert doc[0]._.pos_confidence is None and doc[0]._.tag_confidence == before[(0, "She")][1]

    doc = trained_tagger_nlp("She quickly reads old books .")
    part = doc[2:5].as_doc(copy_user_data=True)
    assert [tag_values(part)[(t.idx, t.text)] for t in part] == [before[(t.idx, t.text)] for t in doc[2:5]]
    copied = Doc(trained_tagger_nlp.vocab).from_bytes(doc.to_bytes())
    assert tag_values(copied) == before
    assert doc[2:5].as_doc()[0]._.pos_confidence is None  # spaCy copies no custom values by default


def test_entity_confidences_follow_their_entity_or_are_cleared(trained_ner_nlp):
    doc = trained_ner_nlp("The United Nations met in New York City")
    before = {(ent.start_char, ent.end_char, ent.label_): ent._.confidence for ent in doc.ents}
    assert len(before) == 2 and all(before.values())
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[5:8])  # inside an entity: the entity is the same
    assert {(e.start_char, e.end_char, e.label_): e._.confidence for e in doc.ents} == before
    with doc.retokenize() as retokenizer:  # relabelled by the merge: not the predicted entity
        retokenizer.merge(doc[1:3], attrs={"ENT_TYPE": "LOC", "ENT_IOB": 3})
    (relabelled,) = [ent for ent in doc.ents if ent.text == "United Nations"]
    assert relabelled.label_ == "LOC" and relabelled._.confidence is None
    with doc.retokenize() as retokenizer:  # around an entity: it is gone or another span
        retokenizer.merge(doc[3:5])
    assert all(ent._.confidence is None or (ent.start_char, ent.end_char, ent.label_) in before for ent in doc.ents)

    doc = trained_ner_nlp("The United Nations met in New York City")
    city = before[(26, 39, "LOC")]
    part = doc[3:].as_doc(copy_user_data=True)
    assert [(ent.text, ent._.confidence) for ent in part.ents] == [("New York City", city)]
    span = Span(doc, 5, 8, label="GPE")  # same tokens, another label
    assert span._.confidence is None and doc.ents[1]._.confidence == city


@pytest.mark.parametrize("eager", [False, True])
def test_surprisals_move_with_their_tokens_or_are_cleared(eager):
    """The language model's per-token values follow the same rule as the tagger's."""
    from lm_helpers import lm_examples, make_lm_nlp

    nlp = make_lm_nlp()
    nlp.initialize(lambda: lm_examples(nlp))
    nlp.get_pipe("lm").cfg["eager"] = eager
    doc = nlp("the cat sat on the mat")
    before = {(t.idx, t.text): t._.surprisal for t in doc}
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[1:3])
    assert [t._.surprisal for t in doc] == [before[(0, "the")], None, *[before[(t.idx, t.text)] for t in doc[2:]]]
    copied = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert [t._.surprisal for t in copied] == [t._.surprisal for t in doc]
