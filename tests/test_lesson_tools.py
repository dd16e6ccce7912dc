"""The calculations the workshop notebooks lean on: canary power and sample size, latency summaries,
and interval-backed comparisons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
import sim.results.summary
from sim.validation import references as ref
from sim.workshop import evidence, latency, power


def test_requests_for_power_inverts_the_power_formula():
    for p0, p1, k in ((0.001, 0.003, 19.0), (0.01, 0.02, 1.0), (0.0002, 0.01, 99.0)):
        n1 = power.requests_for_power(p0, p1, power=0.8, alpha=0.05, baseline_per_canary=k)
        assert ref.two_proportion_power(p0, p1, k * n1, n1, 0.05) == pytest.approx(0.8, abs=1e-6)
        # Fewer requests do not reach the power: the root is the smallest sample that does.
        assert ref.two_proportion_power(p0, p1, k * 0.95 * n1, 0.95 * n1, 0.05) < 0.8


def test_requests_for_power_matches_the_textbook_sample_size():
    # Fleiss, Levin & Paik (2003), eq. 4.14 without continuity correction, equal arms, one-sided α.
    p0, p1, z_a, z_b = 0.05, 0.10, 1.6448536269514722, 0.8416212335729143
    pbar = (p0 + p1) / 2
    n = (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))) ** 2 / (
        p1 - p0
    ) ** 2
    assert power.requests_for_power(p0, p1, 0.8, 0.05) == pytest.approx(n, rel=1e-6)


def test_no_regression_needs_infinitely_many_requests():
    assert power.requests_for_power(0.01, 0.01) == math.inf
    assert power.requests_for_power(0.01, 0.005) == math.inf
    with pytest.raises(ValueError, match="alpha"):
        power.requests_for_power(0.01, 0.02, power=0.04, alpha=0.05)


def test_bake_time_is_the_sample_over_the_canary_rate():
    t = power.bake_time_s(0.001, 0.003, rate_rps=300, weight=0.05)
    n1, n0 = power.look_requests(300, 0.05, t)
    assert n0 / n1 == pytest.approx(19.0)
    assert power.two_proportion_power(0.001, 0.003, n0, n1, 0.05) == pytest.approx(0.8, abs=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        power.look_requests(300, 5, 60)


def test_any_look_fails_is_one_minus_the_chance_every_look_passes():
    assert power.any_look_fails(0.05, 10) == pytest.approx(1 - 0.95**10)
    assert power.any_look_fails([0.5, 0.5]) == pytest.approx(0.75)
    assert power.any_look_fails(0.05, 3, failure_limit=2) == pytest.approx(0.05**3)


def test_latency_without_a_fault_is_the_lognormal_of_the_fleet():
    lat = sim.Scenario().fleet.latency
    d = latency.describe(lat)
    assert d["p50_ms"] == pytest.approx(lat.p50_ms) and d["p99_ms"] == pytest.approx(lat.p99_ms)
    assert d["mean_ms"] == pytest.approx(lat.p50_ms * math.exp(lat.sigma**2 / 2), rel=1e-6)
    assert latency.describe(lat, "error_rate", 0.5) == d  # errors do not move latency


def test_latency_faults_bend_the_documented_quantiles():
    lat = sim.Scenario().fleet.latency
    plain = latency.describe(lat)
    shift = latency.describe(lat, "latency_shift", 1.5)
    assert all(shift[k] == pytest.approx(1.5 * v) for k, v in plain.items())
    tail = latency.describe(lat, "tail_latency", 3.0)
    assert tail["p50_ms"] == pytest.approx(plain["p50_ms"])
    assert tail["p90_ms"] == pytest.approx(plain["p90_ms"])
    assert tail["p99_ms"] == pytest.approx(3 * plain["p99_ms"])
    assert plain["mean_ms"] < tail["mean_ms"] < 3 * plain["mean_ms"]
    body = latency.describe(lat, "median_latency", 2.0)
    assert body["p50_ms"] == pytest.approx(2 * plain["p50_ms"])
    assert body["p99_ms"] == pytest.approx(plain["p99_ms"])
    with pytest.raises(ValueError, match="not a fault kind"):
        latency.describe(lat, "slow")


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        [["a", "m", 10, 1.0, 1, 1, 1, 0.5, 1.5], ["b", "m", 10, 3.0, 3, 3, 3, 2.0, 4.0]],
        columns=["strategy", "metric", "n", "mean", "p50", "p90", "p99", "ci95_lo", "ci95_hi"],
    )


def test_interval_reads_a_summary_row():
    a, b = evidence.interval(_summary(), "a", "m"), evidence.interval(_summary(), "b", "m")
    assert a == (1.0, 0.5, 1.5) and a.below(b) and not b.below(a) and a.contains(1.2)
    assert str(a) == "1 [0.5, 1.5]"
    with pytest.raises(KeyError, match="strategies: a, b"):
        evidence.interval(_summary(), "c", "m")


def test_share_is_a_wilson_interval_and_ignores_missing_values():
    s = evidence.share(pd.Series([True, False, np.nan, True]))
    assert s.value == pytest.approx(2 / 3)
    assert (s.lo, s.hi) == pytest.approx(sim.results.summary.wilson(2, 3))


def test_lower_share_counts_only_the_deploys_that_differ():
    a = pd.Series([1.0, 2.0, 5.0, np.nan, 4.0], index=[0, 1, 2, 3, 4])
    b = pd.Series([2.0, 2.0, 6.0, 1.0, 3.0], index=[0, 1, 2, 3, 4])
    s = evidence.lower_share(a, b)  # deploy 1 ties, deploy 3 has no value: 2 of 3 lower
    assert s.value == pytest.approx(2 / 3)
    flags = evidence.lower_share(pd.Series([False, False, True]), pd.Series([True, False, True]))
    assert flags.value == 1.0  # booleans: a escaped where b did not, never the other way


@pytest.fixture(scope="module")
def batch() -> pd.DataFrame:
    # Enough deploys that some bad releases are censored (followed a week, never restored): the
    # Kaplan–Meier path as well as the plain one.
    return sim.run_batch(sim.load_scenario("default"), deploys=150, seed=3)


def test_median_reads_a_summarys_median_and_its_interval(batch):
    summary = sim.summarize(batch)
    row = summary.set_index(["strategy", "metric"]).loc[("canary", "faulty_requests")]
    assert evidence.median(summary, "canary", "faulty_requests") == (row["p50"], row["p50_lo"], row["p50_hi"])
    with pytest.raises(KeyError, match="strategies: recreate, blue_green, canary, progressive"):
        evidence.median(summary, "flag", "faulty_requests")


def test_median_of_and_rate_of_are_the_summarys_at_95_and_wider_above(batch):
    summary = sim.summarize(batch)
    assert batch["censored"].any()
    for strategy in dict.fromkeys(batch["strategy"]):
        for metric in ("time_to_detect_s", "time_to_repair_s", "time_to_restore_s", "faulty_requests",
                       "affected_users", "lead_time_s", "extra_instance_hours"):  # fmt: skip
            ours = evidence.median_of(batch, strategy, metric)
            assert np.allclose(ours, evidence.median(summary, strategy, metric), equal_nan=True), metric
            wide = evidence.median_of(batch, strategy, metric, 0.999)
            assert wide.value == pytest.approx(ours.value, nan_ok=True)
            if not np.isnan(ours.lo):
                assert wide.lo <= ours.lo and wide.hi >= ours.hi, (strategy, metric)
        for rate in (
            "escaped_rate",
            "false_rollback_rate",
            "detection_rate",
            "censored_rate",
            "rollback_rate",
        ):
            ours = evidence.rate_of(batch, strategy, rate)
            # the summary rounds nothing, but its rate is k/n and its bounds Wilson's at 95%
            assert np.allclose(ours, evidence.interval(summary, strategy, rate)), (strategy, rate)
            wide = evidence.rate_of(batch, strategy, rate, 0.999)
            assert wide.lo <= ours.lo and wide.hi >= ours.hi


def test_median_of_widens_an_uncensored_durations_interval_too():
    # With nothing censored, Kaplan–Meier is the plain sample: its interval must still follow the level.
    rows = pd.DataFrame(
        {
            "strategy": "a",
            "release_bad": True,
            "censored": False,
            "censored_after_s": np.nan,
            "time_to_detect_s": np.arange(1.0, 41.0),
            "time_to_restore_s": np.arange(1.0, 41.0) + 2,
        }
    )
    at_95 = evidence.median_of(rows, "a", "time_to_restore_s")
    at_999 = evidence.median_of(rows, "a", "time_to_restore_s", 0.999)
    assert at_95 == (22.5, *sim.results.summary.median_ci(np.arange(3.0, 43.0)))
    assert at_999.lo < at_95.lo and at_999.hi > at_95.hi
    with pytest.raises(KeyError, match="strategies: a"):
        evidence.rate_of(rows, "b", "escaped_rate")
