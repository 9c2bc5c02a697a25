"""CoNLL-2003 English NER: IOB1/IOB2 decoding, the file reader, Hugging Face rows and the CLI."""
import re
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora import CorpusFormatError
from spacy_rnn.corpora.conll2003 import convert_conll2003, iob1_to_spans, iob2_to_spans, read_conll2003
from spacy_rnn.corpora.counts import COUNTS
from spacy_rnn.corpora.docbin import CorpusStats
from spacy_rnn.corpora.fetch import fetch_corpus, load_corpus_declarations
from spacy_rnn.corpora.hf import convert_hf_ner, docs_from_hf_ner

from helpers import ROOT, SHARED_CORPORA, project_scripts

FIXTURE = ROOT / "tests" / "fixtures" / "mini.conll2003"
DOCSTART = "-DOCSTART- -X- O O"
# The label order of the Hugging Face hub's "conll2003" dataset.
HUB_NER_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# The real files and the entries of their published counts.
REAL_FILES = {"eng.train": "conll2003/train", "eng.testa": "conll2003/dev", "eng.testb": "conll2003/test"}
needs_real_files = pytest.mark.skipif(
    not (SHARED_CORPORA / "conll2003").is_dir(), reason="no local CoNLL-2003"
)
runner = CliRunner()


def tags(text):
    return text.split()


def ents(doc):
    return [(ent.text, ent.label_) for ent in doc.ents]


