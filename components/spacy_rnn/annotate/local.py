"""The local engine: `workers` processes on this machine (started with "spawn", torch's safe
way), each loading the pipeline once and annotating the shards it is handed one at a time
(`annotate_shard`: it reads its shard and writes its output itself; the driver only hands out
shards and collects their records).

A worker that dies (killed, out of memory, a crash in native code) is seen at once through its
process sentinel: its shard is handed out again (`Tries` bounds how often) and a new worker
replaces it; the others go on. A worker exits when the driver does, even mid-shard, so a killed
driver leaves no process writing into OUTPUT.
"""
import multiprocessing
import os
import signal
import threading
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Callable, Iterator, List, Optional

from ..errors import first_line
from .shards import Job, annotate_shard, load_worker_pipeline
from .sources import AnnotateError, Shard


def run_local(job: Job, shards: List[Shard], workers: int, retry: Callable[[Shard, str], bool]) -> Iterator[dict]:
    """Annotate the shards with `workers` processes; yield each done record as it comes. A shard
    whose worker died or raised is handed out again while retry(shard, reason) says so."""
    context = multiprocessing.get_context("spawn")
    queue = deque(shards)
    pool = [_Worker(context, job) for _ in range(min(workers, len(shards)))]
    try:
        while queue or any(worker.shard is not None for worker in pool):
            for worker in pool:
                if worker.ready and worker.shard is None and queue:
                    worker.assign(queue.popleft())
            ready = set(wait([worker.conn for worker in pool] + [worker.process.sentinel for worker in pool]))
            for position, worker in enumerate(pool):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                for kind, value in worker.messages():
                    if kind == "ready":
                        worker.ready = True
                    elif kind == "fatal":
                        raise AnnotateError(f"a worker could not load the pipeline {job.pipeline}: {value}")
                    else:
                        shard, worker.shard = worker.shard, None
                        if kind == "done":
                            yield value
                        elif retry(shard, value):
                            queue.append(shard)
                if not worker.process.is_alive():
                    shard = worker.shard
                    worker.process.join()
                    died = f"worker process died (exit code {worker.process.exitcode})"
                    if shard is None and not worker.ready:
                        raise AnnotateError(f"a {died} while loading the pipeline {job.pipeline}")
                    if shard is not None and retry(shard, f"its {died}"):
                        queue.appendleft(shard)
                    worker.close()
                    pool[position] = _Worker(context, job)
    finally:
        for worker in pool:
            worker.stop()


class _Worker:
    """A worker process and the driver's end of its pipe; `shard`: the one it is annotating."""

    def __init__(self, context, job: Job):
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_conn, job), daemon=True)
        self.process.start()
        child_conn.close()
        self.ready = False
        self.shard: Optional[Shard] = None

    def assign(self, shard: Shard) -> None:
        self.shard = shard
        self.conn.send(shard)

    def messages(self) -> Iterator[tuple]:
        """The messages waiting on the pipe; none once the worker is gone."""
        try:
            while self.conn.poll():
                yield self.conn.recv()
        except (EOFError, OSError):
            return

    def close(self) -> None:
        self.conn.close()

    def stop(self) -> None:
        """End the process: asked to when idle, terminated mid-shard (the run is being
        interrupted: that shard is not recorded and a rerun does it)."""
        if self.process.is_alive() and self.shard is None:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()


def _serve(conn, job: Job) -> None:
    """A worker process: load the pipeline, then annotate each shard received until None.
    Ctrl-C is the driver's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    try:
        nlp = load_worker_pipeline(job)
    except Exception as err:  # noqa: BLE001 - said to the driver, which stops the run
        conn.send(("fatal", f"{type(err).__name__}: {first_line(err)}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            shard = conn.recv()
        except EOFError:
            return
        if shard is None:
            return
        try:
            conn.send(("done", annotate_shard(nlp, shard, job)))
        except Exception as err:  # noqa: BLE001 - the driver retries the shard
            last = traceback.extract_tb(err.__traceback__)[-1]
            conn.send(("failed", f"{type(err).__name__}: {first_line(err)} ({os.path.basename(last.filename)}:{last.lineno})"))


def _exit_with_parent() -> None:
    """End this process as soon as the driver that started it is gone (a killed driver leaves
    no worker writing into OUTPUT behind it)."""
    parent = multiprocessing.parent_process()

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
