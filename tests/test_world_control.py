"""The world's state changes, with less overhead: held to the way they were made before.

`World._route` builds its `RoutingState` from the fields in order (not through the record's
constructor); the frequent changes (a weight, ready replicas, the fault's onset) set their fields
in place rather than through `_change` and a closure; `routing.route` works a state's routing out
once whatever the noisy neighbours' background (`routing._placed`) and puts the background into
the snapshot only; a snapshot's arrays are slices of one; a follow-up's history is carried over by
a weighted bincount. Each is compared here with the way it was made before, over runs of every
shipped scenario and strategy with half their releases bad, or over made-up cases.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.config.scenario import shipped_scenarios
from sim.engine import routing, world
from sim.engine.exogenous import draw_exogenous
from sim.engine.rows import simulate_deploys
from sim.engine.serving import Snapshot
from sim.engine.tape import DeployEnvironment
from tests.same import same

HALF = "releases.bad_probability=0.5"


def _state_as_before(w: world.World) -> routing.RoutingState:
    """The state `_route` built before, through the record's constructor (the cookie's spread left
    out: `Cookies.place` adds it after, and moves the cookie on as it does)."""
    state = routing.RoutingState(
        w.mode,
        w.phase,
        w.flag_share,
        w.weight,
        (w.ready[world.STABLE], w.ready[world.NEW]),
        (w.up[world.STABLE], w.up[world.NEW]),
        w.fault_active,
        w.armed,
        w.schema_broken,
        math.nan,
        w.header,
        mirror=w.mirror,
        load_rps=w.load_rps,
    )
    if w.release.leak_per_s:
        state = state._replace(leak_from=world.leak_from(state, True, w.marks.new_started_at))
    return state


def _snapshot_as_before(plain: routing.Plain) -> Snapshot:
    """A snapshot with an array of its own for each field, as `routing.snapshot` made it before."""

    def frozen(values: tuple[float, ...]) -> np.ndarray:
        arr = np.array(values, float)
        arr.flags.writeable = False
        return arr

    return Snapshot(
        down=plain.down,
        share=frozen(plain.share),
        cap=frozen(plain.cap),
        noise_lat=frozen(plain.noise_lat),
        p_bg=frozen(plain.p_bg),
        fault=frozen(plain.fault),
        p_schema=frozen(plain.p_schema),
        shared=plain.shared,
        leak_from=plain.leak_from,
        users=None if plain.users is None else frozen(plain.users),
        shadow=plain.shadow,
    )


#: Every field of a snapshot, its derived ones and its packed row included.
_SNAPSHOT_FIELDS = [f.name for f in dataclasses.fields(Snapshot)] + ["packed"]


def _check_route(fixed: routing.RoutingFixed, state: routing.RoutingState, bg: routing.Background) -> None:
    """`route`'s answer (kept or not) against the routing worked out afresh with the background in
    the snapshot's numbers, and the snapshot made the old way: field by field, arrays bit for bit."""
    got = routing.route(fixed, state, bg)
    plain, parts = routing._placed.__wrapped__(fixed, state)
    want = _snapshot_as_before(plain._replace(noise_lat=bg.lat, p_bg=bg.p_bg))
    assert plain.noise_lat == (1.0, 1.0) and plain.p_bg == (0.0, 0.0)  # no background of its own
    fields = (got.down, got.seg_share, got.user_share, got.weight, got.reach, got.released, got.shadowed)
    assert [same(a, b) for a, b in zip(fields, parts, strict=True)] == [True] * len(parts)
    snap = got.snapshot
    wrong = [f for f in _SNAPSHOT_FIELDS if not same(getattr(snap, f), getattr(want, f))]
    assert wrong == [], (state, bg)
    arrays = [snap.share, snap.cap, snap.noise_lat, snap.p_bg, snap.fault, snap.p_schema, snap.users]
    assert not any(a.flags.writeable for a in arrays if a is not None)


