"""A damaged model folder fails to load with the damaged file named and what to do, not with a
decoder's message: the component files (weights, cfg) through `spacy.load`; the files spaCy
reads itself (the vocab's vectors, strings...) through `spacy_rnn.checkpoints.load_pipeline`
(the project's readers), since a component cannot see them fail."""
import re
import shutil

import numpy
import pytest
import spacy

from spacy_rnn.checkpoints import find_damaged_file, load_pipeline

DAMAGES = {
    "truncated weights": ("{name}/model", lambda data: data[: len(data) // 2]),
    "weights cut short at the end": ("{name}/model", lambda data: data[:-10]),
    "empty weights": ("{name}/model", lambda data: b""),
    "invalid cfg": ("{name}/cfg", lambda data: data[: len(data) // 2]),
    "empty cfg": ("{name}/cfg", lambda data: b""),
}


@pytest.fixture(params=["trained_tagger_nlp", "trained_ner_nlp"])
def saved(request, tmp_path):
    nlp = request.getfixturevalue(request.param)
    nlp.to_disk(tmp_path / "model")
    return tmp_path / "model", nlp.pipe_names[0]


def damage(path, mutate):
    path.write_bytes(mutate(path.read_bytes()))
    return path


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_a_damaged_component_file_is_named(saved, kind):
    folder, name = saved
    part, mutate = DAMAGES[kind]
    damaged = damage(folder / part.format(name=name), mutate)
    with pytest.raises(ValueError, match=re.escape(str(damaged)) + r": the file is damaged .*copy .* or train"):
        spacy.load(folder)
    with pytest.raises(ValueError, match=re.escape(str(damaged)) + ": the file is damaged"):
        load_pipeline(folder)


@pytest.mark.parametrize("mutate", [lambda data: data[:-8], lambda data: data[:40], lambda data: b""], ids=["truncated", "header", "empty"])
def test_damaged_vectors_are_named_by_the_project_loader(trained_ner_nlp, tmp_path, mutate):
    nlp = spacy.blank("en")
    for word in ("anna", "paris", "tom"):
        nlp.vocab.set_vector(word, numpy.ones(4, dtype="float32"))
    nlp.to_disk(tmp_path / "model")
    vectors = damage(tmp_path / "model" / "vocab" / "vectors", mutate)
    assert find_damaged_file(tmp_path / "model").startswith(f"{vectors}: the file is damaged")
    with pytest.raises(ValueError, match=re.escape(str(vectors)) + r": the file is damaged \((truncated|empty)"):
        load_pipeline(tmp_path / "model")


def test_an_intact_folder_has_no_damaged_file(trained_ner_nlp, tmp_path):
    trained_ner_nlp.to_disk(tmp_path / "model")
    assert find_damaged_file(tmp_path / "model") is None
    assert load_pipeline(tmp_path / "model").pipe_names == trained_ner_nlp.pipe_names
    shutil.rmtree(tmp_path / "model" / "ner")
    with pytest.raises(Exception) as raised:  # not a damaged file: spaCy's own error stands
        load_pipeline(tmp_path / "model")
    assert "the file is damaged" not in str(raised.value)
