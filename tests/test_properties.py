"""Invariants over random scenarios (hypothesis): conservation, recovery, routing shares."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.config.faults import FAULT_KINDS
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
    row = run.row
    phases = [run.world] + ([run.follow.world] if run.follow is not None else [])
    assert row["error"] is None
    served = sum(float(w.telemetry.user.sum()) for w in phases)
    if row["release_bad"]:
        assert 0 <= row["faulty_requests"] <= served
        assert row["affected_users"] <= scn.traffic.users.population
    else:
        assert math.isnan(row["faulty_requests"]) and math.isnan(row["affected_users"])
        assert run.follow is None and not row["censored"]
    detect, repair, restore = row["time_to_detect_s"], row["time_to_repair_s"], row["time_to_restore_s"]
    assert math.isnan(repair) or repair >= 0
    assert math.isnan(restore) or restore == pytest.approx(detect + repair)
    if row["censored"]:  # never restored: followed from its first faulty request to the end
        assert math.isnan(restore) and 0 <= row["censored_after_s"] <= max(
            scn.run.follow_s, scn.run.horizon_s
        )
    else:
        assert math.isnan(row["censored_after_s"])
    recovered = phases[-1].marks.recovered_at
    for w in phases:
        L, tel = w.ledger, w.telemetry
        if recovered is not None:
            after = L["t0"] >= recovered
            assert L["faulty"][after].sum() == 0  # no user request touches faulty code after recovery
        # Every window's user requests are split between the two versions and nothing else (100%).
        n = int(np.ceil(w.materialized / w.window_s))
        down = np.bincount(L["k"], weights=L["caused"] * L["down"], minlength=n)[:n]
        drawn = np.bincount(L["k"], weights=L["taken"][:, :-1].sum(1), minlength=n)[:n]
        before = tel.history[:n, 0] if tel.history is not None else 0.0  # served by the earlier phase
        assert np.allclose(tel.user[:n].sum(1) + down, drawn)
        assert np.allclose(tel.svc_user[:n] - before, drawn)
        assert np.all((L["share"] >= 0) & (L["share"] <= 1))
    assert row["failed_requests"] >= 0 and row["downtime_s"] >= 0 and row["extra_instance_hours"] >= 0
    if row["lead_time_s"] == row["lead_time_s"]:
        assert row["lead_time_s"] <= run.world.limit_s
