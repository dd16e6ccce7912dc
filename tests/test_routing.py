"""Routing: Argo-style replica approximation, sticky slices, biased slices, synthetic probes."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.engine import routing, world
from sim.engine.routing import argo_replica_split, canary_replicas_for_router, segment_shares, synthetic_share


@pytest.mark.parametrize(
    ("replicas", "weight", "surge", "expected"),
    [
        (10, 10, 1, (1, 9)),  # divides evenly
        (5, 1, 1, (1, 5)),  # 1% of 5 cannot be had: one canary beside five stable (surging) is nearest
        (5, 1, 0, (1, 4)),  # without surge the canary still gets one replica, never zero
        (3, 50, 0, (2, 1)),  # a tie between 1/3 and 2/3 goes up
        (3, 50, 1, (2, 2)),  # with a surge replica 2/4 is exact
        (4, 99, 0, (3, 1)),  # never zero stable for a weight below 100
        (1, 50, 0, (1, 0)),  # a single replica without surge is all or nothing
        (2, 75, 0, (0, 2)),  # Argo's corner: the tie's ceiling would empty stable, so no option is left
        (7, 0, 1, (0, 7)),
        (7, 100, 1, (7, 0)),
    ],
)
def test_argo_replica_split(replicas, weight, surge, expected):
    assert argo_replica_split(replicas, weight, surge) == expected


def test_weights_1_to_99_never_leave_a_side_empty_but_in_argos_corner():
    corner = set()
    for replicas in range(2, 21):
        for surge in (0, 1):
            for weight in range(1, 100):
                canary, stable = argo_replica_split(replicas, weight, surge)
                if canary == 0:
                    corner.add((replicas, weight, surge))
                    continue
                assert stable >= 1
                assert canary + stable in (replicas, replicas + surge)
    # Exactly where Argo's options run out: a .5 tie whose ceiling is every replica, without surge.
    assert corner == {(2, 75, 0), (5, 90, 0), (10, 95, 0)}


def test_router_scales_the_canary_to_its_share():
    assert canary_replicas_for_router(10, 1) == 1
    assert canary_replicas_for_router(10, 25) == 3
    assert canary_replicas_for_router(10, 50) == 5


def test_sticky_slices_only_grow_and_bias_shrinks_a_segment():
    bias = np.array([1.0, 0.0, 3.0])
    previous = np.zeros(3)
    for w in (0.01, 0.05, 0.25, 0.5, 1.0):
        shares = segment_shares(w, bias)
        assert np.all(shares >= previous)  # a user in the slice never moves back to stable
        previous = shares
    assert segment_shares(0.25, bias).tolist() == [0.25, 0.0, 0.75]
    assert segment_shares(1.0, bias).tolist() == [1.0, 1.0, 1.0]


def test_health_checks_probe_every_replica():
    assert synthetic_share("per_replica", 0.01, np.array([10, 1])) == pytest.approx(1 / 11)
    assert synthetic_share("weighted", 0.01, np.array([10, 1])) == 0.01


@pytest.mark.parametrize("name", ["flagged-release", "schema-rename-breaking", "unrepresentative-canary"])
def test_a_cached_routing_is_what_a_fresh_one_works_out(monkeypatch, name):
    """Worlds share each state's routing through a cache: it must depend on nothing but its arguments
    and never be changed by a reader."""
    asked = []

    def spy(*args):
        asked.append(args)
        return routing.route(*args)

    monkeypatch.setattr(world, "route", spy)
    scn = sim.load_scenario(name, overrides=["releases.bad_probability=1.0"])
    for deploy in range(3):
        for strategy in scn.strategies:
            sim.run_deploy(scn, strategy, deploy=deploy, seed=5)
    assert len(asked) > 50
    for args in asked:
        cached, fresh = routing.route(*args), routing.route.__wrapped__(*args)
        for field in routing.Routed._fields:
            a, b = getattr(cached, field), getattr(fresh, field)
            if field == "snapshot":
                assert a.down == b.down and a.shared == b.shared
                for part in ("share", "cap", "noise_lat", "p_bg", "fault", "p_schema"):
                    assert np.array_equal(getattr(a, part), getattr(b, part))
                assert np.array_equal([a.leak_from], [b.leak_from], equal_nan=True)
            else:
                assert np.array_equal(a, b), field
