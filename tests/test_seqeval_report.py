"""Entity-level evaluation with seqeval: scores computed by hand, error analysis, reports, command line."""
import json

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.evaluation.seqeval_report import (
    doc_entities,
    iob2_tags,
    ner_report,
    ner_scores,
    seqeval_scores,
    write_ner_report,
)

runner = CliRunner()

# Gold corpus: (text, sentence start tokens, entities as (start token, end token, label)).
GOLD = [
    (
        "Werner Zwingmann said on Monday that Germany backs the EU . Peter Blackburn spoke in Brussels .",
        [0, 11],
        [(0, 2, "PER"), (6, 7, "LOC"), (9, 10, "ORG"), (11, 13, "PER"), (15, 16, "LOC")],
    ),
    ("British farmers met John Smith in London .", [0], [(0, 1, "MISC"), (3, 5, "PER"), (6, 7, "LOC")]),
]
# Predictions: Germany as ORG (wrong type), "Blackburn" for "Peter Blackburn" (boundary),
# British missed, "farmers" as ORG (spurious); the rest right.
PREDICTED = [
    [(0, 2, "PER"), (6, 7, "ORG"), (9, 10, "ORG"), (12, 13, "PER"), (15, 16, "LOC")],
    [(1, 2, "ORG"), (3, 5, "PER"), (6, 7, "LOC")],
]
# An entity_ruler predicting the same with en_core_web_sm's labels: PERSON, and DATE for Monday.
RULER_PATTERNS = [
    {"label": "PERSON", "pattern": "Werner Zwingmann"},
    {"label": "DATE", "pattern": "Monday"},
    {"label": "ORG", "pattern": "Germany"},
    {"label": "ORG", "pattern": "EU"},
    {"label": "PERSON", "pattern": "Blackburn"},
    {"label": "LOC", "pattern": "Brussels"},
    {"label": "ORG", "pattern": "farmers"},
    {"label": "PERSON", "pattern": "John Smith"},
    {"label": "LOC", "pattern": "London"},
    {"label": "NORP", "pattern": "Zyx"},  # never found: the ruler knows the type (mapped to MISC) but misses British
]
LABEL_MAP = {"PERSON": "PER", "DATE": "", "NORP": "MISC"}


def make_doc(vocab, text, sent_starts, ents):
    words = text.split()
    doc = Doc(vocab, words=words, sent_starts=[i in sent_starts for i in range(len(words))])
    doc.ents = [Span(doc, start, end, label) for start, end, label in ents]
    return doc


@pytest.fixture(scope="module")
def vocab():
    return spacy.blank("en").vocab


@pytest.fixture(scope="module")
def gold(vocab):
    return [make_doc(vocab, text, starts, ents) for text, starts, ents in GOLD]


@pytest.fixture(scope="module")
def predicted(vocab):
    return [make_doc(vocab, text, [0], ents) for (text, _, _), ents in zip(GOLD, PREDICTED)]


@pytest.fixture(scope="module")
def ruler_nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(RULER_PATTERNS)
    return nlp


