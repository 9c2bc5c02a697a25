"""Shared fixtures: small components overfitted on the hand-written corpora of helpers.py."""
import pytest

from helpers import make_annotation_nlp, make_ner_nlp, make_tagger_nlp, make_textcat_nlp, train_ner, train_tagger, train_textcat


@pytest.fixture(scope="session")
def trained_tagger_nlp():
    """A small tagger overfitted on TAGGED_SENTENCES (shared: do not modify it in a test)."""
    return train_tagger(make_tagger_nlp())


@pytest.fixture(scope="session")
def trained_ner_nlp():
    """A small BiLSTM-CRF recognizer overfitted on ENTITY_SENTENCES (shared: do not modify it)."""
    return train_ner(make_ner_nlp())


@pytest.fixture(scope="session")
def trained_textcat_nlp():
    """A small text classifier overfitted on SENTIMENT_TEXTS (shared: do not modify it)."""
    return train_textcat(make_textcat_nlp())


@pytest.fixture(scope="session")
def annotation_pipeline(tmp_path_factory):
    """The folder of a saved tagger + recognizer + text classifier (`make_annotation_nlp`)."""
    path = tmp_path_factory.mktemp("annotation") / "nlp"
    make_annotation_nlp().to_disk(path)
    return str(path)
