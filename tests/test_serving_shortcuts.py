"""Serving's shortcuts give what the plain computation gives, bit for bit: a state's flags for factors
of one and for traffic all on one slot (`Snapshot.cap_all`, `noise_one`, `all_new`, `none_new`), and
counts summed column after column (`serving._sum_columns`) instead of reduced over a short last axis.
The reference is `serve` itself with every flag off and every such sum a `np.add.reduce`: over
made-up states (Hypothesis) and over every stretch the shipped scenarios' deploys serve."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine import serving, tape
from sim.engine.arrays import serve as block_serve
from sim.engine.rows import simulate_deploys
from sim.engine.serving import Served, ServingFixed, Snapshot, Stretch

S = 3  # user segments
FLAGS = ("cap_all", "noise_one", "all_new", "none_new")


def _reduced(x: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    return np.add.reduce(x[..., :n], axis=-1, out=out)


def _unflagged(snap: Snapshot) -> Snapshot:
    """The same state with every shortcut's flag off: serving multiplies and splits in full."""
    plain = copy.copy(snap)
    for name in FLAGS:
        object.__setattr__(plain, name, False)
    return plain


@contextmanager
def _no_shortcuts() -> Iterator[None]:
    """`serving` summing with `np.add.reduce`, as it did before `_sum_columns`."""
    kept = serving._sum_columns
    serving._sum_columns = _reduced
    try:
        yield
    finally:
        serving._sum_columns = kept


