"""annotate's Ray engine on a local Ray started here (`ray.init(num_cpus=2)`, about 10 s): the
same exactly-once result as the local engine, a rerun that does no work, and an actor killed
mid-shard replaced with its shard done again."""
import pytest
import ray

from spacy_rnn.annotate import annotate

from annotate_helpers import COMPONENTS, TEXTS, error_ids, output_ids, pipeline_with, write_jsonl


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_every_id_once_and_a_rerun_does_no_work(annotation_pipeline, tmp_path):
    records = [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)] + ["{oops"]
    input_path = write_jsonl(tmp_path / "in.jsonl", records)
    output = str(tmp_path / "out")
    summary = annotate(annotation_pipeline, input_path, output, engine="ray", workers=2, shard_size=4, id_column="id")
    assert summary.complete and (summary.documents, summary.errors, summary.shards_now) == (12, 1, 4)
    assert sorted(output_ids(output)) == sorted(f"d{i}" for i in range(12)) and error_ids(output) == ["in:13"]
    again = annotate(annotation_pipeline, input_path, output, engine="ray", workers=2, shard_size=4, id_column="id")
    assert (again.shards_now, again.shards_before, again.rows) == (0, 4, 0)


def test_a_killed_actor_is_replaced_and_its_shard_done_again(annotation_pipeline, tmp_path):
    crashing = pipeline_with(tmp_path, annotation_pipeline, "crash_on_text", text="number 5 ", marker=str(tmp_path / "crashed"))
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)])
    output = str(tmp_path / "out")
    summary = annotate(crashing, input_path, output, engine="ray", workers=2, shard_size=3, id_column="id",
                       output_format="jsonl", code=COMPONENTS)
    assert (tmp_path / "crashed").exists()  # an actor died on shard 1
    assert summary.complete and summary.failed == {} and summary.documents == 12
    assert sorted(output_ids(output)) == sorted(f"d{i}" for i in range(12))


def test_a_shard_that_kills_its_actor_every_time_is_given_up(annotation_pipeline, tmp_path):
    crashing = pipeline_with(tmp_path, annotation_pipeline, "crash_on_text", text="number 5 ")
    input_path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"d{i}"} for i, text in enumerate(TEXTS)])
    output = str(tmp_path / "out")
    summary = annotate(crashing, input_path, output, engine="ray", workers=2, shard_size=3, id_column="id",
                       output_format="jsonl", code=COMPONENTS, max_retries=1)
    assert summary.failed == {"part-00001": "the Ray actor annotating it died (2 tries)"} and not summary.complete
    assert sorted(output_ids(output)) == sorted(f"d{i}" for i in (0, 1, 2, 6, 7, 8, 9, 10, 11))
