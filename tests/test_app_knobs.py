"""The app's pure helpers (no Streamlit run needed): knobs, uploads, deploy outcomes and chart clicks."""

from __future__ import annotations

import pytest

import sim
from webapp import knobs, settings, show


def offered(name: str) -> tuple[dict, dict[str, knobs.Knob]]:
    data = sim.load_scenario(name).to_dict(compact=True)
    return data, {k.key: k for k in knobs.knobs_for(data)}


@pytest.mark.parametrize("name", sim.shipped_scenarios())
def test_writing_back_what_the_knobs_read_leaves_every_shipped_scenario_unchanged(name):
    data, ks = offered(name)
    values = {key: knobs.read(k, data) for key, k in ks.items()}
    assert sim.load_scenario(knobs.apply(data, list(ks.values()), values)) == sim.load_scenario(name)
    assert knobs.changed(data, list(ks.values()), values) == []


def test_the_default_scenario_offers_the_main_knobs_by_key():
    _, ks = offered("default")
    for key in (
        "k.run.deploys",
        "k.run.seed",
        "k.traffic.rate_rps",
        "k.fleet.replicas",
        "k.releases.bad_probability",
        "k.releases.faults.crash.weight",
        "k.noise.episodes_per_hour",
        "k.noise.latency_factor[0]",
        "k.noise.latency_factor[1]",
        "k.strategies.canary.steps",
        "k.strategies.progressive.steps",
        "k.strategies.canary.judge",
        "k.strategies.progressive.judge",
        "k.judges.fixed.max_p99_ms",
        "k.judges.baseline.max_latency_ratio",
        "k.judges.mann_whitney.confidence",
        "k.judges.baseline.watch",
        "k.humans.page_response_s.median",
        "k.humans.decision_s.p90",
    ):
        assert key in ks, key
    assert ks["k.strategies.canary.judge"].options == ("fixed", "baseline", "mann_whitney")
    assert "k.releases.flagged_share" not in ks  # no flag strategy: the knob would do nothing


def test_steps_read_as_weight_pause_pairs_and_write_each_strategys_own_shape():
    data, ks = offered("default")
    canary, progressive = ks["k.strategies.canary.steps"], ks["k.strategies.progressive.steps"]
    assert knobs.read(progressive, data) == "1:600, 5:600, 25:900, 50:900"
    out = knobs.write(data, canary, "2:300, 10:300")
    assert out["strategies"]["canary"]["steps"] == [
        {"weight": 2, "pause_s": 300},
        {"weight": 10, "pause_s": 300},
    ]
    out = knobs.write(out, progressive, "2:60, 50:120")
    # Argo's shape: a setWeight step, then a pause step.
    assert out["strategies"]["progressive"]["steps"] == [
        {"weight": 2},
        {"pause_s": 60},
        {"weight": 50},
        {"pause_s": 120},
    ]
    scn = sim.load_scenario(out)
    assert [s.weight for s in scn.strategies["canary"].steps] == [2, 10]
    assert data["strategies"]["canary"]["steps"][0]["weight"] == 1  # the original is left alone


def test_flag_ramps_are_percent_pause_pairs():
    data, ks = offered("flagged-release")
    ramp = ks["k.strategies.flag.ramp"]
    assert knobs.read(ramp, data) == "1:600, 5:600, 25:900, 50:900"
    scn = sim.load_scenario(knobs.write(data, ramp, "10:60"))
    assert [(s.percent, s.pause_s) for s in scn.strategies["flag"].ramp] == [(10, 60)]
    assert "k.releases.flagged_share" in ks


@pytest.mark.parametrize("text", ["", "5", "1:600, x:2", "1:600;5:600"])
def test_steps_that_do_not_parse_are_config_errors_naming_the_strategy(text):
    data, ks = offered("default")
    with pytest.raises(sim.ConfigError, match=r"^strategies\.canary\.steps: "):
        knobs.write(data, ks["k.strategies.canary.steps"], text)


def test_a_progressive_judge_knob_sets_every_analysis_and_the_gate():
    data, ks = offered("default")
    scn = sim.load_scenario(knobs.write(data, ks["k.strategies.progressive.judge"], "mann_whitney"))
    spec = scn.strategies["progressive"]
    assert spec.gate_judge == "mann_whitney" and [a.judge for a in spec.analyses] == ["mann_whitney"]


def test_shapes_the_knobs_cannot_show_are_not_offered():
    data = sim.load_scenario(
        "default",
        overrides=[
            "noise.latency_factor={kind: loguniform, low: 1.5, high: 4}",
            "humans.page_response_s=300",
            "strategies.progressive.steps=[{weight: 5}, {manual_gate: true}, {weight: 50}, {pause_s: 60}]",
        ],
    ).to_dict(compact=True)
    keys = {k.key for k in knobs.knobs_for(data)}
    assert (
        not {"k.noise.latency_factor", "k.noise.latency_factor[0]", "k.strategies.progressive.steps"} & keys
    )
    assert "k.humans.page_response_s.median" not in keys
    assert "k.strategies.canary.steps" in keys


