"""Extending trained components: `add_label` grows the heads without changing the old labels'
predictions, survives saving and learns the new label; a trained component sourced into a new
config continues training with `spacy train`'s own initialization and loop."""
import io
import pickle

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as spacy_train
from thinc.api import Config, fix_random_seed
from typer.testing import CliRunner

from helpers import (
    ENTITY_SENTENCES,
    SENTIMENT_TEXTS,
    TAGGED_SENTENCES,
    TEXTS,
    annotations,
    entity_examples,
    tagged_examples,
    textcat_examples,
)
from spacy_rnn.cli import app
from spacy_rnn.layers import get_torch_net

PROBE_TEXTS = TEXTS + [text for text, _ in ENTITY_SENTENCES] + [words for words, _, _ in TAGGED_SENTENCES] + [text for text, _ in SENTIMENT_TEXTS]
# (fixture, pipe, label to add, add_label keyword arguments)
ADDITIONS = {
    "pos": ("trained_tagger_nlp", "tagger", "INTJ", {"head": "pos"}),
    "tag": ("trained_tagger_nlp", "tagger", "UH", {"head": "tag"}),
    "ner": ("trained_ner_nlp", "ner", "DATE", {}),
    "textcat": ("trained_textcat_nlp", "textcat", "mixed", {}),
}


def predictions(nlp):
    return [annotations(doc) for doc in nlp.pipe(PROBE_TEXTS)]


@pytest.fixture(params=list(ADDITIONS))
def extended(request):
    """(a copy of the trained pipeline, its predictions before, the pipe, the label added)."""
    fixture, pipe_name, label, kwargs = ADDITIONS[request.param]
    nlp = pickle.loads(pickle.dumps(request.getfixturevalue(fixture)))
    before = predictions(nlp)
    pipe = nlp.get_pipe(pipe_name)
    assert pipe.add_label(label, **kwargs) == 1 and pipe.add_label(label, **kwargs) == 0
    return nlp, before, pipe, label


def test_old_predictions_are_unchanged_and_the_model_is_consistent(extended):
    nlp, before, pipe, label = extended
    assert predictions(nlp) == before
    pipe.check_model("after add_label")  # the model is built from what the cfg labels give
    assert label in str(pipe.label_data)
    net = get_torch_net(pipe.model)
    assert net.hparams == type(net).from_hparams(net.hparams).hparams


def test_a_grown_pipeline_saves_and_loads(extended, tmp_path):
    """Loaded as trained (float32, per-token projection; `spacy_rnn.inference`) it predicts
    exactly what it predicted before saving."""
    nlp, before, pipe, label = extended
    as_trained = {"components": {pipe.name: {"precision": "float32", "input_projection": "token"}}}
    nlp.to_disk(tmp_path / "grown")
    loaded = spacy.load(tmp_path / "grown", config=as_trained)
    assert predictions(loaded) == before
    assert loaded.get_pipe(pipe.name).label_data == pipe.label_data
    blank = spacy.util.load_model_from_config(Config(nlp.config).merge(as_trained))
    assert predictions(blank.from_bytes(nlp.to_bytes())) == before


def test_the_recognizer_keeps_old_transitions_and_constrains_the_new_tags(trained_ner_nlp):
    nlp = pickle.loads(pickle.dumps(trained_ner_nlp))
    pipe = nlp.get_pipe("ner")
    old_tags, old_crf = list(pipe.tags), get_torch_net(pipe.model).crf
    pipe.add_label("DATE")
    crf = get_torch_net(pipe.model).crf
    n = len(old_tags)
    assert pipe.tags == old_tags + ["B-DATE", "I-DATE", "L-DATE", "U-DATE"]
    assert crf.transitions[:n, :n].tolist() == old_crf.transitions.tolist()
    assert crf.transitions[n:].abs().sum() == 0 and crf.transitions[:, n:].abs().sum() == 0
    assert crf.transitions_penalty[pipe.tags.index("O"), pipe.tags.index("I-DATE")] < 0  # O -> I-DATE forbidden


