"""Users' own data: token-per-line column files (any columns, IOB1 / IOB2 / BIOES) and JSON lines
(NER spans, text classes) -> DocBins; every malformed input fails with file:line."""
import json

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora import CorpusFormatError
from spacy_rnn.corpora.columns import read_columns
from spacy_rnn.corpora.conll2003 import read_conll2003
from spacy_rnn.corpora.jsonl import read_label_jsonl, read_span_jsonl

runner = CliRunner()

CONLL2003_IOB1 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
John NNP I-NP B-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""
IOB2_TAB = "Anna\tB-PER\nSmith\tI-PER\nflew\tO\nto\tO\nNew\tB-LOC\nYork\tI-LOC\n\nTom\tB-PER\nJohn\tB-PER\n\nhi\tO\n"
BIOES = "Anna NNP S-PER x\nmet VBD O x\nNew NNP B-LOC x\nYork NNP I-LOC x\nCity NNP E-LOC x\n\nTom NNP U-PER x\nLee NNP U-PER x\n"


def write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf8")
    return path


def entities(docs):
    return [[(ent.text, ent.label_) for ent in doc.ents] for doc in docs]


def test_iob1_is_detected_and_read_as_the_conll2003_converter_reads_it(tmp_path):
    path = write(tmp_path, CONLL2003_IOB1)
    docs, scheme = read_columns(path, Vocab())
    assert scheme == "iob1"
    assert entities(docs) == entities(read_conll2003(path, Vocab()))
    assert entities(docs)[0] == [("EU", "ORG"), ("German", "MISC"), ("Peter Blackburn", "PER"), ("John", "PER")]
    assert [len(list(doc.sents)) for doc in docs] == [2, 1]  # one Doc per -DOCSTART-


def test_iob2_tab_separated_two_columns_grouped_by_n_sents(tmp_path):
    docs, scheme = read_columns(write(tmp_path, IOB2_TAB), Vocab(), n_sents=2)
    assert scheme == "iob2"
    assert entities(docs) == [[("Anna Smith", "PER"), ("New York", "LOC"), ("Tom", "PER"), ("John", "PER")], []]
    assert [len(list(doc.sents)) for doc in docs] == [2, 1]


def test_bioes_and_biluo_tags_from_a_chosen_column(tmp_path):
    docs, scheme = read_columns(write(tmp_path, BIOES), Vocab(), tag_column=2, n_sents=5)
    assert scheme == "bioes"
    assert entities(docs) == [[("Anna", "PER"), ("New York City", "LOC"), ("Tom", "PER"), ("Lee", "PER")]]


def test_tokens_with_spaces_in_tab_separated_columns(tmp_path):
    docs, _ = read_columns(write(tmp_path, "New York\tB-LOC\nis\tO\n"), Vocab())
    assert [token.text for token in docs[0]] == ["New York", "is"]


@pytest.mark.parametrize(
    "text, scheme, line, message",
    [
        (CONLL2003_IOB1, "iob2", 3, "does not continue an entity: not IOB2"),
        (IOB2_TAB, "iob1", 1, "IOB1 uses B- only right after an entity of the same type"),
        (IOB2_TAB, "bioes", 3, "not closed by E-PER"),
        (BIOES, "iob2", 1, "not O or one of B/I-LABEL"),
        ("a B-PER\nb I-PER\n", "bioes", 2, "the sentence ends inside PER"),
        ("a O\nb I-PER\n", "bioes", 2, "does not continue an entity"),
    ],
)
def test_an_explicit_scheme_that_does_not_match_fails_at_the_line(tmp_path, text, scheme, line, message):
    path = write(tmp_path, text)
    with pytest.raises(CorpusFormatError, match=message) as error:
        read_columns(path, Vocab(), tag_column=-1 if text != BIOES else 2, scheme=scheme)
    assert (error.value.path, error.value.line) == (path, line)


@pytest.mark.parametrize(
    "text, options, line, message",
    [
        ("a O\nb B-PER x\n", {}, 2, "3 space-separated columns, but line 1 has 2"),
        ("a O\nb B_PER\n", {}, 2, "tag 'B_PER' is not O"),
        ("a O\n", {"tag_column": 2}, 1, "no tag column 2: the line has 2 columns"),
        ("a\tO\nb\t\n", {}, 2, "empty token or tag column"),
        ("\n\n", {}, 1, "no tokens in the file"),
        ("a O\n-DOCSTART- O\n", {}, 2, "-DOCSTART- line inside a sentence"),
    ],
)
def test_malformed_column_files_fail_at_the_line(tmp_path, text, options, line, message):
    path = write(tmp_path, text)
    with pytest.raises(CorpusFormatError, match=message) as error:
        read_columns(path, Vocab(), **options)
    assert (error.value.path, error.value.line) == (path, line)


def test_bytes_that_are_not_utf8_fail_at_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a O\nMünchen B-LOC\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match="latin1.txt:2: not UTF-8"):
        read_columns(path, Vocab())


def test_convert_columns_command(tmp_path):
    output = tmp_path / "out.spacy"
    ok = runner.invoke(app, ["convert-columns", str(write(tmp_path, BIOES)), str(output), "--tag-column", "2"])
    assert ok.exit_code == 0, ok.output
    assert "(bioes): 2 sentences, 7 tokens, 4 entities in 1 docs" in ok.output
    assert entities(DocBin().from_disk(output).get_docs(Vocab()))[0][1] == ("New York City", "LOC")
    bad = runner.invoke(app, ["convert-columns", str(write(tmp_path, IOB2_TAB)), str(output), "--scheme", "iob1"])
    assert bad.exit_code == 1 and "data.txt:1:" in bad.output


