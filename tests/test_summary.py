"""Summaries: each metric over its own population; durations by Kaplan–Meier, censored releases counted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.results.summary import median_ci, plain, summarize, survival


def test_kaplan_meier_by_hand():
    # S(t): 0.8 after 1, 0.6 after 2, (3 censored), 0.3 after 4, (5 censored).
    n, censored, mean, p50, p90, p99, *_ = survival(
        np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([True, True, False, True, False])
    )
    assert (n, censored) == (5, 2)
    assert mean == pytest.approx(1.0 + 0.8 + 0.6 * 2 + 0.3 * 1)  # area under S up to the longest, 5
    assert p50 == 4.0  # the first time S falls below 0.5
    assert math.isnan(p90) and math.isnan(p99)  # S never falls below 0.3: more than 10% never ended


def test_with_nothing_censored_the_survival_summary_is_the_plain_one():
    x = np.random.default_rng(3).exponential(100.0, 300)
    got, want = survival(x, np.ones(300, bool)), plain(x)
    assert got == want
    assert got[2] == pytest.approx(x.mean())


def test_the_median_interval_covers_the_median_about_95_percent_of_the_time():
    # 2,000 samples of 50 from a unit exponential (true median ln 2); the interval is exact-or-wider
    # by construction. Misses are Binomial(2000, ≤ 0.05): ≤ 130 keeps a 4-sigma margin.
    rng = np.random.default_rng(11)
    misses = 0
    for _ in range(2000):
        lo, hi = median_ci(rng.exponential(1.0, 50))
        misses += not (lo <= math.log(2) <= hi)
    assert misses <= 130


def _rows(strategy: str, restore: list[float], censored: list[bool], faulty: list[float]) -> pd.DataFrame:
    n = len(restore)
    return pd.DataFrame(
        {
            "strategy": strategy,
            "release_bad": True,
            "detected": [not c for c in censored],
            "rolled_back": [not c for c in censored],
            "false_rollback": False,
            "escaped": False,
            "censored": censored,
            "time_to_detect_s": [math.nan if c else r - 10 for r, c in zip(restore, censored, strict=True)],
            "time_to_repair_s": [math.nan if c else 10.0 for c in censored],
            "time_to_restore_s": [math.nan if c else r for r, c in zip(restore, censored, strict=True)],
            "censored_after_s": [r if c else math.nan for r, c in zip(restore, censored, strict=True)],
            "faulty_requests": faulty,
            "error": None,
        }
        | {m: np.zeros(n) for m in ("failed_requests", "affected_users", "downtime_s", "error_budget_used")}
        | {m: np.full(n, math.nan) for m in ("exposure_at_detection", "lead_time_s", "extra_instance_hours")}
        | {m: np.full(n, math.nan) for m in ("migration_failed_requests", "sequence_lead_time_s")}
    )


def test_blast_radius_counts_caught_releases_and_says_how_many_were_not():
    df = _rows("s", [100, 200, 1e6, 300], [False, False, True, False], [10, 20, 5e9, 30])
    s = summarize(df).set_index("metric")
    assert s.at["faulty_requests", "n"] == 3 and s.at["faulty_requests", "censored"] == 1
    assert s.at["faulty_requests", "mean"] == pytest.approx(20.0)  # the lower bound 5e9 is left out
    assert s.at["censored_rate", "mean"] == pytest.approx(0.25)
    assert s.at["time_to_restore_s", "n"] == 4 and s.at["time_to_restore_s", "censored"] == 1
    # S is 0.75, 0.5, 0.25 after 100, 200, 300: the median is where it first falls *below* ½ (SAS's
    # convention, which statsmodels follows).
    assert s.at["time_to_restore_s", "p50"] == 300.0
