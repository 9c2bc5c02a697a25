"""`nlp.pipe(texts, n_process=2)` gives every component's annotations, extension values included,
exactly as `n_process=1` does (the docs come back from the worker processes as bytes)."""
import pytest
import torch

from helpers import TEXTS, annotations, train
from lm_helpers import lm_examples, make_lm_nlp

PIPE_TEXTS = TEXTS + ["", "Anna Smith flew to Paris on Monday .", "A truly good movie"] * 2


def everything(doc):
    """Annotations and this package's extension values: (annotations, cats, per token
    (pos, tag confidence, surprisal), entity confidences, perplexity)."""
    tokens = [(t._.pos_confidence, t._.tag_confidence, t._.surprisal) for t in doc]
    return annotations(doc), doc.cats, tokens, [ent._.confidence for ent in doc.ents], doc._.perplexity


@pytest.fixture(scope="module")
def trained_lm_nlp():
    nlp = make_lm_nlp()
    return train(nlp, lm_examples(nlp), n_iter=3)


@pytest.fixture
def one_thread():
    """Worker processes run torch on one thread each (see spacy_rnn.layers); the parent does
    too here, so that float sums are added in the same order and results are identical."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("fixture", ["trained_tagger_nlp", "trained_ner_nlp", "trained_textcat_nlp", "trained_lm_nlp"])
def test_two_processes_equal_one(fixture, request, one_thread):
    nlp = request.getfixturevalue(fixture)
    one = [everything(doc) for doc in nlp.pipe(PIPE_TEXTS, batch_size=4)]
    two = [everything(doc) for doc in nlp.pipe(PIPE_TEXTS, batch_size=4, n_process=2)]
    assert two == one
    assert any(SET_HERE[fixture](doc) for doc in nlp.pipe(PIPE_TEXTS)), "the compared values are set"


SET_HERE = {
    "trained_tagger_nlp": lambda doc: doc[0]._.pos_confidence is not None,
    "trained_ner_nlp": lambda doc: doc.ents and doc.ents[0]._.confidence is not None,
    "trained_textcat_nlp": lambda doc: bool(doc.cats),
    "trained_lm_nlp": lambda doc: doc._.perplexity is not None,
}