def test_an_upload_is_validated_under_its_own_name_with_the_line():
    with pytest.raises(sim.ConfigError) as err:
        settings.load_upload("team/mine.yml", b"schema_version: 1\nrun:\n  deploys: 0\n")
    assert str(err.value) == "team/mine.yml: run.deploys: 0 is not within 1..10000000 (line 3)"
    with pytest.raises(sim.ConfigError, match="too large"):
        settings.load_upload("big.yaml", b"#" * (settings.MAX_UPLOAD_BYTES + 1))
    with pytest.raises(sim.ConfigError, match=r"^bin\.yaml: "):
        settings.load_upload("bin.yaml", b"\xff\xfe\x00")
    assert settings.load_upload("x.yaml", b"name: mine\n").name == "mine"


def test_a_scenario_files_lesson_is_its_opening_comment():
    text = sim.resolve_path("payments").read_text()
    about = settings.lesson(text)
    assert about.startswith("payments — a regulated payment API")
    assert "The article's pick: blue-green." in about and "schema_version" not in about


def test_each_deploy_is_told_by_its_outcome_and_a_clicked_point_names_its_deploy():
    rows = sim.run_batch(sim.load_scenario("default"), deploys=40, seed=3, strategies=["recreate", "canary"])
    told = show.outcome(rows)
    bad, escaped = rows["release_bad"].astype(bool), rows["escaped"].astype(bool)
    assert (told[bad & escaped] == "bad release, reached everyone").all()
    assert (told[bad & ~escaped] == "bad release, caught").all()
    assert set(told[~bad]) <= {"good release, kept", "good release, rolled back"}
    assert (told[rows["false_rollback"].astype(bool)] == "good release, rolled back").all()
    # What st.altair_chart returns for a click on a point, and for none.
    assert show.clicked({"selection": {show.PICK: [{"deploy": 17}]}}) == 17
    assert show.clicked({"selection": {show.PICK: []}}) is None
    assert show.clicked({"selection": {}}) is None


def test_dynamic_stable_scale_is_a_switch_offered_behind_a_router_only():
    data, ks = offered("default")
    knob = ks["k.strategies.progressive.dynamic_stable_scale"]
    assert knob.kind == "toggle" and knobs.read(knob, data) is False  # not in the compact scenario
    on = sim.load_scenario(knobs.write(data, knob, True))
    assert on.strategies["progressive"].dynamic_stable_scale
    assert knobs.changed(data, [knob], {knob.key: True}) == [knob.label]
    replicas = sim.load_scenario("default", overrides=["routing.mode=replicas"]).to_dict(compact=True)
    assert "k.strategies.progressive.dynamic_stable_scale" not in {k.key for k in knobs.knobs_for(replicas)}


def test_a_load_test_rate_is_offered_on_progressive_rollouts_behind_a_router():
    data, ks = offered("default")
    knob = ks["k.strategies.progressive.load_test_rps"]
    assert knob.kind == "float" and knobs.read(knob, data) == 0.0  # not in the compact scenario
    on = sim.load_scenario(knobs.write(data, knob, 20.0))
    assert on.strategies["progressive"].load_test_rps == 20.0
    assert knobs.changed(data, [knob], {knob.key: 20.0}) == [knob.label]


def test_analysis_limits_and_the_pre_rollout_test_are_offered_where_they_apply():
    data, ks = offered("default")
    knob = ks["k.strategies.progressive.analyses[0].consecutive_success_limit"]
    assert knob.kind == "int" and knobs.read(knob, data) == 0  # left out of the compact scenario
    limited = sim.load_scenario(knobs.write(data, knob, 3))
    assert limited.strategies["progressive"].analyses[0].consecutive_success_limit == 3
    assert not any(k.endswith(".pre_rollout") for k in ks)  # no Flagger checks in the default
    flagger = sim.load_scenario("default").to_dict(compact=True)
    flagger["strategies"]["progressive"]["checks"] = {"judge": "baseline", "interval_s": 60}
    ks = {k.key: k for k in knobs.knobs_for(flagger)}
    toggle = ks["k.strategies.progressive.pre_rollout"]
    assert toggle.kind == "toggle" and knobs.read(toggle, flagger) is False
    assert sim.load_scenario(knobs.write(flagger, toggle, True)).strategies["progressive"].pre_rollout


def test_cold_replicas_are_offered_at_their_defaults():
    data, ks = offered("default")
    factor, span = ks["k.fleet.cold_latency_factor"], ks["k.fleet.cold_s"]
    assert (knobs.read(factor, data), knobs.read(span, data)) == (1.0, 600.0)  # off: left out of the file
    cold = sim.load_scenario(knobs.write(knobs.write(data, factor, 2.0), span, 300.0))
    assert (cold.fleet.cold_latency_factor, cold.fleet.cold_s, cold.fleet.cold) == (2.0, 300.0, True)
