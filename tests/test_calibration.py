"""Calibration of confidences: reliability bins, expected calibration error and threshold tables
on hand-made (confidence, correct) pairs; the calibration-report command on tiny pipelines."""
import json

import pytest
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab
from typer.testing import CliRunner

from helpers import ENTITY_SENTENCES, SENTIMENT_TEXTS, TAGGED_SENTENCES, entity_examples, tagged_examples, textcat_examples
import spacy_rnn.pipes.ner  # noqa: F401  (registers ent._.confidence)
from spacy_rnn.cli import app
from spacy_rnn.evaluation.calibration import (
    calibration,
    entity_pairs,
    expected_calibration_error,
    reliability_bins,
    threshold_table,
)

runner = CliRunner()


def pairs(*groups):
    """(confidences, correct) from (confidence, n_correct, n_wrong) groups."""
    confidences, correct = [], []
    for confidence, n_correct, n_wrong in groups:
        confidences += [confidence] * (n_correct + n_wrong)
        correct += [True] * n_correct + [False] * n_wrong
    return confidences, correct


def test_a_perfectly_calibrated_set_has_zero_error():
    confidences, correct = pairs((0.25, 1, 3), (0.75, 3, 1), (0.95, 19, 1))
    assert expected_calibration_error(reliability_bins(confidences, correct)) == pytest.approx(0.0, abs=1e-9)


def test_the_error_of_an_overconfident_set_is_the_hand_computed_one():
    # bin 0.9-1.0: 10 predictions, mean confidence 0.95, accuracy 0.6 (gap 0.35);
    # bin 0.8-0.9: 5 predictions, confidence 0.85, accuracy 0.4 (gap 0.45).
    confidences, correct = pairs((0.92, 3, 2), (0.98, 3, 2), (0.85, 2, 3))
    bins = reliability_bins(confidences, correct)
    assert [b["count"] for b in bins] == [0] * 8 + [5, 10]
    assert bins[9]["confidence"] == pytest.approx(0.95) and bins[9]["accuracy"] == pytest.approx(0.6)
    assert bins[0] == {"lower": 0.0, "upper": 0.1, "count": 0, "confidence": None, "accuracy": None}
    assert expected_calibration_error(bins) == pytest.approx((10 * 0.35 + 5 * 0.45) / 15)
    assert calibration(confidences, correct)["ece"] == pytest.approx(0.383333, abs=1e-6)


def test_bins_are_equal_width_and_one_falls_in_the_last():
    bins = reliability_bins([0.0, 0.1, 0.55, 0.999, 1.0], [True] * 5)
    assert [b["count"] for b in bins] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert [b["upper"] for b in bins] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_threshold_table_keeps_confidences_at_or_above_the_threshold():
    confidences = [0.99, 0.95, 0.9, 0.85, 0.6, 0.4]
    correct = [True, True, False, True, False, True]
    rows = threshold_table(confidences, correct, thresholds=(0.5, 0.9, 0.999), n_gold=8)
    assert rows == [
        {"threshold": 0.5, "kept": 5, "kept_fraction": pytest.approx(5 / 6), "precision": 0.6, "recall": 0.375},
        {"threshold": 0.9, "kept": 3, "kept_fraction": 0.5, "precision": pytest.approx(2 / 3), "recall": 0.25},
        {"threshold": 0.999, "kept": 0, "kept_fraction": 0.0, "precision": None, "recall": 0.0},
    ]
    assert "recall" not in threshold_table(confidences, correct, thresholds=(0.5,))[0]


def test_summary_of_entity_predictions():
    result = calibration([0.9, 0.6], [True, False], n_gold=4, thresholds=(0.8,))
    assert {k: result[k] for k in ("n", "accuracy", "mean_confidence", "n_gold", "recall")} == {
        "n": 2, "accuracy": 0.5, "mean_confidence": 0.75, "n_gold": 4, "recall": 0.25,
    }
    assert result["ece"] == pytest.approx((0.1 + 0.6) / 2)  # two bins of one: gaps 0.1 and 0.6
    assert result["thresholds"] == [{"threshold": 0.8, "kept": 1, "kept_fraction": 0.5, "precision": 1.0, "recall": 0.25}]


def test_a_predicted_entity_is_correct_only_with_the_gold_span_and_label():
    """Exact span and label: a wrong label or boundary is wrong; an entity without a confidence
    (preset before the recognizer) is left out; every gold entity counts for recall."""
    words = "Anna Smith flew to Paris on Monday".split()
    gold = Doc(Vocab(), words=words, ents=["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-MISC"])
    predicted = Doc(gold.vocab, words=words)
    predicted.set_ents([Span(predicted, 0, 2, "PER"), Span(predicted, 4, 5, "ORG"), Span(predicted, 5, 7, "MISC")])
    for ent, confidence in zip(predicted.ents, [0.9, 0.8, None]):
        ent._.confidence = confidence
    (confidences, correct), n_gold = entity_pairs([gold], [predicted])
    assert (confidences, correct, n_gold) == ([0.9, 0.8], [True, False], 3)


