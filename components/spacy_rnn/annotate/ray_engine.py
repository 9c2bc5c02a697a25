"""The Ray engine (extra `[ray]`): the pending shards as a Ray Data dataset, mapped by a fixed
pool of `workers` actors (`ShardAnnotator`), each loading the pipeline once and running
`annotate_shard` on one shard at a time: the local engine's code path, on a cluster.

Why not Ray Data's read_*/write_*: they cut the input into blocks and name their output files
by how the execution went, so a killed run leaves files a rerun cannot tell from finished ones,
and a rerun cannot skip the work already done. Here a shard is a fixed slice of the input with
one output file, written atomically by the actor (through pyarrow.fs, so s3://, gs://... paths
work as they do for Ray Data) and recorded after it: what makes a run resumable.

A killed actor is restarted by Ray and its shard run again; a shard whose annotation raised is
run again in a further pass; a `TryCounter` actor gives a shard up after 1 + max_retries tries.
`address` (or $RAY_ADDRESS) attaches to a running cluster; without one a local Ray is started
with `workers x threads` CPUs and shut down at the end (one started by the caller is kept).
"""
import json
import logging
import os
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import first_line
from ..extras import require
from .shards import Job, annotate_shard, load_worker_pipeline
from .sources import Shard

RAY_PURPOSE = "annotate --engine ray"


class TryCounter:
    """A Ray actor: how often each shard was started and why its last try failed. Ray Data
    restarts a dead actor and runs its task again for as long as it takes; this is what bounds
    the tries of a shard that kills its actor every time."""

    def __init__(self):
        self.tries: Counter = Counter()
        self.reasons: Dict[int, str] = {}

    def start(self, index: int) -> Tuple[int, Optional[str]]:
        """This try's number, and why the one before failed (None for the first)."""
        self.tries[index] += 1
        before = self.reasons.get(index)
        self.reasons[index] = "the Ray actor annotating it died"  # unless failed() says otherwise
        return self.tries[index], before

    def failed(self, index: int, reason: str) -> None:
        self.reasons[index] = reason


class ShardAnnotator:
    """A Ray Data actor: the pipeline, loaded once; called with a batch of one shard (as JSON),
    it annotates and writes it and returns its done record, why it failed, or why it was given
    up after max_tries (as JSON)."""

    def __init__(self, job: Job, counter, max_tries: int):
        self.job, self.counter, self.max_tries = job, counter, max_tries
        self.nlp = load_worker_pipeline(job)

    def __call__(self, batch: Dict) -> Dict:
        ray = require("ray", "ray", RAY_PURPOSE)
        results = []
        for item in batch["shard"]:
            shard = Shard(**json.loads(item))
            tries, reason = ray.get(self.counter.start.remote(shard.index))
            if tries > self.max_tries:
                result = {"shard": shard.index, "given_up": f"{reason} ({tries - 1} tries)"}
            else:
                try:
                    result = {"record": annotate_shard(self.nlp, shard, self.job)}
                except Exception as err:  # noqa: BLE001 - the driver runs the shard again
                    reason = f"{type(err).__name__}: {first_line(err)}"
                    ray.get(self.counter.failed.remote(shard.index, reason))
                    result = {"shard": shard.index, "failed": reason}
            results.append(json.dumps(result, ensure_ascii=False))
        return {"result": results}


def run_ray(job: Job, shards: List[Shard], workers: int, give_up: Callable[[Shard, str], None], max_retries: int,
            address: Optional[str] = None) -> Iterator[dict]:
    """Annotate the shards on Ray with `workers` actors of job.threads CPUs each; yield each done
    record as it comes; give_up(shard, reason) for a shard tried 1 + max_retries times."""
    ray = require("ray", "ray", RAY_PURPOSE)
    require("ray.data", "ray", RAY_PURPOSE)
    started = not ray.is_initialized()
    if started:
        _init(ray, address or os.environ.get("RAY_ADDRESS"), workers * job.threads)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # annotate shows its own
    context.print_on_execution_start = False
    counter = ray.remote(num_cpus=0)(TryCounter).remote()
    try:
        pending = list(shards)
        while pending:
            pending = yield from _pass(ray, job, pending, workers, counter, 1 + max_retries, give_up)
    finally:
        ray.kill(counter)
        if started:
            ray.shutdown()


def _init(ray, address: Optional[str], num_cpus: int) -> None:
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)


def _pass(ray, job: Job, shards: List[Shard], workers: int, counter, max_tries: int, give_up):
    """One Ray Data execution over the shards: yields their records, returns those to run again
    (a shard that raised: the counter bounds its tries). Should the execution itself fail, the
    shards it did not finish are given up (a rerun of the command tries them again)."""
    by_index = {shard.index: shard for shard in shards}
    items = [{"shard": json.dumps(shard.to_dict())} for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        ShardAnnotator,
        fn_constructor_kwargs={"job": job, "counter": counter, "max_tries": max_tries},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(shards)), max_tasks_in_flight_per_actor=1),
        num_cpus=job.threads,
    )
    again = []
    try:
        for row in dataset.iter_rows():
            result = json.loads(row["result"])
            if "record" in result:
                by_index.pop(result["record"]["shard"])
                yield result["record"]
                continue
            shard = by_index.pop(result["shard"])
            if "failed" in result:
                again.append(shard)
            else:
                give_up(shard, result["given_up"])
    except ray.exceptions.RayError as err:
        for shard in by_index.values():
            give_up(shard, f"the Ray execution failed: {type(err).__name__}: {first_line(err)}")
    return again
