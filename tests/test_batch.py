"""Batches: determinism across workers, failures kept as rows, summaries and their intervals."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pandas as pd
import pytest

import sim
from sim.engine import rows as simulate_mod  # where a batch calls the event engine
from sim.results.summary import mean_ci, wilson
from tests.conftest import scenario


def test_same_seed_same_rows_whatever_the_number_of_workers():
    scn = scenario({"run": {"horizon_s": 3600}})
    one = sim.run_batch(scn, deploys=8, seed=21, jobs=1)
    two = sim.run_batch(scn, deploys=8, seed=21, jobs=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one.columns) == list(sim.COLUMNS)
    assert len(one) == 8 * 4
    other = sim.run_batch(scn, deploys=8, seed=22, jobs=1)
    assert not one.equals(other)


def test_a_failing_run_is_recorded_not_lost(monkeypatch):
    real = simulate_mod.simulate

    def flaky(scn, strategy, exo, seed, deploy, record=False, **kw):
        if deploy == 1 and strategy == "canary":
            raise RuntimeError("boom")
        return real(scn, strategy, exo, seed, deploy, record, **kw)

    monkeypatch.setattr(simulate_mod, "simulate", flaky)
    df = sim.run_batch(scenario({"run": {"horizon_s": 3600}}), deploys=3, seed=1)
    assert len(df) == 12
    bad = df[df["error"].notna()]
    assert list(zip(bad["deploy"], bad["strategy"], strict=True)) == [(1, "canary")]
    assert bad["error"].iloc[0] == "RuntimeError: boom"
    summary = sim.summarize(df)  # the failed row is left out of the statistics, not of the table
    assert set(summary["strategy"]) == {"recreate", "blue_green", "canary", "progressive"}


def test_summary_statistics_and_intervals():
    df = sim.run_batch(scenario({"run": {"horizon_s": 3600}}), deploys=30, seed=2, strategies=["progressive"])
    s = sim.summarize(df).set_index("metric")
    lead = df["lead_time_s"].dropna()
    assert s.at["lead_time_s", "n"] == len(lead)
    assert s.at["lead_time_s", "mean"] == pytest.approx(lead.mean())
    assert s.at["lead_time_s", "p90"] == pytest.approx(np.percentile(lead, 90))
    rate = s.loc["false_rollback_rate"]
    good = ~df["release_bad"].astype(bool)
    assert rate["n"] == good.sum()
    assert rate["ci95_lo"] <= rate["mean"] <= rate["ci95_hi"]


def test_interval_formulas():
    rng = np.random.default_rng(0)
    big = rng.exponential(1.0, 5000)  # past the bootstrap limit: Student-t
    lo, hi = mean_ci(big)
    half = 1.96 * big.std(ddof=1) / np.sqrt(len(big))
    assert (lo, hi) == pytest.approx((big.mean() - half, big.mean() + half), rel=1e-3)
    skewed = np.array([0.0] * 18 + [100.0, 1000.0])  # most caught small, a couple escape big
    lo, hi = mean_ci(skewed)
    assert 0 <= lo < skewed.mean() < hi  # a t-interval would dip below zero here
    # Coverage: over 200 samples of 30 from an exponential, a 95% interval should miss ~5% of the
    # time; 200 trials put the binomial 99.9% bound for a true 5% rate at 14 misses.
    misses = 0
    for _ in range(200):
        x = rng.exponential(1.0, 30)
        lo, hi = mean_ci(x)
        misses += not (lo <= 1.0 <= hi)
    assert misses <= 25  # the percentile bootstrap undercovers slightly at n = 30 for a skewed law
    lo, hi = wilson(0, 20)
    assert lo == 0 and hi == pytest.approx(0.16113, abs=1e-4)  # the Wilson interval does not collapse at 0


# What a chunk needs in a worker is the engine; the parent's tables and charts stay the parent's.
PARENT_ONLY = ("pandas", "pyarrow", "matplotlib", "streamlit", "scipy.stats", "sim.runs.batch", "sim.results")


def test_a_worker_preloads_the_engine_before_its_first_task_and_imports_nothing_else_for_a_chunk():
    from sim.engine.rows import simulate_deploys
    from sim.runs.workers import ENGINE, WorkerPool, running

    scn = scenario({"run": {"horizon_s": 3600}})
    listing = "sorted(__import__('sys').modules)"  # eval is a builtin: unpickling it imports nothing
    with running(WorkerPool(1, ENGINE)) as pool:
        before = pool.submit(eval, listing).result(timeout=120)
        rows = pool.submit(simulate_deploys, scn, ["canary"], 5, 0, 2).result(timeout=120)
        after = pool.submit(eval, listing).result(timeout=120)
    assert "sim.engine.rows" in before, "preloaded, not imported by the first chunk"
    assert len(rows) == 2
    for modules in (before, after):
        assert not [m for m in modules if m.split(".")[0] in PARENT_ONLY or m.startswith(PARENT_ONLY)]
    with running(WorkerPool(1)) as bare:
        assert "sim.engine.rows" not in bare.submit(eval, listing).result(timeout=120)


def test_a_pool_stopped_by_an_error_before_any_task_shuts_down():
    # An early pool (the CLI starts one before parsing) may be stopped by bad input while its
    # feeding threads are idle: terminate() then shutdown() must not leave them waiting forever.
    from sim.runs.workers import ENGINE, WorkerPool, running

    def stop_at_once() -> None:
        with contextlib.suppress(ValueError), running(WorkerPool(2, ENGINE)):
            raise ValueError("bad input")

    for _ in range(5):
        stopping = threading.Thread(target=stop_at_once, daemon=True)
        stopping.start()
        stopping.join(timeout=60)
        assert not stopping.is_alive(), "the pool's shutdown hangs"
