"""A Dask cluster: the chunks in flight follow its size as workers join; every worker must run the
client's deploysim (version, model hash, numeric libraries) and refuses a chunk otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import distributed
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.engine.rows import simulate_deploys
from sim.results.frame import to_frame
from sim.runs import batch, cluster, store
from sim.runs.folder import load_manifest

SCN = sim.load_scenario("default")
PACKAGE = Path(sim.__file__).resolve().parent


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


# ---- what a worker runs ----


def test_the_model_hash_covers_the_model_source_and_nothing_else(tmp_path):
    copy = tmp_path / "sim"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert cluster.source_hash(copy) == cluster.model_hash() == cluster.identity()["model"]
    # Line ends and what runs only on the client (results, runs, scenarios) do not change it.
    engine = copy / "engine" / "simulate.py"
    engine.write_bytes(engine.read_bytes().replace(b"\n", b"\r\n"))
    (copy / "results" / "summary.py").write_text("# another summary\n", encoding="utf-8")
    (copy / "scenarios" / "default.yaml").write_text("name: other\n", encoding="utf-8")
    assert cluster.source_hash(copy) == cluster.model_hash()
    # Any change to the model's source does, even a comment, on any of its floors.
    for floor in ("core/rng.py", "config/faults.py", "engine/strategies/canary.py"):
        changed = tmp_path / floor.replace("/", "-")
        shutil.copytree(copy, changed)
        with open(changed / floor, "a", encoding="utf-8") as f:
            f.write("# changed\n")
        assert cluster.source_hash(changed) != cluster.model_hash(), floor


def test_a_worker_refuses_a_chunk_from_a_client_that_runs_something_else():
    mine = cluster.identity()
    cluster.check(mine)  # the same: no complaint
    assert cluster.run_chunk(mine, SCN, ["recreate"], 3, 0, 2) == simulate_deploys(SCN, ["recreate"], 3, 0, 2)
    other = {**mine, "deploysim": "9.9.9", "model": "0123456789abcdef" * 4}
    with pytest.raises(cluster.WorkerMismatch) as err:
        cluster.run_chunk(other, SCN, ["recreate"], 3, 0, 2)
    line = str(err.value)
    assert "\n" not in line
    assert f"runs deploysim {mine['deploysim']} (model {mine['model'][:12]}), " in line
    assert (
        "this client deploysim 9.9.9 (model 0123456789ab): install the same deploysim on every worker" in line
    )
    # Another numpy is named as such, beside the version and model that are the same.
    with pytest.raises(
        cluster.WorkerMismatch,
        match=r"\(model \w{12}, numpy 1\.0\.0\): install the same numpy on every worker "
        r"\(requirements\.lock pins numpy\)$",
    ):
        cluster.check({**mine, "numpy": "1.0.0"})


class _Client:
    """What check_workers asks of a client: each worker's answer to `run`."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers

    def run(self, fn, on_error: str, workers: list[str] | None = None) -> dict:
        assert fn is cluster.identity and on_error == "return"
        return {w: a for w, a in self.answers.items() if workers is None or w in workers}


def test_a_worker_without_this_deploysim_is_refused_before_anything_runs():
    mine = cluster.identity()
    cluster.check_workers(_Client({"tcp://a:1": mine, "tcp://b:1": dict(mine)}))
    # As distributed answers for a worker that cannot load sim.runs.cluster (seen with a real worker
    # whose deploysim lacks it): the import error wrapped in a bare Exception.
    gone = Exception("ModuleNotFoundError(\"No module named 'sim.runs.cluster'\")")
    with pytest.raises(sim.ConfigError) as err:
        cluster.check_workers(_Client({"tcp://a:1": mine, "tcp://b:1": gone}))
    assert str(err.value) == (
        '--cluster: worker tcp://b:1 cannot say which deploysim it runs (ModuleNotFoundError("No module '
        f"named 'sim.runs.cluster'\")): install deploysim {mine['deploysim']} (model {mine['model'][:12]}) "
        "on every worker"
    )
    with pytest.raises(sim.ConfigError, match=r"it runs \(AttributeError: no identity\): install deploysim "):
        cluster.check_workers(_Client({"tcp://b:1": AttributeError("no identity\nat all")}))
    # One that cannot be reached (leaving, say) is not refused here: the chunks it takes check it.
    cluster.check_workers(_Client({"tcp://a:1": mine, "tcp://b:1": OSError("Timed out trying to connect")}))
    with pytest.raises(sim.ConfigError, match=r"^--cluster: worker tcp://b:1 runs deploysim 0\.0\.1 "):
        cluster.check_workers(_Client({"tcp://a:1": mine, "tcp://b:1": {**mine, "deploysim": "0.0.1"}}))


