"""Sentiment corpora: SST trees, GLUE SST-2 TSV, IMDB JSON lines, Hugging Face text+label
datasets, the archive-aware fetch and the CLI."""
import gzip
import io
import json
import re
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, Features, Value
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from typer.testing import CliRunner

from spacy_rnn.cli import app
from spacy_rnn.corpora import CorpusFormatError, CorpusIntegrityError
from spacy_rnn.corpora.counts import COUNTS, split_counts
from spacy_rnn.corpora.fetch import fetch_corpus, load_corpus_declarations, sha256_file
from spacy_rnn.corpora.hf import convert_hf_text, docs_from_hf_text
from spacy_rnn.corpora.imdb import convert_imdb, read_imdb_jsonl, stratified_dev_indices
from spacy_rnn.corpora.sst import convert_sst, parse_sst_tree, read_sst_trees, sst_examples
from spacy_rnn.corpora.sst2 import convert_sst2, read_sst2_tsv
from spacy_rnn.corpora.textcat import BINARY_LABELS, FINE_LABELS, clean_text, exclusive_cats

from helpers import ROOT, SHARED_CORPORA, project_scripts

runner = CliRunner()

# Three hand-made trees: positive, neutral (dropped in binary) and very negative, with PTB
# escapes and a word ("good") that recurs as a phrase.
TREES = [
    "(3 (2 It) (4 (4 (3 good) (2 -LRB-)) (2 .)))",
    "(2 (2 A\\/B) (2 film))",
    "(0 (1 (3 good) (1 grief)) (0 !))",
]


def load(path):
    return list(DocBin().from_disk(path).get_docs(Vocab()))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf8")
    return path


def write_jsonl_gz(path, records, extra_lines=()):
    lines = [json.dumps(record) for record in records] + list(extra_lines)
    with gzip.open(path, "wt", encoding="utf8") as file_:
        file_.write("\n".join(lines) + "\n")
    return path


def assert_exclusive(doc, labels):
    assert list(doc.cats) == list(labels)
    assert sorted(doc.cats.values()) == [0.0] * (len(labels) - 1) + [1.0]


def gold(doc):
    return max(doc.cats, key=doc.cats.get)


# Output contract.


def test_exclusive_cats():
    assert exclusive_cats("positive", BINARY_LABELS) == {"negative": 0.0, "positive": 1.0}
    with pytest.raises(ValueError, match="'neutral' is not one of"):
        exclusive_cats("neutral", BINARY_LABELS)


def test_clean_text_turns_br_tags_into_single_spaces():
    assert clean_text("Good.<br /><br />Bad <BR/>ugly<br>  end \t\n") == "Good. Bad ugly end"
    assert clean_text("a <i>b</i> < c") == "a <i>b</i> < c"  # only <br> tags are removed


# SST trees.


def test_parse_tree_gives_unescaped_leaves_and_nodes_in_preorder():
    tree = parse_sst_tree(TREES[0])
    assert tree.words == ["It", "good", "(", "."]
    assert tree.label == 3
    assert tree.nodes == [(0, 4, 3), (0, 1, 2), (1, 4, 4), (1, 3, 4), (1, 2, 3), (2, 3, 2), (3, 4, 2)]
    assert parse_sst_tree(TREES[1]).words == ["A/B", "film"]


def test_parse_tree_escapes_and_odd_leaves():
    tree = parse_sst_tree("(2 (2 -LRB-) (2 \\*) (2 8\xa01\\/2) (2 -RRB-) (2 ``) (2 ''))\r\n")
    assert tree.words == ["(", "*", "8\xa01/2", ")", "``", "''"]  # n-ary nodes are allowed
    assert parse_sst_tree("(4 great)").nodes == [(0, 1, 4)]