@pytest.mark.parametrize("name", shipped_scenarios())
def test_states_and_routing_are_those_made_before(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state a world routes in 24 deploys of every strategy (half the releases bad): the one
    the record's constructor builds, and its routing the one worked out afresh."""
    scn = sim.load_scenario(name, overrides=[HALF])
    seen: list[tuple[Any, ...]] = []
    route_of_world = world.route

    def checked(fixed: routing.RoutingFixed, state: routing.RoutingState, bg: routing.Background) -> Any:
        seen.append((fixed, state, bg))
        return route_of_world(fixed, state, bg)

    routed_by: list[world.World] = []
    route_state = world.World._route

    def held(self: world.World) -> None:
        route_state(self)
        got = self._state._replace(cookie=())  # the cookie's spread is `Cookies.place`'s
        want = _state_as_before(self)
        assert [same(a, b) for a, b in zip(got, want, strict=True)] == [True] * len(want), (got, want)
        routed_by.append(self)

    monkeypatch.setattr(world, "route", checked)
    monkeypatch.setattr(world.World, "_route", held)
    simulate_deploys(scn, list(scn.strategies), 13, 0, 24)
    assert len(routed_by) > 100 and len(seen) == len(routed_by)
    # Backgrounds of noisy neighbours met on states met without them: the case the kept routing serves.
    assert len({bg for _, _, bg in seen}) > 1 or not scn.noise.error_rate.bounds()[1]
    for fixed, state, bg in dict.fromkeys(seen):  # each distinct call once
        _check_route(fixed, state, bg)


def test_every_field_of_a_state_is_in_its_place() -> None:
    """Fields no shipped scenario sets (a mirror, a load test, a header route, a flag phase), set
    one by one on a world: its state is the one the record's constructor builds."""
    scn = sim.load_scenario("default", overrides=["releases.bad_probability=1"])
    exo = draw_exogenous(scn, 3, 0)
    env = DeployEnvironment()
    w = world.World(env, scn, exo.traffic, exo.release, np.random.default_rng(0))
    segment = scn.traffic.segments[0].name
    changes: list[Callable[[], None]] = [
        lambda: w.set_replicas(world.NEW, ready=3, instances=3),
        lambda: w.set_weight(0.25),
        lambda: w.set_mirror(30.0, (segment,)),
        lambda: w.set_load_test(12.5),
        lambda: w.set_header_route((segment,)),
        w.activate_fault,
        w.break_schema,
        lambda: w.set_flag(0.4),
        w.end_flag_phase,
        lambda: w.adopt_new(armed=False),
    ]
    for change in changes:
        change()
        got, want = w._state, _state_as_before(w)
        assert [same(a, b) for a, b in zip(got, want, strict=True)] == [True] * len(want), (got, want)
        _check_route(w.routing_fixed, got, w.background)


def _twins(overrides: list[str]) -> tuple[DeployEnvironment, world.World, DeployEnvironment, world.World]:
    scn = sim.load_scenario("default", overrides=overrides)
    exo = draw_exogenous(scn, 3, 1)
    made = []
    for _ in range(2):
        env = DeployEnvironment()
        made.append((env, world.World(env, scn, exo.traffic, exo.release, np.random.default_rng(0))))
    (e1, w1), (e2, w2) = made
    return e1, w1, e2, w2


def _set_replicas_before(w: world.World, version: int, ready: int) -> None:
    """`set_replicas(version, ready=...)` as it was: through `_change` and a closure."""

    def apply() -> None:
        if w.scn.fleet.cold:
            w._ready_changed(version, ready)
        w.ready[version] = ready
        w.up[version] = ready > 0

    w._change(apply)
    w._start_cooling()


@pytest.mark.parametrize(
    "overrides",
    [
        ["releases.bad_probability=1"],
        ["releases.bad_probability=1", "routing.session_affinity=true", "fleet.cold_latency_factor=3"],
    ],
)
def test_changes_in_place_are_those_through_a_closure(overrides: list[str]) -> None:
    """Two worlds over the same traffic, one changed by the in-place setters and one through
    `_change` as before, at the same instants (time passing between, so a cookie route accrues and
    cold replicas cool): the same states, snapshots, marks, cookie spread and cold multipliers."""
    e1, w1, e2, w2 = _twins(overrides)
    N, S = world.NEW, world.STABLE
    script: list[tuple[float, Callable[[world.World], None], Callable[[world.World], None]]] = [
        (0.0, lambda w: w.set_replicas(N, instances=2), lambda w: w.set_replicas(N, instances=2)),
        (70.0, lambda w: w.set_replicas(N, ready=2), lambda w: _set_replicas_before(w, N, 2)),
        (72.0, lambda w: w.set_weight(0.1), lambda w: w._change(lambda: setattr(w, "weight", 0.1))),
        (130.0, lambda w: w.set_weight(0.3), lambda w: w._change(lambda: setattr(w, "weight", 0.3))),
        (500.0, lambda w: w.activate_fault(), lambda w: w._change(lambda: setattr(w, "fault_active", True))),
        (900.0, lambda w: w.set_replicas(N, ready=10), lambda w: _set_replicas_before(w, N, 10)),
        (960.0, lambda w: w.set_weight(1.0), lambda w: w._change(lambda: setattr(w, "weight", 1.0))),
        (1000.0, lambda w: w.set_replicas(S, ready=4), lambda w: _set_replicas_before(w, S, 4)),
        (1100.0, lambda w: w.set_replicas(S, ready=0), lambda w: _set_replicas_before(w, S, 0)),
    ]
    cookies, spread = w1._cookies is not None, False
    for at, now, before in script:
        if at > e1.now:
            e1.run(until=at)
            e2.run(until=at)
        now(w1)
        before(w2)
        assert same(w1._state, w2._state)
        assert w1.tape._segments[-1][1] is w2.tape._segments[-1][1]
        assert w1.marks == w2.marks
        assert (w1.ready, w1.up, w1.ready_at, w1.cold_lat) == (w2.ready, w2.up, w2.ready_at, w2.cold_lat)
        assert (w1._cooling is None) == (w2._cooling is None)
        if cookies:
            c1, c2 = w1._cookies, w2._cookies
            assert c1 is not None and c2 is not None
            assert same(c1.exposure, c2.exposure) and c1.since == c2.since
            spread = spread or bool(c1.exposure.any())
    assert len(w1.tape._segments) == len(w2.tape._segments) >= len(script) - 1
    if cookies:  # the cookie route was in force for a while, and replicas were cold
        assert spread and w1.cold_lat != (1.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda windows: st.tuples(
            st.just(windows),
            st.lists(
                st.tuples(
                    st.integers(0, windows - 1),
                    st.floats(-1e6, 1e6, allow_subnormal=True) | st.sampled_from([0.0, -0.0, 0.1, 1e16]),
                    st.integers(0, 10**6).map(float),
                ),
                max_size=120,
            ),
            st.booleans(),
        )
    )
)
def test_carried_history_is_add_at_into_zeros(case: tuple[int, list[tuple[int, float, float]], bool]) -> None:
    """`carried` against `np.add.at` into zeros, bit for bit (zeros' signs included): the earlier
    phase's windows in order (as `carry_over` maps them) or in any order, any floats."""
    windows, rows, ordered = case
    if ordered:
        rows = sorted(rows, key=lambda r: r[0])
    into = np.array([r[0] for r in rows], dtype=np.int64)
    served = np.array([r[1:] for r in rows], float).reshape(len(rows), 2)
    want = np.zeros((windows, 2))
    np.add.at(want, into, served)
    got = world.carried(served, into, windows)
    assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()