def _reference(
    serve: Callable[..., Served | None], state: dict[str, Any], stretch: Stretch, fixed: ServingFixed
) -> tuple[Served | None, dict[str, Any]]:
    """What `serve` gives with no shortcut, from a generator in `state`, and where it leaves it."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    with _no_shortcuts():
        got = serve(rng, stretch._replace(snaps=[_unflagged(s) for s in stretch.snaps]), fixed)
    return got, rng.bit_generator.state


def _differences(got: Served | None, want: Served | None) -> list[str]:
    """Fields that differ: values, dtypes, shapes and the signs of zeros, each exactly."""
    if got is None or want is None:
        return [] if got is want else ["None"]
    out = []
    for name in Served.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            x, y = np.asarray(a), np.asarray(b)
            floats = x.dtype.kind == "f"
            same = x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=floats)
            if same and floats:
                same = np.array_equal(np.signbit(x), np.signbit(y))  # -0.0 and 0.0 apart
            if not same:
                out.append(name)
        elif type(a) is not type(b) or not (a == b or (a != a and b != b)):
            out.append(name)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6),
    st.lists(st.integers(0, 40), min_size=1, max_size=60),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_columns_summed_one_after_another_are_the_reduce(n, values, with_out, seed):
    rng = np.random.default_rng(seed)
    rows = len(values)
    x = rng.integers(-(2**40), 2**40, (rows, n + 1)) * np.array(values)[:, None]
    for arr in (x, x.reshape(1, rows, n + 1), x[::-1]):
        want = np.add.reduce(arr[..., :n], axis=-1)
        out = np.full(want.shape, 7, np.int64) if with_out else None
        got = serving._sum_columns(arr, n, out)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert out is None or got is out


VALUES = (0.0, -0.0, 1e-12, 0.3, 0.5, 1.0 - 2**-53, 1.0, 1.0 + 2**-52, 1.7, math.nan)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(VALUES), min_size=S + 1, max_size=S + 1),
    st.lists(st.sampled_from(VALUES), min_size=2, max_size=2),
    st.lists(st.sampled_from(VALUES), min_size=2, max_size=2),
)
def test_a_states_flags_are_what_its_arrays_say(share, cap, noise):
    snap = _state(share, cap, noise, fault=(0.0, 0.0))
    assert snap.cap_all == bool((snap.cap > 0).all())
    assert snap.noise_one == bool((snap.noise_lat == 1.0).all())
    assert snap.all_new == bool((snap.share >= 1).all())
    assert snap.none_new == bool((snap.share <= 0).all())


def _state(
    share: list[float],
    cap: list[float],
    noise: list[float],
    *,
    fault: tuple[float, float],
    down: bool = False,
    p_bg: tuple[float, float] = (0.01, 0.002),
) -> Snapshot:
    return Snapshot(
        down=down,
        share=np.array(share),
        cap=np.array(cap),
        noise_lat=np.array(noise),
        p_bg=np.array(p_bg),
        fault=np.array(fault),
        p_schema=np.zeros(2),
        shared=False,
        leak_from=math.nan,
    )


SHARES = (0.0, 1.0, 0.05, 0.5)
CAPS = ((500.0, 500.0), (0.0, 300.0), (300.0, 0.0), (2.0, 2.0))  # a slot with none; an overloaded fleet
NOISE = ((1.0, 1.0), (1.0, 1.7), (2.5, 1.0))
FAULTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))


@st.composite
def stretches(draw: st.DrawFn) -> tuple[Stretch, ServingFixed]:
    """States for every path of `serve`: a fault in either slot or both, nobody up, uneven shares,
    all or none of the traffic on the new slot, a slot without capacity (that still gets requests),
    an overloaded fleet, noisy neighbours on either slot; one state or several over the pieces."""
    states = []
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        # Each column (user segments, then synthetic) one of two shares: even, or uneven mixes such
        # as some columns whole on the new slot and some split.
        pair = (draw(st.sampled_from(SHARES)), draw(st.sampled_from(SHARES)))
        share = [pair[draw(st.integers(0, 1))] for _ in range(S + 1)]
        states.append(
            _state(
                share,
                list(draw(st.sampled_from(CAPS))),
                list(draw(st.sampled_from(NOISE))),
                fault=draw(st.sampled_from(FAULTS)),
                down=draw(st.integers(0, 5)) == 0,
                p_bg=draw(st.sampled_from([(0.0, 0.0), (0.01, 0.002)])),
            )
        )
    m = draw(st.integers(1, 40))
    which = np.array(draw(st.lists(st.integers(0, len(states) - 1), min_size=m, max_size=m)))
    dt = np.array(draw(st.lists(st.sampled_from([10.0, 3.5, 0.0]), min_size=m, max_size=m)))
    k = np.arange(m)
    seed = draw(st.integers(0, 2**32 - 1))
    taken = np.random.default_rng(seed).poisson(draw(st.sampled_from([0.5, 40.0, 3000.0])), (m, S + 1))
    fault_p = np.array(draw(st.sampled_from([(0.0, 0.0, 0.0), (0.2, 0.0, 0.05)])))
    fixed = ServingFixed(fault_p, np.array([1, 0, 1]), 0.0, draw(st.booleans()), 0.6, 4)
    return Stretch(states, which, k, k * 10.0, dt, taken), fixed


@settings(max_examples=400, deadline=None)
@given(stretches(), st.integers(0, 2**32 - 1))
def test_serve_gives_what_it_gives_without_its_shortcuts(case, seed):
    stretch, fixed = case
    rng = np.random.Generator(np.random.PCG64(seed))
    state = rng.bit_generator.state
    got = serving.serve(rng, stretch, fixed)
    want, left = _reference(serving.serve, state, stretch, fixed)
    assert _differences(got, want) == []
    assert rng.bit_generator.state == left


#: Shipped scenarios whose deploys meet every serving path: faults, downtime, leaks, schema changes,
#: a flag ramp's shared fleet, shadow traffic, session affinity, noisy neighbours.
SCENARIOS = [
    "default",
    "flagged-release",
    "noisy-cluster",
    "payments",
    "schema-rename-breaking",
    "session-affinity",
    "tail-latency",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_stretch_a_shipped_scenario_serves_is_served_as_without_shortcuts(scenario, monkeypatch):
    """Both engines' calls: the event engine's tape and the array engine's blocks (`serve`,
    `serve_plain_block`), each replayed from the generator's state without shortcuts."""
    scn = sim.load_scenario(scenario, overrides=["releases.bad_probability=0.5"])
    seen: dict[str, int] = {}
    bad: list[tuple[str, list[str]]] = []

    def checked(where: str, serve: Callable[..., Served | None]) -> Callable[..., Served | None]:
        def call(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served | None:
            state = rng.bit_generator.state
            # The reference first, on copies: the tape goes on to change its requests in place.
            frozen = stretch._replace(taken=stretch.taken.copy())
            want, left = _reference(serve, state, frozen, fixed)
            got = serve(rng, stretch, fixed)
            seen[where] = seen.get(where, 0) + 1
            wrong = _differences(got, want) + (["stream"] if rng.bit_generator.state != left else [])
            if wrong:
                bad.append((where, wrong))
            return got

        return call

    monkeypatch.setattr(tape, "serve", checked("tape", serving.serve))
    monkeypatch.setattr(block_serve, "serve", checked("block", serving.serve))
    monkeypatch.setattr(block_serve, "serve_plain_block", checked("plain block", serving.serve_plain_block))
    simulate_deploys(scn, list(scn.strategies), 5, 0, 48)
    assert bad == []
    assert seen.get("tape", 0) > 20 and seen.get("plain block", 0) + seen.get("block", 0) > 0
