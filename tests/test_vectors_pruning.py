"""Pruning a trained pipeline's static vectors table to its first rows (removed words mapped to
their nearest kept row), and the dev-score curve that picks the default row count."""
import json

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.vectors import Vectors
from typer.testing import CliRunner

from helpers import ENTITY_SENTENCES, SENTIMENT_TEXTS, entity_examples, make_ner_nlp, make_textcat_nlp, train, train_ner, textcat_examples
from spacy_rnn.cli import app
from spacy_rnn_lab.cli import app as lab_app
from spacy_rnn_lab.vectors_curve import choose_rows
from spacy_rnn.vectors_pruning import prune_pipeline_vectors

runner = CliRunner()
N_ROWS, WIDTH, KEPT = 50, 8, 20
# The forms of the hand-written corpora, in order of first appearance: the table's first rows.
WORDS = list(dict.fromkeys(word for text, _ in ENTITY_SENTENCES + SENTIMENT_TEXTS for word in text.split()))[:N_ROWS]
TEXT = "Anna Smith met Tom in Paris on Monday"


def add_table(nlp):
    """The same random 50 x 8 table in any pipeline (so two pipelines can share it)."""
    data = numpy.random.default_rng(0).normal(size=(N_ROWS, WIDTH)).astype("float32")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=WORDS)
    return nlp


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory):
    """A tiny recognizer trained with the table, saved."""
    path = tmp_path_factory.mktemp("ner") / "pipeline"
    train_ner(add_table(make_ner_nlp()), n_iter=30).to_disk(path)
    return path


@pytest.fixture(scope="module")
def textcat_dir(tmp_path_factory):
    nlp = add_table(make_textcat_nlp())
    path = tmp_path_factory.mktemp("textcat") / "pipeline"
    train(nlp, textcat_examples(nlp), n_iter=30).to_disk(path)
    return path


def entities(doc):
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def test_a_pruned_pipeline_saves_loads_and_predicts(ner_dir, tmp_path):
    nlp = spacy.load(ner_dir)
    stats = prune_pipeline_vectors(nlp, KEPT)
    assert (stats["rows_before"], stats["rows_after"], stats["keys"]) == (N_ROWS, KEPT, N_ROWS)
    assert stats["remapped_keys"] == N_ROWS - KEPT and -1 <= stats["mean_cosine"] <= 1
    assert stats["readers"] == ["ner"]
    predicted = entities(nlp(TEXT))
    nlp.to_disk(tmp_path / "pruned")
    loaded = spacy.load(tmp_path / "pruned")
    assert loaded.vocab.vectors.shape == (KEPT, WIDTH)
    assert loaded.meta["vectors"]["vectors"] == KEPT
    assert entities(loaded(TEXT)) == predicted


def test_a_pruned_word_gets_the_vector_of_its_nearest_kept_row(ner_dir):
    nlp = spacy.load(ner_dir)
    full = nlp.vocab.vectors.data.copy()
    prune_pipeline_vectors(nlp, KEPT)
    kept = full[:KEPT] / numpy.linalg.norm(full[:KEPT], axis=1, keepdims=True)
    for row, word in enumerate(WORDS):
        vector = nlp.vocab.get_vector(word)
        if row < KEPT:
            numpy.testing.assert_array_equal(vector, full[row])
        else:
            nearest = int(numpy.argmax(kept @ full[row]))
            numpy.testing.assert_array_equal(vector, full[nearest])


def test_the_unpruned_model_refuses_a_pruned_table_it_did_not_record(ner_dir):
    pruned = spacy.load(ner_dir)
    prune_pipeline_vectors(pruned, KEPT)
    original = spacy.load(ner_dir)
    original.vocab.vectors = pruned.vocab.vectors
    with pytest.raises(ValueError, match="vectors"):
        original(TEXT)


