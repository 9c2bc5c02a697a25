"""Static vectors stored as int8 rows with a float32 scale per row (spacy_rnn.vectors_storage):
float32 in memory like spaCy's Vectors, quantised once, safe to load, and pipelines that save,
load and predict the same."""
import json
import os
import pickle
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.strings import get_string_id
from spacy.vectors import Vectors
from typer.testing import CliRunner

from helpers import ENTITY_SENTENCES, SENTIMENT_TEXTS, make_ner_nlp, make_textcat_nlp, train, train_ner, textcat_examples
from spacy_rnn.cli import app
from spacy_rnn_lab.cli import app as lab_app
from spacy_rnn.vectors_pruning import prune_pipeline_vectors
from spacy_rnn.vectors_quantization import expand_rows, quantize_rows, quantize_table
from spacy_rnn.vectors_storage import (
    INT8_FILE,
    SCALES_FILE,
    Int8Vectors,
    compact_pipeline_vectors,
    to_int8_vectors,
)

runner = CliRunner()
N_ROWS, WIDTH = 50, 8
WORDS = list(dict.fromkeys(word for text, _ in ENTITY_SENTENCES + SENTIMENT_TEXTS for word in text.split()))[:N_ROWS]
TEXTS = ["Anna Smith met Tom in Paris on Monday", "a wonderful , moving film", "dull and boring"]


def random_table(n_rows=N_ROWS, width=WIDTH, seed=0):
    rng = numpy.random.default_rng(seed)
    return (rng.normal(size=(n_rows, width)) * rng.uniform(0.01, 5, size=(n_rows, 1))).astype("float32")


def add_table(nlp, vectors_class=Vectors):
    nlp.vocab.vectors = vectors_class(strings=nlp.vocab.strings, data=random_table(), keys=WORDS)
    return nlp


def predictions(nlp):
    """Entities and exact category scores: any change of the vectors read shows."""
    docs = list(nlp.pipe(TEXTS))
    return [([(e.start, e.end, e.label_) for e in doc.ents], doc.cats) for doc in docs]


def vocab_files(path):
    return {f.name: f.read_bytes() for f in (path / "vocab").iterdir() if f.name != "strings.json"}


@pytest.fixture(scope="module")
def float32_pipeline(tmp_path_factory):
    """A tiny recognizer and text classifier trained with a float32 table, saved (spaCy's format)."""
    nlp = train_ner(add_table(make_ner_nlp()), n_iter=20)
    textcat = add_table(make_textcat_nlp())
    train(textcat, textcat_examples(textcat), n_iter=20)
    nlp.add_pipe("textcat", source=textcat)
    path = tmp_path_factory.mktemp("float32") / "pipeline"
    nlp.to_disk(path)
    return path


# --- quantisation -------------------------------------------------------------------------


def test_each_row_is_int8_times_its_scale_within_half_a_step():
    table = random_table(200, 30)
    table[3] = 0  # a zero row
    table[4, 0] = 1e-20  # a tiny row
    table[5] *= 1e6
    values, scales = quantize_rows(table)
    assert values.dtype == numpy.int8 and scales.dtype == numpy.float32 and scales.shape == (200,)
    expanded = expand_rows(values, scales)
    assert (numpy.abs(values).max(axis=1)[[0, 1, 2, 4, 5]] == 127).all()  # the largest value of a row uses the full range
    assert not expanded[3].any() and scales[3] == 0
    assert (numpy.abs(expanded - table) <= scales[:, None] / 2 * (1 + 1e-6)).all()
    assert (scales >= numpy.abs(table).max(axis=1) / 127).all()


def test_quantising_a_quantised_table_changes_nothing():
    expanded, changed = quantize_table(random_table(300, 17, seed=1))
    assert changed
    again, changed_again = quantize_table(expanded)
    assert not changed_again
    assert again.tobytes() == expanded.tobytes()
    for a, b in zip(quantize_rows(expanded), quantize_rows(again)):
        assert a.tobytes() == b.tobytes()


def test_non_finite_values_are_refused():
    table = random_table()
    table[7, 2] = numpy.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantize_rows(table)


# --- the class ----------------------------------------------------------------------------


