"""The published figures and formulas the validation report compares against, checked on their own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.validation import references as ref


def test_workbook_detection_time_and_budget():
    # The Workbook's paging pair: 14.4 over an hour spends 2% of a 30-day budget, 6 over six hours 5%.
    assert ref.budget_at_firing(3600, 14.4, 30) == pytest.approx(0.02)
    assert ref.budget_at_firing(21600, 6, 30) == pytest.approx(0.05)
    # A full outage trips the one-hour alert after 0.001 / 1 × 3600 s × 14.4 = 51.84 s.
    assert ref.burn_rate_detection_s(0.999, 1.0, 3600, 14.4) == pytest.approx(51.84)


@pytest.mark.parametrize(
    ("error_ratio", "expected"),
    [(0.005, None), (0.0061, (21600, 6)), (0.01, (21600, 6)), (0.0145, (3600, 14.4)), (0.2, (3600, 14.4))],
)
def test_firing_pair_picks_the_first_window_to_burn(error_ratio, expected):
    pairs = [(3600, 300, 14.4), (21600, 1800, 6)]
    assert ref.firing_pair(pairs, 0.999, error_ratio) == expected


def test_two_proportion_power_formula():
    assert ref.two_proportion_power(0.01, 0.01, 1e4, 1e4, 0.05) == pytest.approx(0.05)
    powers = [ref.two_proportion_power(0.01, p1, 1e4, 1e4, 0.05) for p1 in (0.011, 0.013, 0.015, 0.02)]
    assert powers == sorted(powers) and powers[-1] > 0.999
    # Against direct sampling of the same test: the normal approximation is good to about 0.005
    # here; 400,000 draws put the sampling error near 0.0008, so 0.01 cannot fail by chance.
    for p1 in (0.0115, 0.013):
        exact, se = ref.z_test_rejection_rate(0.01, p1, 1e4, 1e4, 0.05, draws=400_000, seed=1)
        assert abs(exact - ref.two_proportion_power(0.01, p1, 1e4, 1e4, 0.05)) < 0.01
        assert se < 0.001


def test_cumulative_looks_reproduce_armitage_table():
    # The multivariate-normal computation must reproduce the published two-sided figures (3 decimals).
    for looks, published in ref.ARMITAGE_TWO_SIDED_5PCT.items():
        computed = ref.cumulative_looks_false_alarm(0.05, looks, two_sided=True)
        assert computed == pytest.approx(published, abs=6e-4)
    one_sided = [ref.cumulative_looks_false_alarm(0.05, k) for k in (1, 5, 10, 20)]
    assert one_sided[0] == pytest.approx(0.05, abs=1e-6)
    assert one_sided == sorted(one_sided)


def test_independent_looks_are_a_binomial_tail():
    assert ref.independent_looks_false_alarm([0.05] * 10) == pytest.approx(1 - 0.95**10)
    assert ref.independent_looks_false_alarm([0.05] * 10, failure_limit=2) == pytest.approx(
        stats.binom.sf(2, 10, 0.05)
    )
    assert ref.independent_looks_false_alarm([0.1, 0.2]) == pytest.approx(1 - 0.9 * 0.8)


def test_argo_transliteration_reproduces_argo_test_table():
    for replicas, weight, surge, canary, stable in ref.ARGO_TEST_TABLE:
        assert ref.argo_go_split(replicas, weight, surge) == (canary, stable), (replicas, weight, surge)


def test_argo_transliteration_keeps_go_float_arithmetic():
    # Go's float64(total) * (float64(w) / 100) is not exactly total·w/100: at 25 replicas and 14% the
    # product is 3.5000000000000004, so the floor and ceiling are not tied and both are candidates.
    assert math.modf(25.0 * (14 / 100))[0] != 0.5
    canary, stable = ref.argo_go_split(25, 14, 0)
    assert canary + stable == 25 and canary in (3, 4)


def _labels(x, y):
    return ref.kayenta_classify(np.asarray(x, float), np.asarray(y, float), 0.95, 0.25, 1.1, 1 / 1.1)[0]


def test_kayenta_rule_on_hand_made_vectors():
    base = [41.0, 44.5, 39.8, 43.1, 40.2, 45.9, 42.7, 38.9, 44.0, 41.6]
    assert _labels(np.multiply(base, 1.4), base) == "high"
    assert _labels(np.multiply(base, 0.6), base) == "low"
    assert _labels(base, base) == "pass"
    assert _labels(np.multiply(base, 1.05), base) == "pass"  # shift below the effect size
    assert _labels([3.0] * 5, [3.0] * 6) == "pass"
    assert _labels([], base) == "nodata"


def test_kayenta_interval_is_where_scipy_stops_rejecting():
    rng = np.random.default_rng(3)
    x, y = rng.lognormal(0, 0.3, 9), rng.lognormal(0.1, 0.3, 12)
    lo, hi = ref.kayenta_interval(x, y, 0.95)
    d = np.unique(np.subtract.outer(x, y))
    est = float(np.median(np.subtract.outer(x, y)))
    assert lo <= est <= hi

    def p(shift):
        return stats.mannwhitneyu(x - shift, y, method="asymptotic").pvalue

    step = np.diff(d).min() / 4
    assert p(lo + step) >= 0.05 > p(lo - step)
    assert p(hi - step) >= 0.05 > p(hi + step)


def test_flagger_formulas():
    assert ref.flagger_promotion_s(60, 50, 2) == 1500  # the docs' "25 minutes"
    assert ref.flagger_rollback_s(60, 10) == 600


@pytest.mark.parametrize("cumulative", [False, True])
def test_direct_sampling_of_repeated_looks_matches_the_formulas(cumulative):
    # 300 expected failures per arm per look: the normal approximation is good to ~0.002, and
    # 100,000 draws have a standard error near 0.0013, so 0.007 (≈ 5 standard errors) cannot fail
    # by chance.
    rate, se = ref.z_test_looks_rate(0.01, 30_000, 0.05, 5, cumulative=cumulative, draws=100_000, seed=2)
    if cumulative:
        formula = ref.cumulative_looks_false_alarm(0.05, 5)
    else:
        formula = ref.independent_looks_false_alarm([0.05] * 5)
    assert se < 0.0015
    assert rate == pytest.approx(formula, abs=0.007)
