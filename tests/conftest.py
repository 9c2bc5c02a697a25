"""Shared fixtures: a tiny hand-written tagged corpus and a small tagger overfitted on it."""
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import fix_random_seed

ROOT = Path(__file__).parents[1]
SHARED_CORPORA = ROOT.parent / "shared" / "corpora"

# Hand-written sentences: (words, UPOS, Penn Treebank XPOS).
TAGGED_SENTENCES = [
    ("The cat sat on the mat .", "DET NOUN VERB ADP DET NOUN PUNCT", "DT NN VBD IN DT NN ."),
    ("Dogs chase red balls", "NOUN VERB ADJ NOUN", "NNS VBP JJ NNS"),
    ("She quickly reads old books .", "PRON ADV VERB ADJ NOUN PUNCT", "PRP RB VBZ JJ NNS ."),
    ("We will visit Paris tomorrow", "PRON AUX VERB PROPN NOUN", "PRP MD VB NNP NN"),
    ("My brother does n't like green tea .", "PRON NOUN AUX PART VERB ADJ NOUN PUNCT", "PRP$ NN VBZ RB VB JJ NN ."),
    ("Two birds sang and flew away", "NUM NOUN VERB CCONJ VERB ADV", "CD NNS VBD CC VBD RB"),
    ("Is this your umbrella ?", "AUX PRON PRON NOUN PUNCT", "VBZ DT PRP$ NN ."),
    ("Anna gave Tom a small gift", "PROPN VERB PROPN DET ADJ NOUN", "NNP VBD NNP DT JJ NN"),
]

TINY_ENCODER = {
    "word_width": 16,
    "min_word_freq": 1,
    "word_dropout": 0.0,
    "char_width": 8,
    "char_filters": 8,
    "hidden_width": 16,
    "depth": 2,
    "dropout": 0.0,
    "window_size": 12,
    "window_context": 2,
    "max_batch_tokens": 64,
}


def tagged_examples(nlp):
    examples = []
    for words, upos, xpos in TAGGED_SENTENCES:
        doc = Doc(nlp.vocab, words=words.split())
        examples.append(Example.from_dict(doc, {"pos": upos.split(), "tags": xpos.split()}))
    return examples


def make_tagger_nlp(**encoder):
    nlp = spacy.blank("en")
    nlp.add_pipe("bilstm_tagger", name="tagger", config={"model": {"encoder": {**TINY_ENCODER, **encoder}}})
    return nlp


def train_tagger(nlp, n_iter=60, seed=0):
    fix_random_seed(seed)
    examples = tagged_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.01
    for _ in range(n_iter):
        nlp.update(examples, sgd=optimizer)
    return nlp


@pytest.fixture(scope="session")
def trained_tagger_nlp():
    """A small tagger overfitted on TAGGED_SENTENCES (shared: do not modify it in a test)."""
    return train_tagger(make_tagger_nlp())