@pytest.fixture(scope="module")
def gold_path(gold, tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "test.spacy"
    DocBin(docs=gold).to_disk(path)
    return path


def test_scores_per_type_and_averages_are_the_hand_computed_ones(gold, predicted):
    scores = ner_scores(gold, predicted)["seqeval"]["default"]
    expected = {
        # PER: Zwingmann, Smith right; "Blackburn" wrong: tp=2 fp=1 fn=1 -> P=2/3 R=2/3 F1=2/3
        "PER": (2 / 3, 2 / 3, 2 / 3, 3),
        # LOC: Brussels, London right; Germany not found: tp=2 fp=0 fn=1 -> P=1 R=2/3 F1=0.8
        "LOC": (1, 2 / 3, 0.8, 3),
        # ORG: EU right; Germany and farmers wrong: tp=1 fp=2 fn=0 -> P=1/3 R=1 F1=0.5
        "ORG": (1 / 3, 1, 0.5, 1),
        # MISC: British missed: tp=0 fp=0 fn=1 -> P=0 (undefined counts as 0) R=0 F1=0
        "MISC": (0, 0, 0, 1),
    }
    # micro: tp=5 of 8 predicted and 8 gold -> P=R=F1=5/8
    # macro: P=(2/3+1+1/3+0)/4=1/2, R=(2/3+2/3+1+0)/4=7/12, F1=(2/3+0.8+0.5+0)/4=59/120
    # weighted by support: F1=(3*2/3 + 3*0.8 + 1*0.5 + 1*0)/8=4.9/8
    expected.update({"micro": (5 / 8, 5 / 8, 5 / 8, 8), "macro": (1 / 2, 7 / 12, 59 / 120, 8)})
    found = {**scores["per_type"], "micro": scores["micro"], "macro": scores["macro"]}
    assert set(scores["per_type"]) == {"PER", "LOC", "ORG", "MISC"}
    for name, (precision, recall, f1, support) in expected.items():
        assert found[name]["precision"] == pytest.approx(100 * precision, abs=0.01), name
        assert found[name]["recall"] == pytest.approx(100 * recall, abs=0.01), name
        assert found[name]["f1"] == pytest.approx(100 * f1, abs=0.01), name
        assert found[name]["support"] == support, name
    assert scores["weighted"]["f1"] == pytest.approx(100 * 4.9 / 8, abs=0.01)


def test_default_and_strict_modes_agree_on_tags_derived_from_spans(gold, predicted):
    result = ner_scores(gold, predicted)
    assert result["seqeval"]["strict"] == result["seqeval"]["default"]


def test_modes_differ_on_invalid_raw_tag_sequences():
    y_true = [["B-PER", "I-PER", "O"]]
    y_pred = [["I-PER", "I-PER", "O"]]  # invalid IOB2: the entity does not start with B-
    scores = seqeval_scores(y_true, y_pred)
    # default (conlleval): I-PER after O starts an entity, so tokens 0-1 are PER: tp=1 -> F1=1
    assert scores["default"]["micro"]["f1"] == 100.0
    # strict IOB2: no B-, no entity: tp=0 fp=0 fn=1 -> F1=0
    assert scores["strict"]["micro"]["f1"] == 0.0


def test_adjacent_entities_of_one_type_stay_separate_in_iob2():
    assert iob2_tags(5, [(0, 2, "PER"), (2, 3, "PER")]) == ["B-PER", "I-PER", "B-PER", "O", "O"]


def test_a_prediction_across_a_gold_sentence_boundary_stays_one_wrong_entity(vocab):
    text = "We saw Paris . Berlin was next"
    reference = make_doc(vocab, text, [0, 4], [(2, 3, "LOC"), (4, 5, "LOC")])
    prediction = make_doc(vocab, text, [0], [(2, 5, "LOC")])  # "Paris . Berlin"
    result = ner_scores([reference], [prediction])
    # Cut at the sentence boundary, its tail "I-LOC" would match Berlin in default mode.
    assert result["n_predicted_entities"] == 1
    assert result["seqeval"]["default"]["micro"]["recall"] == 0.0
    assert result["predicted_outcomes"]["LOC"]["boundary"] == 1
    assert result["gold_outcomes"]["LOC"]["boundary"] == 2


def test_outcomes_and_type_confusions(gold, predicted):
    result = ner_scores(gold, predicted)
    assert result["confusions"] == [["LOC", "ORG", 1]]
    assert result["gold_outcomes"] == {
        "LOC": {"correct": 2, "wrong_type": 1, "boundary": 0, "missed": 0},
        "MISC": {"correct": 0, "wrong_type": 0, "boundary": 0, "missed": 1},
        "ORG": {"correct": 1, "wrong_type": 0, "boundary": 0, "missed": 0},
        "PER": {"correct": 2, "wrong_type": 0, "boundary": 1, "missed": 0},
    }
    assert result["predicted_outcomes"] == {
        "LOC": {"correct": 2, "wrong_type": 0, "boundary": 0, "spurious": 0},
        "ORG": {"correct": 1, "wrong_type": 1, "boundary": 0, "spurious": 1},
        "PER": {"correct": 2, "wrong_type": 0, "boundary": 1, "spurious": 0},
    }


def test_error_sample_in_corpus_order_with_context(gold, predicted):
    errors = ner_scores(gold, predicted)["errors"]
    assert [(e["doc"], e["kind"]) for e in errors] == [(0, "wrong_type"), (0, "boundary"), (1, "missed"), (1, "spurious")]
    assert errors[0]["gold"] == {"text": "Germany", "label": "LOC", "start": 6, "end": 7}
    assert errors[0]["predicted"] == [{"text": "Germany", "label": "ORG", "start": 6, "end": 7}]
    assert [e["context"] for e in errors] == [
        "Werner Zwingmann said on Monday that [Germany]{gold LOC, pred ORG} backs the EU . Peter Blackburn spoke in ...",
        '... on Monday that Germany backs the EU . [Peter Blackburn]{gold PER, pred PER "Blackburn"} spoke in Brussels .',
        "[British]{gold MISC, pred none} farmers met John Smith in London .",
        "British [farmers]{gold none, pred ORG} met John Smith in London .",
    ]
    assert errors[3]["gold"] is None
    assert ner_scores(gold, predicted, n_errors=2)["errors"] == errors[:2]


def test_label_map_renames_and_drops_predicted_labels(vocab):
    doc = make_doc(vocab, "Anna flew to Paris on Monday", [0], [(0, 1, "PERSON"), (3, 4, "GPE"), (5, 6, "DATE")])
    assert doc_entities(doc, {"PERSON": "PER", "DATE": ""}) == [(0, 1, "PER"), (3, 4, "GPE")]


def test_report_of_a_pipeline_on_a_gold_docbin(ruler_nlp, gold_path, gold, predicted):
    report = ner_report(ruler_nlp, {"test": gold_path}, "conll2003", "ruler", LABEL_MAP)
    assert report["splits"]["test"] == ner_scores(gold, predicted)
    metrics = ("precision", "recall", "f1", "f1_macro")
    assert set(report["scores"]) == {f"conll2003.test.{m}{mode}" for m in metrics for mode in ("", "_strict")}
    assert report["scores"]["conll2003.test.f1"] == report["scores"]["conll2003.test.f1_strict"] == 62.5
    assert report["label_map"] == LABEL_MAP and report["tokenization"] == "gold" and "machine" in report


def test_unmapped_labels_are_scored_as_their_own_types(ruler_nlp, gold_path):
    """Without the label map the ruler cannot predict the gold PER and MISC: refused, unless
    asked to score them as misses (then listed in the report)."""
    with pytest.raises(ValueError, match=r"gold entity types \['MISC', 'PER'\] are not among those the pipeline predicts"):
        ner_report(ruler_nlp, {"test": gold_path}, "conll2003", "ruler")
    report = ner_report(ruler_nlp, {"test": gold_path}, "conll2003", "ruler", allow_unknown_labels=True)
    assert report["splits"]["test"]["unknown_gold_labels"] == ["MISC", "PER"]
    per_type = report["splits"]["test"]["seqeval"]["default"]["per_type"]
    assert sorted(per_type) == ["DATE", "LOC", "MISC", "ORG", "PER", "PERSON"]
    assert per_type["PER"]["recall"] == 0.0 and per_type["PERSON"]["support"] == 0


def test_a_corpus_without_gold_entities_is_refused(ruler_nlp, vocab, tmp_path):
    path = tmp_path / "pos.spacy"
    DocBin(docs=[Doc(vocab, words=["Hello", "world"])]).to_disk(path)
    with pytest.raises(ValueError, match="no entity annotation"):
        ner_report(ruler_nlp, {"test": path}, "conll2003", "ruler")


def test_json_and_markdown_reports(ruler_nlp, gold_path, tmp_path):
    report = ner_report(ruler_nlp, {"test": gold_path}, "conll2003", "ruler", LABEL_MAP)
    write_ner_report(report, tmp_path)
    assert json.loads((tmp_path / "seqeval.json").read_text(encoding="utf-8")) == report
    markdown = (tmp_path / "seqeval.md").read_text(encoding="utf-8")
    for line in [
        "PERSON → PER, DATE → (dropped)",
        "| test | strict | 2 | 8 | 8 | 62.5 | 62.5 | 62.5 | 49.17 |",
        "## test, default mode",
        "## test, strict mode",
        "| PER | 66.67 | 66.67 | 66.67 | 3 |",
        "| *micro avg* | 62.5 | 62.5 | 62.5 | 8 |",
        "| **all** | 5 | 1 | 1 | 1 |",
        "LOC → ORG: 1",
        "- doc 1, missed: `[British]{gold MISC, pred none} farmers met John Smith in London .`",
    ]:
        assert line in markdown


def test_command_line_on_a_saved_pipeline(ruler_nlp, gold_path, tmp_path):
    ruler_nlp.to_disk(tmp_path / "model")
    args = ["evaluate-ner", str(tmp_path / "model"), "--split", f"test={gold_path}", "--output-dir", str(tmp_path)]
    maps = ["--label-map", "PERSON=PER", "--label-map", "DATE=", "--label-map", "NORP=MISC"]
    result = runner.invoke(app, args + maps + ["--name", "ner"])
    assert result.exit_code == 0, result.output
    assert f"{gold_path.parent.name}.test.f1" in result.output and "62.50" in result.output  # named after its folder
    assert "precision" not in result.output
    assert json.loads((tmp_path / "ner.json").read_text(encoding="utf-8"))["label_map"] == LABEL_MAP
    assert (tmp_path / "ner.md").exists()


def test_command_line_errors(ruler_nlp, gold_path, tmp_path):
    assert runner.invoke(app, ["evaluate-ner", "--help"]).exit_code == 0
    args = ["evaluate-ner", "no_such_pipeline", "--split", f"test={gold_path}", "--output-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "no_such_pipeline" in result.output
    result = runner.invoke(app, args + ["--label-map", "PERSON"])
    assert result.exit_code == 1 and "--label-map takes FROM=TO" in result.output
