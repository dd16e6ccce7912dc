"""Batches: determinism across workers, failures kept as rows, summaries and their intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim import batch as batch_mod
from sim.summary import mean_ci, wilson
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
    real = batch_mod.simulate

    def flaky(scn, strategy, exo, seed, deploy, record=False):
        if deploy == 1 and strategy == "canary":
            raise RuntimeError("boom")
        return real(scn, strategy, exo, seed, deploy, record)

    monkeypatch.setattr(batch_mod, "simulate", flaky)
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
    lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert (lo, hi) == pytest.approx((2.5 - 3.182446 * 1.290994 / 2, 2.5 + 3.182446 * 1.290994 / 2), rel=1e-5)
    lo, hi = wilson(0, 20)
    assert lo == 0 and hi == pytest.approx(0.16113, abs=1e-4)  # the Wilson interval does not collapse at 0
