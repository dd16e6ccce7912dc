"""Scale: the same rows from one process, a local pool or a Dask cluster; bounded work in flight; a limit."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import distributed
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sim
from sim.cli import main
from sim.engine.arrays import BLOCK
from sim.engine.rows import simulate_deploys
from sim.results.frame import to_frame
from sim.runs import batch, store

SCN = sim.load_scenario("default")


@pytest.fixture(scope="module")
def local() -> pd.DataFrame:
    return sim.run_batch(SCN, deploys=12, seed=11)


def test_rows_are_identical_for_any_number_of_local_workers(local):
    pd.testing.assert_frame_equal(sim.run_batch(SCN, deploys=12, seed=11, jobs=2), local)


def test_rows_do_not_depend_on_how_deploys_are_chunked(local):
    for size in (1, 5, 12):
        rows = [
            r
            for lo, hi in batch.chunks(12, size)
            for r in simulate_deploys(SCN, list(SCN.strategies), 11, lo, hi)
        ]
        pd.testing.assert_frame_equal(to_frame(rows), local)


@given(deploys=st.integers(1, 20_000), blocks=st.integers(1, 8), taper=st.booleans())
def test_chunks_cover_the_deploys_in_whole_blocks_and_a_tapered_run_ends_on_blocks(deploys, blocks, taper):
    size = blocks * BLOCK
    spans = list(batch.chunks(deploys, size, taper=taper))
    assert spans[0][0] == 0 and spans[-1][1] == deploys
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert all(lo % BLOCK == 0 and 0 < hi - lo <= size for lo, hi in spans)
    sizes = [hi - lo for lo, hi in spans]
    assert sizes == sorted(sizes, reverse=True)
    if not taper:
        assert sizes[:-1] == [size] * (len(sizes) - 1)
    elif deploys >= 2 * size:
        # The workers finish within a block's time of each other: the last two chunks are a block at most.
        assert max(sizes[-2:]) <= BLOCK


def test_a_dask_cluster_gives_the_rows_of_the_local_run(local, tmp_path):
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pd.testing.assert_frame_equal(sim.run_batch(SCN, deploys=12, seed=11, cluster=client), local)
        # The command line connects by address, as it would to a real scheduler.
        out = tmp_path / "o"
        args = ["run", "default", "--deploys", "12", "--seed", "11", "--cluster", cluster.scheduler_address]
        assert main([*args, "--out", str(out), "--quiet"]) == 0
        pd.testing.assert_frame_equal(store.read_rows(out), local)
        assert client.status == "running", "a client handed in is left open for its owner"


class Counting(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_at_most_two_chunks_per_worker_are_in_flight():
    # Finished rows are handed on as soon as they arrive, and no more than 2 × workers chunks are
    # queued or running, so memory holds a few chunks however long the batch is.
    ex = Counting()
    spans = list(batch.chunks(30, 2))
    handed = 0
    in_flight = []
    with ex:
        for _span, _rows in batch.iter_chunks(SCN, ["recreate"], 1, spans, pool=batch.Workers(ex, 2)):
            handed += 1
            in_flight.append(ex.submitted - handed)
    assert handed == len(spans) == ex.submitted
    assert max(in_flight) <= 4 - 1


def test_a_batch_too_large_to_finish_is_refused_before_it_starts():
    with pytest.raises(
        sim.ConfigError, match=r"run\.deploys: 3,000,000 deploys × 4 strategies × 1,080 windows"
    ):
        sim.run_batch(SCN, deploys=3_000_000)
    batch.check_size(SCN, 2_000_000, 4)  # 8.6e9 windows: within the limit
    longer = sim.load_scenario("default", overrides=["run.window_s=1"])
    with pytest.raises(sim.ConfigError, match="over the limit"):
        batch.check_size(longer, 300_000, 4)
