"""The tape's cut of a stretch into pieces: the array form for many states gives the state-by-state
loop's pieces exactly (a plan's run has dozens of states; the loop stays the reference); and the
array engine's cut of the windows a noisy neighbour's edge falls inside gives the tape's."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import sim
from sim.engine import arrays, tape
from sim.engine.arrays.plan import segments_along
from sim.engine.exogenous import Episode, Exogenous, draw_exogenous
from sim.engine.tape import _pieces_loop, pieces, same_state
from sim.engine.world import noise_changes

WINDOWS = (0.1, 1.0, 10.0)


def drawn_starts(
    draw: st.DrawFn, W: float, changes: int, kinds: tuple[str, ...] = ("edge", "near", "inside", "sliver")
) -> list[float]:
    """States' starts from t = 0, `changes` after the first: on window edges, a rounding error off
    them, inside windows, a sliver apart (`kinds` weights them by repeats)."""
    t, starts = 0.0, [0.0]
    for _ in range(changes):
        kind = draw(st.sampled_from(kinds))
        if kind == "edge":
            t = (math.floor(t / W) + draw(st.integers(1, 30))) * W
        elif kind == "near":
            off = draw(st.sampled_from([-1e-10, 1e-10, 3e-9]))
            t = (math.floor(t / W) + draw(st.integers(1, 30))) * W + off
        elif kind == "inside":
            t += draw(st.floats(0.01, 30.0)) * W
        else:
            t += draw(st.sampled_from([1e-12, 5e-10, 2e-9, 1e-6]))
        starts.append(float(t))
    return starts


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[tuple[float, object]], float, float, float]:
    """States starting at window edges, a rounding error off them, inside windows and a sliver
    apart; a stretch that starts and ends anywhere among them."""
    W = draw(st.sampled_from(WINDOWS))
    n = draw(st.integers(tape._MANY_STATES, 40))
    starts = drawn_starts(draw, W, n - 1)
    segs = [(s, object()) for s in starts]
    span = starts[-1] + 20 * W
    t0 = draw(st.sampled_from([0.0, starts[len(starts) // 3], draw(st.floats(0.0, starts[-1]))]))
    t1 = draw(st.sampled_from([span, starts[-1] + W / 3, max(t0 + W, draw(st.floats(t0, span)))]))
    return segs, float(t0), float(max(t1, t0 + W)), W


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_the_array_form_cuts_as_the_loop_does(layout):
    segs, t0, t1, W = layout
    assume(segs[-1][0] > t0 + tape._EPS)  # (one state in force throughout has a quicker cut of its own)
    got, want = pieces(segs, t0, t1, W), _pieces_loop(segs, t0, t1, W)
    assert [id(s) for s in got[0]] == [id(s) for s in want[0]]
    for a, b in zip(got[1:5], want[1:5], strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert got[5] == want[5]


def test_a_plans_states_take_the_array_form():
    """A plan of dozens of states, cut whole: the array form is the one that runs (the property
    above would pass unexercised if it fell back to the loop every time)."""
    W = 10.0
    segs = [(float(i * 37.3), object()) for i in range(30)]
    calls = []
    loop = tape._pieces_loop
    try:
        tape._pieces_loop = lambda *a: calls.append(a) or loop(*a)  # type: ignore[assignment]
        got = pieces(segs, 0.0, 3600.0, W)
    finally:
        tape._pieces_loop = loop
    assert not calls
    want = loop(segs, 0.0, 3600.0, W)
    np.testing.assert_array_equal(got[1], want[1])
    assert got[5] == want[5] and len(got[5]) > 10  # many state changes fall inside windows


# ---- the windows a noisy neighbour's edge falls inside, cut along a plan (`arrays.windows_cut`) ----


@functools.lru_cache(maxsize=1)
def _plan() -> tuple[arrays.Plan, Exogenous]:
    """The default scenario's progressive rollout's plan for all deploys (dozens of states, several
    inside windows), and a good release's draws."""
    scn = sim.load_scenario("default")
    exo = next(e for e in (draw_exogenous(scn, 5, i) for i in range(20)) if not e.release.bad)
    plan = arrays.make_plan(scn, "progressive", exo, 5)
    assert plan is not None
    return plan, exo


