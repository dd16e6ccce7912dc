"""Latency distribution, fault profiles, queueing and load shedding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from sim.config import fleet
from sim.config.fleet import Latency
from sim.engine.fleet import (
    _log_profile_at,
    _share_slower,
    quantile_ms,
    queueing_factor,
    share_slower,
    shed_probability,
)

LAT = Latency(p50_ms=40, p99_ms=250)
P = np.linspace(0.001, 0.9999, 4001)


def test_quantiles_hit_the_configured_p50_and_p99():
    assert quantile_ms(LAT, np.array(0.5)) == pytest.approx(40)
    assert quantile_ms(LAT, np.array(0.99)) == pytest.approx(250)


def test_tail_regression_leaves_the_median_and_multiplies_p99():
    q = lambda p: quantile_ms(LAT, np.array(p), fleet.PROFILE_TAIL, 3.0)  # noqa: E731
    assert q(0.5) == pytest.approx(40)
    assert q(0.9) == pytest.approx(quantile_ms(LAT, np.array(0.9)))
    assert q(0.99) == pytest.approx(750)


def test_median_regression_leaves_p99():
    q = lambda p: quantile_ms(LAT, np.array(p), fleet.PROFILE_BODY, 2.0)  # noqa: E731
    assert q(0.5) == pytest.approx(80)
    assert q(0.99) == pytest.approx(250)


@pytest.mark.parametrize("kind", [fleet.PROFILE_SHIFT, fleet.PROFILE_TAIL, fleet.PROFILE_BODY])
@pytest.mark.parametrize("severity", [1.1, 2.0, 8.0, 50.0])
def test_every_profile_keeps_the_quantile_function_increasing(kind, severity):
    # Order statistics map through Q only if Q increases; a median regression is capped to keep it so.
    assert np.all(np.diff(quantile_ms(LAT, P, kind, severity)) > 0)


def test_queueing_is_flat_until_the_resource_fills():
    u = np.array([0.1, 0.3, 0.5, 0.8, 0.95])
    f = queueing_factor(u, 0.3, 8)
    assert f[1] == pytest.approx(1.0)
    assert f[0] < 1.001 and f[2] < 1.02  # parallel workers: little waiting at half load
    assert f[3] > 1.5 and f[4] > 10
    assert np.all(np.diff(f) > 0)


def test_load_beyond_capacity_is_shed():
    assert shed_probability(np.array([0.5, 1.0, 2.0])).tolist() == [0.0, 0.0, 0.5]


def test_share_slower_is_kept_by_every_number_it_reads():
    # The bisection's answers are kept by the numbers they read: each must be the one worked out
    # afresh, and configs that differ in any one of them must not share an answer.
    lats = [Latency(p50_ms=40.0, p99_ms=250.0), Latency(p50_ms=40.0, p99_ms=400.0), Latency(p50_ms=60.0)]
    seen = set()
    for lat in lats:
        for limit in (300.0, 500.0):
            for kind, severity in (
                (fleet.PROFILE_NONE, 1.0),
                (fleet.PROFILE_SHIFT, 2.0),
                (fleet.PROFILE_SHIFT, 3.0),
            ):
                for _ in range(2):
                    got = share_slower(lat, limit, kind, severity)
                    assert got == _share_slower.__wrapped__(lat.p50_ms, lat.sigma, limit, kind, severity)
                seen.add(got)
    assert len(seen) == len(lats) * 2 * 3


def _share_slower_in_full(p50_ms: float, sigma: float, limit_ms: float, kind: int, severity: float) -> float:
    """The bisection as it ran before: all hundred steps, whether or not the bracket still moved."""
    target = math.log(limit_ms / p50_ms)
    lo, hi = -40.0, 40.0
    for _ in range(100):
        z = 0.5 * (lo + hi)
        lo, hi = (z, hi) if sigma * z + _log_profile_at(z, kind, severity, sigma) < target else (lo, z)
    return float(ndtr(-0.5 * (lo + hi)))


@settings(max_examples=400, deadline=None)
@given(
    p50=st.floats(1.0, 500.0),
    sigma=st.floats(0.01, 3.0),
    limit=st.one_of(st.floats(0.5, 50_000.0), st.sampled_from([40.0, 250.0, 1e-3, 1e9])),
    kind=st.sampled_from([fleet.PROFILE_NONE, fleet.PROFILE_SHIFT, fleet.PROFILE_TAIL, fleet.PROFILE_BODY]),
    severity=st.floats(1.0, 100.0),
)
def test_the_bisection_stopped_once_it_holds_still_is_the_full_one(
    p50: float, sigma: float, limit: float, kind: int, severity: float
) -> None:
    # It stops when a step leaves the bracket where it was: every later step would too.
    assert _share_slower.__wrapped__(p50, sigma, limit, kind, severity) == _share_slower_in_full(
        p50, sigma, limit, kind, severity
    )