def new_label_examples(nlp, name):
    """The training examples plus a few with the new label."""
    if name == "ner":
        examples = entity_examples(nlp)
        for text, spans in [("Anna left on Monday", [(0, 1, "PER"), (3, 4, "DATE")]), ("Tuesday was cold", [(0, 1, "DATE")])]:
            reference = Doc(nlp.vocab, words=text.split())
            reference.set_ents([Span(reference, *span) for span in spans], default="outside")
            examples.append(Example(Doc(nlp.vocab, words=text.split()), reference))
        return examples, lambda: [ent.label_ for ent in nlp("Anna left on Monday").ents] == ["PER", "DATE"]
    if name == "textcat":
        labels = ["negative", "neutral", "positive", "mixed"]
        examples = textcat_examples(nlp) + [
            Example.from_dict(nlp.make_doc(text), {"cats": {label: float(label == "mixed") for label in labels}})
            for text in ["Great acting but a dull plot", "Fine story , awful script"]
        ]
        return examples, lambda: max((cats := nlp("Great acting but a dull plot").cats), key=cats.get) == "mixed"
    examples = tagged_examples(nlp) + [Example.from_dict(nlp.make_doc("Wow Tom"), {"pos": ["INTJ", "PROPN"], "tags": ["UH", "NNP"]})]
    attr = "pos_" if name == "pos" else "tag_"
    return examples, lambda: getattr(nlp("Wow Tom")[0], attr) == ("INTJ" if name == "pos" else "UH")


@pytest.mark.parametrize("name", list(ADDITIONS))
def test_training_after_add_label_learns_the_new_label(name, request):
    fixture, pipe_name, label, kwargs = ADDITIONS[name]
    nlp = pickle.loads(pickle.dumps(request.getfixturevalue(fixture)))
    nlp.get_pipe(pipe_name).add_label(label, **kwargs)
    if name in ("pos", "tag"):  # the tagger learns both heads: give the example both new labels
        other = {"pos": ("UH", "tag"), "tag": ("INTJ", "pos")}[name]
        nlp.get_pipe(pipe_name).add_label(other[0], head=other[1])
    examples, learned = new_label_examples(nlp, name)
    fix_random_seed(0)
    optimizer = nlp.resume_training(sgd=nlp.create_optimizer())  # not one holding the old shapes' state
    optimizer.learn_rate = 0.01
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    assert learned()


EXAMPLES = {"pos": tagged_examples, "tag": tagged_examples, "ner": entity_examples, "textcat": textcat_examples}


@pytest.mark.parametrize("name", list(ADDITIONS))
def test_updating_a_grown_component_with_a_stepped_optimizer_asks_for_a_fresh_one(name, request):
    """An optimizer that stepped the smaller net holds state of the old shapes: the update is
    refused before any weight changes, with the remedy named (not thinc's shape error)."""
    fixture, pipe_name, label, kwargs = ADDITIONS[name]
    nlp = pickle.loads(pickle.dumps(request.getfixturevalue(fixture)))
    examples = EXAMPLES[name](nlp)
    optimizer = nlp.resume_training(sgd=nlp.create_optimizer())
    nlp.update(examples, sgd=optimizer)
    pipe = nlp.get_pipe(pipe_name)
    pipe.add_label(label, **kwargs)
    weights = {key: value.clone() for key, value in get_torch_net(pipe.model).state_dict().items()}
    with pytest.raises(ValueError, match=r"fresh optimizer.*nlp\.create_optimizer\(\)"):
        nlp.update(examples, sgd=optimizer)
    assert all(bool((value == weights[key]).all()) for key, value in get_torch_net(pipe.model).state_dict().items())
    nlp.update(examples, sgd=nlp.resume_training(sgd=nlp.create_optimizer()))  # the remedy works


@pytest.mark.parametrize("name", ["pos", "ner", "textcat"])
def test_a_gold_label_the_component_lacks_names_add_label(name, request):
    fixture, pipe_name, _, kwargs = ADDITIONS[name]
    nlp = request.getfixturevalue(fixture)
    eg = EXAMPLES[name](nlp)[0]
    if name == "pos":
        eg.reference[0].pos_ = "SYM"
    elif name == "ner":
        eg.reference.set_ents([Span(eg.reference, 0, 1, "NORP")], default="unmodified")
    else:
        eg.reference.cats = {"mixed": 1.0}
    with pytest.raises(ValueError, match=r"add_label\("):
        nlp.get_pipe(pipe_name).get_loss([eg], nlp.get_pipe(pipe_name).model.begin_update([eg.predicted])[0])


