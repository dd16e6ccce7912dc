"""Routing: Argo-style replica approximation, sticky slices, biased slices, synthetic probes."""

from __future__ import annotations

import numpy as np
import pytest

from sim.routing import argo_replica_split, canary_replicas_for_router, segment_shares, synthetic_share


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
