"""Config records: defaults, validation with key paths, YAML line numbers, overrides, round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import sim
from sim.config.fleet import FleetConfig, Latency
from sim.config.scenario import apply_override, parse_key_path
from sim.core.dist import Dist
from sim.core.errors import ConfigError

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_default_yaml_states_the_built_in_defaults():
    # scenarios/default.yaml documents every value; it must not drift from the code's defaults.
    loaded = sim.load_scenario(SCENARIOS / "default.yaml")
    built_in = sim.Scenario()
    for f in dataclasses.fields(built_in):
        if f.name != "description":
            assert getattr(loaded, f.name) == getattr(built_in, f.name), f.name


def test_records_validate_on_construction():
    with pytest.raises(ConfigError, match=r"replicas: -1 is not within 1\.\.10000"):
        FleetConfig(replicas=-1)
    with pytest.raises(ConfigError, match="p99_ms 10 must be above p50_ms 40"):
        Latency(p50_ms=40, p99_ms=10)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"releases": {"bad_probability": 1.5}}, r"releases\.bad_probability: 1\.5 is not within 0\.\.1"),
        ({"traffic": {"rate_rps": -3}}, r"traffic\.rate_rps: -3 is not within 0\.\.10000000 \(excluding 0\)"),
        (
            {"strategies": {"progressive": {"steps": [{"weight": 1}, {"weight": 140}]}}},
            r"strategies\.progressive\.steps\[1\]\.weight: 140 is not within 0\.\.100",
        ),
        (
            {"strategies": {"canary": {"steps": [{"weight": 5}, {"weight": 1}]}}},
            r"strategies\.canary\.steps\[1\]\.weight: weights must go up step by step: 1 after 5",
        ),
        ({"releases": {"faults": {"meltdown": {}}}}, r"releases\.faults\.meltdown: unknown key 'meltdown'"),
        ({"strategies": {"yolo": {}}}, r"strategies\.yolo\.kind: needs a kind, one of: .*blue_green"),
        ({"fleet": {"replicaz": 3}}, r"fleet\.replicaz: unknown key 'replicaz'; did you mean 'replicas'\?"),
        ({"traffic": {"segments": [{"name": "a", "share": 0.5}]}}, r"segment shares add up to 0\.5, not 1"),
        ({"routing": {"mode": "mesh"}}, r"routing\.mode: 'mesh' is not one of: router, replicas"),
        (
            {"releases": {"faults": {"crash": {"severity": [0.5, 2.0]}}}},
            r"releases\.faults\.crash\.severity: draws may reach 2, which is not within 0\.\.1",
        ),
        ({"strategies": {"canary": {"judge": "slo"}}}, r"strategies\.canary: 'slo' is not a gate judge"),
        ({"fleet": {"replicas": "ten"}}, r"fleet\.replicas: expected a whole number, got 'ten'"),
    ],
)
def test_bad_values_name_the_key_path_and_what_is_allowed(patch, message):
    from tests.conftest import merge

    with pytest.raises(ConfigError, match=message):
        sim.load_scenario(merge(sim.Scenario().to_dict(), patch))


def test_yaml_errors_name_file_and_line(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("name: x\nstrategies:\n  progressive:\n    steps:\n      - weight: 1\n      - weight: 140\n")
    with pytest.raises(ConfigError) as err:
        sim.load_scenario(f)
    text = str(err.value)
    assert text.startswith(f"{f}: strategies.progressive.steps[1].weight: 140 is not within 0..100")
    assert text.endswith("(line 6)")
    f.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML.*\(line 2\)"):
        sim.load_scenario(f)
    with pytest.raises(ConfigError, match="no such file"):
        sim.load_scenario(tmp_path / "missing.yaml")


def test_distribution_shorthands():
    assert Dist.coerce_input(3, ()) == {"kind": "fixed", "value": 3}
    d = sim.load_scenario({"noise": {"duration_s": [60, 120]}}).noise.duration_s
    assert (d.kind, d.low, d.high) == ("uniform", 60, 120)
    with pytest.raises(ConfigError, match="a lognormal distribution needs median and p90"):
        Dist(kind="lognormal", median=3)


def test_overrides_reach_any_key_path():
    assert parse_key_path("strategies.progressive.steps[2].weight") == (
        "strategies",
        "progressive",
        "steps",
        2,
        "weight",
    )
    scn = sim.load_scenario(
        "default",
        overrides=["strategies.progressive.steps[2].weight=7", "run.seed=9", "routing.mode=replicas"],
    )
    assert scn.strategies["progressive"].steps[2].weight == 7
    assert (scn.run.seed, scn.routing.mode) == (9, "replicas")
    with pytest.raises(ConfigError, match="no item 99"):
        apply_override(sim.Scenario().to_dict(), "strategies.progressive.steps[99].weight=1")
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        sim.load_scenario("default", overrides=["fleet.colour=blue"])


def test_yaml_round_trip_is_exact():
    scn = sim.load_scenario("default")
    assert sim.load_scenario(yaml.safe_load(scn.to_yaml())) == scn


def test_only_selects_strategies_in_order():
    scn = sim.Scenario().only(["progressive", "recreate"])
    assert list(scn.strategies) == ["progressive", "recreate"]
    with pytest.raises(ConfigError, match="'rolling' is not a strategy"):
        sim.Scenario().only(["rolling"])
    with pytest.raises(ConfigError, match="no strategy selected"):
        sim.Scenario().only([])


def test_compact_form_keeps_a_none_that_overrides_a_default():
    # safety_net defaults to "slo": a compact dict that left `null` out would read back with the alert.
    scn = sim.load_scenario("dora-low")
    assert scn.safety_net is None and scn.to_dict(compact=True)["safety_net"] is None
    assert sim.load_scenario(scn.to_dict(compact=True)) == scn
    assert (
        "header_route"
        not in sim.load_scenario("default").to_dict(compact=True)["strategies"]["progressive"]["steps"][0]
    )
