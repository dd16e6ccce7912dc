"""Shadow traffic on the new version: Argo's setMirrorRoute / Flagger's mirror, and Flagger's load-test
webhook. Copies and load-test requests run on the canary and are monitored, but no user meets them."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

import sim
from sim.engine.arrays.plan import plannable
from sim.engine.serving import NEW, STABLE
from tests.conftest import QUIET, scenario

ERRORS = {"error_rate": {"weight": 1, "severity": 0.05}}
MIRRORED = [
    {"canary_scale": 10},  # the canary at full size: a copy of all traffic loads it as it loads stable
    {"mirror_route": {"percentage": 100}},
    {"pause_s": 1800},
    {"mirror_route": {"percentage": 0}},
    {"weight": 10},
    {"pause_s": 600},
]
UNMIRRORED = [s for s in MIRRORED if "mirror_route" not in s]


def _scenario(steps: list, faults: dict = ERRORS, bad: float = 1.0, **patch: object) -> sim.Scenario:
    return scenario(
        {
            **QUIET,
            **patch,
            "releases": {"bad_probability": bad, "faults": {"_replace": True, **faults}},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": steps}},
        }
    )


def test_a_mirror_at_weight_zero_is_judged_and_hurts_nobody():
    rows = sim.run_batch(_scenario(MIRRORED), deploys=12, seed=3, jobs=1)
    assert (rows["detected_by"] == "analysis").all()  # the copies' errors fail the analysis
    for col in ("faulty_requests", "failed_requests", "affected_users", "exposure_at_detection"):
        assert (rows[col] == 0).all(), col
    # Without the mirror the canary serves nobody at weight 0: only users at 10% ever show the fault.
    plain = sim.run_batch(_scenario(UNMIRRORED), deploys=12, seed=3, jobs=1)
    assert (plain["exposure_at_detection"] > 0).all() and (plain["faulty_requests"] > 0).all()
    good = sim.run_batch(_scenario(MIRRORED, bad=0.0), deploys=12, seed=3, jobs=1)
    assert not good["rolled_back"].any()  # the copies alone, on a sound release, fail no analysis


def test_a_breaking_migration_still_bites_under_a_mirror():
    """The migration job runs before the rollout, as a mirror's writes would land anyway: the old
    binary's requests that touch the table fail though no user request reaches the new binary."""
    rows = sim.run_batch(
        _scenario(MIRRORED, bad=0.0, migration={"kind": "breaking"}), deploys=4, seed=3, jobs=1
    )
    assert (rows["migration_failed_requests"] > 0).all()


@pytest.mark.parametrize("percentage", [10.0, 30.0, 70.0])
def test_the_canary_sees_the_mirrors_share_of_requests(percentage: float):
    steps = [{"canary_scale": 3}, {"mirror_route": {"percentage": percentage}}, {"pause_s": 3600}]
    run = sim.run_deploy(_scenario(steps, bad=0.0), "progressive", deploy=0, seed=11)
    world = run.world
    segs = world.tape.segments
    i = next(j for j, (_, snap) in enumerate(segs) if snap.shadow)
    W = world.window_s
    k0, k1 = math.ceil(segs[i][0] / W), math.floor(segs[i + 1][0] / W)  # windows wholly mirrored
    user = world.telemetry.user[k0:k1]
    copies, originals = int(user[:, NEW].sum()), int(user[:, STABLE].sum())  # weight 0: users on stable
    assert originals > 10_000
    # Each original is copied independently with the percentage: a binomial count. Wilson interval at
    # 99.9% per case, Bonferroni over the 3 cases (family error 0.3%).
    p, n = percentage / 100.0, originals
    z = norm.ppf(1 - 0.001 / 2)
    centre = (copies + z * z / 2) / (n + z * z)
    half = z * math.sqrt(copies * (n - copies) / n + z * z / 4) / (n + z * z)
    assert centre - half <= p <= centre + half, (copies / n, p)
    # The copies load the canary: its utilisation is the copies' rate over its capacity.
    util = world.telemetry.util[k0:k1, NEW]
    assert util.mean() == pytest.approx(copies / ((k1 - k0) * W) / (3 * world.capacity), rel=0.05)


def _low_traffic(load_rps: float, bad: float = 1.0) -> sim.Scenario:
    """5 req/s on the service, 1% of it on the canary: 3 requests a minute, under the judge's 100."""
    return scenario(
        {
            **QUIET,
            "traffic": {"rate_rps": 5.0},
            "fleet": {"error_rate": 0.002},
            "judges": {"baseline": {"error_margin": 0.005, "watch": ["error_rate"]}, "slo": {"slo": 0.99}},
            "releases": {
                "bad_probability": bad,
                # 5× the fleet's error rate on the new binary
                "faults": {"_replace": True, "error_rate": {"weight": 1, "severity": 0.008}},
            },
            "strategies": {
                "_replace": True,
                "progressive": {
                    "kind": "progressive",
                    "load_test_rps": load_rps,
                    "steps": [{"weight": 1}, {"pause_s": 1800}],
                    "analyses": [
                        {"judge": "baseline", "interval_s": 60, "initial_delay_s": 60, "starting_step": 1}
                    ],
                },
            },
        }
    )


def test_a_load_test_makes_a_low_traffic_canary_judgeable():
    # Measured (40 deploys, seed 5): without the load test no analysis ever decides and every bad
    # release ships (found by users' reports hours later); with 50 req/s every one is caught by the
    # analysis, median 55 s after the canary took traffic, and 1 good release in 40 is rolled back.
    without = sim.run_batch(_low_traffic(0.0), deploys=20, seed=5, jobs=1)
    assert (without["detected_by"] != "analysis").all() and without["escaped"].all()
    loaded = sim.run_batch(_low_traffic(50.0), deploys=20, seed=5, jobs=1)
    assert (loaded["detected_by"] == "analysis").all()
    # (NaN where the analysis failed before a single faulty request reached a user)
    assert float(loaded["time_to_detect_s"].median()) < 300.0  # within the first few looks
    # The load test's requests are nobody's: the users hurt are those the 1% canary served meanwhile.
    assert loaded["affected_users"].max() < without["affected_users"].min()


def test_shadow_traffic_is_left_to_the_event_engine():
    assert plannable(_scenario(UNMIRRORED, bad=0.0), "progressive")
    assert not plannable(_scenario(MIRRORED, bad=0.0), "progressive")
    assert not plannable(_low_traffic(10.0, bad=0.0), "progressive")


def test_a_mirror_route_names_segments_and_needs_a_router():
    with pytest.raises(sim.ConfigError, match=r"mirror_route\.segments: 'ipad' is not a segment"):
        _scenario([{"canary_scale": 3}, {"mirror_route": {"segments": ["ipad"]}}])
    with pytest.raises(sim.ConfigError, match=r"mirror_route: a mirror route needs a traffic router"):
        scenario(
            {
                "routing": {"mode": "replicas"},
                "strategies": {"x": {"kind": "progressive", "steps": [{"mirror_route": {}}]}},
            }
        )
