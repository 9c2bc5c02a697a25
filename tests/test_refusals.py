"""No silent wrong answers (issue 38): an evaluation whose gold lacks the annotation it scores, or
whose labels the model cannot predict, a converter given malformed input or options, and a
command given a path or value it cannot use all stop with one line naming the problem and what
to do, never a score, a nonsense corpus or a raw traceback."""
import json

import numpy
import pytest
import spacy
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from spacy.tokens import Doc, DocBin, Span
from spacy.vectors import Vectors
from spacy.vocab import Vocab
from typer.testing import CliRunner

from helpers import (
    TAGGED_SENTENCES,
    entity_examples,
    make_ner_nlp,
    make_tagger_nlp,
    make_textcat_nlp,
    tagged_examples,
    textcat_examples,
)
from spacy_rnn.cli import app
from spacy_rnn.corpora.textcat import BINARY_LABELS, FINE_LABELS
from spacy_rnn.vectors_pruning import prune_vectors

runner = CliRunner()


def refused(result, *fragments):
    """The command stopped with exit code 1 and one `error:` line holding every fragment, not
    with an exception (CliRunner turns an uncaught one into exit code 1 as well)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def saved(make_nlp, examples, path):
    nlp = make_nlp()
    nlp.initialize(lambda: examples(nlp))
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    return saved(make_tagger_nlp, tagged_examples, tmp_path_factory.mktemp("tagger") / "model")


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory):
    """Entity types LOC, ORG, PER."""
    return saved(make_ner_nlp, entity_examples, tmp_path_factory.mktemp("ner") / "model")


@pytest.fixture(scope="module")
def textcat_dir(tmp_path_factory):
    """Classes negative, neutral, positive."""
    return saved(make_textcat_nlp, textcat_examples, tmp_path_factory.mktemp("textcat") / "model")


def docbin(docs, path):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def evaluate(command, model, gold, tmp_path, *options):
    args = [command, str(model), "--split", f"test={gold}", "--output-dir", str(tmp_path / "out"), *options]
    return runner.invoke(app, args)


# 1. Scores on data that cannot be scored


def test_evaluate_tagger_refuses_gold_without_tags(tagger_dir, tmp_path):
    """A corpus without UPOS or XPOS used to give 0.00 for both, exit 0."""
    vocab = Vocab()
    gold = docbin([Doc(vocab, words=words.split()) for words, _, _ in TAGGED_SENTENCES], tmp_path / "words.spacy")
    refused(evaluate("evaluate-tagger", tagger_dir, gold, tmp_path), str(gold), "no UPOS", "no XPOS")


def test_evaluate_tagger_scores_only_the_tags_the_gold_has(tagger_dir, tmp_path):
    """UPOS without XPOS: UPOS is scored, XPOS is not (and the output says so), not XPOS 0.00."""
    vocab = Vocab()
    docs = [Doc(vocab, words=words.split(), pos=upos.split()) for words, upos, _ in TAGGED_SENTENCES]
    result = evaluate("evaluate-tagger", tagger_dir, docbin(docs, tmp_path / "upos.spacy"), tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{tmp_path.name}.test.upos_acc" in result.output and "xpos_acc" not in result.output
    assert "XPOS not scored" in result.output
    report = json.loads((tmp_path / "out" / "accuracy.json").read_text(encoding="utf-8"))
    assert not any("xpos" in key for key in report["scores"])
    assert "no XPOS" in report["not_scored"]["test"]["xpos"]


def test_evaluate_ner_refuses_gold_without_entity_annotation(ner_dir, tmp_path):
    """doc.ents never set on some documents: their predictions would all count as spurious.
    (Documents annotated as having no entity are gold, and are scored.)"""
    vocab = Vocab()
    annotated = [eg.reference for eg in entity_examples(spacy.blank("en"))]
    missing = Doc(annotated[0].vocab, words="Tom flew to Berlin".split())
    gold = docbin(annotated + [missing], tmp_path / "partial.spacy")
    refused(evaluate("evaluate-ner", ner_dir, gold, tmp_path), str(gold), "1 of 8 documents", "no entity annotation")
    gold = docbin([Doc(vocab, words="Tom flew to Berlin".split())], tmp_path / "none.spacy")
    refused(evaluate("evaluate-ner", ner_dir, gold, tmp_path), str(gold), "no entity annotation")
    empty = Doc(vocab, words="Nothing happened".split())
    empty.set_ents([], default="outside")
    gold = docbin([empty], tmp_path / "outside.spacy")
    refused(evaluate("evaluate-ner", ner_dir, gold, tmp_path), str(gold), "annotated as having no entity")


def test_evaluate_ner_refuses_gold_types_the_model_cannot_predict(ner_dir, tmp_path):
    """A MISC entity for a model of LOC, ORG, PER: recall 0 for MISC, scored only on request."""
    doc = Doc(Vocab(), words="British farmers met Anna in Paris".split())
    doc.set_ents([Span(doc, 0, 1, "MISC"), Span(doc, 3, 4, "PER"), Span(doc, 5, 6, "LOC")], default="outside")
    gold = docbin([doc], tmp_path / "misc.spacy")
    refused(evaluate("evaluate-ner", ner_dir, gold, tmp_path), str(gold), "['MISC']", "['LOC', 'ORG', 'PER']")
    # A label map can make a type predictable: here it drops PER, which the gold has.
    refused(evaluate("evaluate-ner", ner_dir, gold, tmp_path, "--label-map", "PER=MISC"), "['PER']")
    result = evaluate("evaluate-ner", ner_dir, gold, tmp_path, "--allow-unknown-labels")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "seqeval.json").read_text(encoding="utf-8"))
    assert report["splits"]["test"]["unknown_gold_labels"] == ["MISC"]
    assert "Gold types the pipeline cannot predict: test: MISC." in (tmp_path / "out" / "seqeval.md").read_text(encoding="utf-8")


def test_evaluate_textcat_refuses_gold_without_classes(textcat_dir, tmp_path):
    """No doc.cats at all used to give accuracy 0.00, exit 0."""
    gold = docbin([Doc(Vocab(), words=["A", "fine", "film"])], tmp_path / "nocats.spacy")
    refused(evaluate("evaluate-textcat", textcat_dir, gold, tmp_path, "--corpus", "toy"), str(gold), "no document has doc.cats")


@pytest.mark.parametrize("labels", [BINARY_LABELS, FINE_LABELS], ids=["sst2-gold", "sst5-gold"])
def test_evaluate_textcat_refuses_a_gold_label_set_other_than_the_models(textcat_dir, tmp_path, labels):
    """The model's classes are negative, neutral, positive: binary gold (a subset, which used to be
    scored) and SST-5 gold (a superset) are both another task."""
    docs = []
    for index, text in enumerate(["a fine film", "a dull film", "it runs two hours"]):
        doc = Doc(Vocab(), words=text.split())
        doc.cats = {label: float(i == index % len(labels)) for i, label in enumerate(labels)}
        docs.append(doc)
    gold = docbin(docs, tmp_path / "gold.spacy")
    result = evaluate("evaluate-textcat", textcat_dir, gold, tmp_path, "--corpus", "toy")
    refused(result, str(gold), str(sorted(labels)), "['negative', 'neutral', 'positive']")


def test_calibration_report_checks_the_gold_like_the_evaluators(tagger_dir, ner_dir, tmp_path):
    vocab = Vocab()
    words = docbin([Doc(vocab, words=w.split()) for w, _, _ in TAGGED_SENTENCES], tmp_path / "words.spacy")
    args = ["calibration-report", str(tagger_dir), "--task", "tagger", "--split", f"dev={words}"]
    refused(runner.invoke(app, args + ["--output-dir", str(tmp_path)]), str(words), "no UPOS", "no XPOS")
    doc = Doc(vocab, words="British farmers met Anna".split())
    doc.set_ents([Span(doc, 0, 1, "MISC"), Span(doc, 3, 4, "PER")], default="outside")
    misc = docbin([doc], tmp_path / "misc.spacy")
    args = ["calibration-report", str(ner_dir), "--task", "ner", "--split", f"dev={misc}"]
    refused(runner.invoke(app, args + ["--output-dir", str(tmp_path)]), str(misc), "['MISC']")


# 2. Converters accepting nonsense


def write_jsonl(tmp_path, records):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf8")
    return path


@pytest.mark.parametrize("start, end", [(False, True), ("0", "4"), (0.0, 4)], ids=["booleans", "strings", "float"])
def test_convert_jsonl_refuses_offsets_that_are_not_integers(tmp_path, start, end):
    """false/true used to be read as 0/1; "0" was refused as out of the text."""
    records = [{"text": "Anna", "spans": []}, {"text": "Anna", "spans": [{"start": start, "end": end, "label": "PER"}]}]
    result = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, records)), str(tmp_path / "o.spacy"), "--task", "ner"])
    refused(result, "data.jsonl:2:", "offsets must be integers")


@pytest.mark.parametrize("labels", ["pos,,neg", "pos,neg,pos", " , "])
def test_converters_refuse_empty_or_duplicate_labels(tmp_path, labels):
    """--labels "pos,,neg" used to give every document an empty category."""
    records = [{"text": "Great film", "label": "pos"}, {"text": "Dull", "label": "neg"}]
    args = ["convert-jsonl", str(write_jsonl(tmp_path, records)), str(tmp_path / "o.spacy"), "--task", "textcat"]
    refused(runner.invoke(app, args + ["--labels", labels]), "--labels")
    features = Features({"text": Value("string"), "label": Value("int64")})
    Dataset.from_dict({"text": ["Great film", "Dull"], "label": [0, 1]}, features=features).save_to_disk(tmp_path / "ds")
    args = ["convert-hf-text", str(tmp_path / "ds"), str(tmp_path / "o.spacy"), "--labels", labels]
    refused(runner.invoke(app, args), "--labels")


def test_convert_jsonl_refuses_an_unknown_language(tmp_path):
    path = write_jsonl(tmp_path, [{"text": "Anna", "spans": []}])
    result = runner.invoke(app, ["convert-jsonl", str(path), str(tmp_path / "o.spacy"), "--task", "ner", "--lang", "zz"])
    refused(result, "--lang 'zz'")


def test_convert_hf_refuses_a_saved_dataset_without_rows(tmp_path):
    """datasets cannot read back a dataset saved with 0 rows (IndexError): the converters say so."""
    features = Features({"tokens": Sequence(Value("string")), "upos": Sequence(ClassLabel(names=["NOUN"]))})
    rows = Dataset.from_dict({"tokens": [["Birds"]], "upos": [[0]]}, features=features)
    rows.select([]).save_to_disk(tmp_path / "empty")
    DatasetDict({"train": rows, "test": rows.select([])}).save_to_disk(tmp_path / "dict")
    out = str(tmp_path / "o.spacy")
    refused(runner.invoke(app, ["convert-hf-tagging", str(tmp_path / "empty"), out]), "empty", "no rows")
    refused(runner.invoke(app, ["convert-hf-ner", str(tmp_path / "dict"), out, "--split", "test"]), "[test]", "no rows")
    refused(runner.invoke(app, ["convert-hf-tagging", str(tmp_path / "dict"), out, "--split", "dev"]), "'dev'", "train, test")
    result = runner.invoke(app, ["convert-hf-tagging", str(tmp_path / "dict"), out])  # the other split still converts
    assert result.exit_code == 0, result.output
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    Dataset.from_dict({"text": [], "label": []}, features=features).save_to_disk(tmp_path / "text")
    refused(runner.invoke(app, ["convert-hf-text", str(tmp_path / "text"), out]), "no rows")


# 3. prune-vectors


@pytest.mark.parametrize("batch_size", ["-1", "0"])
def test_prune_vectors_refuses_a_batch_size_below_one(tmp_path, batch_size):
    """-1 used to map every removed word to row 0; 0 raised a traceback."""
    nlp = spacy.blank("en")
    nlp.to_disk(tmp_path / "model")
    args = ["prune-vectors", str(tmp_path / "model"), str(tmp_path / "pruned"), "--rows", "2", "--batch-size", batch_size]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output  # a usage error
    assert "--batch-size" in result.output
    vectors = Vectors(shape=(4, 2), data=numpy.eye(4, 2, dtype="float32"), keys=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        prune_vectors(vectors, 2, batch_size=int(batch_size))


def test_prune_vectors_refuses_a_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["prune-vectors", str(tmp_path / "folder"), str(tmp_path / "pruned"), "--rows", "2"])
    refused(result, str(tmp_path / "folder"), "not a saved pipeline")


# 4. One line where a traceback was


def test_demo_refuses_a_missing_pipeline(tmp_path):
    refused(runner.invoke(app, ["demo", str(tmp_path / "no_such_pipeline")]), "no_such_pipeline")