@st.composite
def episodes(draw: st.DrawFn) -> tuple[tuple[Episode, ...], list[int]]:
    """Latency-only episodes beginning and ending at window edges, a rounding error off them, at or
    a sliver off a plan's state changes, or anywhere; and the windows cut: those an edge falls inside
    (as a block chooses them), and a few others (no change inside, or one on an edge)."""
    plan, _ = _plan()
    W, end = plan.window_s, plan.end
    changes = [t for t, _ in plan.states if 0.0 < t < end]

    def instant() -> float:
        kind = draw(st.sampled_from(["edge", "near", "state", "sliver", "anywhere", "before"]))
        if kind in ("edge", "near"):
            off = 0.0 if kind == "edge" else draw(st.sampled_from([-1e-10, 1e-10, 3e-9, -3e-9]))
            return draw(st.integers(1, int(end / W) - 1)) * W + off
        if kind in ("state", "sliver"):
            off = 0.0 if kind == "state" else draw(st.sampled_from([-1e-10, 1e-10, 3e-9, 1e-6]))
            return draw(st.sampled_from(changes)) + off
        if kind == "before":
            return -draw(st.floats(1.0, 600.0))
        return draw(st.floats(0.0, end))

    out = []
    for _ in range(draw(st.integers(1, 4))):
        a, b = sorted((instant(), instant()))
        factor = draw(st.sampled_from([1.5, 2.0, 3.7]))
        target = draw(st.sampled_from(["both", "stable", "new"]))
        out.append(Episode(a, max(b, a + 1e-3), factor, 0.0, target))
    # A time a rounding error short of the plan's end falls, by the tape's rule, in the window past
    # it, which no plan serves (`serve._lay_noise` asks only for windows an edge falls well inside).
    n_windows = math.ceil(end / W - 1e-9)
    at = [math.floor(t / W + 1e-9) for e in out for t in (e.start, e.end) if 0.0 < t < end]
    edges = {k for k in at if k < n_windows}
    extra = draw(st.lists(st.integers(0, int(end / W) - 1), max_size=3))
    return tuple(out), sorted(edges | set(extra))


@settings(max_examples=300, deadline=None)
@given(episodes())
def test_windows_are_cut_as_the_tape_cuts_them(case: tuple[tuple[Episode, ...], list[int]]) -> None:
    """Each window's pieces under a deploy's own states (its plan's, with its noisy neighbours') are
    `tape.pieces`' cut of that window under the state in force at its start and each change inside
    it, number for number: the states in force (alike), and each piece's state, window, start and
    length, and which pieces share a window."""
    eps, ks = case
    assume(ks)
    plan, exo = _plan()
    W = plan.window_s
    got = arrays.windows_cut(plan, noise_changes(eps), ks, W)
    mine = dataclasses.replace(exo, episodes=eps)
    segs = segments_along(plan.states, mine, plan.run, plan.end)
    at, snaps, which, k, start, dt, shared = 0, [], [], [], [], [], []
    for kk in ks:
        t0, t1 = kk * W, (kk + 1) * W
        first = max(i for i, (t, _) in enumerate(segs) if t <= t0)
        within = [segs[first], *((t, x) for t, x in segs if t0 < t < t1)]
        s, k_arr, a, b, w, sh = pieces(within, t0, t1, W)
        which.append(w + len(snaps))
        snaps += s
        shared += [at + i for i in sh]
        at += len(k_arr)
        k.append(k_arr)
        start.append(a)
        dt.append(b - a)
    assert len(got.snaps) == len(snaps)
    assert all(same_state(x, y) for x, y in zip(got.snaps, snaps, strict=True))
    for a, b in zip(
        (got.which, got.k, got.start, got.dt),
        (np.concatenate(which), np.concatenate(k), np.concatenate(start), np.concatenate(dt)),
        strict=True,
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert got.shared == shared


def test_a_window_with_a_change_well_inside_is_laid_out_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual window — an episode's edge well inside it — takes the direct layout (the property
    above would pass unexercised if every window fell back to `tape.pieces`), and a window whose
    change is a rounding error off its edge falls back."""
    plan, _ = _plan()
    W = plan.window_s
    k = int(plan.end / W) - 5  # after the rollout: one state in force, the episode's edge inside
    calls: list[object] = []
    monkeypatch.setattr(arrays.plan, "pieces", lambda *a: calls.append(a) or pieces(*a))
    got = arrays.windows_cut(plan, noise_changes((Episode(k * W + 3.3, 9e9, 2.0, 0.0, "both"),)), [k], W)
    assert not calls
    assert got.shared == [0, 1] and got.start.tolist() == [k * W, k * W + 3.3]
    arrays.windows_cut(plan, noise_changes((Episode(k * W + 1e-10, 9e9, 2.0, 0.0, "both"),)), [k], W)
    assert len(calls) == 1
