"""The tape's cut of a stretch into pieces: the array form for many states gives the state-by-state
loop's pieces exactly (a plan's run has dozens of states; the loop stays the reference)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.engine import tape
from sim.engine.tape import _pieces_loop, pieces

WINDOWS = (0.1, 1.0, 10.0)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[tuple[float, object]], float, float, float]:
    """States starting at window edges, a rounding error off them, inside windows and a sliver
    apart; a stretch that starts and ends anywhere among them."""
    W = draw(st.sampled_from(WINDOWS))
    n = draw(st.integers(tape._MANY_STATES, 40))
    t, starts = 0.0, [0.0]
    for _ in range(n - 1):
        kind = draw(st.sampled_from(["edge", "near", "inside", "sliver"]))
        if kind == "edge":
            t = (np.floor(t / W) + draw(st.integers(1, 30))) * W
        elif kind == "near":
            off = draw(st.sampled_from([-1e-10, 1e-10, 3e-9]))
            t = (np.floor(t / W) + draw(st.integers(1, 30))) * W + off
        elif kind == "inside":
            t += draw(st.floats(0.01, 30.0)) * W
        else:
            t += draw(st.sampled_from([1e-12, 5e-10, 2e-9, 1e-6]))
        starts.append(float(t))
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
