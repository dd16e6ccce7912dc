"""Invariants over random scenarios (hypothesis): conservation, recovery, routing shares."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.faults import FAULT_KINDS
from tests.conftest import scenario

STRATEGIES = ("recreate", "blue_green", "canary", "progressive")


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(FAULT_KINDS))
    severity = {"error_rate": 0.2, "crash": 0.8, "segment_bug": 0.5, "saturation_leak": 2.0}.get(kind, 2.5)
    w1 = draw(st.sampled_from([1, 5, 10, 33]))
    patch = {
        "traffic": {"rate_rps": draw(st.sampled_from([20.0, 300.0, 5000.0]))},
        "fleet": {"replicas": draw(st.integers(1, 12)), "capacity_rps": 2000},
        "routing": {
            "mode": draw(st.sampled_from(["router", "replicas"])),
            "sticky": draw(st.booleans()),
            "canary_bias": {"segments": {"android": draw(st.sampled_from([0.0, 1.0, 4.0]))}},
        },
        "releases": {
            "bad_probability": draw(st.sampled_from([0.0, 1.0])),
            "faults": {
                "_replace": True,
                kind: {
                    "weight": 1,
                    "severity": severity,
                    "onset_s": draw(st.sampled_from([0, 300])),
                    **({"segment": "android"} if kind == "segment_bug" else {}),
                },
            },
        },
        "noise": {"episodes_per_hour": draw(st.sampled_from([0.0, 2.0]))},
        "strategies": {
            "canary": {"steps": [{"weight": w1, "pause_s": 300}, {"weight": 50, "pause_s": 300}]},
            "progressive": {"steps": [{"weight": w1}, {"pause_s": 300}, {"weight": 50}, {"pause_s": 300}]},
        },
        "run": {"horizon_s": 3600},
    }
    return scenario(patch), draw(st.sampled_from(STRATEGIES)), draw(st.integers(0, 10_000))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_invariants(case):
    scn, strategy, deploy = case
    run = sim.run_deploy(scn, strategy, deploy=deploy, seed=1)
    row, w = run.row, run.world
    L, tel = w.ledger, w.telemetry
    assert row["error"] is None
    served = float(tel.user.sum())
    if row["release_bad"]:
        assert 0 <= row["faulty_requests"] <= served
        assert row["affected_users"] <= scn.traffic.users.population
    else:
        assert math.isnan(row["faulty_requests"]) and math.isnan(row["affected_users"])
    ttr = row["time_to_recover_s"]
    assert math.isnan(ttr) or ttr >= 0
    if w.marks.recovered_at is not None:
        after = L["t0"] >= w.marks.recovered_at
        assert L["faulty"][after].sum() == 0  # no user request touches faulty code after recovery
    # Every window's user requests are split between the two versions and nothing else (100%).
    n = int(np.ceil(w.materialized / w.window_s))
    down = np.bincount(L["k"], weights=L["caused"] * L["down"], minlength=n)[:n]
    assert np.allclose(
        tel.user[:n].sum(1) + down, np.bincount(L["k"], weights=L["taken"][:, :-1].sum(1), minlength=n)[:n]
    )
    assert np.all((L["share"] >= 0) & (L["share"] <= 1))
    assert row["failed_requests"] >= 0 and row["downtime_s"] >= 0 and row["extra_instance_hours"] >= 0
    if row["lead_time_s"] == row["lead_time_s"]:
        assert row["lead_time_s"] <= scn.run.horizon_s
