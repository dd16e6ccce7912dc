"""Two versions, one database: breaking migrations hurt every strategy; expand-and-contract does not."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from tests.conftest import QUIET, scenario

GOOD = {"bad_probability": 0}


def _breaking(**extra):
    return scenario(
        {
            **QUIET,
            "migration": {"kind": "breaking", "touch_share": 0.3, "restore_s": 1800},
            "releases": GOOD,
            "run": {"horizon_s": 4 * 3600},
            **extra,
        }
    )


def test_a_breaking_migration_fails_requests_under_every_overlapping_strategy():
    df = sim.run_batch(_breaking(), deploys=8, seed=1)
    failed = df.groupby("strategy")["migration_failed_requests"].min()
    # The harm lands on the stable binary, whatever the router prefers: canaries keep it serving
    # longest, blue-green only until the cutover, recreate not at all (nothing runs while it migrates).
    assert failed["canary"] > 0 and failed["progressive"] > 0 and failed["blue_green"] > 0
    assert failed["progressive"] > failed["blue_green"]
    assert df.groupby("strategy")["migration_failed_requests"].max()["recreate"] == 0


def test_recreate_escapes_the_overlap_but_not_the_rollback():
    crash = {
        "bad_probability": 1,
        "faults": {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0}},
    }
    scn = scenario(
        {
            **QUIET,
            "migration": {"kind": "breaking", "touch_share": 0.3, "restore_s": 1800},
            "releases": crash,
            "run": {"horizon_s": 4 * 3600},
        }
    )
    rows = sim.run_batch(scn, deploys=4, seed=2, strategies=["recreate"])
    # The old binary comes back under the new schema: its requests to the table fail until the restore.
    assert (rows["rolled_back"]).all() and (rows["migration_failed_requests"] > 0).all()


def test_rolling_the_binary_back_does_not_undo_the_schema():
    scn = _breaking(humans={"page_response_s": 60})
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=3)
    L = run.world.ledger
    detected = run.world.marks.detected_at
    restored = next(t for t, k, d in run.deploy.events if d == "schema restored")
    assert restored == pytest.approx(detected + 1800)
    during = (L["t0"] >= detected + 60) & (L["t0"] < restored - 10)
    after = L["t0"] >= restored + 10
    rate = L["schema_failed"][during].sum() / L["taken"][during, :-1].sum()
    # After the rollback everyone is on the old binary: 30% of requests touch the table and fail.
    assert rate == pytest.approx(0.3, abs=0.01)  # ±0.01 is > 10 binomial SEs over ~500k requests
    assert L["schema_failed"][after].sum() == 0


def test_the_baseline_judge_promotes_the_canary_the_burn_rate_alert_catches_it():
    blind = sim.run_batch(_breaking(safety_net=None), deploys=6, seed=4, strategies=["progressive"])
    # The stable baseline is the one failing, so the canary always looks better than it: promoted.
    assert blind["detected"].sum() == 0 and blind["lead_time_s"].notna().all()
    watched = sim.run_batch(_breaking(), deploys=6, seed=4, strategies=["progressive"])
    assert (watched["detected_by"] == "slo_alert").all()


def test_expand_and_contract_fails_nothing_and_takes_longer():
    ec = scenario(
        {
            **QUIET,
            "migration": {"kind": "expand_contract", "backfill_s": 1200, "gap_s": 300},
            "releases": GOOD,
            "run": {"horizon_s": 3 * 3600},
        }
    )
    df = sim.run_batch(ec, deploys=4, seed=5, strategies=["blue_green"])
    one = sim.run_batch(scenario({**QUIET, "releases": GOOD}), deploys=4, seed=5, strategies=["blue_green"])
    assert (df["migration_failed_requests"] == 0).all()
    assert df["failed_requests"].max() == 0
    # Four deploys (each waiting for the old fleet to go), a backfill and the bake gaps in between.
    assert np.all(df["sequence_lead_time_s"] > 4 * one["lead_time_s"].to_numpy() + 1200 + 3 * 300)
    assert np.all(df["lead_time_s"] < df["sequence_lead_time_s"])  # reads move on the third of four


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (["expand", "backfill", "contract", "migrate_reads"], "contract before reads migrated"),
        (["backfill", "expand", "migrate_reads"], "the plan starts by expanding"),
        (["expand", "migrate_reads"], "reads move before the new column is filled"),
    ],
)
def test_plans_that_would_break_the_old_version_are_refused(plan, message):
    with pytest.raises(sim.ConfigError, match=message):
        sim.load_scenario({"migration": {"kind": "expand_contract", "plan": plan}})
    with pytest.raises(sim.ConfigError, match=r"migration\.kind: 'rename' is not one of"):
        sim.load_scenario({"migration": {"kind": "rename"}})
