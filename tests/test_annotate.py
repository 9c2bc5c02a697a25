"""annotate (issue 37): every input row ends in the output or in the errors file, exactly once,
whatever is killed on the way; a rerun does only what is left; the formats in and out.

The engine runs spawn worker processes (a few seconds each); the rest runs in this process."""
import json
import os
import subprocess
import sys
import time

import pytest
import spacy
from typer.testing import CliRunner

from spacy_rnn.annotate import AnnotateError, annotate
from spacy_rnn.annotate.records import arrow_schema, choose_fields
from spacy_rnn.annotate.shards import Job, annotate_shard, done_records, open_run, pipeline_fingerprint
from spacy_rnn.annotate.sources import find_sources, plan_shards, read_shard
from spacy_rnn.cli import app

from annotate_helpers import COMPONENTS, TEXTS, error_ids, output_ids, pipeline_with, write_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def nlp(annotation_pipeline):
    return spacy.load(annotation_pipeline)


@pytest.fixture(scope="module")
def pipeline(annotation_pipeline):
    return annotation_pipeline


# The inputs -----------------------------------------------------------------------------------


def rows_of(path, shard_size=100, **columns):
    sources = find_sources(str(path))
    columns = {"text_column": "text", "id_column": None, **columns}
    shards = plan_shards(sources, shard_size, **columns)
    rows, errors = [], []
    for shard in shards:
        shard_rows, shard_errors = read_shard(shard, **columns)
        rows += shard_rows
        errors += shard_errors
    return shards, rows, errors


def test_every_input_format_gives_its_rows_with_ids_made_when_absent(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = ["First text.", "Second, with \u00e9 and \u2028 inside.", "Third"]
    (tmp_path / "news.txt").write_text("\n".join([texts[0], "", texts[1], texts[2]]) + "\r\n", encoding="utf8")
    write_jsonl(tmp_path / "news.jsonl", [{"text": text} for text in texts])
    pq.write_table(pa.table({"text": texts}), tmp_path / "news.parquet")
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "news_ds"))
    found = {name: [(row.id, row.text) for row in rows_of(tmp_path / name)[1]]
             for name in ("news.txt", "news.jsonl", "news.parquet", "news_ds")}
    assert found["news.txt"] == [("news:1", texts[0]), ("news:3", texts[1]), ("news:4", texts[2])]
    assert found["news.jsonl"] == [("news:1", texts[0]), ("news:2", texts[1]), ("news:3", texts[2])]
    assert found["news.parquet"] == [("news:0", texts[0]), ("news:1", texts[1]), ("news:2", texts[2])]
    assert found["news_ds"] == [("news_ds:0", texts[0]), ("news_ds:1", texts[1]), ("news_ds:2", texts[2])]


def test_the_id_column_gives_the_ids_and_other_text_columns_can_be_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_jsonl(tmp_path / "a.jsonl", [{"body": "One", "key": "k1"}, {"body": "Two", "key": 7}])
    pq.write_table(pa.table({"body": ["One", "Two"], "key": ["k1", "k2"]}), tmp_path / "a.parquet")
    for name in ("a.jsonl", "a.parquet"):
        _, rows, errors = rows_of(tmp_path / name, text_column="body", id_column="key")
        assert errors == [] and [row.id for row in rows][0] == "k1" and [row.text for row in rows] == ["One", "Two"]


def test_malformed_rows_become_error_records_with_their_line(tmp_path):
    lines = [{"text": "Good.", "id": "a"}, "{not json", {"id": "b"}, {"text": 5, "id": "c"}, {"text": None, "id": "d"},
             "[1, 2]", {"text": "No id."}, {"text": "Bool id.", "id": True}]
    path = write_jsonl(tmp_path / "m.jsonl", lines)
    with open(path, "ab") as file_:
        file_.write(b'{"text": "bad \xff byte", "id": "e"}\n')
    _, rows, errors = rows_of(path, id_column="id")
    assert [(row.id, row.row) for row in rows] == [("a", 1)]
    assert [(error["id"], error["row"]) for error in errors] == [
        ("m:2", 2), ("b", 3), ("c", 4), ("d", 5), ("m:6", 6), ("m:7", 7), ("m:8", 8), ("m:9", 9)]
    reasons = [error["reason"] for error in errors]
    assert reasons[0].startswith("not JSON") and reasons[4] == "a JSON list, not an object"
    assert reasons[1] == "no 'text' (--text-column)" and reasons[2] == "'text' (--text-column) is an int, not a string"
    assert reasons[3] == "'text' (--text-column) is null" and reasons[5] == "no 'id' (--id-column)"
    assert reasons[6] == "'id' (--id-column) is a bool, not a string or an integer"
    assert reasons[7].startswith("not UTF-8 text")