def write_docbin(docs, path):
    DocBin(docs=docs).to_disk(path)
    return path


def run_report(nlp, task, references, tmp_path):
    nlp.to_disk(tmp_path / "model")
    dev = write_docbin(references[:3], tmp_path / "dev.spacy")
    test = write_docbin(references, tmp_path / "test.spacy")
    output_dir = tmp_path / "reports"
    args = ["calibration-report", str(tmp_path / "model"), "--task", task, "--split", f"dev={dev}", "--split", f"test={test}"]
    result = runner.invoke(app, args + ["--output-dir", str(output_dir)])
    assert result.exit_code == 0, result.output
    json_path, md_path, png_path = (output_dir / f"{task}_{name}" for name in ("calibration.json", "calibration.md", "reliability.png"))
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 10_000
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["model"] == str(tmp_path / "model") and report["machine"]["cpu_count"] >= 1
    assert list(report["splits"]) == ["dev", "test"] and report["splits"]["test"]["path"] == str(test)
    for entry in report["splits"].values():
        for result in entry["measures"].values():
            assert sum(b["count"] for b in result["bins"]) == result["n"]
            assert 0 <= result["ece"] <= 1 and result["accuracy"] > 0.8  # overfitted on these sentences
            assert [row["threshold"] for row in result["thresholds"]] == [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
            assert [row["kept"] for row in result["thresholds"]] == sorted((row["kept"] for row in result["thresholds"]), reverse=True)
    return report, md_path.read_text(encoding="utf-8")


def test_command_line_reports_entity_calibration(trained_ner_nlp, tmp_path):
    references = [example.reference for example in entity_examples(trained_ner_nlp)]
    report, markdown = run_report(trained_ner_nlp, "ner", references, tmp_path)
    test = report["splits"]["test"]["measures"]
    assert list(test) == ["entities"]
    assert test["entities"]["n_gold"] == sum(len(spans) for _, spans in ENTITY_SENTENCES)
    assert all("recall" in row for row in test["entities"]["thresholds"])
    assert "## test" in markdown and "Filtering at 0.9 keeps" in markdown and "gold entities" in markdown


def test_command_line_reports_tag_calibration(trained_tagger_nlp, tmp_path):
    references = [example.reference for example in tagged_examples(trained_tagger_nlp)]
    report, markdown = run_report(trained_tagger_nlp, "tagger", references, tmp_path)
    test = report["splits"]["test"]["measures"]
    assert list(test) == ["upos", "xpos"]
    assert test["upos"]["n"] == test["xpos"]["n"] == sum(len(words.split()) for words, _, _ in TAGGED_SENTENCES)
    assert "recall" not in test["upos"]["thresholds"][0]
    assert "## dev" in markdown and "Filtering at 0.9 keeps" in markdown and "UPOS tags" in markdown


def test_command_line_reports_class_calibration(trained_textcat_nlp, tmp_path):
    references = [example.reference for example in textcat_examples(trained_textcat_nlp)]
    report, markdown = run_report(trained_textcat_nlp, "textcat", references, tmp_path)
    test = report["splits"]["test"]["measures"]
    assert list(test) == ["classes"] and test["classes"]["n"] == len(SENTIMENT_TEXTS)
    predicted = list(trained_textcat_nlp.pipe(doc.text for doc in references))
    assert test["classes"]["mean_confidence"] == pytest.approx(sum(max(doc.cats.values()) for doc in predicted) / len(predicted), abs=1e-5)
    assert "Calibration of class confidences" in markdown and "Filtering at 0.9 keeps" in markdown and "classes" in markdown


def test_command_line_errors(trained_tagger_nlp, tmp_path):
    trained_tagger_nlp.to_disk(tmp_path / "model")
    gold = write_docbin([example.reference for example in tagged_examples(trained_tagger_nlp)], tmp_path / "dev.spacy")
    base = ["calibration-report", str(tmp_path / "model"), "--split", f"dev={gold}", "--output-dir", str(tmp_path)]
    result = runner.invoke(app, base + ["--task", "parser"])
    assert result.exit_code == 1 and "--task must be one of ner, tagger" in result.output
    result = runner.invoke(app, base + ["--task", "ner"])
    assert result.exit_code == 1 and "no component that sets doc.ents" in result.output
