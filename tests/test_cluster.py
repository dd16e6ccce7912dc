"""A Dask cluster: the chunks in flight follow its size as workers join and leave."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import distributed
import pandas as pd

import sim
from sim.results.frame import to_frame
from sim.runs import batch, cluster

SCN = sim.load_scenario("default")


def _local_cluster(workers: int) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    )


def _until(condition, what: str, timeout_s: float = 60) -> None:
    """Wait for a condition of another thread or process; a generous bound proves only "no hang"."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# ---- the cap follows the cluster ----


class Counting(ThreadPoolExecutor):
    """Two threads that note, at each submit, the most chunks in flight under each thread count."""

    def __init__(self, threads: list[int], handed: list[int]) -> None:
        super().__init__(max_workers=2)
        self.threads, self.handed = threads, handed
        self.submitted = 0
        self.most: dict[int, int] = {}

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        self.submitted += 1
        now = self.threads[0]
        self.most[now] = max(self.most.get(now, 0), self.submitted - self.handed[0])
        return super().submit(fn, *args, **kwargs)


def test_chunks_in_flight_follow_the_thread_count_as_it_changes():
    threads, handed = [1], [0]
    spans = list(batch.chunks(60, 1))
    with Counting(threads, handed) as ex:
        workers = batch.Workers(ex, 1, threads=lambda: threads[0])
        for _ in batch.iter_chunks(SCN, ["recreate"], 1, spans, pool=workers):
            handed[0] += 1
            threads[0] = {5: 3, 25: 0, 35: 2}.get(handed[0], threads[0])  # grows, empties, comes back
    assert ex.submitted == handed[0] == len(spans)
    # Two per thread, one while there is none (a chunk waits at the scheduler for the first worker).
    assert ex.most == {1: 2, 3: 6, 0: 1, 2: 4}


def _most_at_once(stream: list[dict]) -> int:
    """The most chunks computing at the same instant, from the scheduler's task stream."""
    edges = sorted(
        (t, step)
        for task in stream
        for span in task["startstops"]
        if span["action"] == "compute"
        for t, step in ((span["start"], 1), (span["stop"], -1))
    )
    running = most = 0
    for _, step in edges:  # at equal times a stop (-1) sorts first: back to back is not at once
        running += step
        most = max(most, running)
    return most


def test_workers_added_to_a_running_cluster_take_chunks_and_the_rows_stay_the_same():
    spans = list(batch.chunks(120, 3))
    with _local_cluster(1) as lc, distributed.Client(lc) as client:
        first = set(client.nthreads())
        parts = {}
        with distributed.get_task_stream(client) as stream:
            for span, rows in batch.iter_chunks(SCN, list(SCN.strategies), 5, spans, cluster=client):
                parts[span] = rows
                if len(parts) == 1:  # the batch is under way on one thread: three more workers join
                    lc.scale(4)
                    client.wait_for_workers(4, timeout=60)
                    time.sleep(cluster.REREAD_S)  # the batch asks the cluster's size at most this often
        added = set(client.nthreads()) - first
    by_worker = {task["worker"] for task in stream.data}
    assert len(added) == 3 and added <= by_worker, "every worker that joined computed chunks"
    # At connect time the cluster had one thread (two chunks in flight); four compute at once only if
    # the cap grew with the cluster.
    assert _most_at_once(stream.data) >= 3
    rows = [row for span in sorted(parts) for row in parts[span]]
    pd.testing.assert_frame_equal(to_frame(rows), sim.run_batch(SCN, deploys=120, seed=5, jobs=1))


def test_a_cluster_with_no_worker_gets_one_chunk_and_waits_for_a_worker():
    # The thread outermost: should an assertion fail, the client closes first, which cancels the
    # batch's chunks and ends the thread, rather than the test waiting on it forever.
    with ThreadPoolExecutor(1) as bg, _local_cluster(0) as lc, distributed.Client(lc) as client:
        running = bg.submit(sim.run_batch, SCN, deploys=12, seed=11, cluster=client)
        _until(lambda: len(lc.scheduler.tasks) >= 1, "the first chunk at the scheduler")
        time.sleep(3 * batch.POLL_S)  # the batch looks again every POLL_S: it must still hold one chunk
        assert len(lc.scheduler.tasks) == 1 and not running.done()
        lc.scale(1)
        rows = running.result(timeout=120)
    pd.testing.assert_frame_equal(rows, sim.run_batch(SCN, deploys=12, seed=11))
