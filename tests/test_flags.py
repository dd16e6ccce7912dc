"""Feature flags: dark launch, sticky cohorts, the kill switch, and two layers with two undo paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from tests.conftest import QUIET, scenario

ERR = {"error_rate": {"weight": 1, "severity": 0.2, "smoke_catch": 0}}


def _flagged(layer_share: float, **extra) -> sim.Scenario:
    return scenario(
        {
            **QUIET,
            "releases": {
                "bad_probability": 1,
                "flagged_share": layer_share,
                "faults": {"_replace": True, **ERR},
            },
            "flags": {"shadow_catch": 0.0, "propagation_s": 7},
            "strategies": {"flag": {"kind": "flag"}, "canary_flag": {"kind": "canary_flag"}},
            **extra,
        }
    )


def test_a_dark_fault_meets_no_user_until_the_flag_turns_on():
    run = sim.run_deploy(_flagged(1.0), "flag", deploy=0, seed=1)
    first_on = next(t for t, k, d in run.deploy.events if k == "flag" and d.startswith("on for"))
    L = run.world.ledger
    assert L["faulty"][L["t0"] + L["dt"] <= first_on].sum() == 0  # binary at 100%, path dark
    assert run.row["faulty_requests"] > 0 and run.row["detected_by"] == "analysis"
    # Caught on the internal accounts: the exposure is their share, not the binary's 100%.
    assert run.row["exposure_at_detection"] == pytest.approx(0.01)


def test_a_fault_outside_the_flag_meets_every_user_of_the_binary():
    run = sim.run_deploy(_flagged(0.0), "flag", deploy=0, seed=1)
    assert run.row["fault_layer"] == "binary"
    assert run.row["exposure_at_detection"] == 1.0 and run.row["escaped"]


def test_kill_switch_recovers_in_the_propagation_delay():
    df = sim.run_batch(_flagged(1.0), deploys=6, seed=2, strategies=["flag", "canary_flag"])
    assert (df["undo"] == "kill_switch").all()
    assert np.allclose(df["time_to_repair_s"], 7.0)  # no redeploy, no router change
    assert (df["detected_by"] == "analysis").all()


def test_two_layers_two_blast_radii_two_undo_paths():
    df = sim.run_batch(_flagged(0.5), deploys=30, seed=3, strategies=["canary_flag"])
    by_layer = df.groupby("fault_layer")
    # "Can we run this code": the binary's canary catches binary faults at its 1% slice and rolls back.
    binary = df[df.fault_layer == "binary"]
    assert (binary["undo"] == "rollback").all() and binary["exposure_at_detection"].max() <= 0.05
    # "Should users see this": flagged faults pass the binary canary (dark) and meet the flag's cohorts.
    flagged = df[df.fault_layer == "flag"]
    assert (flagged["undo"] == "kill_switch").all() and flagged["exposure_at_detection"].max() <= 0.05
    assert by_layer["time_to_repair_s"].median()["flag"] == pytest.approx(7.0)


def test_shadow_calls_catch_dark_faults_before_any_user():
    scn = _flagged(1.0, flags={"shadow_catch": 1.0})
    row = sim.run_deploy(scn, "flag", deploy=0, seed=4).row
    assert (
        row["detected_by"] == "shadow_traffic" and row["faulty_requests"] == 0 and row["undo"] == "flag_off"
    )


def test_flag_cohorts_are_sticky_and_reach_their_targets():
    scn = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0},
            "traffic": {"rate_rps": 3000},
            "fleet": {"capacity_rps": 1000},
            "flags": {"shadow_s": 0},
            "strategies": {"flag": {"kind": "flag"}},
        }
    )
    run = sim.run_deploy(scn, "flag", deploy=0, seed=5)
    sim.timeline(run)
    ons = [(t, d) for t, k, d in run.deploy.events if k == "flag" and d.startswith("on for")]
    targets = [0.01, 0.01, 0.05, 0.25, 0.5]
    for (t, _), (t_next, _), target in zip(ons, ons[1:], targets, strict=False):
        part = run.world.telemetry.user[int(t // 10) + 1 : int(t_next // 10) - 1]  # whole windows only
        n = part.sum()
        got = part[:, 1].sum() / n  # user requests only: probes carry no user, so never the flag
        assert abs(got - target) < 4 * np.sqrt(target * (1 - target) / n)  # 4 binomial SEs
    # A user in the flag cohort stays in it: the flag share per segment never goes down.
    shares = [share for t, share in run.world.marks.history if t >= ons[0][0]]
    assert shares == sorted(shares) and shares[0] == 0.01 and shares[-1] == 1.0


def test_same_seed_same_rows_for_flags_and_migrations():
    scn = _flagged(0.5, migration={"kind": "breaking"})
    a = sim.run_batch(scn, deploys=4, seed=6, strategies=["flag", "canary_flag", "progressive"])
    b = sim.run_batch(scn, deploys=4, seed=6, strategies=["flag", "canary_flag", "progressive"], jobs=2)
    pd.testing.assert_frame_equal(a, b)


def test_flag_ramp_must_go_up():
    with pytest.raises(sim.ConfigError, match=r"strategies\.flag\.ramp\[1\]\.percent: percents must go up"):
        sim.load_scenario(
            {"strategies": {"flag": {"kind": "flag", "ramp": [{"percent": 5}, {"percent": 1}]}}}
        )
