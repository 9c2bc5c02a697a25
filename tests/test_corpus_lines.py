"""Every file converter reads its lines through corpora.lines.read_lines: bytes that are not UTF-8
(Latin-1, binary) fail as "file:line: reason", a UTF-8 byte order mark is not text, and a truncated
gzip file fails clearly."""
import gzip
import json

import pytest
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora import CorpusFormatError
from spacy_rnn.corpora.conll2003 import read_conll2003
from spacy_rnn.corpora.conllu import read_conllu
from spacy_rnn.corpora.imdb import read_imdb_jsonl
from spacy_rnn.corpora.lines import read_lines
from spacy_rnn.corpora.ptb import read_sentences
from spacy_rnn.corpora.sst import read_sst_trees
from spacy_rnn.corpora.sst2 import read_sst2_tsv

runner = CliRunner()
BOM = b"\xef\xbb\xbf"
# One valid file per format, as lines of bytes; "WORD" is where the Latin-1 word goes.
FORMATS = {
    "conllu": ([b"# text = Hi WORD", b"1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_", b"2\tWORD\tw\tNOUN\tNN\t_\t1\tdep\t_\t_", b""],
               lambda path: [[t.text for t in doc] for doc in read_conllu(path, Vocab())]),
    "conll2003": ([b"-DOCSTART- -X- O O", b"", b"EU NNP I-NP I-ORG", b"WORD NN I-NP O"],
                  lambda path: [[t.text for t in doc] for doc in read_conll2003(path, Vocab())]),
    "sst": ([b"(3 (2 It) (3 WORD))"], lambda path: [tree.words for tree in read_sst_trees(path)]),
    "sst2": ([b"sentence\tlabel", b"it is WORD \t1"], lambda path: list(read_sst2_tsv(path))),
    "imdb": ([b'{"id": "1", "label": "pos", "text": "WORD"}'], lambda path: list(read_imdb_jsonl(path))),
    "ptb": ([b"the WORD", b"a b"], lambda path: list(read_sentences(path))),
}


def write(tmp_path, name, lines, word=b"caf\xc3\xa9", prefix=b""):
    path = tmp_path / name
    path.write_bytes(prefix + b"\n".join(line.replace(b"WORD", word) for line in lines) + b"\n")
    return path


@pytest.mark.parametrize("name", FORMATS)
def test_latin1_bytes_name_file_and_line(tmp_path, name):
    lines, read = FORMATS[name]
    assert read(write(tmp_path, "utf8.txt", lines))  # the UTF-8 version reads
    latin1 = write(tmp_path, "latin1.txt", lines, word=b"caf\xe9")
    line_no = next(i for i, line in enumerate(lines, 1) if b"WORD" in line)
    with pytest.raises(CorpusFormatError, match=rf"latin1.txt:{line_no}: not UTF-8 text .*0xe9"):
        read(latin1)


@pytest.mark.parametrize("name", FORMATS)
def test_a_byte_order_mark_is_not_text(tmp_path, name):
    lines, read = FORMATS[name]
    assert read(write(tmp_path, "bom.txt", lines, prefix=BOM)) == read(write(tmp_path, "plain.txt", lines))


def test_binary_files_fail_at_their_first_bad_line(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"(3 (2 It))\n\x00\x01\x02\n")
    with pytest.raises(CorpusFormatError, match="model.bin:2: NUL byte"):
        list(read_sst_trees(path))
    path.write_bytes(b"EU NNP I-NP I-ORG\n\x89PNG\r\n\x1a\n")
    with pytest.raises(CorpusFormatError, match="model.bin:2: not UTF-8 text"):
        list(read_conll2003(path, Vocab()))


def test_read_lines_keeps_line_endings_and_numbers(tmp_path):
    path = tmp_path / "text.txt"
    path.write_bytes(BOM + b"a\r\n\nb")
    assert list(read_lines(path)) == [(1, "a\r\n"), (2, "\n"), (3, "b")]


def test_a_truncated_gzip_file_fails_clearly(tmp_path):
    records = [{"id": str(i), "label": "pos", "text": f"review {i} " * 50} for i in range(200)]
    data = gzip.compress("\n".join(json.dumps(record) for record in records).encode())
    path = tmp_path / "imdb_train.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusFormatError, match=r"imdb_train.jsonl.gz:\d+: truncated or corrupt gzip file"):
        list(read_imdb_jsonl(path))
    result = runner.invoke(app, ["convert-imdb", str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "truncated or corrupt gzip file" in result.output
    assert not (tmp_path / "out.spacy").exists()


@pytest.mark.parametrize(
    "command,name",
    [("convert-conllu", "conllu"), ("convert-conll2003", "conll2003"), ("convert-sst", "sst"), ("convert-sst2", "sst2")],
)
def test_cli_names_file_and_line_of_latin1_bytes(tmp_path, command, name):
    lines, _ = FORMATS[name]
    path = write(tmp_path, "latin1.txt", lines, word=b"caf\xe9")
    result = runner.invoke(app, [command, str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "latin1.txt:" in result.output and "not UTF-8 text" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
