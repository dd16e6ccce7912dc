"""Argo's setHeaderRoute: the users a header match names reach the canary whatever the weight, and
nobody else; a step without a match removes the route, and so does an abort. Import and export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sim
from sim import importer
from sim.importer.export import export_manifest
from sim.validation.checks_rollout import check_header_route
from tests.conftest import QUIET, scenario

ANDROID_BUG = {"segment_bug": {"weight": 1, "severity": 0.3, "segment": "android"}}
ERRORS = {"error_rate": {"weight": 1, "severity": 0.05}}
HEADER_FIRST = [
    {"canary_scale": 3},
    {"header_route": ["android"]},
    {"pause_s": 600},
    {"header_route": []},
    {"weight": 10},
    {"pause_s": 600},
]


def _scenario(faults: dict, steps: list) -> sim.Scenario:
    return scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 1.0, "faults": {"_replace": True, **faults}},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": steps}},
        }
    )


def test_a_header_route_sends_the_whole_segment_and_nobody_else():
    android = {s.name: s.share for s in sim.load_scenario("default").traffic.segments}["android"]
    rows = sim.run_batch(_scenario(ERRORS, HEADER_FIRST), deploys=12, seed=3, jobs=1)
    assert (rows["detected_by"] == "analysis").all()
    # Caught while only the header route carried users: exactly android's share of users met it.
    assert rows["exposure_at_detection"].to_numpy() == pytest.approx([android] * 12)
    bug = sim.run_batch(_scenario(ANDROID_BUG, HEADER_FIRST), deploys=12, seed=3, jobs=1)
    assert (bug["exposure_at_detection"] == 1.0).all()  # every android user, at weight 0


def test_a_step_without_a_match_removes_the_route_and_an_abort_does_too():
    good = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0.0},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": HEADER_FIRST}},
        }
    )
    run = sim.run_deploy(good, "progressive", deploy=0, seed=3)
    shares = [share for _, share in run.world.marks.history]
    android = {s.name: s.share for s in good.traffic.segments}["android"]
    assert shares[:3] == pytest.approx([0.0, android, 0.0])  # routed, then removed before 10%
    bad = sim.run_deploy(_scenario(ERRORS, HEADER_FIRST), "progressive", deploy=0, seed=3)
    assert bad.world.marks.history[-1][1] == 0.0 and bad.world.header == ()


def test_a_header_route_names_segments_and_needs_a_router():
    with pytest.raises(sim.ConfigError, match=r"steps\[1\]\.header_route: 'ipad' is not a segment"):
        _scenario(ERRORS, [{"canary_scale": 3}, {"header_route": ["ipad"]}])
    with pytest.raises(sim.ConfigError, match=r"header_route: a header route needs a traffic router"):
        scenario(
            {
                "routing": {"mode": "replicas"},
                "strategies": {"x": {"kind": "progressive", "steps": [{"header_route": ["android"]}]}},
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
        managedRoutes: [{name: internal}]
        istio: {virtualService: {name: shop-vsvc, routes: [primary]}}
      steps:
      - setCanaryScale: {replicas: 2}
      - setHeaderRoute:
          name: internal
          match: [{headerName: User-Agent, headerValue: {regex: ".*Android.*"}}]
      - pause: {duration: 10m}
      - setHeaderRoute: {name: internal}
      - setWeight: 20
      - pause: {duration: 10m}
"""


def test_imported_from_argo_and_exported_back(tmp_path: Path):
    f = tmp_path / "shop.yaml"
    f.write_text(ROLLOUT)
    im = importer.import_manifests([f])
    routes = [s.header_route for s in im.strategies["shop"].steps if s.header_route is not None]
    assert routes == [("android",), ()]
    assert any("every user of android" in w.message for w in im.warnings)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "shop", "argo")
    rollout = next(d for d in yaml.safe_load_all(text) if d["kind"] == "Rollout")["spec"]["strategy"][
        "canary"
    ]
    assert rollout["trafficRouting"]["managedRoutes"] == [{"name": "canary-header"}]
    exported = [s["setHeaderRoute"] for s in rollout["steps"] if "setHeaderRoute" in s]
    assert exported[1] == {"name": "canary-header"} and "match" in exported[0]
    back = tmp_path / "back.yaml"
    back.write_text(text)
    again = importer.import_manifests([back], scn).strategies
    assert [s.header_route for s in next(iter(again.values())).steps if s.header_route is not None] == routes


def test_the_validation_check_holds():
    record = check_header_route(deploys=4)
    assert record.passed, (record.reference, record.ci_lo, record.ci_hi)
