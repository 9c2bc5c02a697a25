"""CoNLL-U: the reader, its errors, the DocBin converter, the spaCy corpus reader and UD EWT's counts."""
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_rnn.corpora import CorpusFormatError
from spacy_rnn.corpora.conllu import convert_conllu, create_conllu_reader, read_conllu
from spacy_rnn.corpora.counts import COUNTS
from spacy_rnn.corpora.docbin import CorpusStats

from helpers import ROOT, SHARED_CORPORA

FIXTURE = ROOT / "tests" / "fixtures" / "mini.conllu"


def read_fixture(**kwargs):
    return list(read_conllu(FIXTURE, Vocab(), **kwargs))


def fixture_texts():
    lines = FIXTURE.read_text(encoding="utf8").splitlines()
    return [line[len("# text = ") :] for line in lines if line.startswith("# text = ")]


def write_conllu(tmp_path, lines, name="bad.conllu"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def word(id_, form, upos="NOUN", misc="_"):
    return f"{id_}\t{form}\t{form.lower()}\t{upos}\tNN\t_\t0\troot\t_\t{misc}"


def test_fixture_has_two_documents_of_two_sentences():
    docs = read_fixture()
    assert [len(list(doc.sents)) for doc in docs] == [2, 2]
    assert [len(doc) for doc in docs] == [15, 8]


def test_sentences_reproduce_the_surface_text():
    sentences = [sent.text for doc in read_fixture() for sent in doc.sents]
    assert sentences == fixture_texts()


def test_words_of_a_multi_word_token_are_joined_without_spaces():
    shop, chat = read_fixture()
    assert [(t.text, t.whitespace_) for t in shop[2:4]] == [("does", ""), ("n't", " ")]
    # The range line of "won't" has SpaceAfter=No, so "n't" touches "!".
    assert [(t.text, t.whitespace_) for t in chat[5:8]] == [("wo", ""), ("n't", ""), ("!", " ")]


def test_empty_nodes_are_skipped():
    shop, _ = read_fixture()
    second = list(shop.sents)[1]
    assert [t.text for t in second] == ["Anna", "bought", "apples", "and", "Tom", "pears", "."]


def test_token_annotation():
    shop, chat = read_fixture()
    does = shop[2]
    assert (does.pos_, does.tag_, does.lemma_) == ("AUX", "VBZ", "do")
    assert str(does.morph) == "Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin"
    smiley = chat[1]
    assert (smiley.text, smiley.pos_) == (":-)", "SYM")
    assert smiley.tag_ == ""  # XPOS "_"
    assert smiley.lemma_ == ""  # LEMMA "_"
    assert str(smiley.morph) == ""  # FEATS "_"


def test_sentence_starts_are_set_on_every_token():
    _, chat = read_fixture()
    assert [t.is_sent_start for t in chat] == [True, False, True] + [False] * 5


def test_a_doc_never_spans_a_newdoc_comment():
    assert [len(list(doc.sents)) for doc in read_fixture(n_sents=3)] == [2, 2]


def test_n_sents_caps_the_sentences_per_doc(tmp_path):
    assert len(read_fixture(n_sents=1)) == 4
    sentence = [word(1, "Hello")]
    path = write_conllu(tmp_path, sentence + [""] + sentence + [""] + sentence)
    docs = list(read_conllu(path, Vocab(), n_sents=2))
    assert [len(list(doc.sents)) for doc in docs] == [2, 1]


def test_n_sents_must_be_positive():
    with pytest.raises(ValueError):
        read_fixture(n_sents=0)


def test_last_sentence_may_lack_the_blank_line(tmp_path):
    path = tmp_path / "no_blank.conllu"
    path.write_text(word(1, "Hello") + "\n\n" + word(1, "Bye"), encoding="utf8")
    docs = list(read_conllu(path, Vocab()))
    assert [t.text for t in docs[0]] == ["Hello", "Bye"]


@pytest.mark.parametrize(
    "lines,line_no,problem",
    [
        (["# text = Hi", "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_"], 2, "10 tab-separated columns"),
        ([word("one", "Hi")], 1, "invalid ID"),
        ([word("1-x", "Hi")], 1, "invalid ID"),
        ([word(2, "Hi")], 1, "expected ID 1"),
        ([word(1, "Hi"), word(3, "there")], 2, "expected ID 2"),
        ([word(1, "Hi"), "", word(1, "A"), word(1, "B")], 4, "expected ID 2"),
        ([word("1-2", "Can't"), word(1, "Ca"), word(3, "go")], 1, "not followed by its words"),
        ([word("1-2", "Can't"), word(1, "Ca"), ""], 1, "not followed by its words"),
        ([word(1, "Hi"), word("2-2", "there")], 2, "invalid range"),
        ([word(1, "Hi"), word("2.1", "there")], 2, "empty node"),
        ([word(1, "Hi", upos="NOUNS")], 1, "invalid UPOS"),
        ([word(1, "Hi", upos="_")], 1, "invalid UPOS"),
        ([word(1, "")], 1, "empty FORM"),
        ([word(1, "Hi"), "# text = there", word(2, "there")], 2, "comment line"),
        (["# text = nothing", ""], 1, "sentence without words"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, lines, line_no, problem):
    path = write_conllu(tmp_path, lines)
    with pytest.raises(CorpusFormatError, match=problem) as excinfo:
        list(read_conllu(path, Vocab()))
    assert str(excinfo.value).startswith(f"{path}:{line_no}: ")
    assert (excinfo.value.path, excinfo.value.line) == (path, line_no)


def test_convert_writes_a_docbin_that_round_trips(tmp_path):
    output = tmp_path / "corpus" / "mini.spacy"
    stats = convert_conllu(FIXTURE, output)
    assert stats == CorpusStats(n_docs=2, n_sentences=4, n_tokens=23)
    vocab = Vocab()
    loaded = list(DocBin().from_disk(output).get_docs(vocab))
    for doc, expected in zip(loaded, read_fixture()):
        assert doc.text == expected.text
        for attrs in ["pos_", "tag_", "lemma_", "is_sent_start", "whitespace_"]:
            assert [getattr(t, attrs) for t in doc] == [getattr(t, attrs) for t in expected]
        assert [str(t.morph) for t in doc] == [str(t.morph) for t in expected]


def test_reader_yields_examples_with_gold_tokens_and_no_annotation():
    nlp = spacy.blank("en")
    examples = list(create_conllu_reader(FIXTURE)(nlp))
    assert len(examples) == 2
    for example in examples:
        assert example.predicted.text == example.reference.text
        assert len(example.predicted) == len(example.reference)
        assert not example.predicted.has_annotation("POS")
        assert example.reference.has_annotation("POS")


def test_reader_is_registered_and_honours_limit():
    make_reader = spacy.registry.readers.get("spacy_rnn.ConlluCorpus.v1")
    examples = list(make_reader(path=FIXTURE, n_sents=1, limit=3)(spacy.blank("en")))
    assert len(examples) == 3


def test_reader_fails_early_on_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_conllu_reader(tmp_path / "missing.conllu")


def test_reader_fails_early_on_n_sents_0():
    with pytest.raises(ValueError, match="n_sents must be at least 1"):
        create_conllu_reader(FIXTURE, n_sents=0)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_a_file_without_sentences_is_an_error(tmp_path, text):
    path = tmp_path / "empty.conllu"
    path.write_text(text, encoding="utf8")
    with pytest.raises(CorpusFormatError, match="empty.conllu:1: no sentences in the file"):
        convert_conllu(path, tmp_path / "empty.spacy")
    assert not (tmp_path / "empty.spacy").exists()


@pytest.mark.skipif(not (SHARED_CORPORA / "ud_en_ewt").is_dir(), reason="no local UD EWT")
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_ud_english_ewt_has_the_official_counts(tmp_path, split):
    source = SHARED_CORPORA / "ud_en_ewt" / f"en_ewt-ud-{split}.conllu"
    stats = convert_conllu(source, tmp_path / f"{split}.spacy")
    assert {"sentences": stats.n_sentences, "tokens": stats.n_tokens} == COUNTS[f"ud_en_ewt/{split}"]
