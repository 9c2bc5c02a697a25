"""Text classification report: scores computed by hand, agreement with spaCy's scorer, files, command line."""
import json

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.evaluation.textcat_report import textcat_report, textcat_scores, write_textcat_report
from spacy_rnn.pipes.textcat import textcat_score

runner = CliRunner()
LABELS = ["negative", "neutral", "positive"]

# (text, gold class or None for a document without gold class, predicted class)
DOCS = [
    ("a good film", "positive", "positive"),
    ("great fun", "positive", "positive"),
    ("not bad at all", "positive", "negative"),
    ("a dull plot", "negative", "negative"),
    ("so bad it is good", "negative", "positive"),
    ("it runs two hours", "neutral", "neutral"),
    ("no gold class here", None, "neutral"),
]
PREDICTED = {text: guess for text, _, guess in DOCS}
# By hand, over the 6 documents with a gold class (the last one is not counted):
#   correct: docs 0, 1, 3, 5 -> accuracy 4 / 6 = 66.67
#   positive: gold 3 (docs 0-2), predicted 3 (docs 0, 1, 4), right 2 -> P 2/3, R 2/3, F1 4/6 = 66.67
#   negative: gold 2 (docs 3, 4), predicted 2 (docs 2, 3), right 1 -> P 50, R 50, F1 2/4 = 50
#   neutral:  gold 1, predicted 1, right 1 -> P = R = F1 = 100
#   macro F1 = (50 + 100 + 66.67) / 3 = 72.22
#   confusion (rows gold, columns predicted, order negative, neutral, positive):
#     negative [1, 0, 1]; neutral [0, 1, 0]; positive [1, 0, 2]
#   errors in corpus order: doc 2 (positive -> negative), doc 4 (negative -> positive)


def gold_cats(gold):
    return {label: float(label == gold) for label in LABELS}


def predicted_cats(guess):
    """The predicted class at 0.8, the two others at 0.1."""
    return {label: 0.8 if label == guess else 0.1 for label in LABELS}


@Language.component("test_lookup_textcat", assigns=["doc.cats"])
def lookup_textcat(doc):
    doc.cats = predicted_cats(PREDICTED[doc.text])
    return doc


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("test_lookup_textcat")
    return nlp


@pytest.fixture(scope="module")
def references(nlp):
    docs = []
    for text, gold, _ in DOCS:
        doc = nlp.make_doc(text)
        doc.cats = gold_cats(gold)
        docs.append(doc)
    return docs


@pytest.fixture()
def gold_path(references, tmp_path):
    path = tmp_path / "gold.spacy"
    DocBin(docs=references, store_user_data=True).to_disk(path)
    return path


def test_scores_match_the_hand_computation(nlp, references):
    predictions = [nlp(ref.text) for ref in references]
    result = textcat_scores(references, predictions, n_errors=1)
    assert result["n_docs"] == 6
    assert result["accuracy"] == 66.67
    assert result["labels"] == LABELS
    assert result["per_label"] == {
        "negative": {"precision": 50.0, "recall": 50.0, "f1": 50.0, "support": 2},
        "neutral": {"precision": 100.0, "recall": 100.0, "f1": 100.0, "support": 1},
        "positive": {"precision": 66.67, "recall": 66.67, "f1": 66.67, "support": 3},
    }
    assert result["macro_f1"] == 72.22
    assert result["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [1, 0, 2]]
    assert result["errors"] == [
        {
            "doc": 2,
            "gold": "positive",
            "predicted": "negative",
            "predicted_probability": 0.8,
            "gold_probability": 0.1,
            "text": "not bad at all",
        }
    ]


def test_spacys_scorer_agrees_with_the_report(nlp, references):
    """cats_acc and spaCy's cats_macro_f on the documents with a gold class."""
    examples = [Example(nlp(ref.text), ref) for ref in references[:6]]
    scores = textcat_score(examples, labels=LABELS)
    assert scores["cats_acc"] == pytest.approx(4 / 6)
    assert scores["cats_macro_f"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert scores["cats_score"] == scores["cats_macro_f"]
    assert scores["cats_f_per_type"]["negative"]["f"] == pytest.approx(0.5)


def test_a_pipeline_without_cats_is_an_error(references):
    with pytest.raises(ValueError, match="no doc.cats"):
        textcat_scores(references, [Doc(ref.vocab, words=["x"]) for ref in references])


def test_gold_of_another_task_is_an_error(references):
    """SST-5 gold scored with a binary model would look like a (poor) accuracy: refused instead."""
    binary = [Doc(ref.vocab, words=["x"]) for ref in references]
    for doc in binary:
        doc.cats = {"negative": 0.4, "positive": 0.6}
    with pytest.raises(ValueError, match=r"gold labels \['negative', 'neutral', 'positive'\] are not the pipeline's labels \['negative', 'positive'\]"):
        textcat_scores(references, binary)


def test_an_empty_gold_file_or_a_pipeline_without_the_component_is_an_error(nlp, tmp_path):
    empty = tmp_path / "empty.spacy"
    DocBin().to_disk(empty)
    with pytest.raises(ValueError, match="holds no documents"):
        textcat_report(nlp, {"dev": empty}, "toy", "lookup")
    with pytest.raises(ValueError, match="no component that sets doc.cats"):
        textcat_report(spacy.blank("en"), {"dev": empty}, "toy", "blank")


def test_report_files_and_keys(nlp, gold_path, tmp_path):
    report = textcat_report(nlp, {"dev": gold_path}, "toy", "lookup")
    assert report["scores"] == {"toy.dev.accuracy": 66.67, "toy.dev.macro_f1": 72.22}
    write_textcat_report(report, tmp_path / "out", "sentiment")
    saved = json.loads((tmp_path / "out" / "sentiment.json").read_text(encoding="utf-8"))
    assert saved["splits"]["dev"]["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [1, 0, 2]]
    markdown = (tmp_path / "out" / "sentiment.md").read_text(encoding="utf-8")
    assert "| positive | 1 | 0 | 2 |" in markdown
    assert "doc 4: gold negative (p=0.1), predicted positive (p=0.8): so bad it is good" in markdown


def test_command_line(nlp, gold_path, tmp_path):
    nlp.to_disk(tmp_path / "model")
    args = ["evaluate-textcat", str(tmp_path / "model"), "--split", f"test={gold_path}"]
    result = runner.invoke(app, args + ["--output-dir", str(tmp_path), "--corpus", "sst2", "--name", "sst2"])
    assert result.exit_code == 0, result.output
    assert "sst2.test.accuracy" in result.output and "66.67" in result.output
    assert (tmp_path / "sst2.json").exists() and (tmp_path / "sst2.md").exists()
    result = runner.invoke(app, ["evaluate-textcat", "no_such_pipeline", "--split", f"test={gold_path}",
                                 "--output-dir", str(tmp_path), "--corpus", "sst2"])
    assert result.exit_code == 1 and "no_such_pipeline" in result.output
