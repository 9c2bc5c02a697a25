"""What the components guarantee under misuse: threads sharing a pipeline, vectors and model
folders that do not belong together, training that diverges, and inputs they do not support."""
from concurrent.futures import ThreadPoolExecutor

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import Doc
from spacy.training import Example

from spacy_rnn.layers import get_torch_net
from spacy_rnn.errors import TrainingDiverged

from helpers import (
    ENTITY_SENTENCES,
    TEXTS,
    annotations,
    entity_examples,
    make_ner_nlp,
    make_tagger_nlp,
    make_textcat_nlp,
    tagged_examples,
    textcat_examples,
    train,
)
from lm_helpers import lm_examples, make_lm_nlp

COMPONENTS = {
    "tagger": (make_tagger_nlp, tagged_examples),
    "ner": (make_ner_nlp, entity_examples),
    "textcat": (make_textcat_nlp, textcat_examples),
}
VECTOR_WORDS = ["the", "cat", "anna", "paris", "film", "good", "bad", "berlin", "tom", "dogs"]


def add_vectors(nlp, seed=0):
    """A small static vectors table of width 4."""
    rng = numpy.random.default_rng(seed)
    for word in VECTOR_WORDS:
        nlp.vocab.set_vector(word, rng.normal(size=4).astype("float32"))
    return nlp


@pytest.fixture(params=list(COMPONENTS), scope="module")
def name(request):
    return request.param


@pytest.fixture(scope="module")
def nlp_with_vectors(name):
    """A tiny component trained with dropout (so a training-mode forward pass would differ) and
    static vectors."""
    make_nlp, examples = COMPONENTS[name]
    nlp = add_vectors(make_nlp(dropout=0.5))
    return train(nlp, examples(nlp), n_iter=15)


def test_threads_sharing_a_pipeline_get_the_sequential_answers(nlp_with_vectors):
    nlp = nlp_with_vectors
    texts = [text for text in TEXTS for _ in range(8)]
    sequential = [annotations(nlp(text)) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda text: annotations(nlp(text)), texts))
    assert concurrent == sequential
    assert not any(get_torch_net(nlp.get_pipe(pipe).model).training for pipe in nlp.pipe_names)


def test_a_doc_without_the_trained_vectors_is_refused(nlp_with_vectors, name):
    """A doc made by another pipeline (another vocab, no vectors) gets an error naming the fix."""
    foreign = spacy.blank("en")("Anna met Tom in Paris")
    with pytest.raises(ValueError, match="trained with static vectors of width 4.*vocab.vectors"):
        nlp_with_vectors.get_pipe(name)(foreign)


def test_another_table_of_the_same_width_is_refused(nlp_with_vectors, name):
    other = add_vectors(spacy.blank("en"), seed=1)
    with pytest.raises(ValueError, match="another table of that width"):
        nlp_with_vectors.get_pipe(name)(other("Anna met Tom in Paris"))


def test_a_sourced_component_works_once_its_vectors_come_along(nlp_with_vectors, name):
    target = spacy.blank("en")
    target.add_pipe(name, source=nlp_with_vectors)
    with pytest.raises(ValueError, match="vectors"):
        target("Anna met Tom in Paris")
    target.vocab.vectors = nlp_with_vectors.vocab.vectors
    assert [annotations(target(text)) for text in TEXTS] == [annotations(nlp_with_vectors(text)) for text in TEXTS]


