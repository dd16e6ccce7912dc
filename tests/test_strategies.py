"""Strategy mechanics in tiny, exact deploys: routing modes, gates, analysis limits, rollbacks."""

from __future__ import annotations

import math

import pytest

import sim
from tests.conftest import QUIET, scenario

CRASH = {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0}}


def _events(run, kinds=("weight", "detected", "rollback")):
    return [(t, k, d) for t, k, d in run.deploy.events if k in kinds]


def test_progressive_aborts_within_the_router_flip_and_scales_the_canary_down_later():
    scn = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": CRASH}})
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=1)
    ev = _events(run)
    # The canary is ready at 70 s and takes 1% at 72 s; the first measurement comes after the
    # initial delay (60 s), sees a broken canary and aborts; the canary goes 30 s later (15 s to stop).
    assert ev[0] == (72.0, "weight", "1%")
    assert ev[1] == (132.0, "detected", "analysis")
    assert ev[2:] == [(132.0, "rollback", "started"), (134.0, "weight", "0%"), (179.0, "rollback", "done")]
    assert run.row["time_to_repair_s"] == 2.0  # flip_s
    assert run.row["exposure_at_detection"] == 0.01


def test_replica_mode_canary_approximates_weights_and_rolls_back_by_restarting_stable():
    scn = scenario(
        {
            **QUIET,
            "routing": {"mode": "replicas", "max_surge": 1},
            "fleet": {"replicas": 4},
            "releases": {"bad_probability": 1, "faults": CRASH},
        }
    )
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=2)
    first = next(d for t, k, d in run.deploy.events if k == "weight")
    assert first == "1% asked, 1/5 replicas"  # one canary beside four stable: 20% of traffic, not 1%
    assert run.row["exposure_at_detection"] == pytest.approx(0.2)
    # Without a router the canary stops taking traffic once its replicas leave the endpoints:
    # stable was never scaled down at 1%, so that is immediate.
    assert run.row["time_to_repair_s"] == 0.0


def test_manual_gate_waits_for_a_person():
    scn = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0},
            "humans": {"decision_s": 600},
            "strategies": {
                "progressive": {
                    "steps": [{"weight": 10}, {"manual_gate": True}, {"weight": 50}],
                    "analyses": [],
                }
            },
        }
    )
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=3)
    ev = _events(run, ("weight", "review"))
    assert ev[0] == (72.0, "weight", "10%")
    assert ev[1][0] == 72.0 + 600 and ev[1][1] == "review"  # the operator's decision delay (business hours)
    # Then four more canary replicas start and warm (70 s) before the router flips (2 s).
    assert ev[2] == (72.0 + 600 + 70 + 2, "weight", "50%")


def test_measurement_errors_abort_past_the_consecutive_limit():
    scn = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0},
            "strategies": {
                "progressive": {
                    "analyses": [{"starting_step": 1, "error_probability": 1.0, "consecutive_error_limit": 4}]
                }
            },
        }
    )
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=4)
    errors = [e for e in run.deploy.events if e[1] == "measurement"]
    assert len(errors) == 5  # four tolerated, the fifth in a row fails the run
    assert run.row["detected_by"] == "analysis" and run.row["false_rollback"]


def test_blue_green_rollback_after_blue_is_gone_is_a_redeploy():
    late = {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0, "onset_s": 400}}
    quick = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1, "faults": late},
            "strategies": {"blue_green": {"scale_down_delay_s": 3600}},
        }
    )
    gone = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1, "faults": late},
            "strategies": {"blue_green": {"scale_down_delay_s": 30}},
        }
    )
    warm = sim.run_deploy(quick, "blue_green", deploy=0, seed=5).row
    cold = sim.run_deploy(gone, "blue_green", deploy=0, seed=5).row
    assert warm["time_to_repair_s"] == 2.0
    # Blue was scaled down 30 s after the cutover: start and warm a fleet (70 s), then flip (2 s).
    assert cold["time_to_repair_s"] == 72.0
    assert cold["extra_instance_hours"] < warm["extra_instance_hours"]


def test_smoke_test_catch_means_no_user_met_the_fault():
    scn = scenario(
        {
            **QUIET,
            "releases": {
                "bad_probability": 1,
                "faults": {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 1.0}},
            },
        }
    )
    row = sim.run_deploy(scn, "blue_green", deploy=0, seed=6).row
    assert row["detected_by"] == "smoke_test" and row["faulty_requests"] == 0
    assert math.isnan(row["time_to_detect_s"]) and row["exposure_at_detection"] == 0
    assert math.isnan(row["lead_time_s"])


def test_operator_waves_through_marginal_regressions_only():
    marginal = {"_replace": True, "error_rate": {"weight": 1, "severity": 0.012, "smoke_catch": 0}}
    scn = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1, "faults": marginal},
            "safety_net": None,
            "humans": {"wave_through": 1.0},
            "traffic": {"rate_rps": 3000},
            "fleet": {"capacity_rps": 1000},
        }
    )
    row = sim.run_deploy(scn, "canary", deploy=0, seed=7).row
    assert row["escaped"]  # ~1.3% errors against a 1% limit: marginal, so it is waved through
    scn_strict = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1, "faults": marginal},
            "safety_net": None,
            "humans": {"wave_through": 0.0},
            "traffic": {"rate_rps": 3000},
            "fleet": {"capacity_rps": 1000},
        }
    )
    assert sim.run_deploy(scn_strict, "canary", deploy=0, seed=7).row["detected_by"] == "operator"
