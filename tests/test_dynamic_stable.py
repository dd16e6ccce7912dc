"""Argo's dynamicStableScale: the stable set shrinks with its traffic share (cheaper), and an abort
scales it back up before traffic moves back (slower to restore). Both emerge from the replicas."""

from __future__ import annotations

import pytest
import yaml

import sim
from sim import importer
from sim.importer.export import export_manifest
from sim.validation.checks_rollout import check_dynamic_stable_scale
from tests.conftest import QUIET, scenario


def _rollout(dynamic: bool, releases: dict) -> sim.Scenario:
    return scenario(
        {
            **QUIET,
            "releases": releases,
            "strategies": {
                "_replace": True,
                "progressive": {"kind": "progressive", "dynamic_stable_scale": dynamic},
            },
        }
    )


def _pair(releases: dict, deploys: int) -> tuple:
    return tuple(
        sim.run_batch(_rollout(d, releases), deploys=deploys, seed=4, jobs=1).set_index("deploy")
        for d in (False, True)
    )


def test_the_stable_set_shrinks_with_its_share_and_the_saving_is_the_replicas_times_their_time():
    record = check_dynamic_stable_scale(deploys=6)  # every deploy's saving equal to the arithmetic
    assert record.passed, (record.reference, record.ci_lo, record.ci_hi)
    assert record.reference > 1.0  # hours: two, then five, of ten stable replicas spared a quarter hour each


def test_an_abort_at_half_the_traffic_waits_for_the_stable_set_to_boot_and_hurts_more_users():
    late_fault = {
        "bad_probability": 1.0,
        "faults": {"_replace": True, "error_rate": {"weight": 1, "severity": 0.05, "onset_s": 2300}},
    }
    off, on = _pair(late_fault, 16)
    assert (off["detected_by"] == "analysis").all() and (on["detected_by"] == "analysis").all()
    ready_s = _rollout(True, {}).fleet.ready_s
    assert (on["time_to_repair_s"] - off["time_to_repair_s"]).to_numpy() == pytest.approx([ready_s] * 16)
    assert (on["faulty_requests"] > off["faulty_requests"]).all()


def test_an_early_abort_finds_the_stable_set_whole():
    early = {"bad_probability": 1.0, "faults": {"_replace": True, "crash": {"weight": 1, "severity": 1.0}}}
    off, on = _pair(early, 8)
    # At 1% and 5% the stable set keeps all ten replicas (ceil(9.9) and ceil(9.5)): nothing to boot.
    assert (on["time_to_repair_s"] == off["time_to_repair_s"]).all()


ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: cart}
spec:
  replicas: 10
  strategy:
    canary:
      dynamicStableScale: true
      trafficRouting: {nginx: {stableIngress: cart}}
      steps:
      - setWeight: 20
      - pause: {duration: 5m}
"""


def test_imported_and_exported(tmp_path):
    f = tmp_path / "cart.yaml"
    f.write_text(ROLLOUT)
    assert importer.import_manifests([f]).strategies["cart"].dynamic_stable_scale
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "cart", "argo")
    rollout = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Rollout")
    assert rollout["spec"]["strategy"]["canary"]["dynamicStableScale"] is True
    f.write_text(ROLLOUT.replace("      trafficRouting: {nginx: {stableIngress: cart}}\n", ""))
    im = importer.import_manifests([f])
    assert not im.strategies["cart"].dynamic_stable_scale
    assert any("dynamicStableScale" in w.field and "without trafficRouting" in w.message for w in im.warnings)