@pytest.mark.parametrize(
    "line,problem",
    [
        ("(3 (2 It) (2 works)", "1 unclosed '('"),
        ("(3 (2 It) (2 works)))", "text after the end of the tree at character 21"),
        (") (2 It)", "unbalanced ')' at character 1"),
        ("(5 (2 It) (2 works))", "invalid label '5' at character 2"),
        ("(x It)", "invalid label 'x'"),
        ("((2 It) (2 works))", "missing label before '(' at character 2"),
        ("(3 (2 It works))", "leaf with more than one word at character 10: 'works'"),
        ("(3 (2 It) works)", "node mixes subtrees and a word"),
        ("(3 It (2 works))", "node mixes a word and subtrees"),
        ("(3 (2 It) ())", "node without a label at character 12"),
        ("(3 (2 It) (2))", "node without a word or subtrees"),
        ("(3 (2 It) (2 works)) (2 more)", "text after the end of the tree"),
        ("It (2 works)", "text outside brackets at character 1: 'It'"),
    ],
)
def test_malformed_trees_name_file_and_line(tmp_path, line, problem):
    path = write(tmp_path, "bad.txt", f"{TREES[0]}\n\n{line}\n{TREES[1]}\n")
    with pytest.raises(CorpusFormatError, match=re.escape(problem)) as excinfo:
        list(read_sst_trees(path))
    assert str(excinfo.value).startswith(f"{path}:3: malformed tree: ")
    assert (excinfo.value.path, excinfo.value.line) == (path, 3)


def test_a_file_without_trees_is_an_error(tmp_path):
    with pytest.raises(CorpusFormatError, match="no trees in the file"):
        list(read_sst_trees(write(tmp_path, "empty.txt", "\n \n")))


def test_sst_sentences_fine_and_binary():
    trees = [parse_sst_tree(line) for line in TREES]
    assert [(" ".join(w), label) for w, label in sst_examples(trees, "fine")] == [
        ("It good ( .", "positive"),
        ("A/B film", "neutral"),
        ("good grief !", "very negative"),
    ]
    assert [label for _, label in sst_examples(trees, "binary")] == ["positive", "negative"]
    with pytest.raises(ValueError, match="granularity"):
        list(sst_examples(trees, "ternary"))


def test_sst_phrases_are_every_labelled_node_with_repeats_unless_deduplicated():
    trees = [parse_sst_tree(line) for line in TREES]
    fine = list(sst_examples(trees, "fine", phrases=True))
    assert len(fine) == sum(len(tree.nodes) for tree in trees) == 15
    assert fine[:2] == [(["It", "good", "(", "."], "positive"), (["It"], "neutral")]
    binary = [(" ".join(w), label) for w, label in sst_examples(trees, "binary", phrases=True)]
    assert binary == [
        ("It good ( .", "positive"),
        ("good ( .", "positive"),  # 4 -> positive
        ("good (", "positive"),
        ("good", "positive"),
        ("good grief !", "negative"),
        ("good grief", "negative"),
        ("good", "positive"),  # the repeat is kept
        ("grief", "negative"),
        ("!", "negative"),
    ]
    deduped = [" ".join(w) for w, _ in sst_examples(trees, "binary", phrases=True, dedupe=True)]
    assert deduped.count("good") == 1 and len(deduped) == 8
    fine_deduped = list(sst_examples(trees, "fine", phrases=True, dedupe=True))
    assert len(fine_deduped) == 15 - 1  # one repeated "good"


def test_convert_sst_writes_exclusive_cats(tmp_path):
    path = write(tmp_path, "train.txt", "\n".join(TREES) + "\n")
    stats = convert_sst(path, tmp_path / "out" / "fine.spacy")
    assert (stats.n_read, stats.n_docs, stats.n_tokens) == (3, 3, 9)
    assert stats.label_counts == {"neutral": 1, "positive": 1, "very negative": 1}
    docs = load(tmp_path / "out" / "fine.spacy")
    assert [doc.text for doc in docs] == ["It good ( .", "A/B film", "good grief !"]
    assert [[t.text for t in doc] for doc in docs][0] == ["It", "good", "(", "."]
    for doc in docs:
        assert_exclusive(doc, FINE_LABELS)
    stats = convert_sst(path, tmp_path / "binary.spacy", "binary", phrases=True)
    assert (stats.n_read, stats.n_docs) == (3, 9)
    for doc in load(tmp_path / "binary.spacy"):
        assert_exclusive(doc, BINARY_LABELS)


# GLUE SST-2 TSV.