def test_shards_cut_the_rows_by_position_and_cover_each_row_once(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"text {i}\n" + ("\n" if i % 4 == 0 else "") for i in range(10)))
    shards, rows, _ = rows_of(path, shard_size=3)
    assert [shard.n_rows for shard in shards] == [3, 3, 3, 1]
    assert [row.text for row in rows] == [f"text {i}" for i in range(10)]
    assert plan_shards(find_sources(str(path)), 3, "text", None) == shards  # the same plan every time


def test_a_wrong_path_or_column_is_one_line_naming_it(tmp_path, pipeline):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("x\n")
    cases = [(tmp_path / "missing.jsonl", "no such file or folder"), (tmp_path / "t.parquet", "has no column 'text' (--text-column); its columns: body"),
             (tmp_path / "t.csv", "unknown input format")]
    for path, message in cases:
        result = runner.invoke(app, ["annotate", pipeline, str(path), str(tmp_path / "out")])
        assert result.exit_code == 1 and message in result.output and len(result.output.strip().splitlines()) == 1


# What a shard holds ---------------------------------------------------------------------------


def job_for(nlp, output, output_format="jsonl", fields=None):
    from spacy_rnn.annotate.records import cats_labels

    return Job("unused", str(output), output_format, choose_fields(nlp, fields), tuple(cats_labels(nlp)), "text", "id")


def annotate_in_process(nlp, records, output, **job):
    """annotate_shard on each shard of a JSONL input, in this process."""
    path = write_jsonl(output.parent / "input.jsonl", records)
    job = job_for(nlp, output, **job)
    shards = open_run(job, find_sources(path), 4, pipeline_fingerprint(nlp))
    return job, shards, [annotate_shard(nlp, shard, job) for shard in shards]


def test_a_row_holds_what_the_pipeline_writes(nlp, tmp_path):
    _, _, records = annotate_in_process(nlp, [{"text": "Anna met Tom in Paris .", "id": "d1"}], tmp_path / "out")
    (row,) = [json.loads(line) for line in open(tmp_path / "out" / records[0]["output"])]
    assert list(row) == ["id", "tokens", "pos", "pos_confidence", "tag", "tag_confidence", "entities", "cats"]
    doc = nlp("Anna met Tom in Paris .")
    assert row["tokens"] == [t.text for t in doc] and row["pos"] == [t.pos_ for t in doc] and row["tag"] == [t.tag_ for t in doc]
    assert row["pos_confidence"] == pytest.approx([t._.pos_confidence for t in doc])
    assert row["entities"] == [{"start": e.start, "end": e.end, "start_char": e.start_char, "end_char": e.end_char,
                                "label": e.label_, "confidence": pytest.approx(e._.confidence)} for e in doc.ents]
    assert row["cats"] == pytest.approx(doc.cats) and list(row["cats"]) == ["negative", "neutral", "positive"]
    assert records[0]["words"] == len(doc)


def test_fields_choose_the_columns_and_refuse_what_the_pipeline_does_not_write(nlp, tmp_path):
    _, _, records = annotate_in_process(nlp, [{"text": "A cat .", "id": "d1"}], tmp_path / "out", fields=["text", "cats"])
    assert json.loads(open(tmp_path / "out" / records[0]["output"]).read()) == {
        "id": "d1", "text": "A cat .", "cats": pytest.approx(nlp("A cat .").cats)}
    with pytest.raises(AnnotateError, match="writes no perplexity"):
        choose_fields(nlp, ["perplexity"])
    with pytest.raises(AnnotateError, match="unknown field"):
        choose_fields(nlp, ["sentiment"])


@pytest.mark.parametrize("output_format", ["parquet", "jsonl", "docbin"])
def test_every_output_format_holds_the_ids_of_its_shard(nlp, tmp_path, output_format):
    records = [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS[:6])]
    _, shards, _ = annotate_in_process(nlp, records, tmp_path / "out", output_format=output_format)
    assert output_ids(tmp_path / "out") == [f"d{i}" for i in range(6)] and len(shards) == 2
    if output_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(tmp_path / "out" / "part-00000.parquet")
        assert table.schema == arrow_schema(choose_fields(nlp, None), ["negative", "neutral", "positive"])
        assert table.column("cats").to_pylist()[0] == pytest.approx(nlp(TEXTS[0]).cats)


def test_documents_the_pipeline_rejects_go_to_the_errors_with_the_reason(nlp, tmp_path):
    nlp.max_length, max_length = 40, nlp.max_length
    try:
        records = [{"text": "Short .", "id": "ok"}, {"text": "x" * 41, "id": "long"}, {"text": "bad \ud800 text", "id": "surrogate"}]
        _, _, (record,) = annotate_in_process(nlp, records, tmp_path / "out")
    finally:
        nlp.max_length = max_length
    assert output_ids(tmp_path / "out") == ["ok"]
    assert [(error["id"], error["row"]) for error in record["errors"]] == [("long", 2), ("surrogate", 3)]
    assert record["errors"][0]["reason"] == "text of 41 characters, over the pipeline's nlp.max_length (40)"
    assert "lone surrogate" in record["errors"][1]["reason"]