def write_conll(tmp_path, lines, name="bad.conll2003"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def read_text(tmp_path, text):
    path = tmp_path / "text.conll2003"
    path.write_text(text, encoding="utf8")
    return list(read_conll2003(path, Vocab()))


# IOB1: an entity starts with I-X; B-X only separates it from a preceding entity of type X.


def test_iob1_entity_starts_with_i():
    assert iob1_to_spans(tags("I-PER I-PER O")) == [(0, 2, "PER")]


def test_iob1_b_after_the_same_type_splits_adjacent_entities():
    assert iob1_to_spans(tags("I-PER B-PER I-PER")) == [(0, 1, "PER"), (1, 3, "PER")]


def test_iob1_adjacent_types_are_two_entities():
    assert iob1_to_spans(tags("I-MISC I-ORG I-ORG")) == [(0, 1, "MISC"), (1, 3, "ORG")]


def test_iob1_b_after_o_or_another_type_leniently_starts_an_entity():
    # Invalid IOB1 (eng.train has two such tags); read as conlleval and seqeval read it.
    assert iob1_to_spans(tags("O B-MISC I-MISC")) == [(1, 3, "MISC")]
    assert iob1_to_spans(tags("I-LOC B-ORG")) == [(0, 1, "LOC"), (1, 2, "ORG")]


def test_iob1_single_token_entities_at_start_and_end():
    assert iob1_to_spans(tags("I-LOC O I-PER")) == [(0, 1, "LOC"), (2, 3, "PER")]
    assert iob1_to_spans(tags("I-LOC")) == [(0, 1, "LOC")]


def test_no_entities():
    assert iob1_to_spans([]) == iob2_to_spans([]) == []
    assert iob1_to_spans(tags("O O")) == iob2_to_spans(tags("O O")) == []


def test_iob2_entity_starts_with_b():
    assert iob2_to_spans(tags("B-PER I-PER B-PER O")) == [(0, 2, "PER"), (2, 3, "PER")]


def test_iob2_i_that_continues_nothing_leniently_starts_an_entity():
    # seqeval's default mode.
    assert iob2_to_spans(tags("O I-PER I-PER")) == [(1, 3, "PER")]
    assert iob2_to_spans(tags("B-LOC I-PER")) == [(0, 1, "LOC"), (1, 2, "PER")]


def test_iob1_and_iob2_encodings_of_the_same_entities_decode_alike():
    assert iob1_to_spans(tags("I-PER B-PER O I-ORG I-ORG")) == iob2_to_spans(
        tags("B-PER B-PER O B-ORG I-ORG")
    )


@pytest.mark.parametrize("tag", ["E-PER", "S-PER", "I-", "B-", "PER", "i-PER", "B_PER", "", "o"])
def test_malformed_tags_are_rejected(tag):
    for to_spans in (iob1_to_spans, iob2_to_spans):
        with pytest.raises(ValueError, match=re.escape(f"invalid NER tag {tag!r}")):
            to_spans(["O", tag])


# Reading files: one Doc per -DOCSTART- document.


def test_fixture_has_one_doc_per_docstart_with_its_sentences():
    docs = list(read_conll2003(FIXTURE, Vocab()))
    assert [doc.text for doc in docs] == [
        "EU rejects German call . Peter Blackburn met Anna Tom in the Atlanta Games .",
        "BONN 1996-08-22 The Dutch KLM airline sued Lufthansa",
    ]
    assert [[sent.text for sent in doc.sents] for doc in docs] == [
        ["EU rejects German call .", "Peter Blackburn met Anna Tom in the Atlanta Games ."],
        ["BONN 1996-08-22", "The Dutch KLM airline sued Lufthansa"],
    ]
    assert [bool(t.whitespace_) for t in docs[1]] == [True] * 7 + [False]


def test_fixture_entities_are_decoded_from_iob1():
    first, second = read_conll2003(FIXTURE, Vocab())
    assert ents(first) == [
        ("EU", "ORG"),
        ("German", "MISC"),
        ("Peter Blackburn", "PER"),
        ("Anna", "PER"),
        ("Tom", "PER"),  # B-PER after I-PER
        ("Atlanta Games", "MISC"),  # B-MISC after O, read leniently
    ]
    assert ents(second) == [("BONN", "LOC"), ("Dutch", "MISC"), ("KLM", "ORG"), ("Lufthansa", "ORG")]


def test_tokens_outside_entities_are_annotated_o():
    first, _ = read_conll2003(FIXTURE, Vocab())
    assert first.has_annotation("ENT_IOB", require_complete=True)
    assert [t.ent_iob_ for t in first[:5]] == ["B", "O", "B", "O", "O"]
    assert [t.ent_iob_ for t in first[5:10]] == ["B", "I", "O", "B", "B"]


def test_pos_column_sets_tags():
    _, second = read_conll2003(FIXTURE, Vocab())
    assert [t.tag_ for t in second] == ["NNP", "CD", "DT", "JJ", "NNP", "NN", "VBD", "NNP"]


def test_entities_never_cross_sentences(tmp_path):
    (doc,) = read_text(tmp_path, "Anna NNP I-NP I-PER\n\nSmith NNP I-NP I-PER\n")
    assert ents(doc) == [("Anna", "PER"), ("Smith", "PER")]


def test_a_file_without_docstart_is_one_document(tmp_path):
    # Also: runs of blank lines, trailing whitespace, CRLF and no final newline.
    text = "\n\nRain NN I-NP O \n\n\n\nParis NNP I-NP I-LOC\t\r\nwaits VBZ I-VP O"
    (doc,) = read_text(tmp_path, text)
    assert [sent.text for sent in doc.sents] == ["Rain", "Paris waits"]
    assert ents(doc) == [("Paris", "LOC")]


def test_tokens_before_the_first_docstart_are_a_document(tmp_path):
    docs = read_text(tmp_path, "Rain NN I-NP O\n\n-DOCSTART- -X- O O\nParis NNP I-NP I-LOC\n")
    assert [doc.text for doc in docs] == ["Rain", "Paris"]


@pytest.mark.parametrize(
    "lines,line_no,problem",
    [
        (["EU NNP I-NP"], 1, "expected 4 space-separated columns (token POS chunk NER), found 3"),
        ([DOCSTART, "", "EU NNP I-NP I-ORG x"], 3, "found 5"),
        (["EU\tNNP\tI-NP\tI-ORG"], 1, "found 1"),
        (["EU NNP  I-ORG"], 1, "empty column"),
        (["EU NNP I-NP I-ORG", "rejects VBZ I-VP E-ORG"], 2, "invalid NER tag 'E-ORG'"),
        (["EU NNP I-NP I-"], 1, "invalid NER tag 'I-'"),
        (["EU NNP I-NP ORG"], 1, "invalid NER tag 'ORG'"),
        (["EU NNP I-NP I-ORG", DOCSTART], 2, "-DOCSTART- line inside a sentence"),
        ([DOCSTART, "", "", DOCSTART, "EU NNP I-NP I-ORG"], 1, "document without tokens"),
        ([DOCSTART, "", "EU NNP I-NP I-ORG", "", DOCSTART, ""], 5, "document without tokens"),
        (["", "", ""], 1, "no tokens in the file"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, lines, line_no, problem):
    path = write_conll(tmp_path, lines)
    with pytest.raises(CorpusFormatError, match=re.escape(problem)) as excinfo:
        list(read_conll2003(path, Vocab()))
    assert str(excinfo.value).startswith(f"{path}:{line_no}: ")
    assert (excinfo.value.path, excinfo.value.line) == (path, line_no)


def test_an_empty_file_has_no_tokens(tmp_path):
    with pytest.raises(CorpusFormatError, match="no tokens in the file"):
        read_text(tmp_path, "")


def test_convert_writes_a_docbin_that_round_trips(tmp_path):
    output = tmp_path / "corpus" / "mini.spacy"
    stats = convert_conll2003(FIXTURE, output)
    assert stats == CorpusStats(n_docs=2, n_sentences=4, n_tokens=23, n_entities=10)
    loaded = list(DocBin().from_disk(output).get_docs(Vocab()))
    for doc, expected in zip(loaded, read_conll2003(FIXTURE, Vocab())):
        assert doc.text == expected.text
        assert ents(doc) == ents(expected)
        for attr in ["tag_", "is_sent_start", "ent_iob_"]:
            assert [getattr(t, attr) for t in doc] == [getattr(t, attr) for t in expected]


# The real files.


@needs_real_files
@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_have_the_published_counts(tmp_path, name):
    stats = convert_conll2003(SHARED_CORPORA / "conll2003" / name, tmp_path / f"{name}.spacy")
    counts = COUNTS[REAL_FILES[name]]
    assert (stats.n_docs, stats.n_sentences, stats.n_tokens, stats.n_entities) == (
        counts["docs"], counts["sentences"], counts["tokens"], counts["entities"]
    )


@needs_real_files
def test_real_files_break_strict_iob1_only_with_two_b_tags_after_o():
    violations = []
    for name in REAL_FILES:
        previous = "O"
        lines = (SHARED_CORPORA / "conll2003" / name).read_text(encoding="utf8").splitlines()
        for line_no, line in enumerate(lines, start=1):
            tag = line.split()[-1] if line.strip() else "O"
            if tag.startswith("B-") and previous[2:] != tag[2:]:
                violations.append((name, line_no, previous, line))
            previous = tag
    assert violations == [
        ("eng.train", 152428, "O", "Atlanta NNP I-NP B-MISC"),
        ("eng.train", 175436, "O", "Urdu-speaking NNP I-VP B-MISC"),
    ]


@needs_real_files
def test_project_declares_conll2003_with_the_mirror_checksums(tmp_path):
    declarations = load_corpus_declarations(ROOT / "project.yml")
    paths = fetch_corpus("conll2003", declarations, tmp_path, SHARED_CORPORA)
    assert [path.name for path in paths] == list(REAL_FILES)


def test_project_converts_each_file_to_the_docbin_of_its_counts():
    converted = {Path(args[4]).name: args[5] for args in project_scripts("convert-conll2003")}
    assert converted == {name: f"corpus/{counts}.spacy" for name, counts in REAL_FILES.items()}


# Hugging Face datasets: one sentence per row, IOB2 tags.


@pytest.fixture
def hub_dataset():
    features = Features(
        {"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=HUB_NER_NAMES))}
    )
    rows = [
        (["EU", "rejects", "German", "call", "."], ["B-ORG", "O", "B-MISC", "O", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
        (["Anna", "Tom", "met"], ["B-PER", "B-PER", "O"]),
    ]
    return Dataset.from_dict(
        {
            "tokens": [tokens for tokens, _ in rows],
            "ner_tags": [[HUB_NER_NAMES.index(tag) for tag in row_tags] for _, row_tags in rows],
        },
        features=features,
    )


def test_hf_class_label_ids_become_entities(hub_dataset):
    docs = list(docs_from_hf_ner(hub_dataset, Vocab()))
    assert [ents(doc) for doc in docs] == [
        [("EU", "ORG"), ("German", "MISC")],
        [("Peter Blackburn", "PER")],
        [("Anna", "PER"), ("Tom", "PER")],
    ]
    assert all(doc.has_annotation("ENT_IOB", require_complete=True) for doc in docs)


def test_hf_rows_are_single_sentence_docs(hub_dataset):
    for doc in docs_from_hf_ner(hub_dataset, Vocab()):
        assert [t.is_sent_start for t in doc] == [True] + [False] * (len(doc) - 1)
        assert [bool(t.whitespace_) for t in doc] == [True] * (len(doc) - 1) + [False]


def test_hf_plain_string_tags_and_a_leading_i():
    dataset = Dataset.from_dict(
        {"words": [["the", "Dutch", "KLM", "airline"]], "ner": [["O", "I-MISC", "I-ORG", "O"]]}
    )
    (doc,) = docs_from_hf_ner(dataset, Vocab(), tokens_column="words", tags_column="ner")
    assert ents(doc) == [("Dutch", "MISC"), ("KLM", "ORG")]


@pytest.mark.parametrize(
    "data,problem",
    [
        ({"tokens": [["EU"]], "tags": [["B-ORG"]]}, "no column 'ner_tags'"),
        (
            {"tokens": [["EU"], ["EU", "says"]], "ner_tags": [["B-ORG"], ["B-ORG"]]},
            "Row 1: column 'ner_tags' has 1 values",
        ),
        ({"tokens": [[]], "ner_tags": [[]]}, "Row 0: no tokens in column 'tokens'"),
        (
            {"tokens": [["EU"]], "ner_tags": [["E-ORG"]]},
            "Row 0, column 'ner_tags': invalid NER tag 'E-ORG'",
        ),
    ],
)
def test_hf_problems_are_named(data, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        list(docs_from_hf_ner(Dataset.from_dict(data), Vocab()))


def test_hf_convert_writes_a_docbin(hub_dataset, tmp_path):
    output = tmp_path / "hf" / "train.spacy"
    stats = convert_hf_ner(hub_dataset, output)
    assert stats == CorpusStats(n_docs=3, n_sentences=3, n_tokens=10, n_entities=5)
    docs = list(DocBin().from_disk(output).get_docs(Vocab()))
    assert ents(docs[1]) == [("Peter Blackburn", "PER")]


# The command line.


@pytest.mark.parametrize("command", ["convert-conll2003", "convert-hf-ner"])
def test_new_commands_have_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cli_convert_conll2003_checks_counts(tmp_path):
    counts = ["--expect-sentences", "4", "--expect-tokens", "23", "--expect-entities", "10"]
    ok = runner.invoke(app, ["convert-conll2003", str(FIXTURE), str(tmp_path / "ok.spacy"), *counts])
    assert ok.exit_code == 0, ok.output
    assert "4 sentences, 23 tokens, 10 entities in 2 docs" in ok.output
    bad = runner.invoke(
        app, ["convert-conll2003", str(FIXTURE), str(tmp_path / "bad.spacy"), "--expect-entities", "11"]
    )
    assert bad.exit_code == 1 and "expected 11 entities, found 10" in bad.output


def test_cli_convert_conll2003_names_file_and_line_of_malformed_input(tmp_path):
    path = write_conll(tmp_path, [DOCSTART, "", "EU NNP I-NP X-ORG"])
    result = runner.invoke(app, ["convert-conll2003", str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "bad.conll2003:3: invalid NER tag 'X-ORG'" in result.output


def test_cli_convert_hf_ner_from_a_saved_dataset(hub_dataset, tmp_path):
    hub_dataset.save_to_disk(tmp_path / "ds")
    result = runner.invoke(app, ["convert-hf-ner", str(tmp_path / "ds"), str(tmp_path / "out.spacy")])
    assert result.exit_code == 0, result.output
    assert "3 sentences, 10 tokens, 5 entities" in result.output
    docs = list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab()))
    assert ents(docs[0]) == [("EU", "ORG"), ("German", "MISC")]


def test_cli_convert_hf_ner_reports_bad_tags(tmp_path):
    Dataset.from_dict({"tokens": [["EU"]], "ner_tags": [["ORG"]]}).save_to_disk(tmp_path / "ds")
    result = runner.invoke(app, ["convert-hf-ner", str(tmp_path / "ds"), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "Row 0, column 'ner_tags': invalid NER tag 'ORG'" in result.output
