"""Rollouts and Canaries beyond the shared examples (tests/data/manifests): every field the importer
maps, the controllers' defaults it applies, and the warnings it gives where it has to assume."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim import importer
from sim.importer.argo import NEVER_S
from tests.conftest import QUIET, scenario

DATA = Path(__file__).resolve().parent / "data" / "manifests"


def _import(name: str, scn: sim.Scenario | None = None) -> importer.Imported:
    return importer.import_manifests([DATA / name], scn)


def _warned(im: importer.Imported, field: str, text: str) -> bool:
    return any(field in w.field and text in w.message for w in im.warnings)


def test_basic_canary_uses_replicas_and_merges_an_inline_analysis_into_one_run():
    im = _import("argo-basic-canary.yaml")
    c = im.strategies["checkout"]
    assert (c.routing.mode, c.routing.max_surge) == ("replicas", 1)
    assert [s.pause_s for s in c.steps if s.pause_s] == [120, 90, 3600]  # 2m, a bare 90 (seconds), 1h
    run = c.steps[3].analysis
    errors, smoke = run.metrics
    # failureCondition "result[0] > 2" on a ratio × 100: fail above 2% errors; range [2m]: 120 s.
    judge = im.judges[errors.judge]
    assert (judge.max_error_rate, judge.lookback_s) == (0.02, 120)
    assert (errors.count, errors.interval_s, errors.failure_limit) == (4, 30, 1)
    # The smoke Job exits 0 when RANDOM % 4 is 0 (1/4) and is retried once (backoffLimit 1).
    assert smoke.pass_probability == pytest.approx(1 - 0.75**2) and smoke.initial_delay_s == 60
    assert c.analyses[0].starting_step == 2 and c.analyses[0].judge == errors.judge
    assert not [w for w in im.warnings if "Service" in w.obj]  # a Service is skipped quietly


def test_router_canary_scales_weights_canary_and_delays():
    im = _import("argo-router-canary.yaml")
    c = im.strategies["search"]
    weights = [s.weight for s in c.steps if s.weight is not None]
    assert weights == [0.5, 25, 50]  # setWeight out of maxTrafficWeight 1000
    scales = [s.canary_scale for s in c.steps if s.canary_scale is not None]
    assert scales == [5, 1]  # 4 of 8 replicas on a fleet of 10; then the 0.5% weight's share, rounded up
    assert (c.scale_down_delay_s, c.abort_scale_down_delay_s) == (120, NEVER_S)  # 0: never scaled down
    judge = im.judges[c.steps[6].analysis.judge]
    assert (judge.watch, judge.max_p50_ms) == (("p50",), 120)  # failureCondition > 0.12 s
    assert _warned(im, "metrics[0]", "inconclusive to the controller")
    assert _warned(im, "metrics[1]", "dryRun") and _warned(im, "setHeaderRoute", "not simulated")
    assert c.dynamic_stable_scale  # behind a router: the stable set shrinks with its weight


def test_blue_green_with_every_knob():
    im = _import("argo-bluegreen-full.yaml")
    bg = im.strategies["billing"]
    assert (bg.preview_replicas, bg.auto_promote, bg.auto_promotion_s) == (3, True, 300)  # 2 of 6 → 3 of 10
    assert bg.smoke_test_s == 120  # the preview-success metric: 5 measurements 30 s apart
    assert bg.pre_promotion.pass_probability == 1.0  # the web call, assumed to pass
    assert (bg.post_promotion.count, bg.post_promotion.failure_limit) == (10, 1)
    # No scaleDownDelaySeconds with a post-promotion analysis: blue stays until it completes (540 s).
    assert (bg.scale_down_delay_s, bg.abort_scale_down_delay_s) == (540, 45)
    assert _warned(im, "prePromotionAnalysis", "smoke test of 120 s") and _warned(
        im, "web", "assumed to pass"
    )


def test_an_explicit_scale_down_delay_cancels_the_post_promotion_analysis(tmp_path):
    text = (
        (DATA / "argo-bluegreen-full.yaml")
        .read_text()
        .replace(
            "      abortScaleDownDelaySeconds: 45\n",
            "      abortScaleDownDelaySeconds: 45\n      scaleDownDelaySeconds: 200\n",
        )
    )
    f = tmp_path / "bg.yaml"
    f.write_text(text)
    im = importer.import_manifests([f])
    bg = im.strategies["billing"]
    assert bg.scale_down_delay_s == 200 and bg.post_promotion.count == 4  # at 0, 60, 120, 180 s
    assert _warned(im, "postPromotionAnalysis", "cancelled by Argo")


def test_flagger_defaults_promotion_steps_affinity_and_custom_metric():
    im = _import("flagger-promotion.yaml")
    c = im.strategies["frontend"]
    assert [s.weight for s in c.steps if s.weight is not None] == [25, 50, 75, 100]  # maxWeight 100
    assert (c.checks.interval_s, c.checks.failure_limit) == (60, 0)  # interval 60 s, threshold 1
    assert c.steps[-1].manual_gate  # confirm-promotion
    # stepWeightPromotion 40 from 100%: three passes to move the traffic back, one to scale down.
    assert c.scale_down_delay_s == 4 * 60
    assert c.routing.session_affinity and not c.routing.sticky  # sessionAffinity: a cookie
    judge = im.judges[c.checks.judge]
    # success ≥ 99.5% and the custom error percentage ≤ 2: the stricter limit holds.
    assert (judge.watch, judge.max_error_rate, judge.lookback_s) == (("error_rate",), 0.005, 120)
    assert _warned(im, "webhooks[0]", "person approving the promotion")


def test_flagger_blue_green_with_and_without_a_mesh():
    im = _import("flagger-bluegreen.yaml")
    kube, mesh = im.strategies["worker"], im.strategies["api"]
    # kubernetes: six load-tested iterations plus the promoting one, then the primary rolls over.
    assert (kube.smoke_test_s, kube.post_promotion, kube.scale_down_delay_s) == (210, None, 60)
    # istio: interval raised to Flagger's 10 s floor; after the cutover, checks until one passes.
    assert mesh.smoke_test_s == 40
    assert (mesh.post_promotion.count, mesh.post_promotion.failure_limit, mesh.post_promotion.interval_s) == (
        3,
        2,
        10,
    )
    assert im.judges[mesh.post_promotion.judge].max_error_rate == 0.02  # deprecated threshold: 98
    assert _warned(im, "interval", "10 s at the most often")


def test_flagger_ab_test_naming_a_segment_routes_that_segment():
    im = _import("flagger-abtest-segment.yaml")
    c = im.strategies["mobile-api"]
    weight = next(s.weight for s in c.steps if s.weight is not None)
    assert weight == pytest.approx(15.0)  # android's share of user traffic in the default scenario
    assert c.routing.canary_bias.segments == {"web": 0, "ios": 0, "android": pytest.approx(1 / 0.15)}
    assert not im.warnings
    bug = {
        "_replace": True,
        "segment_bug": {"weight": 1, "severity": 0.5, "smoke_catch": 0, "segment": "android"},
    }
    scn, _ = importer.add_rollouts(
        scenario({**QUIET, "releases": {"bad_probability": 1, "faults": bug}}),
        [DATA / "flagger-abtest-segment.yaml"],
    )
    run = sim.run_deploy(scn, "mobile-api", deploy=0, seed=3)
    assert run.row["detected_by"] == "analysis"
    detected = run.world.marks.detected_at
    share = [s for t, s in run.world.marks.history if t <= detected][-1]
    assert share == pytest.approx(0.15)  # all android users, nobody else, until the rollback


def test_a_segment_the_scenario_does_not_have_falls_back_to_a_share():
    scn = scenario(
        {
            "traffic": {"segments": [{"name": "eu", "share": 0.5}, {"name": "us", "share": 0.5}]},
            "releases": {"faults": {"segment_bug": {"segment": "eu"}}},
        }
    )
    im = _import("flagger-abtest-segment.yaml", scn)
    assert next(s.weight for s in im.strategies["mobile-api"].steps if s.weight) == pytest.approx(5.0)
    assert _warned(im, "match[0]", "names no segment")


def test_imports_into_a_scenario_and_beside_its_strategies_rename_clashes(tmp_path):
    f = tmp_path / "canary.yaml"
    f.write_text((DATA / "argo-basic-canary.yaml").read_text().replace("name: checkout", "name: canary", 1))
    scn, warnings = importer.add_rollouts(sim.load_scenario("default"), [f])
    assert "canary-2" in scn.strategies and scn.strategies["canary"].kind == "canary"
    assert any("imported as strategy 'canary-2'" in str(w) for w in warnings)


def test_scenario_from_manifests_sizes_the_fleet_and_keeps_its_capacity():
    scn, _ = importer.scenario_from_manifests([DATA / "argo-bluegreen-full.yaml"])
    default = sim.Scenario()
    assert scn.fleet.replicas == 6
    assert scn.fleet.replicas * scn.fleet.capacity_rps == default.fleet.replicas * default.fleet.capacity_rps
    assert list(scn.strategies) == ["billing"] and scn.name == "billing"
    assert scn.strategies["billing"].preview_replicas == 2  # no scaling: the fleet is the Rollout's


def test_unknown_fields_are_reported_not_dropped(tmp_path):
    f = tmp_path / "typo.yaml"
    text = (DATA / "argo-router-canary.yaml").read_text()
    f.write_text(text.replace("abortScaleDownDelaySeconds: 0", "abortScaleDownDelaySecond: 0"))
    im = importer.import_manifests([f])
    assert _warned(im, "canary.abortScaleDownDelaySecond", "did you mean 'abortScaleDownDelaySeconds'?")
    assert im.strategies["search"].abort_scale_down_delay_s == 30  # the default, since the field was not read
    f.write_text((DATA / "flagger-promotion.yaml").read_text().replace("sessionAffinity", "sessionAfinity"))
    im = importer.import_manifests([f])
    assert _warned(im, "analysis.sessionAfinity", "did you mean 'sessionAffinity'?")
    assert not im.strategies["frontend"].routing.session_affinity


def test_a_kubectl_list_is_read_item_by_item(tmp_path):
    import yaml

    docs = list(yaml.safe_load_all((DATA / "argo-basic-canary.yaml").read_text()))
    f = tmp_path / "list.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs}))
    im = importer.import_manifests([f])
    assert im.strategies["checkout"] == _import("argo-basic-canary.yaml").strategies["checkout"]
    f.write_text(
        f.read_text().replace("argoproj.io/v1alpha1\n  kind: Rollout", "argoproj.io/v9\n  kind: Rollout")
    )
    with pytest.raises(
        sim.ConfigError, match=r"Rollout/checkout: apiVersion: unsupported apiVersion .* \(line \d+\)"
    ):
        importer.import_manifests([f])
