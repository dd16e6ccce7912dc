"""Cold replicas and Argo's experiment step: a fresh replica serves slower for a while, so a good
release judged against the warm stable fails more often than one judged against a fresh baseline
started with it; the experiment still catches a slow release, and its replicas cost their time."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import yaml

import sim
from sim import importer
from sim.core.errors import ConfigError
from sim.engine.arrays.plan import plannable
from sim.engine.fleet import cold_multiplier
from sim.engine.serving import NEW, STABLE
from sim.engine.world import World
from sim.importer.export import export_manifest
from sim.validation.checks_rollout import check_experiment_step
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


ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: cart}
spec:
  replicas: 10
  strategy:
    canary:
      trafficRouting: {nginx: {stableIngress: cart}}
      steps:
      - experiment:
          duration: 30m
          templates:
          - {name: experiment-baseline, specRef: stable, replicas: 2, weight: 5}
          - {name: experiment-canary, specRef: canary, replicas: 3, weight: 5}
          analyses:
          - name: judge
            templateName: judge
            args:
            - {name: stable-hash, value: "{{templates.experiment-baseline.podTemplateHash}}"}
            - {name: latest-hash, value: "{{templates.experiment-canary.podTemplateHash}}"}
      - setWeight: 50
      - pause: {duration: 5m}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: judge}
spec:
  metrics:
  - name: judge
    interval: 1m
    count: 20
    initialDelay: 1m
    successCondition: result[0] == 1
    provider: {job: {spec: {template: {spec: {containers: [{name: c, image: alpine}]}}}}}
"""


def test_an_argo_experiment_step_imports_as_one_and_exports_back(tmp_path):
    f = tmp_path / "cart.yaml"
    f.write_text(ROLLOUT)
    im = importer.import_manifests([f])
    step = im.strategies["cart"].steps[0].experiment
    assert step is not None and step.duration_s == 1800.0
    assert (step.baseline.replicas, step.baseline.weight, step.canary.replicas, step.canary.weight) == (
        2,
        5,
        3,
        5,
    )
    assert step.analysis is not None and step.analysis.count == 20 and step.analysis.initial_delay_s == 60
    assert not any("not simulated" in w.message and w.field.endswith("experiment") for w in im.warnings)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "cart", "argo")
    rollout = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Rollout")
    exported = rollout["spec"]["strategy"]["canary"]["steps"][0]["experiment"]
    assert [(t["specRef"], t["replicas"], t["weight"]) for t in exported["templates"]] == [
        ("stable", 2, 5),
        ("canary", 3, 5),
    ]
    assert exported["duration"] == "1800s"
    back = tmp_path / "back.yaml"
    back.write_text(text)
    again = importer.import_manifests([back]).strategies["cart"].steps[0].experiment
    assert again == dataclasses.replace(step, analysis=again.analysis)
    assert again.analysis is not None and again.analysis.count == 20


def test_argos_own_example_a_lone_canary_template_judged_by_a_job():
    from tests.test_importer_examples import _import

    im = _import("rollout-experiment-step.yaml")
    steps = im.strategies["rollout-experiment-step"].steps
    exp = steps[1].experiment
    assert steps[0].weight == 25 and exp is not None and exp.baseline is None
    assert exp.duration_s is None and exp.analysis.pass_probability == 0.5 and exp.analysis.count == 2


def test_the_validation_check_holds_and_catches_an_experiment_that_costs_nothing(monkeypatch):
    assert check_experiment_step(deploys=3).passed
    monkeypatch.setattr(World, "set_experiment_instances", lambda self, n: None)
    assert not check_experiment_step(deploys=2).passed


def test_a_weighted_experiment_canarys_users_meet_the_fault_and_an_unweighted_ones_meet_nothing():
    crash = {
        "bad_probability": 1.0,
        "faults": {"_replace": True, "error_rate": {"weight": 1, "severity": 0.05}},
    }
    weighted = experiment()
    weighted["experiment"]["baseline"]["weight"] = 5
    weighted["experiment"]["canary"]["weight"] = 5
    rows = {}
    for name, first in (("weighted", weighted), ("load-tested", experiment())):
        scn = _scn([first, {"weight": 50}, {"pause_s": 300}], COLD, crash)
        rows[name] = sim.run_batch(scn, deploys=6, seed=7, jobs=1)
    for df in rows.values():
        assert (df["detected_by"] == "analysis").all()
    assert (rows["load-tested"]["faulty_requests"] == 0).all()
    # About 5% of users for the minute or two until the experiment's first look fails it.
    assert (rows["weighted"]["faulty_requests"] > 0).all()
    assert rows["weighted"]["exposure_at_detection"].to_numpy() == pytest.approx([0.05] * 6)


def test_a_flagger_export_says_it_leaves_the_experiment_out():
    _, notes = export_manifest(_scn(EXPERIMENT), "progressive", "flagger")
    assert any("experiment" in n for n in notes)