def flip_weights_byte(model_file):
    """Change one byte inside the saved torch weights of a model file (thinc msgpack)."""
    msg = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(msg["shims"][0][0])
    state = bytearray(shim["state"])
    state[len(state) // 2] ^= 0xFF
    shim["state"] = bytes(state)
    msg["shims"][0][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(msg))


def test_tampered_weights_fail_to_load(nlp_with_vectors, name, tmp_path):
    nlp_with_vectors.to_disk(tmp_path)
    flip_weights_byte(tmp_path / name / "model")
    with pytest.raises(ValueError, match="corrupt"):
        spacy.load(tmp_path)


def test_labels_that_do_not_match_the_weights_fail_to_load(nlp_with_vectors, name, tmp_path):
    """cfg holds the labels; the weights were built for as many (the recognizer: for their tags)."""
    nlp_with_vectors.to_disk(tmp_path)
    cfg = srsly.read_json(tmp_path / name / "cfg")
    labels = cfg["labels"]
    if isinstance(labels, dict):
        labels["pos"] = labels["pos"][:-1]
    else:
        cfg["labels"] = labels[:-1]
    srsly.write_json(tmp_path / name / "cfg", cfg)
    with pytest.raises(ValueError, match="the cfg file was edited or belongs to another model"):
        spacy.load(tmp_path)


@pytest.mark.parametrize("deleted, message", [("{name}/cfg", "labels"), ("vocab/vectors", "no vectors")])
def test_a_model_folder_missing_a_part_fails_to_load(nlp_with_vectors, name, tmp_path, deleted, message):
    nlp_with_vectors.to_disk(tmp_path)
    (tmp_path / deleted.format(name=name)).unlink()
    with pytest.raises(ValueError, match=message):
        spacy.load(tmp_path)


def initialized(make_nlp, examples):
    nlp = make_nlp()
    nlp.initialize(lambda: examples(nlp))
    return nlp


@pytest.mark.parametrize(
    "make_target, examples, pipe, net",
    [(make_ner_nlp, entity_examples, "ner", "EntityTaggerNet"), (make_lm_nlp, lm_examples, "lm", "LanguageModelNet")],
)
def test_weights_of_another_component_fail_to_load(tmp_path, make_target, examples, pipe, net):
    initialized(make_target, examples).to_disk(tmp_path)
    initialized(make_tagger_nlp, tagged_examples).get_pipe("tagger").model.to_disk(tmp_path / pipe / "model")
    with pytest.raises(ValueError, match=f"holds TaggerNet weights, not the {net}"):
        spacy.load(tmp_path)


@pytest.mark.parametrize("learn_rate", [1e6, 1e30])
def test_a_diverging_run_stops_with_the_step_named(name, learn_rate):
    make_nlp, examples = COMPONENTS[name]
    nlp = make_nlp()
    optimizer = nlp.initialize(lambda: examples(nlp))
    optimizer.learn_rate = learn_rate
    with pytest.raises(TrainingDiverged, match=r"training diverged at update \d+"):
        for _ in range(50):
            nlp.update(examples(nlp), sgd=optimizer)


def test_entities_set_before_the_recognizer_are_kept():
    nlp = train(make_ner_nlp(), entity_examples(make_ner_nlp()))
    ruler = nlp.add_pipe("entity_ruler", before="ner")
    ruler.add_patterns([{"label": "DATE", "pattern": "Monday"}, {"label": "ORG", "pattern": "Paris"}])
    doc = nlp("Anna Smith flew to Paris on Monday .")
    assert [(ent.text, ent.label_) for ent in doc.ents] == [("Anna Smith", "PER"), ("Paris", "ORG"), ("Monday", "DATE")]


def test_soft_textcat_labels_are_refused():
    nlp = make_textcat_nlp()
    optimizer = nlp.initialize(lambda: textcat_examples(nlp))
    soft = Example.from_dict(nlp.make_doc("a film"), {"cats": {"negative": 0.1, "neutral": 0.0, "positive": 0.9}})
    with pytest.raises(ValueError, match="soft labels are not supported"):
        nlp.update([soft], sgd=optimizer)


@pytest.mark.parametrize("setting", [{"hidden_width": 10**9}, {"word_width": -1}, {"window_size": 10**8}])
def test_absurd_sizes_are_refused_before_allocating(setting):
    with pytest.raises(ValueError, match="outside"):
        make_tagger_nlp(**setting)


def test_entity_sentences_still_decode_with_presets_on_every_token():
    """A doc whose every token is already in an entity keeps exactly those entities."""
    nlp = train(make_ner_nlp(), entity_examples(make_ner_nlp()), n_iter=5)
    text, _ = ENTITY_SENTENCES[5]
    doc = Doc(nlp.vocab, words=text.split(), ents=["B-MISC", "B-MISC"])
    assert [ent.label_ for ent in nlp.get_pipe("ner")(doc).ents] == ["MISC", "MISC"]



@pytest.fixture(scope="module")
def lm_nlp():
    nlp = make_lm_nlp(embed_dropout=0.5, layer_dropout=0.5, output_dropout=0.5)
    return train(nlp, lm_examples(nlp), n_iter=10)


def test_threads_sharing_a_language_model_get_the_sequential_answers(lm_nlp):
    texts = ["the cat sat on the mat", "a dog ate the fish on the roof", "N birds sang"] * 8
    sequential = [[t._.surprisal for t in lm_nlp(text)] for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda text: [t._.surprisal for t in lm_nlp(text)], texts))
    assert concurrent == sequential


