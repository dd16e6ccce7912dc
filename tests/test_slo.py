"""The burn-rate alert: the SRE Workbook's detection time, and the alert as every strategy's safety net."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.config.judges import BurnRateJudge
from sim.engine.alert import ServiceWindows, SteadyPast, _held, _scan, first_firing, tier_spans
from tests.conftest import QUIET, scenario


def test_first_firing_on_synthetic_counts():
    judge = BurnRateJudge(slo=0.999, windows=({"long_s": 3600, "short_s": 300, "burn_rate": 14.4},))
    n = 1000
    user = np.full(n, 1000.0)
    err = np.zeros(n)
    err[100:] = 500.0  # 50% errors from window 100 on
    hit = first_firing(judge, ServiceWindows(user, err, 10.0), np.arange(1, n + 1), SteadyPast(1000.0, 0.0))
    # The long window fires once 0.5·t/3600 ≥ 14.4·0.001, i.e. t ≥ 103.7 s: 11 windows of 10 s.
    assert hit == 100 + 11


@pytest.mark.parametrize("error_ratio", [1.0, 0.5, 0.2])
def test_detection_time_matches_the_workbook_formula(error_ratio):
    # A whole-fleet fault of constant error ratio e, no baseline errors, no synthetic traffic and
    # an instant on-call: detection = (1 − SLO) / e × window × burn rate for the 1 h / 14.4 pair.
    scn = scenario(
        {
            **QUIET,
            "fleet": {"error_rate": 0, "capacity_rps": 1000},
            "traffic": {"rate_rps": 2000, "synthetic_share": 0},
            "releases": {
                "bad_probability": 1,
                "faults": {
                    "_replace": True,
                    "crash": {"weight": 1, "severity": error_ratio, "smoke_catch": 0},
                },
            },
            "humans": {"page_response_s": 0},
            "judges": {"slo": {"windows": [{"long_s": 3600, "short_s": 300, "burn_rate": 14.4}]}},
        }
    )
    df = sim.run_batch(scn, deploys=8, seed=2, strategies=["blue_green"])
    formula = 0.001 / error_ratio * 3600 * 14.4
    ttd = df["time_to_detect_s"].to_numpy()
    # The rule is evaluated every 60 s on complete 10 s windows, so firing comes at the first
    # evaluation at least one window after the threshold is crossed: up to 60 + 10 s late, never early.
    assert np.all(ttd >= formula - 1e-6)
    assert np.all(ttd <= formula + 70 + 1e-6)
    budget_at_firing = error_ratio * ttd / (30 * 86400 * 0.001)
    assert np.all(budget_at_firing >= 14.4 * 3600 / (30 * 86400) - 1e-9)  # ≥ 2% of the budget, as designed


def test_the_safety_net_catches_an_escaped_error_fault_for_every_strategy():
    scn = scenario(
        {
            **QUIET,
            "releases": {
                "bad_probability": 1,
                "faults": {"_replace": True, "error_rate": {"weight": 1, "severity": 0.3, "smoke_catch": 0}},
            },
            "judges": {"baseline": {"watch": ["p99"]}, "fixed": {"watch": ["p99"]}},
            "reports": {"per_harmed_user": 0},  # users would tell support too, but slower
        }
    )
    df = sim.run_batch(scn, deploys=6, seed=3)
    # Gates watching only latency miss a 30% error rate; the alert on the whole service does not.
    assert (df["detected_by"] == "slo_alert").all()
    assert df["rolled_back"].all()
    assert not math.isnan(df["time_to_repair_s"].max())


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(0, 20),
    wobble=st.lists(st.integers(-3, 3), min_size=1, max_size=120),
    users=st.sampled_from([0, 1, 500, 625, 1000, 1250, 2000]),
    history_error=st.sampled_from([0.0, 0.001, 0.006, 0.0065, 0.0144, 0.5]),
    first=st.integers(1, 60),
)
def test_the_quick_exit_never_changes_when_the_alert_fires(level, wobble, users, history_error, first):
    # `first_firing` skips the span sums when no window comes near the lowest limit; the long way
    # (`_scan`) must agree on every input, including windows right at a limit (users = 625·m makes
    # 14.4 × 0.001 × users a whole number of errors).
    judge = BurnRateJudge(
        slo=0.999,
        windows=(
            {"long_s": 600, "short_s": 60, "burn_rate": 14.4},
            {"long_s": 1200, "short_s": 300, "burn_rate": 6},
        ),
    )
    n = len(wobble)
    user = np.full(n, float(users))
    err = np.clip(level + np.array(wobble, float), 0, user)  # hovering around a level: near limits
    eval_ks = np.arange(min(first, n), n + 1)
    service, past = ServiceWindows(user, err, 10.0), SteadyPast(float(users), history_error)
    quick = first_firing(judge, service, eval_ks, past)
    n_, limit, _, _ = tier_spans(judge, 10.0)
    assert quick == _scan(n_, limit, service, eval_ks, past)


def test_spans_are_those_of_the_judge_and_window_asked_for():
    # `tier_spans` is cached by judge object: a second judge, or the same one at another window length,
    # gets its own spans, and a judge equal to a cached one gets equal spans.
    fast = BurnRateJudge(windows=({"long_s": 600, "short_s": 60, "burn_rate": 10.0},))
    slow = BurnRateJudge(windows=({"long_s": 3600, "short_s": 300, "burn_rate": 2.0},))
    for _ in range(2):
        n, _, longest, lowest = tier_spans(fast, 10.0)
        assert n.ravel().tolist() == [60, 6] and longest == 60 and lowest == pytest.approx(10.0 * 0.001)
        assert tier_spans(fast, 60.0)[0].ravel().tolist() == [10, 1]
        n, _, longest, lowest = tier_spans(slow, 10.0)
        assert n.ravel().tolist() == [360, 30] and longest == 360 and lowest == pytest.approx(2.0 * 0.001)
    twin = BurnRateJudge(windows=({"long_s": 600, "short_s": 60, "burn_rate": 10.0},))
    assert np.array_equal(tier_spans(twin, 10.0)[0], tier_spans(fast, 10.0)[0])


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(0, 40),
    wobble=st.lists(st.integers(-5, 5), min_size=1, max_size=150),
    users=st.sampled_from([1, 500, 1000, 2000]),
    history_error=st.sampled_from([0.0, 0.0002, 0.0009, 0.001]),
    first=st.integers(1, 60),
    daily=st.booleans(),
)
def test_the_long_window_bound_never_changes_when_a_ticket_fires(
    level, wobble, users, history_error, first, daily
):
    # While a pair's long window still reaches back before t = 0, `first_firing` may settle a scan
    # by bounding it (most failures with most history against least traffic); on every input it
    # must agree with the long way, for a constant history or one that follows a daily curve.
    judge = BurnRateJudge(
        slo=0.999,
        windows=({"long_s": 600, "short_s": 60, "burn_rate": 14.4},),
        tickets=({"long_s": 86400, "short_s": 3600, "burn_rate": 1},),
    )
    n = len(wobble)
    user = np.full(n, float(users))
    err = np.clip(level + np.array(wobble, float), 0, user)
    eval_ks = np.arange(min(first, n), n + 1)
    day = 8640.0  # windows: the history is the integral of a positive daily rate, so it grows with b
    history = (
        (lambda b: users * (b + 0.5 * day / (2 * np.pi) * np.sin(2 * np.pi * b / day))) if daily else users
    )
    curve = history if callable(history) else (lambda b: users * b)
    service, past = ServiceWindows(user, err, 10.0), SteadyPast(history, history_error)
    for tier in ("page", "ticket"):
        n_, limit, _, _ = tier_spans(judge, 10.0, tier)
        want = _scan(n_, limit, service, eval_ks, past)
        assert first_firing(judge, service, eval_ks, past, tier) == want, tier
        # As an alert calls it: the history held worked out once, for every instant it may ask about.
        held = _held(n_, curve, 0, n + 50)
        assert first_firing(judge, service, eval_ks, past, tier, held) == want