def test_prune_vectors_cli_saves_the_pruned_pipeline(ner_dir, tmp_path):
    result = runner.invoke(app, ["prune-vectors", str(ner_dir), str(tmp_path / "pruned"), "--rows", str(KEPT)])
    assert result.exit_code == 0, result.output
    assert "50 -> 20 rows; 30 of 50 keys remapped" in result.output
    nlp = spacy.load(tmp_path / "pruned")
    assert nlp.vocab.vectors.shape == (KEPT, WIDTH)
    assert len(nlp(TEXT)) == len(TEXT.split())


def test_vectors_curve_cli_scores_every_row_count_and_picks_the_default(ner_dir, textcat_dir, tmp_path):
    DocBin(docs=[eg.reference for eg in entity_examples(spacy.blank("en"))]).to_disk(tmp_path / "ner.spacy")
    DocBin(docs=[eg.reference for eg in textcat_examples(spacy.blank("en"))]).to_disk(tmp_path / "textcat.spacy")
    args = ["vectors-curve", "--ner", str(ner_dir), "--ner-dev", str(tmp_path / "ner.spacy"), "--textcat", str(textcat_dir)]
    args += ["--textcat-dev", str(tmp_path / "textcat.spacy"), "--rows", "20,5", "--output-dir", str(tmp_path / "out")]
    result = runner.invoke(lab_app, args + ["--tolerance", "100"])
    assert result.exit_code == 0, result.output
    assert "default: 5 rows" in result.output
    report = json.loads((tmp_path / "out" / "vectors_curve.json").read_text())
    assert report["split"] == "dev" and report["choice"] == 5
    assert [level["rows"] for level in report["levels"]] == [N_ROWS, 20, 5]
    assert [level["remapped_keys"] for level in report["levels"]] == [0, N_ROWS - 20, N_ROWS - 5]
    assert report["levels"][0]["delta"] == {"ner": 0.0, "textcat": 0.0}
    assert report["levels"][0]["table_bytes"] > report["levels"][1]["table_bytes"] > report["levels"][2]["table_bytes"]
    assert "**Default: 5 rows**" in (tmp_path / "out" / "vectors_curve.md").read_text()
    assert (tmp_path / "out" / "vectors_curve.png").stat().st_size > 0


def test_the_default_is_the_fewest_rows_within_the_tolerance_of_the_full_table():
    levels = [
        {"rows": 400, "scores": {"ner": 90.0, "textcat": 80.0}},
        {"rows": 200, "scores": {"ner": 90.1, "textcat": 79.8}},
        {"rows": 100, "scores": {"ner": 89.9, "textcat": 79.5}},
        {"rows": 50, "scores": {"ner": 89.8, "textcat": 79.9}},
    ]
    assert choose_rows(levels, 0.3) == 50  # 100 rows costs textcat 0.5, but 50 rows is within
    assert [level["within_tolerance"] for level in levels] == [True, True, False, True]
    assert levels[2]["delta"] == {"ner": -0.1, "textcat": -0.5}
    assert choose_rows(levels, 0.0) == 400
    assert choose_rows(levels[:3], 0.3) == 200


def test_vectors_curve_needs_each_pipeline_with_its_dev_file(ner_dir):
    result = runner.invoke(lab_app, ["vectors-curve", "--ner", str(ner_dir)])
    assert result.exit_code == 1
    assert "--ner and --ner-dev go together" in result.output


def test_the_curve_skips_row_counts_above_the_table_size(tmp_path, monkeypatch):
    """A table smaller than the levels asked for (e.g. the workflow tests' 5,000 GloVe words):
    its full size is scored, the larger levels are recorded as skipped."""
    from spacy_rnn_lab import vectors_curve as curve

    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(data=numpy.ones((4, 3), dtype="float32"), keys=[1, 2, 3, 4])
    monkeypatch.setattr(curve, "check_vector_readers", lambda nlp: None)
    monkeypatch.setattr(curve, "gold_docs", lambda nlp, path, assigns: [])
    monkeypatch.setattr(curve, "task_score", lambda task, nlp, references: 50.0)
    report = curve.vectors_curve({"ner": nlp}, {"ner": tmp_path / "dev.spacy"}, [400_000, 2], tolerance=0.3)
    assert [level["rows"] for level in report["levels"]] == [4, 2]
    assert report["skipped_rows"] == [400_000]
