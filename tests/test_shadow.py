"""Shadow traffic on the new version: Argo's setMirrorRoute / Flagger's mirror, and Flagger's load-test
webhook. Copies and load-test requests run on the canary and are monitored, but no user meets them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from scipy.stats import norm

import sim
from sim import importer
from sim.engine.arrays.plan import plannable
from sim.engine.serving import NEW, STABLE
from sim.importer.export import export_manifest
from sim.importer.flagger import hey_rate
from sim.validation.checks_rollout import check_mirror_route
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


def test_the_copies_fail_no_user_and_burn_no_error_budget():
    run = sim.run_deploy(_scenario(MIRRORED), "progressive", deploy=0, seed=3)
    tel, W = run.world.telemetry, run.world.window_s
    k1 = math.floor(run.world.marks.detected_at / W)
    assert tel.err[:k1, NEW].sum() > 0  # monitoring saw the canary's copies fail...
    # ...and the whole service's user counts, which the SLO alert reads, hold the stable's alone.
    assert tel.svc_err[:k1].sum() == tel.err[:k1, STABLE].sum()
    assert tel.svc_user[:k1].sum() == tel.user[:k1, STABLE].sum()


def test_a_mirror_of_one_segment_copies_that_segments_requests_only():
    steps = [{"canary_scale": 10}, {"mirror_route": {"segments": ["android"]}}, {"pause_s": 1800}]
    for segment, caught in (("android", True), ("ios", False)):
        bug = {"segment_bug": {"weight": 1, "severity": 0.3, "segment": segment}}
        rows = sim.run_batch(
            _scenario([*steps, {"weight": 10}, {"pause_s": 600}], bug), deploys=6, seed=3, jobs=1
        )
        assert ((rows["exposure_at_detection"] == 0) == caught).all(), segment


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


ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  replicas: 10
  strategy:
    canary:
      trafficRouting:
        managedRoutes: [{name: mirror}]
        istio: {virtualService: {name: shop-vsvc, routes: [primary]}}
      steps:
      - setCanaryScale: {replicas: 10}
      - setMirrorRoute:
          name: mirror
          percentage: 35
          match: [{headers: {User-Agent: {regex: ".*Android.*"}}}]
      - pause: {duration: 10m}
      - setMirrorRoute: {name: mirror, match: [{method: {exact: GET}}]}
      - pause: {duration: 10m}
      - setMirrorRoute: {name: mirror}
      - setWeight: 20
      - pause: {duration: 10m}
"""

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  analysis:
    interval: 1m
    threshold: 2
    iterations: 10
    mirror: true
    mirrorWeight: 40
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    webhooks:
    - name: load-test
      url: http://flagger-loadtester.test/
      timeout: 5s
      metadata:
        cmd: "hey -z 30s -q 10 -c 2 http://podinfo-canary.test:9898/"
"""


def _mirrors(strategy: sim.config.strategies.ProgressiveConfig) -> list[tuple[float, tuple[str, ...]]]:
    return [(s.mirror_route.percentage, s.mirror_route.segments) for s in strategy.steps if s.mirror_route]


def test_argo_mirror_routes_import_and_export_back(tmp_path: Path):
    f = tmp_path / "shop.yaml"
    f.write_text(ROLLOUT)
    im = importer.import_manifests([f])
    # Argo's default percentage is 100 (istio.go createMirrorRoute); no match removes the route.
    assert _mirrors(im.strategies["shop"]) == [(35.0, ("android",)), (100.0, ()), (0.0, ())]
    assert not any("not simulated" in w.message for w in im.warnings)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "shop", "argo")
    canary = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Rollout")["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"]["managedRoutes"] == [{"name": "canary-mirror"}]
    back = tmp_path / "back.yaml"
    back.write_text(text)
    again = importer.import_manifests([back], scn).strategies
    assert _mirrors(next(iter(again.values()))) == _mirrors(im.strategies["shop"])


def test_flagger_mirror_and_load_test_import_and_export_back(tmp_path: Path):
    f = tmp_path / "podinfo.yaml"
    f.write_text(CANARY)
    im = importer.import_manifests([f])
    spec = im.strategies["podinfo"]
    # Blue/green with mirroring: the iterations judge the copies (scheduler.go runBlueGreen).
    assert isinstance(spec, sim.config.strategies.ProgressiveConfig)
    assert _mirrors(spec) == [(40.0, ()), (0.0, ())]
    assert [s.checks for s in spec.steps if s.checks] == [10]
    assert spec.load_test_rps == pytest.approx(10 * 2 * 30 / 60)  # -q × -c over -z's half of a minute
    assert not any("not simulated" in w.message for w in im.warnings)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "podinfo", "flagger")
    analysis = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Canary")["spec"]["analysis"]
    assert analysis["mirror"] is True and analysis["mirrorWeight"] == 40
    back = tmp_path / "back.yaml"
    back.write_text(text)
    again = next(iter(importer.import_manifests([back], scn).strategies.values()))
    assert again.load_test_rps == pytest.approx(spec.load_test_rps)
    assert _mirrors(again)[0] == (40.0, ())


def test_a_flagger_canary_mirrors_one_pass_before_its_first_weight(tmp_path: Path):
    f = tmp_path / "podinfo.yaml"
    f.write_text(CANARY.replace("iterations: 10", "stepWeight: 20").replace("    mirrorWeight: 40\n", ""))
    spec = importer.import_manifests([f]).strategies["podinfo"]
    kinds = [
        next(k for k in ("canary_scale", "mirror_route", "checks", "weight") if getattr(s, k))
        for s in spec.steps
    ]
    # scheduler.go runCanary: a mirrored pass at weight 0, checked, then the mirror stops as the weight rises
    assert kinds[:6] == ["canary_scale", "mirror_route", "checks", "mirror_route", "weight", "checks"]
    assert _mirrors(spec) == [(100.0, ()), (0.0, ())]


def test_hey_commands_read_as_rates():
    assert hey_rate("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/", 60.0) == 20.0
    assert hey_rate("hey -z 2m -q 5 http://x/", 60.0) == 250.0  # hey's 50 workers by default
    assert hey_rate("hey -z 1m -c 2 http://x/", 60.0) is None  # no -q: as fast as it can, no rate
    assert hey_rate("curl -sd 'test' http://x/token", 60.0) is None


def test_the_validation_check_holds():
    record = check_mirror_route(deploys=4)
    assert record.passed, record.note