@pytest.fixture
def other_model(tmp_path) -> Path:
    """A folder on whose path `import sim` finds this deploysim with one comment more in its engine:
    another model, as a worker installed from another commit would run."""
    root = tmp_path / "other"
    shutil.copytree(PACKAGE, root / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    with open(root / "sim" / "engine" / "simulate.py", "a", encoding="utf-8") as f:
        f.write("# another commit\n")
    return root


def _worker(scheduler: str, pythonpath: Path, tmp_path: Path) -> subprocess.Popen:
    """A `dask worker` process whose `import sim` finds the package under `pythonpath`."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    args = ["--nthreads", "1", "--no-nanny", "--no-dashboard", "--local-directory", str(tmp_path / "w")]
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_with_another_model_is_refused_in_one_line(tmp_path, capsys, other_model):
    with _local_cluster(0) as lc, distributed.Client(lc) as client:
        address = lc.scheduler_address
        base = [
            "run",
            "default",
            "--deploys",
            "6",
            "--seed",
            "2",
            "--strategy",
            "canary",
            "--cluster",
            address,
        ]
        # A run that starts on a cluster with no worker yet: it waits, and the first to join differs.
        cut = tmp_path / "cut"
        codes: list[int] = []
        run = threading.Thread(target=lambda: codes.append(main([*base, "--out", str(cut)])), daemon=True)
        run.start()
        _until(lambda: len(lc.scheduler.tasks) >= 1, "the run's first chunk at the scheduler")
        worker = _worker(address, other_model, tmp_path)
        try:
            run.join(timeout=120)
            assert not run.is_alive() and codes == [2]
            # The in-process test cluster's own warnings (a dashboard port taken by another run on
            # this host) share stderr with the CLI: only the CLI's lines are checked.
            err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("deploysim:")]
            assert (
                err[0] == f"deploysim: the scheduler at {address} has no worker yet; waiting for one to join"
            )
            mine = cluster.identity()
            theirs = cluster.source_hash(other_model / "sim")
            assert err[-1].startswith("deploysim: --cluster: worker tcp://127.0.0.1:") and err[-1].endswith(
                f" runs deploysim {mine['deploysim']} (model {theirs[:12]}), this client deploysim "
                f"{mine['deploysim']} (model {mine['model'][:12]}): install the same deploysim on every "
                f"worker; 0 of 6 chunks are saved in {cut}: "
                f"finish it with deploysim run --resume {cut}"
            )
            assert load_manifest(cut, "run")["status"] == "failed"
            # That worker still connected: a new run is refused before it writes anything.
            fresh = tmp_path / "fresh"
            assert main([*base, "--out", str(fresh), "--quiet"]) == 2
            (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("deploysim:")]
            assert line.startswith("deploysim: --cluster: worker tcp://") and f"(model {theirs[:12]})" in line
            assert not fresh.exists()
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        # With a worker that matches, the cut run finishes: the rows of a local run.
        _until(lambda: not client.nthreads(), "the other worker to leave")
        lc.scale(1)
        client.wait_for_workers(1, timeout=60)
        assert main(["run", "--resume", str(cut), "--cluster", address, "--quiet"]) == 0
    pd.testing.assert_frame_equal(
        store.read_rows(cut), sim.run_batch("default", deploys=6, seed=2, strategies=["canary"])
    )


@pytest.fixture
def old_deploysim(tmp_path) -> Path:
    """A folder on whose path `import sim` finds a deploysim too old to check itself: its cluster
    module has neither `identity` nor `run_chunk`."""
    root = tmp_path / "old"
    shutil.copytree(PACKAGE, root / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    path = root / "sim" / "runs" / "cluster.py"
    text = path.read_text(encoding="utf-8")
    for name in ("identity", "run_chunk", "run_packed"):
        text = text.replace(f"def {name}(", f"def _gone_{name}(")
    path.write_text(text, encoding="utf-8")
    return root


def test_an_old_worker_joining_a_running_batch_is_refused_in_one_line(tmp_path, capsys, old_deploysim):
    # It cannot run the chunk it is handed (no run_packed), nor say what it runs (no identity).
    with _local_cluster(0) as lc:
        address = lc.scheduler_address
        out = tmp_path / "cut"
        args = ["run", "default", "--deploys", "6", "--seed", "2", "--strategy", "canary"]
        codes: list[int] = []
        run = threading.Thread(
            target=lambda: codes.append(main([*args, "--cluster", address, "--out", str(out)])), daemon=True
        )
        run.start()  # connected to a cluster with no worker yet: nothing to check, the chunk waits
        _until(lambda: len(lc.scheduler.tasks) >= 1, "the run's first chunk at the scheduler")
        worker = _worker(address, old_deploysim, tmp_path)
        try:
            run.join(timeout=120)
            assert not run.is_alive() and codes == [2]
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("deploysim:")]
    assert err[-1].startswith("deploysim: --cluster: worker tcp://127.0.0.1:"), err
    assert "cannot say which deploysim it runs (AttributeError" in err[-1], err[-1]
    assert f"deploysim run --resume {out}" in err[-1]
    assert load_manifest(out, "run")["status"] == "failed"


def test_a_sweep_refused_by_a_worker_says_so_in_its_manifest(tmp_path, capsys, monkeypatch):
    # The client expects another deploysim (its own name for identity, in batch, altered); the
    # in-process worker checks against the real one and refuses the first chunk it is given.
    monkeypatch.setattr(batch, "identity", lambda: {**cluster.identity(), "deploysim": "0.0.0"})
    out = tmp_path / "sweep"
    with _local_cluster(1) as lc:
        args = ["sweep", "default", "--grid", "run.seed=1,2", "--deploys", "2", "--strategy", "recreate"]
        code = main([*args, "--cluster", lc.scheduler_address, "--out", str(out), "--quiet"])
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("deploysim:")]
    assert code == 2 and line.startswith("deploysim: --cluster: worker tcp://127.0.0.1:")
    assert line.endswith(
        ", this client deploysim 0.0.0 (model " + cluster.model_hash()[:12] + "): install "
        "the same deploysim on every worker"
    )
    assert load_manifest(out, "sweep")["status"] == "failed"