def test_int8_vectors_behave_like_spacy_vectors_of_the_quantised_table():
    data = random_table()
    compact = Int8Vectors(data=data, keys=WORDS)
    plain = Vectors(data=compact.data.copy(), keys=WORDS)
    for table in (compact, plain):
        table.add("rare-word", row=3)  # a pruned word pointing to a kept row
    assert isinstance(compact, Vectors) and compact.mode == "default"
    assert compact.shape == plain.shape == (N_ROWS, WIDTH) and compact.n_keys == plain.n_keys == N_ROWS + 1
    assert compact.key2row == plain.key2row and get_string_id("rare-word") in compact and compact.is_full
    numpy.testing.assert_array_equal(compact["rare-word"], compact[WORDS[3]])
    assert compact.data.dtype == numpy.float32
    assert 0 < numpy.abs(compact.data - data).max() <= numpy.abs(data).max() / 254 * 1.001
    for a, b in zip(compact.most_similar(data[:5], n=4), plain.most_similar(data[:5], n=4)):
        numpy.testing.assert_array_equal(a, b)
    assert compact.source_fingerprint  # it was quantised from a float32 table


def test_vectors_added_to_an_int8_table_are_quantised_on_the_way_in():
    compact = Int8Vectors(shape=(4, 6))
    vector = numpy.linspace(-1, 2, 6, dtype="float32")
    compact.add("word", vector=vector)
    compact["word"] = vector
    values, scales = quantize_rows(vector[None])
    numpy.testing.assert_array_equal(compact["word"], expand_rows(values, scales)[0])


def test_int8_vectors_survive_disk_bytes_and_pickle_with_the_same_bytes(tmp_path):
    compact = Int8Vectors(data=random_table(), keys=WORDS)
    compact.add("rare-word", row=3)
    compact.to_disk(tmp_path / "a")
    assert {INT8_FILE, SCALES_FILE, "key2row", "vectors.cfg"} <= {f.name for f in (tmp_path / "a").iterdir()}
    assert not (tmp_path / "a" / "vectors").exists()  # spaCy's float32 file
    assert (tmp_path / "a" / INT8_FILE).stat().st_size < N_ROWS * WIDTH + 200
    loaded = Int8Vectors().from_disk(tmp_path / "a")
    assert loaded == compact and loaded.source_fingerprint == compact.source_fingerprint
    loaded.to_disk(tmp_path / "b")
    for name in (INT8_FILE, SCALES_FILE, "key2row", "vectors.cfg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data = compact.to_bytes()
    from_bytes = Int8Vectors().from_bytes(data)
    assert from_bytes == compact and from_bytes.to_bytes() == data
    unpickled = pickle.loads(pickle.dumps(compact))
    assert type(unpickled) is Int8Vectors and unpickled == compact


def test_an_int8_table_reads_a_float32_folder_and_quantises_it(tmp_path):
    plain = Vectors(data=random_table(), keys=WORDS)
    plain.to_disk(tmp_path)
    compact = Int8Vectors().from_disk(tmp_path)
    numpy.testing.assert_array_equal(compact.data, to_int8_vectors(plain).data)
    assert compact.key2row == plain.key2row and compact.source_fingerprint


@pytest.mark.parametrize("name", [INT8_FILE, SCALES_FILE, "key2row", "vectors.cfg"])
def test_a_truncated_file_is_named_as_damaged(tmp_path, name):
    Int8Vectors(data=random_table(), keys=WORDS).to_disk(tmp_path)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match=rf"{name}: the file is damaged"):
        Int8Vectors().from_disk(tmp_path)