NER_RECORDS = [
    {"text": "Anna Smith flew to Paris.", "spans": [{"start": 0, "end": 10, "label": "PER"}, {"start": 19, "end": 24, "label": "LOC"}]},
    {"text": "Nothing here."},
    {"text": "Rejected Bob", "spans": [{"start": 9, "end": 12, "label": "PER"}], "answer": "reject"},
]


def write_jsonl(tmp_path, records, name="data.jsonl"):
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    return write(tmp_path, "\n".join(lines) + "\n", name)


def test_span_records_become_entities(tmp_path):
    docs, n_skipped = read_span_jsonl(write_jsonl(tmp_path, NER_RECORDS), spacy.blank("en"))
    assert entities(docs) == [[("Anna Smith", "PER"), ("Paris", "LOC")], []] and n_skipped == 1


def test_span_off_token_boundaries_fails_or_expands(tmp_path):
    path = write_jsonl(tmp_path, [NER_RECORDS[1], {"text": "Anna Smith flew", "spans": [{"start": 0, "end": 7, "label": "PER"}]}])
    with pytest.raises(CorpusFormatError, match=r"data.jsonl:2: span \[0, 7\) 'Anna Sm' \(PER\) does not cover whole tokens \['Anna', 'Smith'\]"):
        list(read_span_jsonl(path, spacy.blank("en"))[0])
    docs, _ = read_span_jsonl(path, spacy.blank("en"), alignment_mode="expand")
    assert entities(docs)[1] == [("Anna Smith", "PER")]


@pytest.mark.parametrize(
    "record, message",
    [
        ('{"text": "Anna"', "not JSON"),
        ('["Anna"]', 'expected an object with a string "text"'),
        ({"text": "Anna", "spans": {"start": 0}}, '"spans" is not a list'),
        ({"text": "Anna", "spans": [{"start": 0, "end": 4}]}, 'needs "start", "end" and "label"'),
        ({"text": "Anna", "spans": [{"start": 0, "end": 9, "label": "PER"}]}, "not within the text's 4 characters"),
        ({"text": "Anna", "spans": [{"start": 0, "end": 4, "label": ""}]}, "has no label"),
        ({"text": "Anna Lee", "spans": [{"start": 0, "end": 8, "label": "PER"}, {"start": 5, "end": 8, "label": "PER"}]}, "overlapping spans"),
    ],
)
def test_malformed_span_records_fail_at_the_line(tmp_path, record, message):
    path = write_jsonl(tmp_path, [NER_RECORDS[1], record])
    with pytest.raises(CorpusFormatError, match=message) as error:
        list(read_span_jsonl(path, spacy.blank("en"))[0])
    assert error.value.line == 2


def test_label_records_become_exclusive_cats(tmp_path):
    records = [{"text": "Great film", "label": "pos"}, {"text": "Dull", "label": "neg"}]
    docs, n_skipped, labels = read_label_jsonl(write_jsonl(tmp_path, records), spacy.blank("en"))
    assert labels == ["neg", "pos"] and n_skipped == 0
    assert [doc.cats for doc in docs] == [{"neg": 0.0, "pos": 1.0}, {"neg": 1.0, "pos": 0.0}]
    docs, _, labels = read_label_jsonl(write_jsonl(tmp_path, records), spacy.blank("en"), labels=["pos", "neg", "neutral"])
    assert docs[0].cats == {"pos": 1.0, "neg": 0.0, "neutral": 0.0}


@pytest.mark.parametrize(
    "record, labels, message",
    [({"text": "Dull"}, None, 'expected a string "label"'), ({"text": "Dull", "label": "bad"}, ["pos", "neg"], "label 'bad' is not one of")],
)
def test_malformed_label_records_fail_at_the_line(tmp_path, record, labels, message):
    path = write_jsonl(tmp_path, [{"text": "Great", "label": "pos"}, record])
    with pytest.raises(CorpusFormatError, match=f"data.jsonl:2: {message}"):
        read_label_jsonl(path, spacy.blank("en"), labels)


def test_convert_jsonl_command(tmp_path):
    output = tmp_path / "out.spacy"
    ner = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, NER_RECORDS)), str(output), "--task", "ner"])
    assert ner.exit_code == 0 and "2 entities in 2 docs" in ner.output and "skipped 1 records" in ner.output
    records = [{"text": "Great film", "label": "pos"}, {"text": "Dull", "label": "neg"}]
    textcat = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, records)), str(output), "--task", "textcat", "--labels", "neg,pos"])
    assert textcat.exit_code == 0 and "neg 1, pos 1" in textcat.output
    assert [doc.cats for doc in DocBin().from_disk(output).get_docs(Vocab())][0] == {"neg": 0.0, "pos": 1.0}
    bad = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, ['{"text": 1}'])), str(output), "--task", "ner"])
    assert bad.exit_code == 1 and "data.jsonl:1:" in bad.output


def test_convert_jsonl_tells_the_task_from_the_first_record(tmp_path):
    output = tmp_path / "out.spacy"
    ner = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, NER_RECORDS)), str(output)])
    assert ner.exit_code == 0 and "task ner (from its first record)" in ner.output and "2 entities in 2 docs" in ner.output
    records = [{"text": "Great film", "label": "pos"}, {"text": "Dull", "label": "neg"}]
    textcat = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, records)), str(output)])
    assert textcat.exit_code == 0 and "task textcat" in textcat.output and "neg 1, pos 1" in textcat.output
    both = ['', '{"text": "Hi", "label": "pos", "spans": []}']
    unclear = runner.invoke(app, ["convert-jsonl", str(write_jsonl(tmp_path, both)), str(output)])
    assert unclear.exit_code == 1 and "data.jsonl:2: cannot tell the task" in unclear.output and "give --task" in unclear.output