def docbin(nlp, examples, path):
    """A DocBin of the examples' references at path."""
    DocBin(docs=[eg.reference for eg in examples]).to_disk(path)
    return path


def test_a_sourced_recognizer_continues_training_on_new_data(trained_ner_nlp, tmp_path):
    """The recipe of docs/usage.md: add the new label to the trained pipeline, save it, source it
    in a config and train on data with the new label (spaCy resumes, not re-initializes, it)."""
    grown = pickle.loads(pickle.dumps(trained_ner_nlp))
    grown.get_pipe("ner").add_label("DATE")
    grown.to_disk(tmp_path / "trained")
    examples, learned = new_label_examples(grown, "ner")
    train_path = docbin(grown, examples, tmp_path / "train.spacy")
    config = Config().from_str(
        f"""
[paths]
train = "{train_path}"
dev = "{train_path}"

[nlp]
lang = "en"
pipeline = ["ner"]

[components]

[components.ner]
source = "{tmp_path / 'trained'}"

[training]
seed = 0
max_steps = 40
eval_frequency = 20

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.01
"""
    )
    filled = spacy.util.load_model_from_config(config, auto_fill=True, validate=False).config  # as `spacy init fill-config`
    filled["components"]["ner"] = {"source": str(tmp_path / "trained")}
    nlp = init_nlp(filled)
    # sourced: resumed, not re-initialized (and, loaded, it predicts with its inference settings)
    assert predictions(nlp) == predictions(spacy.load(tmp_path / "trained"))
    (tmp_path / "continued").mkdir()
    spacy_train(nlp, tmp_path / "continued", stdout=io.StringIO(), stderr=io.StringIO())
    continued = spacy.load(tmp_path / "continued" / "model-last")
    assert continued.get_pipe("ner").labels == grown.get_pipe("ner").labels
    assert [ent.label_ for ent in continued("Anna left on Monday").ents] == ["PER", "DATE"]
    assert continued.evaluate(entity_examples(continued))["ents_f"] == 1.0


def test_add_labels_teaches_a_trained_recognizer_the_new_data_s_labels_with_rehearsal(trained_ner_nlp, tmp_path):
    """`python -m spacy_rnn add-labels`: the labels the new data has and the recognizer lacks are
    added, old-label docs are mixed back in, and the continued model predicts old and new labels."""
    trained_ner_nlp.to_disk(tmp_path / "trained")
    new_examples = [eg for eg in new_label_examples(trained_ner_nlp, "ner")[0] if any(e.label_ == "DATE" for e in eg.reference.ents)]
    new_path = docbin(trained_ner_nlp, new_examples, tmp_path / "new.spacy")
    old_path = docbin(trained_ner_nlp, entity_examples(trained_ner_nlp), tmp_path / "old.spacy")
    dev_path = docbin(trained_ner_nlp, entity_examples(trained_ner_nlp) + new_examples, tmp_path / "dev.spacy")
    args = [
        "add-labels", str(tmp_path / "trained"), str(new_path), str(tmp_path / "out"), "--dev", str(dev_path),
        "--rehearsal", str(old_path), "--ratio", "3", "--steps", "60", "--learn-rate", "0.01",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "labels added: DATE; trained on 2 new + 6 rehearsal docs" in result.output
    continued = spacy.load(tmp_path / "out" / "model-last")
    assert continued.get_pipe("ner").labels == (*trained_ner_nlp.get_pipe("ner").labels, "DATE")
    assert [ent.label_ for ent in continued("Anna left on Monday").ents] == ["PER", "DATE"]
    assert continued.evaluate(entity_examples(continued))["ents_f"] == 1.0  # the old labels kept


def test_add_labels_refuses_a_component_that_takes_no_labels(trained_ner_nlp, tmp_path):
    trained_ner_nlp.to_disk(tmp_path / "trained")
    path = docbin(trained_ner_nlp, entity_examples(trained_ner_nlp), tmp_path / "new.spacy")
    result = CliRunner().invoke(app, ["add-labels", str(tmp_path / "trained"), str(path), str(tmp_path / "out"), "--dev", str(path), "--component", "parser"])
    assert result.exit_code == 1 and "no component named 'parser'" in result.output
