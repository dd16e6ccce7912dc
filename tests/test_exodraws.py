"""A deploy's exogenous draws, streams and row with less overhead: each held to the plain computation."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sim
from sim.core import rng
from sim.engine import exogenous
from sim.engine.exogenous import _curve_along, _daily_curve, _window_mids, draw_exogenous

SCENARIOS = ["default", "high-frequency", "nightly-batch", "payments", "noisy-cluster", "dora-low"]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.floats(0.0, 24.0, exclude_max=True),
        st.sampled_from([0.0, 1e-300, 23.0, 24.0 - 1e-12, 24.0 - 2**-48, 12.0]),
    ),
    st.integers(1, 3000),
    st.sampled_from([1.0, 10.0, 60.0, 300.0, 3600.0, 7200.0, 86400.0 / 7]),
    st.floats(0.0, 1.0),
    st.floats(0.0, 24.0),
    st.floats(0.1, 1e4),
)
@example(23.0, 40, 7200.0, 0.5, 17.3, 100.0)  # windows whose mid-times fall on midnights exactly
def test_the_curve_along_windows_is_the_daily_curve_bit_for_bit(start, n, window_s, amplitude, peak, rate):
    """Windows' mid-times from one to thousands of days past midnight (a week's coarse follow-up
    wraps many times), start hours on and next to midnight: every number the same, bit for bit."""
    cfg: Any = SimpleNamespace(rate_rps=rate, diurnal=SimpleNamespace(amplitude=amplitude, peak_hour=peak))
    _, t_hours = _window_mids(n, window_s)
    want = _daily_curve(cfg, start, t_hours)
    got = _curve_along(cfg, start, t_hours)
    assert got.tobytes() == want.tobytes()


def test_the_curve_along_windows_falls_back_where_numpy_decides():
    cfg = sim.load_scenario("default").traffic
    _, t_hours = _window_mids(50, 3600.0)
    for start in (-3.5, math.nan, -0.0):
        want = _daily_curve(cfg, start, t_hours)
        assert np.array_equal(_curve_along(cfg, start, t_hours), want, equal_nan=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_deploys_traffic_is_what_the_plain_curve_draws(name, monkeypatch):
    """Every shipped scenario's traffic, the margin's and the follow-up's (days of coarse windows),
    over many deploys, against the same draws made with `_daily_curve`."""
    scn = sim.load_scenario(name)
    got = [draw_exogenous(scn, 5, i) for i in range(48)]
    later = [(e.margin(scn), e.follow(scn)[0]) for e in got[:12]]
    monkeypatch.setattr(exogenous, "_curve_along", _daily_curve)
    want = [draw_exogenous(scn, 5, i) for i in range(48)]
    for g, w in zip(got, want, strict=True):
        assert g.traffic.counts.tobytes() == w.traffic.counts.tobytes()
        assert g.traffic.user_rate.tobytes() == w.traffic.user_rate.tobytes()
    for (gm, gf), e in zip(later, want[:12], strict=True):
        wm, wf = e.margin(scn), e.follow(scn)[0]
        assert gm.user_rate.tobytes() == wm.user_rate.tobytes() and gm.counts.tobytes() == wm.counts.tobytes()
        assert gf.user_rate.tobytes() == wf.user_rate.tobytes() and gf.counts.tobytes() == wf.counts.tobytes()


def _numpys(seed: int, deploy: int, which: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(deploy, which))))


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**140)),
    st.one_of(st.integers(0, 300), st.integers(2**32 - 70, 2**32 + 70), st.integers(0, 2**40)),
    st.integers(0, 15),
)
def test_a_stream_from_its_bands_words_is_numpys_child(seed, deploy, which):
    """`stream` of every kind (a deploy's own, hashed a band at a time; the block's, built alone),
    next to band edges and past one word: numpy's child, state for state and in what it spawns."""
    got, want = rng.stream(seed, deploy, which), _numpys(seed, deploy, which)
    assert got.bit_generator.state == want.bit_generator.state
    assert [g.random() for g in got.spawn(2)] == [w.random() for w in want.spawn(2)]
    assert got.spawn(1)[0].random() == want.spawn(1)[0].random()  # spawning goes on counting
    assert got.random(3).tolist() == want.random(3).tolist()


def test_every_deploy_of_a_band_and_every_stream_has_its_own_words():
    for deploy in [*range(130), 2**32 - 1]:
        for which in rng._BANDED:
            got = rng.stream(11, deploy, which).bit_generator.state
            assert got == _numpys(11, deploy, which).bit_generator.state
    assert rng.lazy(11, 70, rng.METRICS).beta(1, 5) == _numpys(11, 70, rng.METRICS).beta(1, 5)
