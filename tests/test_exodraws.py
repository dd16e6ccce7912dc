"""A deploy's exogenous draws, streams and row with less overhead: each held to the plain computation."""

from __future__ import annotations

import math
from pathlib import Path
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


STARTS = st.one_of(
    st.floats(0.0, 24.0, exclude_max=True),
    st.sampled_from([0.0, 1e-300, 23.0, 24.0 - 1e-12, 24.0 - 2**-48, 12.0]),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(STARTS, min_size=1, max_size=5),
    st.integers(1, 3000),
    st.sampled_from([1.0, 10.0, 60.0, 300.0, 3600.0, 7200.0, 86400.0 / 7]),
    st.floats(0.0, 1.0),
    st.floats(0.0, 24.0),
    st.floats(0.1, 1e4),
)
@example([23.0], 40, 7200.0, 0.5, 17.3, 100.0)  # windows whose mid-times fall on midnights exactly
@example([3.0, 23.0], 40, 7200.0, 0.5, 17.3, 100.0)  # and the same in a block's second row
def test_the_curve_along_windows_is_the_daily_curve_bit_for_bit(starts, n, window_s, amplitude, peak, rate):
    """Windows' mid-times from a second to 400 days past midnight (a week's coarse follow-up
    wraps many times), start hours on and next to midnight, one deploy's or a block's (a row
    each): every number the same, bit for bit."""
    cfg: Any = SimpleNamespace(rate_rps=rate, diurnal=SimpleNamespace(amplitude=amplitude, peak_hour=peak))
    _, t_hours = _window_mids(n, window_s)
    block = exogenous._curves_along(cfg, np.array(starts), t_hours)
    assert block is not None
    for row, start in zip(block, starts, strict=True):
        want = _daily_curve(cfg, start, t_hours)
        assert _curve_along(cfg, start, t_hours).tobytes() == want.tobytes()
        assert row.tobytes() == want.tobytes()


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


def _drawn(scn: Any, seed: int, deploy: int) -> exogenous.Exogenous | Exception:
    try:
        return draw_exogenous(scn, seed, deploy)
    except Exception as err:
        return err


def _same_draws(got: exogenous.Exogenous | Exception, want: exogenous.Exogenous | Exception) -> bool:
    if isinstance(want, Exception):
        return type(got) is type(want) and str(got) == str(want)
    assert isinstance(got, exogenous.Exogenous)
    t, u = got.traffic, want.traffic
    return (
        (got.release, got.episodes, got.seed, got.deploy)
        == (want.release, want.episodes, want.seed, want.deploy)
        and (t.window_s, t.start_hour, t.surges) == (u.window_s, u.start_hour, u.surges)
        and (t.counts.dtype, t.counts.shape, t.user_rate.shape)
        == (u.counts.dtype, u.counts.shape, u.user_rate.shape)
        and t.counts.tobytes() == u.counts.tobytes()
        and t.user_rate.tobytes() == u.user_rate.tobytes()
    )


@pytest.mark.parametrize("name", [p.stem for p in sorted(Path("scenarios").glob("*.yaml"))])
def test_a_blocks_draws_are_each_deploys_own(name):
    """`draw_exogenous_many` against `draw_exogenous` deploy by deploy, for every shipped scenario
    and with many surges (a deploy's curve then multiplied apart), over a range that starts and
    ends inside a block: every field, bit for bit."""
    base = sim.load_scenario(name)
    for scn in (base, sim.load_scenario(base, overrides=["traffic.surges.per_day=30"])):
        deploys = range(40, 170)
        got = exogenous.draw_exogenous_many(scn, 3, deploys)
        want = [draw_exogenous(scn, 3, i) for i in deploys]
        assert len(got) == len(want)
        assert all(_same_draws(g, w) for g, w in zip(got, want, strict=True))


def test_a_blocks_failing_draws_are_each_deploys_own(monkeypatch):
    """A draw that fails for some deploys fails for the same ones, with the same error, whether it
    comes before the block's curves (the block is then drawn deploy by deploy) or after them."""
    scn = sim.load_scenario("default")
    plain_episodes, plain_release = exogenous.draw_episodes, exogenous.draw_release

    def episodes(cfg: Any, horizon_s: float, rng_: np.random.Generator) -> Any:
        if rng_.random() < 0.3:
            raise ValueError(f"noise {rng_.random()}")
        return plain_episodes(cfg, horizon_s, rng_)

    def release(cfg: Any, names: Any, rng_: np.random.Generator) -> Any:
        out = plain_release(cfg, names, rng_)
        if out.smoke_u < 0.2:
            raise ValueError(f"release {out.shadow_u}")
        return out

    for name, patched in (("draw_episodes", episodes), ("draw_release", release)):
        with monkeypatch.context() as m:
            m.setattr(exogenous, name, patched)
            got = exogenous.draw_exogenous_many(scn, 9, range(0, 128))
            want = [_drawn(scn, 9, i) for i in range(0, 128)]
        assert 10 < sum(isinstance(w, Exception) for w in want) < 110
        assert all(_same_draws(g, w) for g, w in zip(got, want, strict=True))
