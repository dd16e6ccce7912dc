"""Cold replicas and Argo's experiment step: a fresh replica serves slower for a while, so a good
release judged against the warm stable fails more often than one judged against a fresh baseline
started with it; the experiment still catches a slow release, and its replicas cost their time."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.core.errors import ConfigError
from sim.engine.arrays.plan import plannable
from sim.engine.fleet import cold_multiplier
from sim.engine.serving import NEW, STABLE
from sim.validation.record import rate_interval
from tests.conftest import QUIET, scenario

COLD = {"cold_latency_factor": 3.0, "cold_s": 600.0}
GOOD = {"bad_probability": 0.0}
SLOW = {
    "bad_probability": 1.0,
    "faults": {
        "_replace": True,
        "latency_shift": {"weight": 1, "severity": 2.0, "onset_s": 0, "smoke_catch": 0},
    },
}
JUDGED = {"judge": "baseline", "interval_s": 60, "initial_delay_s": 60}


def experiment(duration_s: float = 900.0, analysis: dict | None = None) -> dict:
    return {
        "experiment": {
            "duration_s": duration_s,
            "baseline": {"replicas": 2},
            "canary": {"replicas": 2},
            "analysis": analysis or JUDGED,
        }
    }


AGAINST_STABLE = [{"weight": 20}, {"analysis": {**JUDGED, "count": 15}}, {"weight": 50}, {"pause_s": 300}]
EXPERIMENT = [experiment(), {"weight": 50}, {"pause_s": 300}]


def _scn(steps: list, fleet: dict | None = None, releases: dict | None = None) -> sim.Scenario:
    return scenario(
        {
            **QUIET,
            "fleet": fleet or {},
            "releases": releases or GOOD,
            "strategies": {
                "_replace": True,
                "progressive": {"kind": "progressive", "analyses": [], "steps": steps},
            },
        }
    )


def test_a_replicas_multiplier_falls_linearly_from_the_factor_to_one_over_cold_s():
    ready = np.array([0.0, 300.0, -math.inf])
    assert cold_multiplier(ready, 300.0, 3.0, 600.0) == pytest.approx((2.0 + 3.0 + 1.0) / 3)
    assert cold_multiplier(ready, 450.0, 3.0, 600.0) == pytest.approx((1.5 + 2.5 + 1.0) / 3)
    assert cold_multiplier(ready, 600.0, 3.0, 600.0) == pytest.approx((1.0 + 2.0 + 1.0) / 3)
    assert cold_multiplier(ready, 900.0, 3.0, 600.0) == 1.0
    assert cold_multiplier(ready, 5000.0, 3.0, 600.0) == 1.0
    assert cold_multiplier(np.array([]), 0.0, 3.0, 600.0) == 1.0


def test_each_window_the_canarys_latency_follows_its_replicas_age_and_the_stables_stays_warm():
    scn = _scn([{"weight": 20}, {"pause_s": 1500}], COLD)
    world = sim.run_deploy(scn, "progressive", 0, seed=3).world
    segments = world.tape.segments
    ready_at = next(t for t, s in segments if s.cap[NEW] > 0)
    W, checked = scn.run.window_s, 0
    for t, snap in segments:
        if t < ready_at or snap.cap[NEW] <= 0 or t > ready_at + 1500:
            continue
        # Set when the replicas turned ready and at each window's edge, for the stretch to the next
        # edge, at its middle; a change of another kind inside it keeps it.
        k = math.floor(t / W + 1e-9)
        mid = (max(ready_at, k * W) + (k + 1) * W) / 2
        expect = 1.0 + 2.0 * min(1.0, max(0.0, 1.0 - (mid - ready_at) / 600.0))
        assert snap.noise_lat[NEW] == pytest.approx(expect, rel=1e-12), t
        assert snap.noise_lat[STABLE] == 1.0
        checked += 1
    assert checked >= 600 / W  # every window while cold, then warm
    assert segments[-1][1].noise_lat.tolist() == [1.0, 1.0]


def test_off_by_default_no_state_changes_for_it():
    scn = _scn([{"weight": 20}, {"pause_s": 1500}])
    world = sim.run_deploy(scn, "progressive", 0, seed=3).world
    assert all(s.noise_lat.tolist() == [1.0, 1.0] for _, s in world.tape.segments)
    assert len(world.tape.segments) < 10


def test_a_good_release_fails_against_the_warm_stable_far_more_often_than_against_a_fresh_baseline():
    n = 40
    rates = {}
    for name, steps, fleet in (
        ("stable, cold", AGAINST_STABLE, COLD),
        ("experiment, cold", EXPERIMENT, COLD),
        ("stable, warm", AGAINST_STABLE, {}),
    ):
        df = sim.run_batch(_scn(steps, fleet), deploys=n, seed=4, jobs=1)
        rates[name] = int(df["false_rollback"].sum())
    # Wilson intervals at 99.8% over the family of three rates, Bonferroni: each at 1 - 0.002/3.
    level = 1 - 0.002 / 3
    _, lo_stable, _ = rate_interval(rates["stable, cold"], n, level)
    _, _, hi_experiment = rate_interval(rates["experiment, cold"], n, level)
    _, _, hi_warm = rate_interval(rates["stable, warm"], n, level)
    assert lo_stable > hi_experiment, rates  # the age bias the experiment removes
    assert lo_stable > hi_warm, rates  # and it is the cold replicas' doing


def test_the_experiment_catches_a_slow_release_before_any_user_meets_it():
    scn = _scn(EXPERIMENT, COLD, SLOW)
    df = sim.run_batch(scn, deploys=12, seed=5, jobs=1)
    assert (df["detected_by"] == "analysis").all()
    # Caught at its first look (ready, then the initial delay and a look), the canary never serving a user.
    assert (df["faulty_requests"] == 0).all()


def test_the_experiments_replicas_cost_their_time_exactly():
    """An experiment of b + c replicas for a duration against a pause as long as its start and
    duration: the extra instance-hours differ by (b + c) × (start + duration + termination)."""
    passing = {"judge": "baseline", "interval_s": 60, "pass_probability": 1.0}
    scn = _scn([experiment(900.0, passing), {"weight": 50}, {"pause_s": 300}], COLD)
    fleet = scn.fleet
    paused = _scn([{"pause_s": fleet.ready_s + 900.0}, {"weight": 50}, {"pause_s": 300}], COLD)
    a, b = (sim.run_batch(s, deploys=6, seed=2, jobs=1)["extra_instance_hours"] for s in (scn, paused))
    expect = 4 * (fleet.ready_s + 900.0 + fleet.stop_s) / 3600.0
    assert (a - b).to_numpy() == pytest.approx([expect] * 6, rel=1e-12)


def test_the_array_engine_leaves_experiments_and_cold_replicas_to_the_event_engine():
    assert plannable(_scn([{"weight": 20}, {"pause_s": 60}]), "progressive")
    assert not plannable(_scn(EXPERIMENT), "progressive")
    assert not plannable(_scn([{"weight": 20}, {"pause_s": 60}], COLD), "progressive")


def test_the_templates_weights_cannot_pass_100():
    with pytest.raises(ConfigError, match="100"):
        _scn([{"experiment": {"baseline": {"weight": 60}, "canary": {"weight": 50}}}])
