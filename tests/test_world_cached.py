"""The world's fixed costs cut: `routing_fixed` and `serving_fixed` kept per scenario and release, the
noisy neighbours' changes of one episode laid out without a sort, and the users' reports scanned
without the whole array where the last row falls clearly short. Each is held to the plain
computation it replaces, value by value, and over the rows of many deploys of shipped scenarios."""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.config.faults import FAULT_KINDS
from sim.config.scenario import shipped_scenarios
from sim.engine import user_reports, world
from sim.engine.exogenous import Episode, Release, draw_exogenous, exogenous_streams
from sim.engine.rows import simulate_deploys
from tests.same import same

HALF = "releases.bad_probability=0.5"


def _releases(scn: sim.Scenario, seed: int, n: int) -> list[Any]:
    drawn = zip(range(n), exogenous_streams(seed, range(n)), strict=True)
    return [draw_exogenous(scn, seed, i, r).release for i, r in drawn]


@pytest.mark.parametrize("name", shipped_scenarios())
def test_kept_fixed_records_are_the_ones_made_afresh(name: str) -> None:
    scn = sim.load_scenario(name, overrides=[HALF])
    releases = _releases(scn, 5, 96)
    assert sum(r.bad for r in releases) > 20 and len({r.severity for r in releases if r.bad}) > 20
    for release in releases:
        for uses_flag in (False, True):
            kept = world.routing_fixed(scn, release, uses_flag)
            made = world.make_routing_fixed(scn, release, uses_flag)
            assert [same(a, b) for a, b in zip(kept, made, strict=True)] == [True] * len(made), release
        kept_s, made_s = world.serving_fixed(scn, release), world.make_serving_fixed(scn, release)
        assert [same(a, b) for a, b in zip(kept_s, made_s, strict=True)] == [True] * len(made_s), release
        assert not kept_s.fault_p.flags.writeable and not kept_s.fault_touch.flags.writeable


def test_kept_fixed_records_tell_apart_every_field_they_read() -> None:
    """Releases made by hand, alike but for one field a record reads (a shipped scenario's segment
    bug always hits one segment, its layers follow its kinds), each get their own; the same release
    asked again gets the very record kept."""
    scn = sim.load_scenario("default")
    base = Release(bad=True, kind="error_rate", severity=0.1, segment=0, layer="binary")
    variants = [base] + [
        dataclasses.replace(base, **change)
        for change in (
            *({"kind": k} for k in FAULT_KINDS),
            *({"kind": "segment_bug", "segment": i} for i in range(len(scn.traffic.shares))),
            {"layer": "flag"},
            {"severity": 0.2},
            {"bad": False},
        )
    ]
    for release in variants:
        for uses_flag in (False, True):
            assert world.routing_fixed(scn, release, uses_flag) == world.make_routing_fixed(
                scn, release, uses_flag
            )
            assert world.routing_fixed(scn, release, uses_flag) is world.routing_fixed(
                scn, release, uses_flag
            )
        kept, made = world.serving_fixed(scn, release), world.make_serving_fixed(scn, release)
        assert [same(a, b) for a, b in zip(kept, made, strict=True)] == [True] * len(made), release
        assert world.serving_fixed(scn, release) is kept


def test_kept_fixed_records_are_the_scenarios_own() -> None:
    """Two scenarios alike but for what routing and serving read get records of their own."""
    a = sim.load_scenario("default")
    b = sim.load_scenario("default", overrides=["fleet.capacity_rps=7", "routing.canary_bias.segments.ios=2"])
    release = _releases(a, 1, 1)[0]
    assert world.routing_fixed(a, release) == world.make_routing_fixed(a, release)
    assert world.routing_fixed(b, release) == world.make_routing_fixed(b, release)
    assert world.routing_fixed(a, release) != world.routing_fixed(b, release)
    assert world.serving_fixed(b, release).ref_util == world.make_serving_fixed(b, release).ref_util
    assert world.serving_fixed(a, release).ref_util != world.serving_fixed(b, release).ref_util


def test_a_scenario_given_a_freed_ones_id_gets_records_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario's id may be a freed one's: the records kept under it are the held scenario's only."""
    a = sim.load_scenario("default")
    b = sim.load_scenario("default", overrides=["fleet.capacity_rps=7"])
    release = _releases(a, 1, 1)[0]
    monkeypatch.setattr(world, "id", lambda obj: 1, raising=False)  # every scenario under one id
    for scn in (a, b, a):
        assert world.routing_fixed(scn, release) == world.make_routing_fixed(scn, release)
        assert world.serving_fixed(scn, release).ref_util == world.make_serving_fixed(scn, release).ref_util


