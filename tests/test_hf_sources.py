"""The convert-hf-* commands read what `datasets.load_dataset` reads (JSON lines, JSON, CSV, TSV,
Parquet files, save_to_disk folders, folders of data files, hub names), and every problem is one
line naming the file (and its line or row), never a traceback."""
import json

import pytest
from datasets import Dataset
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora.hf_sources import HFSourceError, load_hf_split

runner = CliRunner()
ROWS = [
    {"tokens": ["Anna", "flew", "to", "Paris"], "ner_tags": ["B-PER", "O", "O", "B-LOC"]},
    {"tokens": ["Nothing", "here"], "ner_tags": ["O", "O"]},
]
TEXTS = [{"text": "Great film", "label": "pos"}, {"text": "Dull", "label": "neg"}]


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def convert(*args):
    result = runner.invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.output


def entities(path):
    return [[(ent.text, ent.label_) for ent in doc.ents] for doc in DocBin().from_disk(path).get_docs(Vocab())]


def one_error_line(output):
    """The output's one `error: ...` line (besides datasets' progress bars); no traceback."""
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("Generating ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_token_files_of_each_format_convert_to_the_same_entities(tmp_path, suffix):
    source = tmp_path / f"train{suffix}"
    if suffix == ".jsonl":
        write_jsonl(source, ROWS)
    elif suffix == ".json":
        source.write_text(json.dumps(ROWS), encoding="utf-8")
    else:
        Dataset.from_list(ROWS).to_parquet(str(source))
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy")
    assert code == 0, output
    assert entities(tmp_path / "out.spacy") == [[("Anna", "PER"), ("Paris", "LOC")], []]


@pytest.mark.parametrize("name, separator", [("texts.csv", ","), ("texts.tsv", "\t"), ("texts.txt", ",")])
def test_text_files_csv_and_tsv_by_extension_or_format(tmp_path, name, separator):
    source = tmp_path / name
    source.write_text(f"text{separator}label\nGreat film{separator}pos\nDull{separator}neg\n", encoding="utf-8")
    options = ["--format", "csv"] if name.endswith(".txt") else []
    code, output = convert("convert-hf-text", source, tmp_path / "out.spacy", *options)
    assert code == 0, output
    cats = [doc.cats for doc in DocBin().from_disk(tmp_path / "out.spacy").get_docs(Vocab())]
    assert cats == [{"negative": 0.0, "positive": 1.0}, {"negative": 1.0, "positive": 0.0}]


def test_a_file_is_one_split_and_a_folder_of_data_files_has_its_splits(tmp_path):
    folder = tmp_path / "mydata"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS)
    write_jsonl(folder / "test.jsonl", ROWS[:1])
    assert len(load_hf_split(str(folder / "test.jsonl"), split="dev")) == 1
    assert len(load_hf_split(str(folder), split="test")) == 1
    with pytest.raises(HFSourceError, match=r"mydata \[dev\]: cannot load it .*dev"):
        load_hf_split(str(folder), split="dev")


def test_a_saved_dataset_dict_is_read_by_split(tmp_path):
    from datasets import DatasetDict

    DatasetDict({"train": Dataset.from_list(ROWS), "test": Dataset.from_list(ROWS[:1])}).save_to_disk(str(tmp_path / "saved"))
    assert len(load_hf_split(str(tmp_path / "saved"), split="test")) == 1
    code, output = convert("convert-hf-ner", tmp_path / "saved", tmp_path / "out.spacy", "--split", "validation")
    assert code == 1 and "no split 'validation'; it has train, test" in one_error_line(output)


def test_a_wrong_path_is_named(tmp_path):
    code, output = convert("convert-hf-ner", tmp_path / "missing.jsonl", tmp_path / "out.spacy")
    assert code == 1 and one_error_line(output) == f"error: {tmp_path / 'missing.jsonl'}: no such file"


def test_an_unknown_format_is_named(tmp_path):
    code, output = convert("convert-hf-ner", write_jsonl(tmp_path / "rows.jsonl", ROWS), tmp_path / "o.spacy", "--format", "xml")
    assert code == 1 and "unknown format 'xml'; give one of json, csv, tsv, parquet" in one_error_line(output)


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy", "--tokens-column", "words")
    line = one_error_line(output)
    assert code == 1 and str(source) in line and "no column 'words'; it has ['tokens', 'ner_tags']" in line


def test_a_malformed_json_line_is_named_with_its_line_number(tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", [ROWS[0], ROWS[1], '{"tokens": ["a", "ner_tags": ["O"]}'])
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy")
    assert code == 1 and one_error_line(output).startswith(f"error: {source}:3: not valid JSON")


def test_a_malformed_json_document_is_named_with_its_line_number(tmp_path):
    source = tmp_path / "rows.json"
    source.write_text('[\n  {"tokens": ["a"], "ner_tags": ["O"]},\n  {"tokens": ["b"] "ner_tags": ["O"]}\n]\n', encoding="utf-8")
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy")
    assert code == 1 and one_error_line(output).startswith(f"error: {source}:3: not valid JSON")


def test_tokens_that_are_not_a_list_are_named_with_the_row(tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", [ROWS[0], {"tokens": "Paris", "ner_tags": ["B-LOC"]}])
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy")
    line = one_error_line(output)
    assert code == 1 and f"{source}: Row 1: column 'tokens' holds str 'Paris', not a list" in line


def test_tokens_and_tags_of_different_lengths_are_named_with_the_row(tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", [ROWS[0], ROWS[1], {"tokens": ["Paris", "now"], "ner_tags": ["B-LOC"]}])
    code, output = convert("convert-hf-ner", source, tmp_path / "out.spacy")
    line = one_error_line(output)
    assert code == 1 and f"{source}: Row 2: column 'ner_tags' has 1 values, column 'tokens' has 2" in line


def test_an_unknown_label_is_named_with_the_row(tmp_path):
    source = write_jsonl(tmp_path / "texts.jsonl", TEXTS + [{"text": "Fine", "label": "meh"}])
    code, output = convert("convert-hf-text", source, tmp_path / "out.spacy", "--labels", "neg,pos")
    assert code == 1 and f"{source}: Row 2: label 'meh' is not one of ['negative', 'positive']" in one_error_line(output)


def test_a_hub_name_fails_at_once_when_the_hub_cannot_be_reached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    code, output = convert("convert-hf-ner", "someone/no_such_dataset", tmp_path / "out.spacy")
    line = one_error_line(output)
    assert code == 1 and "someone/no_such_dataset: no such file or folder here, and the Hugging Face hub is offline" in line


def test_a_dataset_saved_without_rows_is_named(tmp_path):
    Dataset.from_dict({"tokens": [], "ner_tags": []}).save_to_disk(str(tmp_path / "empty"))
    code, output = convert("convert-hf-ner", tmp_path / "empty", tmp_path / "out.spacy")
    assert code == 1 and "the dataset has no rows (saved with none): nothing to convert" in one_error_line(output)
