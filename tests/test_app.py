"""The Streamlit app, page by page, through Streamlit's AppTest: the real page code, widgets found by key.

Batches are kept small (20-30 deploys) by setting the deploy knobs before the first run; every other
value is the shipped scenario's. Widget values go in through the same keys a user's clicks set.
"""

from __future__ import annotations

import importlib
import json
import shlex
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
import yaml
from streamlit.testing.v1 import AppTest

import sim
from sim import cli
from sim.results import advisor
from sim.results.report import how_to_choose
from webapp import lesson as frame
from webapp import rollouts, runs, settings, show
from webapp.pages.lesson_noisy_neighbours import LESSON as NOISY

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SMALL = 12  # deploys per strategy on the Compare page
WS = 10  # deploys per strategy on the workshop pages (one of the page's choices)

LESSONS = {
    "webapp/pages/lesson_blast_recovery.py": ("ws1.knob", "select_slider", 30),
    "webapp/pages/lesson_noisy_neighbours.py": ("ws2.knob", "select_slider", 4.0),
    "webapp/pages/lesson_representative.py": ("ws3.knob", "select_slider", 1.0),
    "webapp/pages/lesson_gate_watches.py": ("ws4.knob", "multiselect", ["error_rate", "p99"]),
    "webapp/pages/lesson_database.py": ("ws5.knob", "radio", "schema-expand-contract"),
    "webapp/pages/lesson_flags.py": ("ws6.knob", "select_slider", 0.0),
    "webapp/pages/lesson_peeking.py": ("ws7.knob", "select_slider", 0.1),
}