def test_sst2_rows(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\nit 's a charming journey . \t1\r\nbleak \t0\n")
    assert list(read_sst2_tsv(path)) == [("it 's a charming journey .", "positive"), ("bleak", "negative")]
    stats = convert_sst2(path, tmp_path / "sst2.spacy")
    assert (stats.n_read, stats.n_docs, stats.n_tokens) == (2, 2, 7)
    docs = load(tmp_path / "sst2.spacy")
    assert [t.text for t in docs[0]] == ["it", "'s", "a", "charming", "journey", "."]
    assert [gold(doc) for doc in docs] == ["positive", "negative"]
    assert_exclusive(docs[1], BINARY_LABELS)


@pytest.mark.parametrize(
    "text,line_no,problem",
    [
        ("index\tsentence\n0\tit 's fine\n", 1, "expected the header 'sentence\\tlabel', found 'index\\tsentence'"),
        ("", 1, "expected the header"),
        ("sentence\tlabel\nok\t1\nno label here\n", 3, "expected 2 tab-separated columns (sentence, label), found 1"),
        ("sentence\tlabel\nok\t1\ta\n", 2, "found 3"),
        ("sentence\tlabel\nok\t1\nmeh\t2\n", 3, "invalid label '2' (expected 0 or 1)"),
        ("sentence\tlabel\n \t0\n", 2, "empty sentence"),
        ("sentence\tlabel\n", 1, "no rows after the header"),
    ],
)
def test_malformed_sst2_names_file_and_line(tmp_path, text, line_no, problem):
    path = write(tmp_path, "bad.tsv", text)
    with pytest.raises(CorpusFormatError, match=re.escape(problem)) as excinfo:
        list(read_sst2_tsv(path))
    assert str(excinfo.value).startswith(f"{path}:{line_no}: ")


# IMDB JSON lines.

REVIEWS = [
    {"id": f"{i}_{rating}", "label": label, "rating": rating, "text": f"Review {i}.<br /><br />It was {label}."}
    for i, (label, rating) in enumerate([("pos", 9), ("neg", 2), ("pos", 7), ("neg", 1), ("pos", 10), ("neg", 3)])
]


def test_imdb_reviews_have_no_br_tags(tmp_path):
    path = write_jsonl_gz(tmp_path / "imdb.jsonl.gz", REVIEWS)
    reviews = list(read_imdb_jsonl(path))
    assert reviews[0] == ("0_9", "positive", "Review 0. It was pos.")
    assert [review.label for review in reviews] == ["positive", "negative"] * 3
    plain = write(tmp_path, "imdb.jsonl", "\n".join(json.dumps(r) for r in REVIEWS[:2]) + "\n\n")
    assert [review.id for review in read_imdb_jsonl(plain)] == ["0_9", "1_2"]


@pytest.mark.parametrize(
    "line,problem",
    [
        ('{"label": "pos", "text": "ok"', "invalid JSON"),
        ('["pos", "ok"]', "expected a JSON object"),
        ('{"label": "positive", "text": "ok"}', "invalid label 'positive' (expected 'pos' or 'neg')"),
        ('{"text": "ok"}', "invalid label None"),
        ('{"label": "neg"}', "missing or non-string 'text'"),
        ('{"label": "neg", "text": 3}', "missing or non-string 'text'"),
        ('{"label": "neg", "text": "<br /> <br />"}', "empty text"),
        ('{"label": "neg", "text": "bad \\ud800 escape"}', "not valid Unicode (a lone surrogate at character 4)"),
    ],
)
def test_malformed_imdb_names_file_and_line(tmp_path, line, problem):
    path = write_jsonl_gz(tmp_path / "bad.jsonl.gz", REVIEWS[:2], [line])
    with pytest.raises(CorpusFormatError, match=re.escape(problem)) as excinfo:
        list(read_imdb_jsonl(path))
    assert str(excinfo.value).startswith(f"{path}:3: ")


def test_imdb_file_without_reviews(tmp_path):
    with pytest.raises(CorpusFormatError, match="no reviews in the file"):
        list(read_imdb_jsonl(write_jsonl_gz(tmp_path / "empty.jsonl.gz", [])))


def test_stratified_dev_indices_are_seeded_and_keep_label_shares():
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    dev = stratified_dev_indices(labels, 10, seed=0)
    assert dev == sorted(dev) and len(set(dev)) == 10
    assert Counter(labels[i] for i in dev) == {"a": 6, "b": 3, "c": 1}
    assert stratified_dev_indices(labels, 10, seed=0) == dev
    assert stratified_dev_indices(labels, 10, seed=1) != dev
    # Largest remainder: 7 * (0.6, 0.3, 0.1) = 4.2, 2.1, 0.7 -> 4, 2, 1.
    assert Counter(labels[i] for i in stratified_dev_indices(labels, 7, seed=0)) == {"a": 4, "b": 2, "c": 1}
    for size in (0, 100, -1):
        with pytest.raises(ValueError, match="dev size"):
            stratified_dev_indices(labels, size, seed=0)


def test_convert_imdb_carves_a_dev_set_out_of_train(tmp_path):
    path = write_jsonl_gz(tmp_path / "train.jsonl.gz", REVIEWS)
    train_stats, dev_stats = convert_imdb(path, tmp_path / "train.spacy", tmp_path / "dev.spacy", dev_size=2, seed=3)
    assert (train_stats.n_read, train_stats.n_docs, dev_stats.n_docs) == (6, 4, 2)
    assert dev_stats.label_counts == {"negative": 1, "positive": 1}
    train, dev = load(tmp_path / "train.spacy"), load(tmp_path / "dev.spacy")
    texts = [doc.text for doc in train + dev]
    assert sorted(texts) == sorted(clean_text(r["text"]) for r in REVIEWS)
    for doc in train + dev:
        assert_exclusive(doc, BINARY_LABELS)
        assert not any(t.is_space or "<" in t.text for t in doc)
    convert_imdb(path, tmp_path / "train2.spacy", tmp_path / "dev2.spacy", dev_size=2, seed=3)
    assert [doc.text for doc in load(tmp_path / "dev2.spacy")] == [doc.text for doc in dev]
    test_stats, no_dev = convert_imdb(path, tmp_path / "test.spacy")
    assert (test_stats.n_docs, no_dev) == (6, None)


# Hugging Face datasets.


@pytest.fixture
def glue_sst2():
    """Like the hub's glue/sst2: a "sentence" column and ClassLabel negative/positive."""
    features = Features(
        {"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]), "idx": Value("int32")}
    )
    data = {"sentence": ["a gem . ", "dull , dull"], "label": [1, 0], "idx": [0, 1]}
    return Dataset.from_dict(data, features=features)


def test_hf_class_label_ids(glue_sst2):
    from spacy.lang.en import English

    docs = list(docs_from_hf_text(glue_sst2, English(), text_column="sentence"))
    assert [doc.text for doc in docs] == ["a gem .", "dull , dull"]
    assert [gold(doc) for doc in docs] == ["positive", "negative"]
    assert_exclusive(docs[0], BINARY_LABELS)


def test_hf_imdb_names_and_br_tags(tmp_path):
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    dataset = Dataset.from_dict({"text": ["Bad.<br /><br />Really.", "Fine."], "label": [0, 1]}, features=features)
    stats = convert_hf_text(dataset, tmp_path / "imdb.spacy")
    assert (stats.n_read, stats.n_docs, stats.label_counts) == (2, 2, {"negative": 1, "positive": 1})
    docs = load(tmp_path / "imdb.spacy")
    assert docs[0].text == "Bad. Really."
    assert list(docs[0].cats) == ["negative", "positive"]


def test_hf_string_labels_and_label_names():
    from spacy.lang.en import English

    strings = Dataset.from_dict({"text": ["meh", "awful"], "label_text": ["neutral", "very negative"]})
    docs = list(docs_from_hf_text(strings, English(), label_column="label_text"))
    assert [gold(doc) for doc in docs] == ["neutral", "very negative"]
    assert_exclusive(docs[0], FINE_LABELS)  # all five, in order, though two are seen
    ids = Dataset.from_dict({"text": ["meh", "wow"], "label": [2, 4]})
    docs = list(docs_from_hf_text(ids, English(), labels=list(FINE_LABELS)))
    assert [gold(doc) for doc in docs] == ["neutral", "very positive"]
    with pytest.raises(ValueError, match="label ids without names"):
        list(docs_from_hf_text(ids, English()))


@pytest.mark.parametrize(
    "data,columns,problem",
    [
        ({"sentence": ["x"], "label": ["positive"]}, {}, "no column 'text'"),
        ({"text": ["x"], "label": ["positive"]}, {"label_column": "y"}, "no column 'y'"),
        ({"text": ["ok", "  "], "label": ["positive"] * 2}, {}, "Row 1: column 'text' holds no text"),
        ({"text": ["ok", "?"], "label": [1, -1]}, {"labels": BINARY_LABELS}, "Row 1: label -1 is not one of"),
        ({"text": ["ok"], "label": ["great"]}, {"labels": BINARY_LABELS}, "Row 0: label 'great' is not one of"),
    ],
)
def test_hf_problems_are_named(data, columns, problem):
    from spacy.lang.en import English

    with pytest.raises(ValueError, match=re.escape(problem)):
        list(docs_from_hf_text(Dataset.from_dict(data), English(), **columns))


# Fetching from archives, and mirror-only files.


def _declare(url, content, **extra):
    import hashlib

    entry = {"path": "demo/train.tsv", "url": url, "sha256": hashlib.sha256(content).hexdigest(), **extra}
    return {"demo": [entry]}


def test_fetch_extracts_a_member_of_a_zip_or_tar_archive(tmp_path):
    content = b"sentence\tlabel\nfine\t1\n"
    zip_path = tmp_path / "SST-2.zip"
    with zipfile.ZipFile(zip_path, "w") as zip_:
        zip_.writestr("SST-2/train.tsv", content)
    tar_path = tmp_path / "data.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo("data/train.tsv")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    for archive, member in [(zip_path, "SST-2/train.tsv"), (tar_path, "data/train.tsv")]:
        dest = tmp_path / "dest" / archive.name
        (path,) = fetch_corpus("demo", _declare(archive.as_uri(), content, member=member), dest, None)
        assert path.read_bytes() == content
        assert [p.name for p in path.parent.iterdir()] == ["train.tsv"]  # no archive left behind
    with pytest.raises(CorpusIntegrityError, match="is not an archive holding SST-2/dev.tsv"):
        fetch_corpus("demo", _declare(zip_path.as_uri(), content, member="SST-2/dev.tsv"), tmp_path / "x", None)


def test_mirror_only_files_are_never_downloaded(tmp_path):
    content = b"{}\n"
    declarations = _declare("https://example.org/aclImdb_v1.tar.gz", content, mirror_only="a repackaging")
    with pytest.raises(CorpusIntegrityError, match="no byte-identical public download .a repackaging") as excinfo:
        fetch_corpus("demo", declarations, tmp_path / "assets", tmp_path)
    assert "aclImdb_v1.tar.gz" in str(excinfo.value)
    (tmp_path / "mirror" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "demo" / "train.tsv").write_bytes(content)
    (path,) = fetch_corpus("demo", declarations, tmp_path / "assets", tmp_path / "mirror")
    assert path.read_bytes() == content


# The command line.


@pytest.mark.parametrize("command", ["convert-sst", "convert-sst2", "convert-imdb", "convert-hf-text"])
def test_new_commands_have_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cli_convert_sst_checks_counts(tmp_path):
    path = write(tmp_path, "dev.txt", "\n".join(TREES) + "\n")
    ok = runner.invoke(
        app, ["convert-sst", str(path), str(tmp_path / "ok.spacy"), "--granularity", "binary",
              "--expect-sentences", "3", "--expect-docs", "2"]
    )
    assert ok.exit_code == 0, ok.output
    assert "3 sentences -> 2 docs, 7 tokens (negative 1, positive 1)" in ok.output
    bad = runner.invoke(app, ["convert-sst", str(path), str(tmp_path / "b.spacy"), "--phrases", "--expect-docs", "14"])
    assert bad.exit_code == 1 and "expected 14 docs, found 15" in bad.output
    wrong = runner.invoke(app, ["convert-sst", str(path), str(tmp_path / "w.spacy"), "--granularity", "ternary"])
    assert wrong.exit_code == 1 and "--granularity must be one of fine, binary" in wrong.output


def test_cli_convert_sst_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.txt", f"{TREES[0]}\n(3 (2 It) (2 works)\n")
    result = runner.invoke(app, ["convert-sst", str(path), str(tmp_path / "out.spacy")])
    assert result.exit_code == 1 and "bad.txt:2: malformed tree: 1 unclosed '('" in result.output


def test_cli_convert_sst2_and_imdb(tmp_path):
    tsv = write(tmp_path, "dev.tsv", "sentence\tlabel\ngood\t1\nbad\t0\n")
    ok = runner.invoke(app, ["convert-sst2", str(tsv), str(tmp_path / "sst2.spacy"), "--expect", "2"])
    assert ok.exit_code == 0 and "2 rows -> 2 docs" in ok.output
    bad = runner.invoke(app, ["convert-sst2", str(tsv), str(tmp_path / "sst2.spacy"), "--expect", "872"])
    assert bad.exit_code == 1 and "expected 872 rows, found 2" in bad.output
    jsonl = write_jsonl_gz(tmp_path / "train.jsonl.gz", REVIEWS)
    args = ["convert-imdb", str(jsonl), str(tmp_path / "train.spacy"), "--dev-output", str(tmp_path / "dev.spacy"),
            "--dev-size", "2", "--seed", "1", "--expect", "6"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "6 reviews -> 4 docs" in ok.output and "(dev, seed 1): 6 reviews -> 2 docs" in ok.output
    too_big = runner.invoke(app, args[:-4] + ["--dev-size", "6"])
    assert too_big.exit_code == 1 and "dev size must be between 1 and 5" in too_big.output


def test_cli_convert_hf_text_from_a_saved_dataset(glue_sst2, tmp_path):
    glue_sst2.save_to_disk(tmp_path / "ds")
    args = ["convert-hf-text", str(tmp_path / "ds"), str(tmp_path / "out.spacy"), "--text-column", "sentence"]
    result = runner.invoke(app, [*args, "--expect", "2"])
    assert result.exit_code == 0, result.output
    assert "2 rows -> 2 docs, 6 tokens (negative 1, positive 1)" in result.output
    assert [gold(doc) for doc in load(tmp_path / "out.spacy")] == ["positive", "negative"]
    missing = runner.invoke(app, [*args[:3], "--text-column", "text"])
    assert missing.exit_code == 1 and "no column 'text'" in missing.output
    relabel = runner.invoke(app, [*args, "--labels", "bad,good"])
    assert relabel.exit_code == 0 and "(bad 1, good 1)" in relabel.output


# The project: declarations and the published counts.


def test_project_converts_sst_with_the_options_its_outputs_are_named_after():
    for args in project_scripts("convert-sst"):
        output = Path(args[5])
        granularity = args[args.index("--granularity") + 1]
        assert granularity == ("binary" if output.parent.name == "sst_binary" else "fine")
        assert ("--phrases" in args) == ("phrases" in output.stem)
        assert ("--dedupe" in args) == output.stem.endswith("_unique")
    imdb = project_scripts("convert-imdb")
    assert "--dev-output" in imdb[0] and "--dev-output" not in imdb[1]


needs_real_files = pytest.mark.skipif(
    not all((SHARED_CORPORA / name).is_dir() for name in ("sst", "sst2", "imdb")), reason="no local sentiment corpora"
)


@needs_real_files
def test_project_declares_the_mirror_checksums(tmp_path):
    declarations = load_corpus_declarations(ROOT / "project.yml")
    for name in ("sst2", "sst", "imdb"):
        for path in fetch_corpus(name, declarations, tmp_path, SHARED_CORPORA):
            assert sha256_file(path) == sha256_file(SHARED_CORPORA / path.relative_to(tmp_path))
    assert all(entry.get("member") for name in ("sst2", "sst") for entry in declarations[name])
    assert all(entry.get("mirror_only") for entry in declarations["imdb"])


@needs_real_files
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_real_sst_has_the_published_counts(split):
    trees = list(read_sst_trees(SHARED_CORPORA / "sst" / f"{split}.txt"))
    assert len(trees) == COUNTS[f"sst/{split}"]["sentences"]
    assert sum(1 for _ in sst_examples(trees, "binary")) == COUNTS[f"sst_binary/{split}"]["docs"]
    if split == "train":
        for corpus, granularity in (("sst", "fine"), ("sst_binary", "binary")):
            for name, dedupe in (("train_phrases", False), ("train_phrases_unique", True)):
                n_docs = sum(1 for _ in sst_examples(trees, granularity, phrases=True, dedupe=dedupe))
                assert n_docs == COUNTS[f"{corpus}/{name}"]["docs"]


@needs_real_files
def test_real_sst2_and_imdb_have_the_published_counts():
    for split, n in split_counts("sst2", "rows").items():
        assert sum(1 for _ in read_sst2_tsv(SHARED_CORPORA / "sst2" / f"{split}.tsv")) == n
    for split, n in split_counts("imdb", "reviews").items():
        labels = Counter(r.label for r in read_imdb_jsonl(SHARED_CORPORA / "imdb" / f"imdb_{split}.jsonl.gz"))
        assert labels == {"negative": n // 2, "positive": n // 2}
