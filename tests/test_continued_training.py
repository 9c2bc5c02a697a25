"""Continued training on a new label: the demonym rule that makes NORP out of MISC, the training
sets, the masked "old labels" view, and `continued-training` end to end on a tiny recognizer."""
import json

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from typer.testing import CliRunner

from helpers import ROOT, make_ner_nlp, train
from spacy_rnn_lab.cli import app
from spacy_rnn_lab.continued_training import (
    is_demonym,
    mask_new_label,
    relabel_demonyms,
    training_sets,
    view_scores,
)
from spacy_rnn.evaluation.seqeval_report import ner_scores

runner = CliRunner()

# Documents of sentences: (text, entities as (start token, end token, label)) per sentence.
DOCUMENTS = [
    [
        ("German officials met Anna Smith in Paris .", [(0, 1, "MISC"), (3, 5, "PER"), (6, 7, "LOC")]),
        ("The Dutch team won the World Cup .", [(1, 2, "MISC"), (5, 7, "MISC")]),
    ],
    [
        ("Google hired Bosnian Serb engineers .", [(0, 1, "ORG"), (2, 4, "MISC")]),
        ("Tom flew to Berlin for the Olympic games .", [(0, 1, "PER"), (3, 4, "LOC"), (6, 7, "MISC")]),
        ("Apple sued IBM in London .", [(0, 1, "ORG"), (2, 3, "ORG"), (4, 5, "LOC")]),
    ],
    [
        ("Iraqi Kurds fled to Turkey .", [(0, 2, "MISC"), (4, 5, "LOC")]),
        ("Moslem leaders met in Cairo .", [(0, 1, "MISC"), (4, 5, "LOC")]),
        ("Nothing happened .", []),
    ],
]


def document(vocab, sentences):
    """One Doc of the sentences, with gold sentence starts and entities."""
    words, starts, ents = [], [], []
    for text, spans in sentences:
        offset = len(words)
        tokens = text.split()
        words += tokens
        starts += [True] + [False] * (len(tokens) - 1)
        ents += [(offset + start, offset + end, label) for start, end, label in spans]
    doc = Doc(vocab, words=words, sent_starts=starts)
    doc.set_ents([Span(doc, start, end, label) for start, end, label in ents], default="outside")
    return doc


@pytest.mark.parametrize(
    "text, expected",
    [
        ("German", True),
        ("GERMAN", True),
        ("Palestinians", True),
        ("South African", True),
        ("Bosnian Serb", True),
        ("Iraqi Kurdish", True),
        ("German Open", False),  # a tournament: not every word is a demonym
        ("Moslem", False),  # religious group
        ("Republican", False),  # political group
        ("Arabic", False),  # language
        ("Texan", False),  # people of a region
        ("U.S.-led", False),  # hyphenated compound
        ("World Cup", False),
    ],
)
def test_a_demonym_is_a_listed_name_or_a_sequence_of_them(text, expected):
    assert is_demonym(text) is expected


def test_only_demonym_misc_entities_become_norp():
    doc = Doc(spacy.blank("en").vocab, words="Dutch officials said German police and the German Open".split())
    doc.set_ents([Span(doc, 0, 1, "MISC"), Span(doc, 3, 4, "ORG"), Span(doc, 7, 9, "MISC")], default="outside")
    assert relabel_demonyms(doc) == ["Dutch"]
    assert [(ent.text, ent.label_) for ent in doc.ents] == [("Dutch", "NORP"), ("German", "ORG"), ("German Open", "MISC")]
    assert [token.ent_iob_ for token in doc] == ["B", "O", "O", "B", "O", "O", "O", "B", "I"]


def relabelled(vocab):
    docs = [document(vocab, sentences) for sentences in DOCUMENTS]
    for doc in docs:
        relabel_demonyms(doc)
    return docs


def test_the_new_label_set_holds_sentences_with_norp_and_rehearsal_adds_old_ones():
    docs = relabelled(spacy.blank("en").vocab)
    new_set, mixed, counts = training_sets(docs, n_sentences=2, rehearsal=2.0, seed=0)
    assert counts["pool_new_label_sentences"] == 4 and counts["pool_old_sentences"] == 4
    assert len(new_set) == 2 and all(any(ent.label_ == "NORP" for ent in sent.ents) for sent in new_set)
    old = [sent for sent in mixed if not any(ent.label_ == "NORP" for ent in sent.ents)]
    assert len(mixed) == 6 and len(old) == 4
    assert {sent.text for sent in new_set} <= {sent.text for sent in mixed}
    # every other entity of a sampled sentence is kept
    assert counts["entities"]["rehearsal"] == {
        label: sum(ent.label_ == label for sent in mixed for ent in sent.ents) for label in counts["entities"]["rehearsal"]
    }
    assert training_sets(docs, 2, 2.0, seed=0)[0][0].text == new_set[0].text  # seeded
    with pytest.raises(ValueError, match="4 sentences with a NORP entity"):
        training_sets(docs, n_sentences=5, rehearsal=0.0, seed=0)