def test_damaged_folders_give_value_errors_not_pickle(tmp_path):
    Int8Vectors(data=random_table(), keys=WORDS).to_disk(tmp_path)
    numpy.save(tmp_path / "object.npy", numpy.array([{"x": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "object.npy").rename(tmp_path / INT8_FILE)  # a pickled object array in place of the rows
    with pytest.raises(ValueError, match=rf"{INT8_FILE}.*damaged"):
        Int8Vectors().from_disk(tmp_path)
    (tmp_path / INT8_FILE).unlink()
    with pytest.raises(ValueError, match=rf"{INT8_FILE}: the file is damaged \(missing\)"):
        Int8Vectors().from_disk(tmp_path)
    Int8Vectors(data=random_table(), keys=WORDS).to_disk(tmp_path)
    (tmp_path / "vectors.cfg").write_text('{"storage": "int8", "shape": [3', encoding="utf8")
    with pytest.raises(ValueError, match="vectors.cfg.*damaged"):
        Int8Vectors().from_disk(tmp_path)
    cfg = {"mode": "default", "storage": "int8", "shape": [N_ROWS, WIDTH + 1]}
    (tmp_path / "vectors.cfg").write_text(json.dumps(cfg), encoding="utf8")
    with pytest.raises(ValueError, match=rf"{INT8_FILE}: the file is damaged \(expected a int8 array of shape \({N_ROWS}, {WIDTH + 1}\)"):
        Int8Vectors().from_disk(tmp_path)
    with pytest.raises(ValueError, match="damaged"):
        Int8Vectors().from_bytes(Int8Vectors(data=random_table(), keys=WORDS).to_bytes()[:-50])


# --- pipelines ----------------------------------------------------------------------------


def test_a_float32_pipeline_still_loads_unchanged(float32_pipeline):
    nlp = spacy.load(float32_pipeline)
    assert type(nlp.vocab.vectors) is Vectors and (float32_pipeline / "vocab" / "vectors").exists()
    numpy.testing.assert_array_equal(nlp.vocab.vectors.data, random_table())
    assert "vectors" not in nlp.config["nlp"] or nlp.config["nlp"]["vectors"]["@vectors"] == "spacy.Vectors.v1"


def test_a_compacted_pipeline_saves_loads_and_predicts_the_same_twice(float32_pipeline, tmp_path):
    nlp = spacy.load(float32_pipeline)
    stats = compact_pipeline_vectors(nlp)
    assert stats["readers"] == ["ner", "textcat"] and stats["mean_cosine"] > 0.9999
    assert 0 < stats["max_abs_error"] <= numpy.abs(random_table()).max() / 254 * 1.001
    in_memory = predictions(nlp)
    nlp.to_disk(tmp_path / "first")
    first = spacy.load(tmp_path / "first")
    assert type(first.vocab.vectors) is Int8Vectors
    assert first.config["nlp"]["vectors"] == {"@vectors": "spacy_rnn.Int8Vectors.v1"}
    assert predictions(first) == in_memory  # what memory held is what the disk gives back
    first.to_disk(tmp_path / "second")
    assert vocab_files(tmp_path / "first") == vocab_files(tmp_path / "second")  # no drift
    second = spacy.load(tmp_path / "second")
    numpy.testing.assert_array_equal(second.vocab.vectors.data, first.vocab.vectors.data)
    assert second.vocab.vectors.key2row == first.vocab.vectors.key2row
    assert predictions(second) == in_memory


def test_a_float32_model_reads_the_int8_table_quantised_from_its_table_only(float32_pipeline):
    """The fingerprint check passes an int8 table for the float32 table it was quantised from
    (`source_fingerprint`), not for another one."""
    original = spacy.load(float32_pipeline)
    plain = original.vocab.vectors
    original.vocab.vectors = to_int8_vectors(plain)
    expected = spacy.load(float32_pipeline)
    compact_pipeline_vectors(expected)
    assert predictions(original) == predictions(expected)
    other = Int8Vectors(strings=original.vocab.strings, data=random_table(seed=5), keys=WORDS)
    original = spacy.load(float32_pipeline)
    original.vocab.vectors = other
    with pytest.raises(ValueError, match="another table of that width"):
        original(TEXTS[0])


def test_pruning_an_int8_pipeline_keeps_it_int8(float32_pipeline, tmp_path):
    nlp = spacy.load(float32_pipeline)
    compact_pipeline_vectors(nlp)
    prune_pipeline_vectors(nlp, 20)
    assert type(nlp.vocab.vectors) is Int8Vectors and nlp.vocab.vectors.shape == (20, WIDTH)
    expected = predictions(nlp)
    nlp.to_disk(tmp_path / "pruned")
    loaded = spacy.load(tmp_path / "pruned")
    assert type(loaded.vocab.vectors) is Int8Vectors and loaded.vocab.vectors.n_keys == N_ROWS
    assert predictions(loaded) == expected


def test_compact_vectors_cli_converts_a_saved_pipeline(float32_pipeline, tmp_path):
    result = runner.invoke(app, ["compact-vectors", str(float32_pipeline), str(tmp_path / "int8")])
    assert result.exit_code == 0, result.output
    assert f"{N_ROWS} x {WIDTH} vectors ({N_ROWS} keys) stored as int8" in result.output and "read by ner, textcat" in result.output
    assert not (tmp_path / "int8" / "vocab" / "vectors").exists()
    nlp = spacy.load(tmp_path / "int8")
    expected = spacy.load(float32_pipeline)
    compact_pipeline_vectors(expected)
    assert predictions(nlp) == predictions(expected)
    result = runner.invoke(app, ["compact-vectors", str(float32_pipeline), str(float32_pipeline)])
    assert result.exit_code == 1 and "another OUTPUT" in result.output


def test_a_pipeline_trained_with_int8_vectors_saves_loads_and_predicts_the_same(tmp_path):
    nlp = train_ner(add_table(make_ner_nlp(), Int8Vectors), n_iter=10)
    nlp.config["nlp"]["vectors"] = {"@vectors": "spacy_rnn.Int8Vectors.v1"}
    expected = predictions(nlp)
    nlp.to_disk(tmp_path / "ner")
    loaded = spacy.load(tmp_path / "ner")
    assert type(loaded.vocab.vectors) is Int8Vectors and predictions(loaded) == expected


ASSEMBLE_CONFIG = """
[paths]
vectors = null
source = null

[nlp]
lang = "en"
pipeline = ["ner","textcat"]

[nlp.vectors]
@vectors = "spacy_rnn.Int8Vectors.v1"

[components]

[components.ner]
source = ${paths.source}

[components.textcat]
source = ${paths.source}

[initialize]
vectors = ${paths.vectors}
"""


def test_spacy_assemble_with_the_int8_config_lines(float32_pipeline, tmp_path):
    """`spacy assemble` in a fresh interpreter (the classes come through the entry point), with
    components trained with float32 vectors and `[initialize] vectors` a float32 folder."""
    vectors_nlp = spacy.blank("en")
    vectors_nlp.vocab.vectors = Vectors(strings=vectors_nlp.vocab.strings, data=random_table(), keys=WORDS)
    vectors_nlp.to_disk(tmp_path / "vectors")
    (tmp_path / "assemble.cfg").write_text(ASSEMBLE_CONFIG, encoding="utf8")
    command = [sys.executable, "-m", "spacy", "assemble", str(tmp_path / "assemble.cfg"), str(tmp_path / "nlp")]
    command += ["--paths.vectors", str(tmp_path / "vectors"), "--paths.source", str(float32_pipeline)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "nlp" / "vocab" / "vectors").exists() and (tmp_path / "nlp" / "vocab" / INT8_FILE).exists()
    assembled = spacy.load(tmp_path / "nlp")
    expected = spacy.load(float32_pipeline)
    compact_pipeline_vectors(expected)
    numpy.testing.assert_array_equal(assembled.vocab.vectors.data, expected.vocab.vectors.data)
    assert predictions(assembled) == predictions(expected)
    # The core workflow prunes the assembled table next: it stays int8 and loads.
    stats = prune_pipeline_vectors(assembled, 20)
    assert stats["readers"] == ["ner", "textcat"] and type(assembled.vocab.vectors) is Int8Vectors
    expected_pruned = predictions(assembled)
    assembled.to_disk(tmp_path / "pruned")
    assert predictions(spacy.load(tmp_path / "pruned")) == expected_pruned


def test_an_int8_pipeline_round_trips_through_bytes(float32_pipeline, tmp_path):
    nlp = spacy.load(float32_pipeline)
    compact_pipeline_vectors(nlp)
    nlp.to_disk(tmp_path / "int8")
    loaded = spacy.load(tmp_path / "int8")
    data = loaded.to_bytes()
    again = spacy.load(tmp_path / "int8").from_bytes(data)
    assert type(again.vocab.vectors) is Int8Vectors and again.to_bytes() == data
    assert predictions(again) == predictions(nlp)


def test_compact_vectors_report_cli(tmp_path):
    vectors_nlp = spacy.blank("en")
    vectors_nlp.vocab.vectors = Vectors(strings=vectors_nlp.vocab.strings, data=random_table(), keys=WORDS)
    vectors_nlp.to_disk(tmp_path / "vectors")
    args = ["compact-vectors-report", str(tmp_path / "vectors"), "--output-dir", str(tmp_path / "out"), "--queries", "20", "--neighbours", "3"]
    result = runner.invoke(lab_app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "compact_vectors.json").read_text())
    (table,) = report["tables"]
    assert (table["rows"], table["width"], table["loaded_class"]) == (N_ROWS, WIDTH, "Int8Vectors")
    assert table["memory_equals_disk"] and table["second_save_same_bytes"] and table["key2row_kept"]
    assert table["bytes"]["int8_table"] < table["bytes"]["float32_table"] / 2
    assert table["neighbours"]["queries"] == 20 and 0 <= table["neighbours"]["same_set"] <= 1
    assert "# Static vectors stored as int8" in (tmp_path / "out" / "compact_vectors.md").read_text()