@pytest.mark.parametrize(
    "call",
    [
        lambda lm, doc: lm.next_words(doc, k=-1),
        lambda lm, doc: lm.next_words(doc, k=0),
        lambda lm, doc: lm.generate(doc, top_k=0),
        lambda lm, doc: lm.generate(doc, top_k=-5),
        lambda lm, doc: lm.generate(doc, temperature=0.0),
        lambda lm, doc: lm.generate(doc, n_words=-1),
    ],
)
def test_language_model_arguments_are_validated(lm_nlp, call):
    with pytest.raises(ValueError, match=r"\[lm\] (next_words|generate) needs"):
        call(lm_nlp.get_pipe("lm"), lm_nlp("the cat"))


def test_a_diverging_language_model_update_stops_with_the_step_named():
    nlp = make_lm_nlp()
    optimizer = nlp.initialize(lambda: lm_examples(nlp))
    optimizer.learn_rate = 1e30
    with pytest.raises(TrainingDiverged, match=r"training diverged at update \d+"):
        for _ in range(50):
            nlp.update(lm_examples(nlp), sgd=optimizer)


BAD_TEXT = "Anna met \ud800 Tom in Paris \udcff"


@pytest.fixture(scope="module")
def four_pipelines(request):
    """Copies of the tiny trained tagger, recognizer, text classifier and language model."""
    import pickle

    pipelines = {name: pickle.loads(pickle.dumps(request.getfixturevalue(f"trained_{name}_nlp"))) for name in ("tagger", "ner", "textcat")}
    lm = make_lm_nlp()
    lm.initialize(lambda: lm_examples(lm))
    return {**pipelines, "lm": lm}


def test_a_lone_surrogate_is_named_or_replaced_by_the_checked_tokenizer(four_pipelines):
    from spacy_rnn.pipes.text import NotUnicodeText, check_text, clean_text, create_checked_tokenizer

    for name, nlp in four_pipelines.items():
        with pytest.raises(UnicodeEncodeError):  # spaCy's own tokenizer, whatever the pipeline
            nlp(BAD_TEXT)
        plain = [t.text for t in nlp("Anna met Tom in Paris, didn't she?")]
        nlp.tokenizer = create_checked_tokenizer()(nlp)
        assert [t.text for t in nlp("Anna met Tom in Paris, didn't she?")] == plain  # spaCy's tokens
        with pytest.raises(NotUnicodeText, match=r"the text is not valid Unicode: .*U\+D800 at character 9, U\+DCFF at character 24"):
            nlp(BAD_TEXT)
        with pytest.raises(NotUnicodeText):
            list(nlp.pipe(["fine", BAD_TEXT]))
        nlp.tokenizer = create_checked_tokenizer(errors="replace")(nlp)
        doc = nlp(BAD_TEXT)
        assert doc.text == clean_text(BAD_TEXT) == BAD_TEXT.replace("\ud800", "\ufffd").replace("\udcff", "\ufffd")
        annotated = {"tagger": lambda: all(t.pos_ for t in doc), "ner": lambda: doc.has_annotation("ENT_IOB"),
                     "textcat": lambda: bool(doc.cats), "lm": lambda: doc._.perplexity is not None}
        assert annotated[name](), name
    with pytest.raises(NotUnicodeText, match=r"line 3 of x\.jsonl is not valid Unicode"):
        check_text(BAD_TEXT, "line 3 of x.jsonl")
    assert check_text("fine ✓ 😀") == "fine ✓ 😀"


def test_the_checked_tokenizer_travels_with_the_pipeline(tmp_path):
    import pickle

    import spacy_rnn.pipes.text  # noqa: F401 (registers spacy_rnn.Tokenizer.v1)

    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_rnn.Tokenizer.v1", "errors": "replace"}}})
    nlp.to_disk(tmp_path / "blank")
    for copy in (spacy.load(tmp_path / "blank"), pickle.loads(pickle.dumps(nlp))):
        assert copy.tokenizer.errors == "replace" and copy(BAD_TEXT).text == nlp(BAD_TEXT).text
    with pytest.raises(Exception, match="errors must be one of"):
        spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_rnn.Tokenizer.v1", "errors": "ignore"}}})