_times = st.floats(-3600.0, 7200.0, allow_nan=False) | st.sampled_from([0.0, -0.0, 10.0, -10.0])


@settings(max_examples=300, deadline=None)
@given(start=_times, length=st.floats(-100.0, 3600.0, allow_nan=False) | st.just(0.0))
def test_one_episodes_changes_are_the_sorted_ones(start: float, length: float) -> None:
    ep = Episode(start, start + length, 2.0, 0.01, "both")
    try:
        sorted_ = world._noise_changes_sorted((ep,))
    except ValueError:  # an episode ending as or before it begins: neither way replays it
        assert ep.end <= ep.start
        with pytest.raises(ValueError):
            world.noise_changes((ep,))
        return
    got = world.noise_changes((ep,))
    assert [(t, a) for t, a in got] == sorted_
    assert [math.copysign(1.0, t) for t, _ in got] == [math.copysign(1.0, t) for t, _ in sorted_]
    assert world.noise_changes(()) == world._noise_changes_sorted(()) == []


_REPORTING = [sim.load_scenario(n) for n in ("default", "payments", "dora-elite")]


@settings(max_examples=400, deadline=None)
@given(
    which=st.integers(0, len(_REPORTING) - 1),
    steps=st.lists(
        st.lists(st.floats(0.0, 5e4) | st.just(0.0), min_size=8, max_size=8), min_size=1, max_size=40
    ),
    off=st.sampled_from([-1e-6, -2e-9, -5e-10, -1e-13, 0.0, 1e-13, 5e-10, 2e-9, 1e-6, 0.5]),
)
def test_a_row_short_of_the_threshold_leaves_every_row_short(
    which: int, steps: list[list[float]], off: float
) -> None:
    """`Reporters.short_of` on the last row says the whole array's `crossing` finds none, and it says
    so whenever the last row's reports fall short by more than twice its margin."""
    scn = _REPORTING[which]
    S = len(scn.traffic.shares)
    cum = np.cumsum(np.array([s[:S] for s in steps]), axis=0)
    reports = user_reports.expected_reports(scn, cum)
    threshold = float(reports[-1]) * (1.0 + off)
    rep = user_reports.Reporters.of(scn)
    assert rep is not None
    short = rep.short_of(cum[-1], threshold)
    ledger = {"t0": np.arange(len(cum), dtype=float), "dt": np.ones(len(cum))}
    found = user_reports.crossing(reports, threshold, 0.0, ledger)
    if short:
        assert found is None
    if threshold > 0 and float(reports[-1]) < threshold * (1 - 2 * user_reports.SHORT_MARGIN):
        assert short
    if float(reports[-1]) >= threshold:
        assert not short


def test_reporters_decline_where_plain_floats_would_raise() -> None:
    """A segment with no users (or none at all) gets no shortcut: every scan over the whole array."""

    def scn(shares: list[float]) -> Any:
        users = types.SimpleNamespace(population=1000, activity_shape=0.5)
        traffic = types.SimpleNamespace(users=users, shares=np.array(shares))
        return types.SimpleNamespace(traffic=traffic, reports=types.SimpleNamespace(per_harmed_user=0.01))

    assert user_reports.Reporters.of(scn([0.5, 0.5])) == user_reports.Reporters((500.0, 500.0), 0.5, 0.01)
    assert user_reports.Reporters.of(scn([1.0, 0.0])) is None
    assert user_reports.Reporters.of(scn([])) is None


@pytest.mark.parametrize("name", ["default", "payments", "dora-elite", "tail-latency"])
def test_rows_are_those_of_the_whole_array_scans(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad releases' rows, many deploys of every strategy: the same with the shortcut as without it
    (every scan over the whole array), and the shortcut taken, and the reports still escalating."""
    scn = sim.load_scenario(name, overrides=[HALF])
    taken = []
    short_of = user_reports.Reporters.short_of

    def counted(self: user_reports.Reporters, hurt: np.ndarray, threshold: float) -> bool:
        taken.append(short_of(self, hurt, threshold))
        return taken[-1]

    monkeypatch.setattr(user_reports.Reporters, "short_of", counted)
    fast = simulate_deploys(scn, list(scn.strategies), 7, 0, 64)
    monkeypatch.setattr(user_reports.Reporters, "of", classmethod(lambda cls, scn: None))
    plain = simulate_deploys(scn, list(scn.strategies), 7, 0, 64)
    assert sum(taken) > 20
    assert any(r["detected_by"] == "user_report" for r in plain)
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain, strict=True):
        assert a.keys() == b.keys()
        assert [k for k in a if not same(a[k], b[k])] == [], (a["strategy"], a["deploy"])
