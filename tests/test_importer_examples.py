"""The real manifests in ../shared/examples: each imports as its controller defines it, and simulates.

Flagger's rules of thumb — promotion takes at least interval × maxWeight/stepWeight, a rollback about
interval × threshold — are not written anywhere in the model: they come out of runs of the imported
Canaries, read from the rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim import importer
from tests.conftest import QUIET, scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"
ARGO, FLAGGER = EXAMPLES / "argo-rollouts", EXAMPLES / "flagger"
TEMPLATES = [ARGO / "analysis-templates.yaml", ARGO / "cluster-analysis-templates.yaml"]
MANIFESTS = sorted(p for p in EXAMPLES.glob("*/*.yaml") if "templates" not in p.name)
CRASH = {"_replace": True, "crash": {"weight": 1, "severity": [0.5, 1.0], "smoke_catch": 0}}


def _import(name: str, scn: sim.Scenario | None = None):
    path = next(p for p in MANIFESTS if p.name == name)
    return importer.import_manifests([path, *TEMPLATES], scn)


def test_the_examples_are_there():
    assert len(MANIFESTS) == 8, MANIFESTS


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_example_imports_and_runs_beside_the_built_in_strategies(path):
    default = sim.load_scenario("default")
    scn, _warnings = importer.add_rollouts(default, [path, *TEMPLATES])
    imported = [k for k in scn.strategies if k not in default.strategies]
    assert len(imported) == 1 and set(default.strategies) <= set(scn.strategies)
    df = sim.run_batch(scn, deploys=4, seed=2)
    assert df["error"].isna().all() and len(df) == 4 * len(scn.strategies)


def test_guestbook_maps_steps_background_analysis_and_prometheus_thresholds():
    im = _import("guestbook-prometheus.yaml")
    g = im.strategies["guestbook"]
    assert [(s.weight, s.pause_s) for s in g.steps] == [
        (1, None),
        (None, 300),
        (10, None),
        (None, 600),
        (25, None),
        (None, 600),
        (50, None),
        (None, 600),
    ]
    # Background analysis from step 2 (setWeight 10), one run per template, until the rollout ends.
    assert [(a.starting_step, a.count, a.interval_s, a.failure_limit) for a in g.analyses] == [
        (2, None, 60, 2),
        (2, None, 60, 3),
    ]
    success, latency = (im.judges[a.judge] for a in g.analyses)
    assert (success.watch, success.max_error_rate, success.lookback_s) == (("error_rate",), 0.01, 60)
    # istio_request_duration_milliseconds ... / 1000 ≤ 0.5 (seconds): a p99 of 500 ms.
    assert (latency.watch, latency.max_p99_ms) == (("p99",), 500)
    assert (g.routing.mode, g.routing.sticky) == ("router", False)  # Istio weights each request
    assert (g.scale_down_delay_s, g.abort_scale_down_delay_s) == (30, 30)  # Argo's defaults
    assert any("20 replicas" in str(w) for w in im.warnings)  # the default fleet has 10


def test_rollout_canary_indefinite_pause_is_a_person_and_replicas_approximate_weights():
    im = _import("rollout-canary.yaml")
    c = im.strategies["rollout-canary"]
    assert c.steps[1].manual_gate and c.gate_judge == "fixed"
    assert (c.routing.mode, c.routing.max_surge) == ("replicas", 3)  # maxSurge "25%" of 10, rounded up
    scn = scenario({**QUIET, "releases": {"bad_probability": 0}, "fleet": {"replicas": 5}})
    scn, _ = importer.add_rollouts(scn, [next(p for p in MANIFESTS if p.name == "rollout-canary.yaml")])
    run = sim.run_deploy(scn, "rollout-canary", deploy=0, seed=1)
    events = [(k, d) for _, k, d in run.deploy.events if k in ("weight", "review")]
    assert events[0] == ("weight", "20% asked, 1/5 replicas")
    assert events[1][0] == "review"  # `pause: {}` waits for a person before 40%
    assert events[2] == ("weight", "40% asked, 2/5 replicas")


def test_analysis_step_runs_both_templates_as_one_run():
    im = _import("rollout-analysis-step.yaml")
    step = im.strategies["rollout-analysis-step"].steps[1].analysis
    # random-fail: a coin (the Job exits with $RANDOM % 10 % 2), two measurements, one failure tolerated;
    # always-pass comes from the ClusterAnalysisTemplate (clusterScope: true).
    assert [(m.pass_probability, m.count, m.failure_limit) for m in step.metrics] == [
        (0.5, 2, 1),
        (1.0, 1, 1),
    ]
    assert any("passes with probability 0.5" in str(w) for w in im.warnings)


def test_random_fail_rolls_back_a_quarter_of_good_releases():
    # Only two failed coins in two tosses fail the run: P = 1/4. 400 good deploys: the binomial
    # standard error is sqrt(0.25 · 0.75 / 400) = 0.022, so ±0.065 is three of them.
    scn = scenario({**QUIET, "releases": {"bad_probability": 0}, "safety_net": None})
    scn, _ = importer.add_rollouts(
        scn, [next(p for p in MANIFESTS if p.name == "rollout-analysis-step.yaml"), *TEMPLATES]
    )
    df = sim.run_batch(scn, deploys=400, seed=9, strategies=["rollout-analysis-step"])
    assert df["false_rollback"].mean() == pytest.approx(0.25, abs=0.065)


def test_experiment_step_is_an_experiment_with_its_analysis():
    im = _import("rollout-experiment-step.yaml")
    steps = im.strategies["rollout-experiment-step"].steps
    assert steps[0].weight == 25 and steps[1].experiment.analysis.pass_probability == 0.5
    assert not any("experiment" in w.field and "not simulated" in w.message for w in im.warnings)


def test_bluegreen_example_waits_for_a_person_and_uses_argos_defaults():
    im = _import("rollout-bluegreen.yaml")
    bg = im.strategies["rollout-bluegreen"]
    assert (bg.auto_promote, bg.scale_down_delay_s, bg.abort_scale_down_delay_s, bg.smoke_test_s) == (
        False,
        30,
        30,
        0,
    )
    scn = scenario({**QUIET, "releases": {"bad_probability": 0}, "humans": {"decision_s": 600}})
    scn, _ = importer.add_rollouts(scn, [next(p for p in MANIFESTS if p.name == "rollout-bluegreen.yaml")])
    row = sim.run_deploy(scn, "rollout-bluegreen", deploy=0, seed=1).row
    assert row["lead_time_s"] == 70 + 600 + 2  # green ready, the person's decision, the switch


def test_flagger_canaries_map_weights_threshold_interval_and_builtin_metrics():
    im = importer.import_manifests([FLAGGER / "istio-canary.yaml"])
    c = im.strategies["podinfo"]
    assert [s.weight for s in c.steps if s.weight is not None] == list(range(5, 55, 5))
    assert all(s.checks == 1 for s in c.steps[2::2])
    assert (c.checks.interval_s, c.checks.failure_limit) == (15, 9)  # threshold 10 failed checks
    judge = im.judges[c.checks.judge]
    # request-success-rate ≥ 99 (percent), request-duration ≤ 500 (ms, the p99).
    assert (judge.watch, judge.max_error_rate, judge.max_p99_ms) == (("error_rate", "p99"), 0.01, 500)
    assert judge.lookback_s == 60 and any("intervals differ" in str(w) for w in im.warnings)
    assert sum("webhook" in str(w) for w in im.warnings) == 2
    steps = importer.import_manifests([FLAGGER / "linkerd-canary-steps.yaml"]).strategies["podinfo"].steps
    assert [s.weight for s in steps if s.weight is not None] == list(range(5, 60, 5))


def test_flagger_ab_test_routes_matched_users_for_its_iterations():
    im = importer.import_manifests([FLAGGER / "istio-abtest.yaml"])
    c = im.strategies["podinfo"]
    # Neither the insider cookie nor Firefox names a segment: 5% of users each, 1 − 0.95² together.
    assert [s.weight for s in c.steps if s.weight is not None] == [pytest.approx(9.75)]
    assert c.steps[-1].checks == 10 and c.routing.sticky
    assert sum("names no segment" in str(w) for w in im.warnings) == 2


INTERVAL, THRESHOLD = 15.0, 10  # all three Flagger examples


@pytest.mark.parametrize(
    ("name", "steps"),
    [("istio-canary.yaml", 50 / 5), ("linkerd-canary-steps.yaml", 11), ("istio-abtest.yaml", 10)],
)
def test_flagger_promotion_takes_interval_times_its_steps(name, steps):
    good = scenario({**QUIET, "releases": {"bad_probability": 0}})
    scn, _ = importer.add_rollouts(good, [FLAGGER / name])
    lead = sim.run_batch(scn, deploys=20, seed=4, strategies=["podinfo"])["lead_time_s"]
    # "At least interval × maxWeight/stepWeight" (interval × iterations for A/B) ...
    assert (lead >= INTERVAL * steps).all()
    # ... and in a quiet world, where no check fails, exactly that after the canary's start-up and
    # before the final switch of the router.
    assert (lead == scn.fleet.ready_s + INTERVAL * steps + scn.routing.flip_s).all()


@pytest.mark.parametrize("name", ["istio-canary.yaml", "linkerd-canary-steps.yaml", "istio-abtest.yaml"])
def test_flagger_rolls_back_after_about_interval_times_threshold(name):
    bad = scenario({**QUIET, "releases": {"bad_probability": 1, "faults": CRASH}})
    scn, _ = importer.add_rollouts(bad, [FLAGGER / name])
    df = sim.run_batch(scn, deploys=20, seed=5, strategies=["podinfo"])
    assert (df["detected_by"] == "analysis").all()
    ttd = df["time_to_detect_s"]
    # The first check comes one interval after the weight that exposed users; the threshold-th
    # failure T intervals in; the controller acts on it at its next pass.
    assert ((ttd >= INTERVAL * THRESHOLD) & (ttd <= INTERVAL * (THRESHOLD + 1))).all()
    run = sim.run_deploy(scn, "podinfo", deploy=0, seed=5)
    first_failure = next(t for t, k, d in run.deploy.events if k == "measurement" and "fail" in d)
    detected = next(t for t, k, _ in run.deploy.events if k == "detected")
    assert detected - first_failure == INTERVAL * THRESHOLD  # the documented interval × threshold
