"""Rows under one state served by `serve`'s shortcuts — a few number by number (`serving._serve_few`),
any number with nobody up worked out (`_serve_down`) — give what its array paths give, bit for bit,
and leave the stream where those leave it: over made-up stretches (Hypothesis) and over every
stretch the shipped scenarios' deploys serve."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine import serving, tape
from sim.engine.arrays import serve as block_serve
from sim.engine.rows import simulate_deploys
from sim.engine.serving import Served, ServingFixed, Stretch

from .test_serving_shortcuts import SCENARIOS, _differences, _state, stretches


def _by_arrays(state: dict[str, Any], stretch: Stretch, fixed: ServingFixed) -> tuple[Served, dict[str, Any]]:
    """What `serve` gives without its shortcuts for one state, from a generator in `state`, and where
    it leaves it."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    kept = serving._serve_one
    serving._serve_one = lambda *_: None
    try:
        got = serving.serve(rng, stretch, fixed)
    finally:
        serving._serve_one = kept
    return got, rng.bit_generator.state


def _shortcut(stretch: Stretch) -> str | None:
    """Which shortcut `serve` takes the stretch by, if any (a test none is met in could not fail)."""
    snap = stretch.snaps[0]
    if len(stretch.snaps) > 1 or snap.few is None:
        return None
    return "down" if snap.down else "few" if len(stretch.k) <= serving.FEW_ROWS else None


def _assert_served_as_by_arrays(stretch: Stretch, fixed: ServingFixed, seed: int) -> None:
    """`serve` (shortcuts allowed) gives every field `_by_arrays` does and leaves the stream as it does."""
    rng = np.random.Generator(np.random.PCG64(seed))
    state = rng.bit_generator.state
    got = serving.serve(rng, stretch, fixed)
    want, left = _by_arrays(state, stretch, fixed)
    assert _differences(got, want) == []
    assert rng.bit_generator.state == left


@settings(max_examples=600, deadline=None)
@given(stretches(), st.integers(1, 40), st.booleans(), st.integers(0, 2**32 - 1))
def test_rows_under_one_state_are_served_as_the_arrays_serve_them(case, m, few, seed):
    full, fixed = case
    m = min(m, serving.FEW_ROWS) if few else m
    # The case's first state over its first m rows (the shortcuts' case).
    stretch = Stretch(
        full.snaps[:1], full.which[:m] * 0, full.k[:m], full.start[:m], full.dt[:m], full.taken[:m]
    )
    _assert_served_as_by_arrays(stretch, fixed, seed)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=2, max_size=2),
    st.sampled_from([0.9, 1.0, 1.0 + 2**-52, 1.01, 1.3, 1.6]),
    st.integers(1, serving.FEW_ROWS),
    st.integers(0, 2**32 - 1),
)
def test_a_fleet_near_its_capacity_sheds_as_the_arrays_shed(fault, load, m, seed):
    """Loads either side of a slot's capacity (1.0 of utilisation: the sheds' draws begin past it)."""
    rows = np.random.default_rng(seed).multinomial(1000, [0.3, 0.3, 0.3, 0.1], m)
    users = rows[:, :3].sum(1)  # all on one slot at share 0 or 1, so a slot's load is its rows'
    dt = np.full(m, 10.0)
    cap = float((rows.sum(1) / dt).max() / load)
    snap = _state([0.0] * 4, [cap, cap], [1.0, 1.0], fault=(float(fault[0]), 0.0))
    fixed = ServingFixed(np.array([0.2, 0.0, 0.05]), np.array([1, 0, 1]), 0.0, True, 0.6, 4)
    stretch = Stretch([snap], np.zeros(m, np.int64), np.arange(m), np.arange(m) * 10.0, dt, rows)
    assert users.all()
    _assert_served_as_by_arrays(stretch, fixed, seed)


#: The scenarios whose deploys (48 of them, half their releases bad) meet a state with nobody up.
WITH_DOWNTIME = ("default", "payments", "schema-rename-breaking")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_short_stretch_of_a_shipped_scenario_is_served_as_the_arrays_serve_it(scenario, monkeypatch):
    """Both engines' calls (the tape's, the array engine's blocks'), each replayed from the
    generator's state with no row served number by number."""
    scn = sim.load_scenario(scenario, overrides=["releases.bad_probability=0.5"])
    taken: list[str | None] = []
    bad: list[list[str]] = []

    def checked(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served:
        state = rng.bit_generator.state
        # The reference first, on a copy: the tape goes on to change its requests in place.
        want, left = _by_arrays(state, stretch._replace(taken=stretch.taken.copy()), fixed)
        got = serving.serve(rng, stretch, fixed)
        taken.append(_shortcut(stretch))
        wrong = _differences(got, want) + (["stream"] if rng.bit_generator.state != left else [])
        if wrong:
            bad.append(wrong)
        return got

    monkeypatch.setattr(tape, "serve", checked)
    monkeypatch.setattr(block_serve, "serve", checked)
    simulate_deploys(scn, list(scn.strategies), 5, 0, 48)
    assert bad == []
    assert len(taken) - taken.count(None) > 10
    assert ("down" in taken) == (scenario in WITH_DOWNTIME)