def app(**state: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["k.run.deploys"] = SMALL
    for key, _, _ in LESSONS.values():  # every lesson page opens small ("ws1.knob" -> "ws1.deploys")
        at.session_state[key.replace(".knob", ".deploys")] = WS
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def clean(at: AppTest) -> None:
    """Nothing raised, nothing reported as an error."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def widths(at: AppTest, i: int = 0) -> dict[str, int]:
    """The pixel width the page gives each column of its i-th table, the row labels' included."""
    return {name: c["width"] for name, c in json.loads(at.dataframe[i].proto.columns).items()}


def ran(at: AppTest) -> AppTest:
    at.button(key="run").click().run()
    clean(at)
    return at


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every test computes its own batches: a result cached by an earlier test proves nothing here."""
    st.cache_data.clear()
    yield


# ---- Compare ----


def test_compare_runs_and_shows_the_table_the_charts_and_the_downloads():
    at = app()
    clean(at)
    assert at.info[0].value.startswith("Press **Run**")
    ran(at)
    res = at.session_state["results"]
    assert res.deploys == SMALL and res.strategies == tuple(sim.load_scenario("default").strategies)
    # One table, strategies side by side; its caption says per how many bad releases.
    assert list(table(at).columns) == list(res.strategies)
    assert table(at).equals(how_to_choose(res.summary, follow_s=res.follow_s))
    first = res.rows[res.rows["strategy"] == res.strategies[0]]
    bad = int(first["release_bad"].astype(bool).sum())
    assert any(f"Safety per bad release (n = {bad})" in c.value for c in at.caption)
    assert table(at).at["bad releases", "canary"] == str(bad)
    assert sum(widths(at).values()) <= show.CONTENT_PX, "no horizontal scroll in a 1,280 px window"
    keys = {b.key for b in at.get("download_button")}
    assert {"rows.csv", "rows.parquet", "summary.csv", "download.yaml"} <= keys
    # Each tab draws its chart when opened (a user's click on the tab sets the same key).
    for name, title, _ in show.RUN_CHARTS:
        at.session_state[show.CHARTS_KEY] = title
        at.run()
        clean(at)
        assert len(at.get("image")) == 1
        assert f"png.{name}" in {b.key for b in at.get("download_button")}
    assert set(res.pngs) == set(runs.CHARTS)
    assert "12 deploys × 4 strategies" in at.success[0].value


def test_changing_a_knob_changes_the_result_and_marks_old_results_stale():
    at = ran(app())
    before = table(at)
    at.number_input(key="k.releases.bad_probability").set_value(0.6).run()
    clean(at)
    assert any("settings changed" in i.value for i in at.info)
    ran(at)
    assert not any("settings changed" in i.value for i in at.info)
    assert not table(at).equals(before)
    rows = at.session_state["results"].rows
    assert rows["release_bad"].mean() > 0.4  # 0.6 asked for; 0.2 before


def test_the_same_seed_gives_the_same_output_and_another_seed_another():
    first = ran(app())
    st.cache_data.clear()
    second = ran(app())
    pd.testing.assert_frame_equal(first.session_state["results"].rows, second.session_state["results"].rows)
    assert table(first).equals(table(second))
    third = ran(app(**{"k.run.seed": 7}))
    assert not table(third).equals(table(first))


def test_the_downloaded_scenario_runs_unchanged_in_the_cli_with_the_same_rows(tmp_path):
    at = app(**{"k.strategies": ["canary", "progressive"], "k.traffic.rate_rps": 500.0})
    ran(at)
    res = at.session_state["results"]
    scn = sim.load_scenario(yaml.safe_load(res.yaml))
    text = settings.scenario_file(settings.Settings(scn, res.yaml, res.deploys, res.seed, res.strategies, ()))
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1"]) == 0
    rows = pd.read_parquet(tmp_path / "out" / "rows.parquet")
    assert list(dict.fromkeys(rows["strategy"])) == ["canary", "progressive"]
    pd.testing.assert_frame_equal(rows, res.rows, check_dtype=False)


def test_a_shipped_scenario_brings_its_own_knobs_and_strategies():
    at = app()
    at.selectbox(key=settings.NAME_KEY).set_value("noisy-cluster").run()
    clean(at)
    assert at.multiselect(key="k.strategies").value == list(sim.load_scenario("noisy-cluster").strategies)
    assert at.number_input(key="k.noise.episodes_per_hour").value == 1.0
    assert at.text_input(key="k.strategies.canary_fixed.steps").value == "1:600, 5:600, 25:600, 50:600"
    # A new scenario brings its own values, the deploy count included.
    assert at.number_input(key="k.run.deploys").value == 500


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("k.fleet.replicas", 0, "fleet.replicas: 0 is not within 1..10000"),
        ("k.releases.bad_probability", 1.5, "releases.bad_probability: 1.5 is not within 0..1"),
        ("k.strategies.canary.steps", "1:600, 5x600", "item 2, '5x600', is not weight:pause_s"),
        ("k.strategies.canary.steps", "5:600, 1:600", "weights must go up step by step"),
        ("k.strategies", [], "strategies: pick at least one strategy to compare"),
    ],
)
def test_a_bad_value_shows_the_validation_message_and_no_run_button(key, value, message):
    at = app()
    kind = {"k.strategies": "multiselect", "k.strategies.canary.steps": "text_input"}.get(key, "number_input")
    getattr(at, kind)(key=key).set_value(value).run()
    assert not at.exception
    assert [e.value for e in at.error] and message in at.error[0].value
    assert not [b for b in at.button if b.key == "run"]


def test_an_invalid_upload_shows_the_error_with_file_and_line():
    at = app()
    at.radio(key=settings.SOURCE_KEY).set_value(settings.UPLOADED).run()
    clean(at)
    assert at.info[0].value.startswith("Upload a scenario file")
    bad = b"schema_version: 1\nfleet:\n  replicas: -3\n"
    at.file_uploader(key=settings.UPLOAD_KEY).set_value(("mine.yaml", bad, "application/x-yaml")).run()
    assert not at.exception
    assert at.error[0].value == "mine.yaml: fleet.replicas: -3 is not within 1..10000 (line 3)"
    at.file_uploader(key=settings.UPLOAD_KEY).set_value(("junk.yaml", b"fleet: [1, 2\n", "text/yaml")).run()
    assert not at.exception
    assert at.error[0].value.startswith("junk.yaml: not valid YAML")


def test_a_valid_upload_is_run_under_its_own_name():
    text = (ROOT / "scenarios" / "nightly-batch.yaml").read_bytes()
    at = app()
    at.radio(key=settings.SOURCE_KEY).set_value(settings.UPLOADED).run()
    at.file_uploader(key=settings.UPLOAD_KEY).set_value(("night.yaml", text, "application/x-yaml")).run()
    clean(at)
    at.number_input(key="k.run.deploys").set_value(SMALL).run()
    ran(at)
    assert at.session_state["results"].name == "nightly-batch"


def test_six_strategies_with_long_names_fit_the_page_without_cutting_a_cell():
    six = ["strategies.recreate={kind: recreate}", "strategies.blue_green={kind: blue_green}"]
    scn = sim.load_scenario("noisy-cluster", overrides=six)
    at = app()
    at.radio(key=settings.SOURCE_KEY).set_value(settings.UPLOADED).run()
    upload = ("six.yaml", scn.to_yaml().encode(), "application/x-yaml")
    at.file_uploader(key=settings.UPLOAD_KEY).set_value(upload).run()
    at.number_input(key="k.run.deploys").set_value(SMALL).run()
    ran(at)
    shown, width = table(at), widths(at)
    assert list(shown.columns) == list(scn.strategies) and len(shown.columns) == 6
    assert sum(width.values()) <= show.CONTENT_PX
    for column in shown.columns:
        assert width[column] >= max(show.text_px(v) for v in shown[column]) + show.PAD_PX - 1, column


def test_an_uploaded_rollout_runs_beside_the_scenarios_strategies_and_keeps_the_knobs():
    manifest = (ROOT / "tests" / "data" / "manifests" / "argo-basic-canary.yaml").read_bytes()
    at = app(**{"k.strategies": ["canary"]})
    at.number_input(key="k.traffic.rate_rps").set_value(450.0).run()
    at.file_uploader(key=rollouts.UPLOAD_KEY).set_value([("checkout.yaml", manifest, "application/x-yaml")])
    at.run()
    clean(at)
    assert at.multiselect(key="k.strategies").value == ["canary", "checkout"]
    assert at.number_input(key="k.traffic.rate_rps").value == 450.0  # the knobs stay as set
    assert any(c.value == "Imported: checkout." for c in at.caption)
    assert any(c.value.startswith("⚠ checkout.yaml: AnalysisTemplate/slow-smoke") for c in at.caption)
    ran(at)
    assert list(dict.fromkeys(at.session_state["results"].rows["strategy"])) == ["canary", "checkout"]
    broken = manifest.replace(b"maxSurge: 1", b"maxSurge: lots")
    at.file_uploader(key=rollouts.UPLOAD_KEY).set_value([("checkout.yaml", broken, "application/x-yaml")])
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("checkout.yaml: ") and "maxSurge" in at.error[0].value


def test_a_deploy_count_too_large_for_the_page_is_capped_with_a_pointer_to_the_cli(monkeypatch):
    monkeypatch.setattr(runs, "cores", lambda: 1)  # no worker processes started for the warning alone
    at = app(**{"k.run.deploys": 5_000_000})
    clean(at)
    most, note = runs.cap(sim.load_scenario("default"), 5_000_000, 4)
    assert most < 5_000_000 and note is not None
    assert at.warning[0].value == note
    assert f"{most:,} deploys × 4 strategies" in at.markdown[1].value
    assert "deploysim run default.yaml --deploys 5000000" in note


def test_cap_keeps_a_page_run_within_the_window_budget():
    scn = sim.load_scenario("default")
    assert runs.cap(scn, 1000, 4) == (1000, None)
    most, _ = runs.cap(scn, 10**6, 4)
    windows = sim.batch.windows_per_deploy(scn)
    assert most * 4 * windows <= runs.APP_MAX_WINDOWS < (most + 1) * 4 * windows


# ---- Advisor ----


def test_advisor_without_results_points_to_the_comparison():
    at = app()
    at.switch_page("webapp/pages/advisor.py").run()
    clean(at)
    assert "No results yet" in at.info[0].value


#: Deploys for the advisor's page: as in tests/test_advisor.py, enough bad releases (about 60) that
#: the default limits' verdict on the default scenario is outside the noise.
ADVISOR_DEPLOYS = 300


def verdicts(at: AppTest) -> pd.DataFrame:
    """The advisor's table as the page shows it, with the spaces it keeps from breaking restored."""
    return at.table[0].value.replace("\u00a0", " ", regex=True)


def test_advisor_at_its_defaults_picks_a_strategy_that_stops_most_bad_releases(monkeypatch):
    # One core: the batch runs in the page's process rather than on worker processes.
    monkeypatch.setattr(runs, "cores", lambda: 1)
    at = ran(app(**{"k.run.deploys": ADVISOR_DEPLOYS}))
    at.switch_page("webapp/pages/advisor.py").run()
    clean(at)
    res = at.session_state["results"]
    scn = sim.load_scenario(yaml.safe_load(res.yaml))
    expected = advisor.advise(res.summary, advisor.Limits.defaults(scn))
    assert expected.choice is not None and expected.choice not in ("recreate", "blue_green")
    assert at.success[0].value.startswith(f"**Pick {expected.choice}.**")
    pd.testing.assert_frame_equal(verdicts(at), expected.table())
    assert verdicts(at).loc[expected.choice].str.startswith("meets: ").sum() == 5  # every default limit
    assert list(verdicts(at).columns) == [
        "bad releases",
        "time to restore, median ≤ 60 min",
        "escaped defects ≤ 25 %",
        "error budget per bad release, mean ≤ 20 %",
        "downtime, mean ≤ 0 s",
        "false rollbacks ≤ 10 %",
    ]
    assert len(at.get("image")) == 1
    # Allow five minutes' downtime per deploy and switch the escapes and budget limits off: what is
    # left is about the old defaults, and the cheapest strategy, recreate, meets it.
    at.number_input(key="adv.downtime_s").set_value(300.0)
    at.toggle(key="adv.escaped_rate.on").set_value(False)
    at.toggle(key="adv.error_budget_per_bad_release.on").set_value(False).run()
    clean(at)
    assert at.success[0].value.startswith("**Pick recreate.**")
    assert verdicts(at).loc["recreate", "downtime, mean ≤ 300 s"].startswith("meets: ")
    # What it does to users stays in the table, unjudged.
    assert verdicts(at).loc["recreate", "escaped defects (%)"].startswith("100 [")
    # A limit nothing meets: no pick, and the binding limit is named.
    at.number_input(key="adv.time_to_restore_s").set_value(0.0).run()
    clean(at)
    assert not at.success
    warning = at.warning[0].value
    assert warning.startswith("**No strategy fits.**") and "time to restore" in warning


# ---- Replay ----


def test_replay_shows_the_worst_deploy_and_follows_the_pick():
    at = ran(app())
    at.switch_page("webapp/pages/replay.py").run()
    clean(at)
    res = at.session_state["results"]
    at.selectbox(key="replay.strategy").set_value("recreate").run()
    clean(at)
    rows = res.rows[(res.rows["strategy"] == "recreate")]
    worst = int(rows.loc[rows["faulty_requests"].idxmax(), "deploy"])
    assert f"deploy={worst}," in at.code[0].value
    assert len(at.get("image")) == 1
    assert len(at.get("vega_lite_chart")) == 1  # every deploy, to hover and click
    worst_row = rows[rows["deploy"] == worst].iloc[0]
    told = next(m.value for m in at.markdown if m.value.startswith("A bad release"))
    assert f"**{worst_row['fault_kind']}**" in told and f"**{worst_row['faulty_requests']:,.0f}**" in told
    events = at.dataframe[0].value
    assert {"t_s", "kind", "detail"} <= set(events.columns) and len(events)
    at.selectbox(key="replay.pick").set_value("a deploy by number").run()
    at.number_input(key="replay.deploy").set_value(3).run()
    clean(at)
    assert "deploy=3," in at.code[0].value
    # The same deploy, replayed afresh, tells the same story.
    st.cache_data.clear()
    again = ran(app())
    again.switch_page("webapp/pages/replay.py").run()
    again.selectbox(key="replay.strategy").set_value("recreate").run()
    again.selectbox(key="replay.pick").set_value("a deploy by number").run()
    again.number_input(key="replay.deploy").set_value(3).run()
    clean(again)
    pd.testing.assert_frame_equal(again.dataframe[0].value, at.dataframe[0].value)


def test_replay_opens_on_the_rollout_and_zooms_out_to_the_whole_run():
    at = ran(app())
    at.switch_page("webapp/pages/replay.py").run()
    at.selectbox(key="replay.strategy").set_value("progressive").run()
    at.selectbox(key="replay.pick").set_value("a deploy by number").run()
    at.number_input(key="replay.deploy").set_value(0).run()
    clean(at)
    assert not at.toggle(key="replay.whole").value
    rollout = at.get("image")[0].proto.SerializeToString()
    assert "span=" not in at.code[0].value
    at.toggle(key="replay.whole").set_value(True).run()
    clean(at)
    assert at.code[0].value.endswith(
        "fig = plots.replay(sim.timeline(run), span='all')  # from sim import plots"
    )
    assert at.get("image")[0].proto.SerializeToString() != rollout


def test_replay_without_results_points_to_the_comparison():
    at = app()
    at.switch_page("webapp/pages/replay.py").run()
    clean(at)
    assert "No results yet" in at.info[0].value


# ---- Workshop ----


def lesson(page: str) -> AppTest:
    at = app()
    at.switch_page(page).run()
    clean(at)
    return at


@pytest.mark.parametrize("page", list(LESSONS))
def test_each_lesson_answers_its_question_and_its_knob_changes_the_answer(page):
    key, kind, value = LESSONS[page]
    at = lesson(page)
    assert at.info[0].value.startswith("**") and at.info[0].value.endswith("?**")
    assert len(at.get("image")) == 1
    assert at.code[0].value.startswith("deploysim run ")
    before = table(at)
    getattr(at, kind)(key=key).set_value(value).run()
    clean(at)
    assert not table(at).equals(before)
    # The same seed, computed afresh, gives the same numbers.
    st.cache_data.clear()
    again = lesson(page)
    getattr(again, kind)(key=key).set_value(value).run()
    clean(again)
    assert table(again).equals(table(at))


@pytest.mark.parametrize("page", list(LESSONS))
def test_each_lesson_opens_at_its_own_knob_value_deploys_and_seed(page, monkeypatch):
    """What tests/test_workshop_lessons.py checks at the page's defaults is what the page runs when
    opened: its LESSON's knob value, deploys and the workshop seed. (The batch itself is cut to two
    deploys here; that test runs it whole.)"""
    key, kind, _ = LESSONS[page]
    defaults = importlib.import_module(page.removesuffix(".py").replace("/", ".")).LESSON
    asked = []
    whole = runs.batch

    def small(scn: sim.Scenario, deploys: int, seed: int, strategies: list[str]) -> runs.Results:
        asked.append((scn.to_yaml(), deploys, seed))
        return whole(scn, 2, seed, strategies)

    monkeypatch.setattr(runs, "batch", small)
    monkeypatch.setattr(runs, "warm", lambda deploys, strategies: None)  # no worker pool for two deploys
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(page).run()
    clean(at)
    value = getattr(at, kind)(key=key).value
    assert (tuple(value) if isinstance(value, list) else value) == defaults.default
    assert at.select_slider(key=defaults.deploys_key).value == defaults.deploys
    assert asked == [(defaults.build(defaults.default).to_yaml(), defaults.deploys, frame.SEED)]
    assert f"--deploys {defaults.deploys} --seed {frame.SEED}" in at.code[0].value


def test_a_lesson_refuses_a_bad_knob_value_with_the_validation_message():
    at = lesson("webapp/pages/lesson_gate_watches.py")
    at.multiselect(key="ws4.knob").set_value([]).run()
    assert not at.exception
    assert at.error[0].value == "judges.your_gate.watch: watches no metric"


def test_the_lesson_command_reproduces_the_pages_numbers(tmp_path):
    at = lesson("webapp/pages/lesson_noisy_neighbours.py")
    command = shlex.split(at.code[0].value)
    assert command[:2] == ["deploysim", "run"]
    assert cli.main([*command[1:], "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1"]) == 0
    rows = pd.read_parquet(tmp_path / "out" / "rows.parquet")
    assert frame.numbers(NOISY, rows, sim.summarize(rows)).equals(table(at))
    assert sum(widths(at).values()) <= show.CONTENT_PX


def test_the_dynamic_stable_scale_switch_changes_the_runs_cost():
    at = app(**{"k.strategies": ["progressive"]})
    ran(at)
    before = at.session_state["results"].rows["extra_instance_hours"].mean()
    at.toggle(key="k.strategies.progressive.dynamic_stable_scale").set_value(True).run()
    clean(at)
    ran(at)
    after = at.session_state["results"].rows["extra_instance_hours"].mean()
    assert after < before  # the stable set shrinks as the canary's weight grows