def test_the_old_label_view_masks_gold_norp_and_what_overlaps_it():
    gold = [(0, 1, "NORP"), (2, 4, "PER"), (5, 7, "MISC")]
    predicted = [(0, 1, "MISC"), (2, 4, "PER"), (5, 6, "NORP"), (8, 9, "NORP"), (9, 10, "LOC")]
    assert mask_new_label(gold, predicted) == ([(2, 4, "PER"), (5, 7, "MISC")], [(2, 4, "PER"), (9, 10, "LOC")])


def test_a_model_that_predicts_demonyms_as_misc_loses_misc_precision_only_in_the_relabelled_view():
    vocab = spacy.blank("en").vocab
    original = [document(vocab, DOCUMENTS[0])]
    gold = relabelled(vocab)[:1]
    scores = view_scores(gold, original, original)  # the old model: right on every original label
    assert scores["original"]["micro"]["f1"] == 100.0
    assert scores["old_labels"]["micro"]["f1"] == 100.0 and "NORP" not in scores["old_labels"]["per_type"]
    relabelled_view = scores["relabelled"]["per_type"]
    assert relabelled_view["MISC"]["precision"] == 33.33  # of German, Dutch and World Cup, only World Cup
    assert relabelled_view["MISC"]["recall"] == 100.0
    assert relabelled_view["NORP"]["f1"] == 0.0 and relabelled_view["NORP"]["support"] == 2


@pytest.fixture
def conll_like(tmp_path):
    """(trained tiny pipeline, train DocBin, dev DocBin) on the original labels (MISC, no NORP)."""
    nlp = make_ner_nlp()
    docs = [document(nlp.vocab, sentences) for sentences in DOCUMENTS]
    examples = [Example(Doc(nlp.vocab, words=[t.text for t in doc]), doc) for doc in docs]
    train(nlp, examples, n_iter=30)
    nlp.to_disk(tmp_path / "trained")
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    DocBin(docs=docs[:2]).to_disk(tmp_path / "dev.spacy")
    return tmp_path / "trained", tmp_path / "train.spacy", tmp_path / "dev.spacy"


def test_the_command_trains_both_variants_and_reports_per_label_f1(conll_like, tmp_path):
    trained, train_path, dev_path = conll_like
    out, work = tmp_path / "report", tmp_path / "work"
    args = [
        "continued-training", str(trained), "--train", str(train_path), "--dev", str(dev_path),
        "--config", str(ROOT / "configs" / "continue" / "ner_add_norp.cfg"), "--output-dir", str(out),
        "--n-sentences", "2", "--rehearsal", "1", "--steps", "3", "--work-dir", str(work),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "continued.json").read_text())
    assert (out / "continued.png").stat().st_size > 0
    assert set(report["results"]) == {"before", "new_only", "rehearsal"}
    assert report["relabelling"]["train"]["n_relabelled"] == 4  # German, Dutch, Bosnian Serb, Iraqi Kurds
    assert report["data"]["entities"]["new_only"]["NORP"] == 2 and report["data"]["old_sentences"] == 2
    before = report["results"]["before"]["scores"]
    assert before["relabelled"]["per_type"]["NORP"]["f1"] == 0.0
    # the "original" view of the trained model is evaluate-ner's score on the original dev set
    nlp = spacy.load(trained)
    references = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    predictions = [nlp(Doc(nlp.vocab, words=[t.text for t in ref])) for ref in references]
    assert before["original"]["micro"] == ner_scores(references, predictions)["seqeval"]["default"]["micro"]
    for variant in ("new_only", "rehearsal"):
        log = [json.loads(line) for line in (work / variant / "training_log.jsonl").read_text().splitlines()]
        assert log[-1]["step"] == 3
        continued = spacy.load(work / variant / "model-last")
        assert continued.get_pipe("ner").labels == ("LOC", "MISC", "ORG", "PER", "NORP")
        assert set(report["results"][variant]["scores"]) == {"relabelled", "old_labels", "original"}
    assert spacy.load(work / "grown").get_pipe("ner").labels[-1] == "NORP"
    readme = (out / "README.md").read_text()
    assert "| NORP | 3 | 0.0 |" in readme and "**dev**" in readme and "(continued.png)" in readme


def test_the_command_refuses_a_sample_larger_than_the_pool(conll_like, tmp_path):
    trained, train_path, dev_path = conll_like
    args = ["continued-training", str(trained), "--train", str(train_path), "--dev", str(dev_path), "--n-sentences", "50",
            "--config", str(ROOT / "configs" / "continue" / "ner_add_norp.cfg"), "--output-dir", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "sentences with a NORP entity" in result.output
    assert not (tmp_path / "out").exists()
