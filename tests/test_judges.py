"""Judges: verdict rules, the Mann-Whitney classifier, and what a judge cannot see."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.config.judges import BaselineJudge, FixedJudge
from sim.engine import judging
from sim.engine.judging import mann_whitney_classify
from tests.conftest import QUIET, scenario


def test_limits_fail_on_the_worst_metric_and_skip_thin_percentiles():
    judge = FixedJudge(watch=("error_rate", "p99"), max_error_rate=0.01, max_p99_ms=500)
    v = judging._limits(
        judge,
        {"error_rate": 0.02, "p99": 100.0, "p50": 1, "saturation": 0},
        {"error_rate": 0.01, "p99": 500.0, "p50": 1, "saturation": 1},
        requests=5000,
    )
    assert v.status == "fail" and v.score == pytest.approx(2.0)
    # With 300 requests only 3 lie beyond the p99: it is noise, so it is not judged.
    v = judging._limits(
        judge,
        {"error_rate": 0.0, "p99": 5000.0, "p50": 1, "saturation": 0},
        {"error_rate": 0.01, "p99": 500.0, "p50": 1, "saturation": 1},
        requests=300,
    )
    assert v.status == "pass" and "p99" not in v.values
    only_p99 = FixedJudge(watch=("p99",))
    v = judging._limits(
        only_p99,
        {"p99": 5000.0, "error_rate": 0, "p50": 0, "saturation": 0},
        {"p99": 500.0, "error_rate": 1, "p50": 1, "saturation": 1},
        requests=300,
    )
    assert v.status == "inconclusive"


def test_baseline_judge_config_rejects_unknown_metrics():
    with pytest.raises(sim.ConfigError, match=r"watch\[0\]: 'p95' is not one of"):
        sim.load_scenario({"judges": {"baseline": {"kind": "baseline", "watch": ["p95"]}}})
    assert BaselineJudge().quantiles == (0.99,)


def test_mann_whitney_classifies_shifts_and_matches_scipy():
    rng = np.random.default_rng(2)
    control = rng.normal(100, 5, 30)
    higher = control + 30 + rng.normal(0, 5, 30)
    lower = control - 30 + rng.normal(0, 5, 30)
    same = rng.normal(100, 5, 30)
    for x, label in ((higher, "high"), (lower, "low"), (same, "pass")):
        res = mann_whitney_classify(x, control, 0.95, 0.25, 1.1)
        assert res.classification == label
        scipy_p = stats.mannwhitneyu(x, control, alternative="two-sided", method="asymptotic").pvalue
        assert res.p_value == pytest.approx(scipy_p)
        assert res.lower <= res.estimate <= res.upper
    # A clear but small shift fails the effect-size rule: the mean ratio 1.02 is below 1.1.
    tight = rng.normal(100, 0.5, 30)
    small = tight * 1.02
    res = mann_whitney_classify(small, tight, 0.95, 0.25, 1.1)
    assert res.lower > 0 and res.classification == "pass"
    assert mann_whitney_classify(np.array([]), control, 0.95, 0.25, 1.1).classification == "nodata"
    assert math.isnan(mann_whitney_classify(np.array([]), control, 0.95, 0.25, 1.1).p_value)


def _median_only(watch):
    return scenario(
        {
            **QUIET,
            "releases": {
                "bad_probability": 1,
                "faults": {"_replace": True, "median_latency": {"weight": 1, "severity": 2.0}},
            },
            "judges": {"baseline": {"watch": watch}},
            "safety_net": None,
        }
    )


def test_a_judge_watching_only_p99_lets_a_median_only_regression_through():
    n = 30
    p99 = sim.run_batch(_median_only(["error_rate", "p99"]), deploys=n, seed=5, strategies=["progressive"])
    p50 = sim.run_batch(_median_only(["error_rate", "p50"]), deploys=n, seed=5, strategies=["progressive"])
    # The median doubles while the p99 stays put: the p99 gate can only misfire by chance (its
    # false-alarm rate on a good release is a few percent per rollout), the p50 gate sees it at once.
    assert p99["escaped"].mean() >= 0.8
    assert p50["detected"].mean() == 1.0 and p50["escaped"].mean() == 0.0


@pytest.mark.parametrize(
    "judge",
    [
        FixedJudge(watch=("error_rate", "p99", "saturation"), max_error_rate=0.002, max_p99_ms=150.0),
        FixedJudge(watch=("error_rate", "p50"), max_error_rate=0.0, min_requests=0),  # a limit of 0
        BaselineJudge(watch=("error_rate", "p99", "saturation"), error_margin=0.0),
        BaselineJudge(watch=("p99",), max_latency_ratio=1.0, min_tail_samples=0.0),
    ],
    ids=["fixed", "fixed-zero", "baseline", "baseline-tight"],
)
def test_looks_taken_together_agree_with_looks_taken_one_by_one(judge):
    # `measure_many` settles every tick's status with array arithmetic and builds a tick's verdict
    # only when asked; `measure` takes one look the plain way. Given the same draws (a fresh
    # generator of one seed per look; one percentile per judge, as the two paths draw two
    # percentiles in different orders) they must agree on every status, value and limit.
    run = sim.run_deploy(sim.load_scenario("default"), "canary", deploy=3, seed=5)
    world = run.world
    ticks = np.arange(60.0, min(world.env.now, 3600.0), 60.0)
    statuses = set()
    for t in ticks:
        looks = judging.measure_many(judge, world, [float(t)], 60.0, np.random.default_rng(11))
        world.telemetry.rng = np.random.default_rng(11)
        one = judging.measure(judge, world, float(t), 60.0)
        statuses.add(one.status)
        assert looks.status[0] == one.status, t
        many = looks.verdict(0)
        assert many.status == one.status and many.values.keys() == one.values.keys()
        for m, (value, limit) in one.values.items():
            assert many.values[m] == pytest.approx((value, limit), rel=1e-9), (t, m)
        assert many.score == pytest.approx(one.score, rel=1e-9)
    assert len(statuses) >= 2  # the looks are not all alike: the comparison has teeth
