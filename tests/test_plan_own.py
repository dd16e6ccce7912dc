"""A plan's cut and the states a deploy meets along it, with less work (`sim.engine.arrays.plan`): the
cut laid out in a few array calls (`_laid_out`) gives the tape's pieces number for number, and the
states a noisy deploy meets (`_met`, through `segments_along` and `windows_cut`), worked out from where
each window begins with the plan's own states taken where no episode is under way, are those worked
out instant by instant from the run's start (the way before, kept here), for many deploys of every
shipped scenario's plans."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.config.scenario import shipped_scenarios
from sim.engine.arrays import plan as plan_module
from sim.engine.arrays.plan import Pieces, Plan, make_plan, personal, plannable, segments_along, windows_cut
from sim.engine.exogenous import Episode, Exogenous, draw_exogenous, exogenous_streams
from sim.engine.routing import RoutingFixed, RoutingState, route
from sim.engine.serving import Snapshot
from sim.engine.tape import pieces, same_state
from sim.engine.world import background, noise_changes

from .test_pieces import WINDOWS, drawn_starts


def _met_before(
    states: list[tuple[float, RoutingState]],
    noise: list[tuple[float, tuple[Episode, ...]]],
    times: list[float],
    fixed: tuple[RoutingFixed, float],
    **_: Any,
) -> list[tuple[float, Snapshot]]:
    """`_met` as it was: every instant's state and episodes found from the run's start, every one routed."""
    routing, base_error = fixed
    out: list[tuple[float, Snapshot]] = []
    i = n = 0
    active: tuple[Episode, ...] = ()
    for t in times:
        while i + 1 < len(states) and states[i + 1][0] <= t:
            i += 1
        while n < len(noise) and noise[n][0] <= t:
            active = noise[n][1]
            n += 1
        out.append((t, route(routing, states[i][1], background(active, base_error)).snapshot))
    return out


def _same_cut(got: Pieces, want: Pieces) -> None:
    assert len(got.snaps) == len(want.snaps)
    assert all(same_state(a, b) for a, b in zip(got.snaps, want.snaps, strict=True))
    for f in ("which", "k", "start", "dt"):
        a, b = getattr(got, f), getattr(want, f)
        assert a.dtype == b.dtype, f
        np.testing.assert_array_equal(a, b, err_msg=f)
        assert np.array_equal(np.signbit(a), np.signbit(b)), f
    assert got.shared == want.shared


def _tape_cut(segs: list[tuple[float, Any]], end: float, W: float) -> Pieces:
    snaps, k, start, stop, which, shared = pieces(segs, 0.0, end, W)
    return Pieces(snaps, which, k, start, stop - start, shared)


@st.composite
def plans_laid(draw: st.DrawFn) -> tuple[list[tuple[float, Any]], float, float]:
    """From two states to many, from t = 0: changes on window edges, a rounding error off them,
    inside windows and a sliver apart; the cut ending anywhere past the first change."""
    W = draw(st.sampled_from(WINDOWS))
    starts = drawn_starts(draw, W, draw(st.integers(1, 30)), ("edge", "near", "inside", "inside", "sliver"))
    last = starts[-1]
    end = draw(st.sampled_from([last + 20 * W, last + W / 3, round(last / W + 7) * W, starts[1] + W]))
    return [(s, object()) for s in starts], float(end), W


@settings(max_examples=500, deadline=None)
@given(plans_laid())
def test_a_cut_laid_out_is_the_tapes(layout):
    segs, end, W = layout
    got = plan_module.pieces_of(segs, end, W)
    want = _tape_cut(segs, end, W)
    assert [id(s) for s in got.snaps] == [id(s) for s in want.snaps]
    _same_cut(got, want)


def _covered(scn: sim.Scenario, n: int, seed: int = 5) -> list[tuple[int, Exogenous]]:
    out = []
    for i, rngs in zip(range(n), exogenous_streams(seed, range(n)), strict=True):
        exo = draw_exogenous(scn, seed, i, rngs)
        out.append((i, exo))
    return out


PLANNED = [
    (name, strategy)
    for name in shipped_scenarios()
    for strategy in sim.load_scenario(name).strategies
    if plannable(sim.load_scenario(name), strategy)
]


def _plans(
    scn: sim.Scenario, strategy: str, deploys: list[tuple[int, Exogenous]]
) -> list[tuple[Plan, Exogenous]]:
    """Each good release's plan: its own where a person sets the pace, else the one for all."""
    good = [(i, exo) for i, exo in deploys if not exo.release.bad]
    if not good:
        return []
    if personal(scn, strategy):
        made = [(make_plan(scn, strategy, exo, 5, i, own=True), exo) for i, exo in good]
        return [(p, exo) for p, exo in made if p is not None]
    shared = make_plan(scn, strategy, good[0][1], 5)
    return [] if shared is None else [(shared, exo) for _, exo in good]


