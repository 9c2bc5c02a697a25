import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_rnn.corpora.docbin import CorpusStats
from spacy_rnn.corpora.hf import convert_hf_tagging, convert_hf_text, docs_from_hf_tagging

# Label order differs from the UD list on purpose; "_" marks multi-word tokens.
UPOS_NAMES = ["NOUN", "PUNCT", "VERB", "PRON", "_", "AUX", "PART", "ADV"]


def upos_ids(*tags):
    return [UPOS_NAMES.index(tag) for tag in tags]


@pytest.fixture
def class_label_dataset():
    features = Features(
        {
            "tokens": Sequence(Value("string")),
            "upos": Sequence(ClassLabel(names=UPOS_NAMES)),
            "xpos": Sequence(Value("string")),
        }
    )
    return Dataset.from_dict(
        {
            "tokens": [
                ["Birds", "sing", "."],
                ["They", "can't", "ca", "n't", "stop"],
            ],
            "upos": [
                upos_ids("NOUN", "VERB", "PUNCT"),
                upos_ids("PRON", "_", "AUX", "PART", "VERB"),
            ],
            "xpos": [["NNS", "VBP", "."], ["PRP", None, "MD", "_", "VB"]],
        },
        features=features,
    )


@pytest.fixture
def string_dataset():
    return Dataset.from_dict(
        {"words": [["Rain", "falls"], ["Soon"]], "tags": [["NOUN", "VERB"], ["ADV"]]}
    )


def test_class_label_ids_become_upos_names(class_label_dataset):
    docs = list(docs_from_hf_tagging(class_label_dataset, Vocab()))
    assert [[t.pos_ for t in doc] for doc in docs] == [
        ["NOUN", "VERB", "PUNCT"],
        ["PRON", "AUX", "PART", "VERB"],
    ]


def test_multi_word_tokens_are_skipped(class_label_dataset):
    second = list(docs_from_hf_tagging(class_label_dataset, Vocab()))[1]
    assert second.text == "They ca n't stop"


def test_xpos_sets_tags_and_none_or_underscore_leaves_them_unset(class_label_dataset):
    docs = list(docs_from_hf_tagging(class_label_dataset, Vocab()))
    assert [[t.tag_ for t in doc] for doc in docs] == [["NNS", "VBP", "."], ["PRP", "MD", "", "VB"]]


def test_one_sentence_per_doc_with_spaces_between_words(class_label_dataset):
    for doc in docs_from_hf_tagging(class_label_dataset, Vocab()):
        assert [t.is_sent_start for t in doc] == [True] + [False] * (len(doc) - 1)
        assert [bool(t.whitespace_) for t in doc] == [True] * (len(doc) - 1) + [False]


def test_plain_string_columns_without_xpos(string_dataset):
    docs = list(
        docs_from_hf_tagging(string_dataset, Vocab(), tokens_column="words", upos_column="tags")
    )
    assert [doc.text for doc in docs] == ["Rain falls", "Soon"]
    assert [[t.pos_ for t in doc] for doc in docs] == [["NOUN", "VERB"], ["ADV"]]
    assert not docs[0].has_annotation("TAG")


def test_missing_column_is_named(string_dataset):
    with pytest.raises(ValueError, match="'tokens'"):
        list(docs_from_hf_tagging(string_dataset, Vocab(), upos_column="tags"))


def test_rows_with_columns_of_different_lengths_are_named():
    dataset = Dataset.from_dict({"tokens": [["Fine"], ["Too", "long"]], "upos": [["ADJ"], ["ADV"]]})
    with pytest.raises(ValueError, match="Row 1: column 'upos' has 1 values"):
        list(docs_from_hf_tagging(dataset, Vocab()))


def test_unknown_upos_is_rejected():
    dataset = Dataset.from_dict({"tokens": [["Hm"]], "upos": [["NOUNISH"]]})
    with pytest.raises(ValueError, match="Row 0: invalid UPOS 'NOUNISH'"):
        list(docs_from_hf_tagging(dataset, Vocab()))


def test_convert_writes_a_docbin(class_label_dataset, tmp_path):
    output = tmp_path / "hf" / "train.spacy"
    stats = convert_hf_tagging(class_label_dataset, output)
    assert stats == CorpusStats(n_docs=2, n_sentences=2, n_tokens=7)
    docs = list(DocBin().from_disk(output).get_docs(Vocab()))
    assert [doc.text for doc in docs] == ["Birds sing .", "They ca n't stop"]
    assert [t.pos_ for t in docs[0]] == ["NOUN", "VERB", "PUNCT"]


def test_an_empty_dataset_is_an_error_not_an_empty_corpus(tmp_path):
    empty = Dataset.from_dict({"text": [], "label": []})
    with pytest.raises(ValueError, match="no rows"):
        convert_hf_text(empty, tmp_path / "out.spacy")