def test_a_document_a_component_raises_on_is_an_error_and_its_batch_is_kept(pipeline, tmp_path):
    nlp = spacy.load(pipeline_with(tmp_path, pipeline, "raise_on_text"))
    records = [{"text": text, "id": f"d{i}"} for i, text in enumerate(["One .", "EXPLODE now", "Three ."])]
    _, _, (record,) = annotate_in_process(nlp, records, tmp_path / "out")
    assert output_ids(tmp_path / "out") == ["d0", "d2"]
    assert record["errors"][0]["id"] == "d1" and "this component refuses 'EXPLODE'" in record["errors"][0]["reason"]


def test_output_and_manifest_can_be_uris(nlp, tmp_path):
    """Through pyarrow.fs, as s3:// or gs:// would be (file:// here)."""
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS[:5])])
    job = job_for(nlp, (tmp_path / "out").as_uri(), output_format="parquet")
    shards = open_run(job, find_sources("file://" + input_path), 2, "fingerprint")
    for shard in shards:
        annotate_shard(nlp, shard, job)
    assert sorted(done_records(job, shards)) == [0, 1, 2]
    assert output_ids(tmp_path / "out") == [f"d{i}" for i in range(5)]


# Runs, reruns and crashes (worker processes) -------------------------------------------------------


def test_a_run_then_a_rerun_that_does_no_work(pipeline, tmp_path):
    records = [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)] + ["{oops", {"id": "no-text"}]
    input_path = write_jsonl(tmp_path / "in.jsonl", records)
    output = tmp_path / "out"
    args = ["annotate", pipeline, input_path, str(output), "--id-column", "id", "--shard-size", "4", "--workers", "2", "--format", "jsonl"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "14 documents in, 12 out, 2 errors" in first.output and "4 done now, 0 before, 4 in all" in first.output
    assert sorted(output_ids(output)) == sorted(f"d{i}" for i in range(12)) and error_ids(output) == ["in:13", "no-text"]
    written = {name: os.stat(output / name).st_mtime_ns for name in os.listdir(output) if name != "_manifest"}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 documents in" in again.output and "0 done now, 4 before" in again.output
    assert {name: os.stat(output / name).st_mtime_ns for name in os.listdir(output) if name != "_manifest"} == written
    other = runner.invoke(app, [*args[:6], "--shard-size", "3", *args[8:]])
    assert other.exit_code == 1 and "holds a run with other shard_size" in other.output


def test_a_killed_worker_is_replaced_and_its_shard_done_again(pipeline, tmp_path):
    crashing = pipeline_with(tmp_path, pipeline, "crash_on_text", text="number 5 ", marker=str(tmp_path / "crashed"))
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)])
    summary = annotate(crashing, input_path, str(tmp_path / "out"), workers=2, shard_size=3, output_format="jsonl",
                       id_column="id", code=COMPONENTS)
    assert (tmp_path / "crashed").exists()  # a worker died on shard 1
    assert summary.complete and summary.failed == {} and summary.documents == 12
    assert sorted(output_ids(tmp_path / "out")) == sorted(f"d{i}" for i in range(12))


def test_a_shard_that_kills_its_worker_every_time_is_given_up_and_named(pipeline, tmp_path):
    crashing = pipeline_with(tmp_path, pipeline, "crash_on_text", text="number 5 ")
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)])
    args = ["annotate", crashing, input_path, str(tmp_path / "out"), "--shard-size", "3", "--format", "jsonl",
            "--code", COMPONENTS, "--max-retries", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "part-00001 failed: its worker process died (exit code 3) (2 tries)" in result.output
    assert "1 shard(s) failed; rerun the same command" in result.output
    assert len(output_ids(tmp_path / "out")) == 9 and not (tmp_path / "out" / "_errors.jsonl").exists()


def test_a_killed_driver_loses_nothing_and_the_rerun_does_the_rest(pipeline, tmp_path):
    slow = pipeline_with(tmp_path, pipeline, "sleep_per_doc", seconds=0.15)
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)])
    output = tmp_path / "out"
    command = [sys.executable, "-m", "spacy_rnn", "annotate", slow, input_path, str(output), "--id-column", "id",
               "--shard-size", "2", "--format", "jsonl", "--code", COMPONENTS]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = output / "_manifest" / "done"
    deadline = time.monotonic() + 120
    while not (done.exists() and os.listdir(done)) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    driver.kill()  # SIGKILL: no clean-up of any kind
    driver.wait()
    n_done = len(os.listdir(done))
    assert 1 <= n_done < 6
    summary = annotate(slow, input_path, str(output), shard_size=2, output_format="jsonl", id_column="id", code=COMPONENTS)
    assert summary.shards_before >= n_done and summary.complete
    assert sorted(output_ids(output)) == sorted(f"d{i}" for i in range(12))  # each id once
    assert sorted(name for name in os.listdir(output) if name.startswith(".")) == []  # no temporary file left