@pytest.mark.parametrize(("scenario", "strategy"), PLANNED)
def test_shipped_plans_are_cut_and_met_as_before(scenario: str, strategy: str, monkeypatch) -> None:
    """Every shipped plan's cut (to its lean stretch and to the end), and its noisy deploys' states
    and cut windows, as the tape cuts them and as `_met` worked them out before, field by field."""
    scn = sim.load_scenario(scenario)
    deploys = _covered(scn, 48)
    W = scn.run.window_s
    laid = met = 0
    for plan, exo in _plans(scn, strategy, deploys):
        for end in {plan.end, plan.end if plan.tail is None else plan.tail * W}:
            laid += plan_module._laid_out(plan.segments, end, W) is not None
            _same_cut(plan_module.pieces_of(plan.segments, end, W), _tape_cut(plan.segments, end, W))
        if not exo.episodes:
            continue
        changes = noise_changes(exo.episodes)
        # Every window a change of the plan's or of an episode's falls in, and the ones either side.
        ks = sorted(
            {
                k + d
                for t in [*(t for t, _ in plan.states), *(t for t, _ in changes)]
                for d in (-1, 0, 1)
                if 0 <= (k := math.floor(t / W)) + d < round(plan.end / W)
            }
        )
        got_segs, got_cut = plan.segments_of(exo), windows_cut(plan, changes, ks, W)
        bad = exo.release.bad
        with monkeypatch.context() as m:
            m.setattr(plan_module, "_met", _met_before)
            want_segs = segments_along(plan.states, exo, plan.run, plan.end)
            want_cut = None if bad else windows_cut(plan, changes, ks, W)
        assert [t for t, _ in got_segs] == [t for t, _ in want_segs]
        assert all(same_state(a, b) for (_, a), (_, b) in zip(got_segs, want_segs, strict=True))
        if want_cut is not None:
            _same_cut(got_cut, want_cut)
        met += 1
    assert laid > 0
    assert met > 0 or not any(exo.episodes for _, exo in deploys)


def test_bad_releases_with_noisy_neighbours_are_met_as_before(monkeypatch) -> None:
    """A bad release's states (its fault armed) never take the plan's own: the same as before."""
    scn = sim.load_scenario("noisy-cluster")
    plan = make_plan(scn, "canary_fixed", next(e for _, e in _covered(scn, 16) if not e.release.bad), 5)
    assert plan is not None
    checked = 0
    for _, exo in _covered(scn, 96):
        if not (exo.release.bad and exo.episodes):
            continue
        got = plan.segments_of(exo)
        with monkeypatch.context() as m:
            m.setattr(plan_module, "_met", _met_before)
            want = plan.segments_of(exo)
        assert [t for t, _ in got] == [t for t, _ in want]
        assert all(same_state(a, b) for (_, a), (_, b) in zip(got, want, strict=True))
        checked += 1
    assert checked >= 5


def test_the_plans_own_states_are_taken_only_where_no_episode_is_under_way() -> None:
    """`_met` with the run's states: taken as they are with no episode under way, routed under the
    episodes otherwise (a made-up marker stands in for the run's own, to see which is which)."""
    scn = sim.load_scenario("default")
    deploys = _covered(scn, 64)
    plan = make_plan(scn, "recreate", next(e for _, e in deploys if not e.release.bad), 5)
    assert plan is not None
    marked = [(t, object()) for t, _ in plan.segments]
    routing, base = plan.routing, plan.base_error
    for _, exo in deploys:
        if not exo.episodes:
            continue
        noise = noise_changes(exo.episodes)
        times = sorted({t for t, _ in plan.states} | {t for t, _ in noise})
        got = plan_module._met(plan.states, noise, times, (routing, base), quiet=marked)
        for t, snap in got:
            under = [a for s, a in noise if s <= t]
            if under and under[-1]:
                assert snap not in [x for _, x in marked], t
            else:
                i = max(j for j, (s, _) in enumerate(plan.states) if s <= t)
                assert snap is marked[i][1], t
        return
    pytest.fail("no deploy met a noisy neighbour")


def test_the_run_s_states_are_taken_only_when_they_line_up() -> None:
    scn = sim.load_scenario("default")
    plan = make_plan(scn, "canary", next(e for _, e in _covered(scn, 8) if not e.release.bad), 5, 1, own=True)
    assert plan is not None
    assert plan_module._aligned(plan.states, plan.segments) is plan.segments
    assert plan_module._aligned(plan.states, plan.segments[:-1]) is None
    assert plan_module._aligned(plan.states, None) is None
