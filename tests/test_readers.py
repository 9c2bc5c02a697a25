"""The GoldTokensCorpus reader: gold tokens of whole documents, no annotation, no sentence split."""
import pytest
import spacy

from spacy_rnn.corpora.conllu import convert_conllu
from spacy_rnn.corpora.readers import create_gold_tokens_reader

from helpers import ROOT


def test_reader_keeps_whole_documents_and_gold_tokens(tmp_path):
    convert_conllu(ROOT / "tests" / "fixtures" / "mini.conllu", tmp_path / "mini.spacy")
    make_reader = spacy.registry.readers.get("spacy_rnn.GoldTokensCorpus.v1")
    examples = list(make_reader(path=tmp_path / "mini.spacy")(spacy.blank("en")))
    assert len(examples) == 2
    for example in examples:
        assert [t.text for t in example.predicted] == [t.text for t in example.reference]
        assert example.predicted.text == example.reference.text
        assert not example.predicted.has_annotation("SENT_START")
        assert not example.predicted.has_annotation("POS")
        assert len(list(example.reference.sents)) == 2
    assert len(list(make_reader(path=tmp_path / "mini.spacy", limit=1)(spacy.blank("en")))) == 1


def test_reader_fails_early_on_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.spacy"):
        create_gold_tokens_reader(tmp_path / "missing.spacy")
