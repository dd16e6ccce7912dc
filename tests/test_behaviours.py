"""The article's claims, emerging from the model: each test runs a batch and reads the rows.

Tolerances: each comparison is between proportions or medians of N deploys with a fixed seed; the
thresholds sit well outside the binomial 95% interval of the value they guard against (noted inline).
"""

from __future__ import annotations

import numpy as np

import sim
from tests.conftest import QUIET, scenario

ERRORS = {
    "_replace": True,
    "error_rate": {"weight": 1, "severity": 0.2, "smoke_catch": 0},
    "crash": {"weight": 1, "severity": 0.9, "smoke_catch": 0},
}


def test_canary_limits_exposure_to_its_slice_recreate_and_blue_green_do_not():
    scn = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": ERRORS}})
    df = sim.run_batch(scn, deploys=40, seed=11)
    exp = df.groupby("strategy")["exposure_at_detection"]
    assert exp.min()["recreate"] == 1.0 and exp.min()["blue_green"] == 1.0  # everyone, every time
    # Canaries are caught at their first slice (1%), occasionally at the next (5%).
    assert exp.max()["progressive"] <= 0.05 and exp.median()["progressive"] == 0.01
    assert exp.max()["canary"] <= 0.05
    blast = df.groupby("strategy")["faulty_requests"].median()
    assert blast["canary"] < blast["recreate"] / 10 and blast["progressive"] < blast["blue_green"] / 10


def test_blue_green_recovers_in_seconds_recreate_in_minutes_with_downtime():
    scn = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": ERRORS}})
    df = sim.run_batch(scn, deploys=30, seed=12, strategies=["recreate", "blue_green"])
    ttr = df.groupby("strategy")["time_to_repair_s"]
    assert ttr.max()["blue_green"] <= 5  # one router flip while blue is warm
    assert ttr.min()["recreate"] >= 60  # stop the bad version, start the old one, warm it up
    down = df.groupby("strategy")["downtime_s"].min()
    assert down["recreate"] > 2 * 60 and down["blue_green"] == 0  # the deploy and the undo both go down


def _noisy(judge):
    return scenario(
        {
            "releases": {"bad_probability": 0},
            "safety_net": None,
            "traffic": {"surges": {"per_day": 0}},
            "noise": {
                "episodes_per_hour": 2,
                "latency_factor": 3.0,
                "duration_s": [300, 900],
                "targets": {"both": 1, "new": 0, "stable": 0},
            },
            "strategies": {
                "progressive": {"analyses": [{"judge": judge, "starting_step": 1, "initial_delay_s": 60}]}
            },
        }
    )


def test_fixed_thresholds_misfire_under_noisy_neighbours_a_baseline_does_not():
    fixed = sim.run_batch(_noisy("fixed"), deploys=30, seed=13, strategies=["progressive"])
    baseline = sim.run_batch(_noisy("baseline"), deploys=30, seed=13, strategies=["progressive"])
    # Noise that triples both versions' latency pushes p99 past the fixed 500 ms limit; the baseline
    # judge sees both move together. 30 deploys: 0.5 vs 0.1 are each > 3 binomial SEs from the other.
    assert fixed["false_rollback"].mean() > 0.5
    assert baseline["false_rollback"].mean() < 0.1


def test_an_unrepresentative_canary_misses_a_segment_only_bug():
    bug = {
        "_replace": True,
        "segment_bug": {"weight": 1, "severity": 0.5, "segment": "android", "smoke_catch": 0},
    }
    fair = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": bug}, "safety_net": None})
    biased = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1, "faults": bug},
            "safety_net": None,
            "routing": {"canary_bias": {"segments": {"android": 0}}},
        }
    )
    a = sim.run_batch(fair, deploys=25, seed=14, strategies=["progressive"])
    b = sim.run_batch(biased, deploys=25, seed=14, strategies=["progressive"])
    assert a["escaped"].mean() == 0.0 and a["detected"].all()
    # The slice never sees android users, so the canary looks healthy until 100%: every bug escapes.
    assert b["escaped"].mean() == 1.0
    assert np.nanmedian(b["faulty_requests"]) > 20 * np.nanmedian(a["faulty_requests"])


def test_progressive_needs_no_human_a_manual_canary_does():
    scn = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": ERRORS}})
    df = sim.run_batch(scn, deploys=20, seed=15, strategies=["canary", "progressive"])
    by = df.groupby("strategy")["detected_by"].agg(set)
    assert by["progressive"] == {"analysis"}
    assert by["canary"] == {"operator"}
    ttd = df.groupby("strategy")["time_to_detect_s"].median()
    assert ttd["progressive"] < ttd["canary"]  # the operator looks only at the end of a bake
