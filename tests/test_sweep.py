"""Sweeps: grid parsing, every combination validated before anything runs, the tidy table, Pareto fronts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.results import summary
from sim.results.report import WIDTH
from sim.results.summary import RATES, SUMMARY_COLUMNS
from sim.runs import sweep

PER_STRATEGY = len(sim.METRICS) + len(RATES)  # rows of a summary per strategy


def test_grid_values_split_on_top_level_commas_only():
    assert sweep.split_values("1,5, 25") == ["1", "5", "25"]
    assert sweep.split_values("[1, 2],{a: 1, b: 2},'x,y'") == ["[1, 2]", "{a: 1, b: 2}", "'x,y'"]
    axis = sweep.parse_grid("strategies.canary.steps[0].weight = 1,2")
    assert (axis.key, axis.values, axis.short) == ("strategies.canary.steps[0].weight", ("1", "2"), "weight")
    for bad in ("no-equals", "a.b=", "a.b=1,,2", "a..b=1"):
        with pytest.raises(sim.ConfigError):
            sweep.parse_grid(bad)


def test_every_combination_is_validated_before_anything_runs():
    axes = [sweep.parse_grid("fleet.replicas=4,8"), sweep.parse_grid("releases.bad_probability=0.1,0.5")]
    points = sweep.plan("default", [], axes, ["canary"])
    assert [p.values for p in points] == [("4", "0.1"), ("4", "0.5"), ("8", "0.1"), ("8", "0.5")]
    assert [(p.scenario.fleet.replicas, p.scenario.releases.bad_probability) for p in points] == [
        (4, 0.1),
        (4, 0.5),
        (8, 0.1),
        (8, 0.5),
    ]
    assert list(points[0].scenario.strategies) == ["canary"]
    assert sweep.label(axes, points[1].values) == "replicas=4, bad_probability=0.5"
    with pytest.raises(
        sim.ConfigError,
        match=r"^--grid: with fleet\.replicas=4, releases\.bad_probability=2: "
        r"releases\.bad_probability: 2 is not within 0\.\.1$",
    ):
        sweep.plan("default", [], [axes[0], sweep.parse_grid("releases.bad_probability=0.1,2")], [])
    with pytest.raises(sim.ConfigError, match="did you mean 'judges'"):
        sweep.plan("default", [], [sweep.parse_grid("judgez.fixed.max_p99_ms=1,2")], [])
    with pytest.raises(sim.ConfigError, match="swept twice"):
        sweep.plan("default", [], [axes[0], axes[0]], [])
    with pytest.raises(sim.ConfigError, match="over the limit of 1,000"):
        sweep.plan("default", [], [sweep.parse_grid("run.seed=" + ",".join(map(str, range(1001))))], [])


def test_pareto_front_keeps_only_points_nothing_beats_on_both_axes():
    x = np.array([1.0, 2.0, 3.0, 2.0, 4.0, np.nan, 1.0])
    y = np.array([5.0, 3.0, 1.0, 4.0, 1.0, 0.0, 5.0])
    # (2, 4) is beaten by (2, 3); (4, 1) by (3, 1); NaN is never on the front; ties both stay.
    assert summary.pareto_front(x, y).tolist() == [True, True, True, False, False, False, True]


def test_sweep_command_writes_a_tidy_table_and_a_pareto_chart(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "default",
        "--grid",
        "strategies.progressive.steps[1].pause_s=60,600",
        "--grid",
        "judges.baseline.max_latency_ratio=1.2,3",
        "--strategy",
        "progressive",
        "--deploys",
        "6",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("default sweep: 4 combinations × 6 deploys per strategy")
    # Each combination heads its columns, a line per value where one line is too narrow.
    assert "pause_s=60, max_latency_ratio=1.2" in text or (
        "pause_s=60," in text and "max_latency_ratio=1.2" in text
    )
    assert text.count("progressive") == 4 and max(len(line) for line in text.splitlines()) <= WIDTH
    tidy = pd.read_csv(out / "sweep.csv")
    keys = ["strategies.progressive.steps[1].pause_s", "judges.baseline.max_latency_ratio"]
    assert list(tidy.columns) == [*keys, *SUMMARY_COLUMNS]
    assert len(tidy) == 4 * PER_STRATEGY  # combinations × (metrics + rates), one strategy
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["complete"] is True and meta["grid"] == {keys[0]: ["60", "600"], keys[1]: ["1.2", "3"]}
    assert meta["kind"] == "sweep" and meta["status"] == "complete" and meta["finished_at"] is not None
    # A row of the table is exactly what a run of that combination summarises to.
    scn = sim.load_scenario("default", overrides=[f"{keys[0]}=60", f"{keys[1]}=3"]).only(["progressive"])
    expected = sim.summarize(sim.run_batch(scn, deploys=6))
    got = tidy[(tidy[keys[0]] == 60) & (tidy[keys[1]] == 3)][SUMMARY_COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # A shorter pause shortens the lead time: the sweep varies what it says it varies.
    lead = tidy[tidy["metric"] == "lead_time_s"].groupby(keys[0])["mean"].mean()
    assert lead[60] == pytest.approx(lead[600] - 540)
    assert main(["show", str(out)]) == 2  # a sweep is not a run
    assert "a sweep, not a run" in capsys.readouterr().err


def test_sweep_json_and_the_chart_panels(tmp_path, capsys):
    args = [
        "sweep",
        "default",
        "--grid",
        "fleet.replicas=6,10",
        "--strategy",
        "canary",
        "--deploys",
        "3",
        "--jobs",
        "1",
        "--out",
        str(tmp_path / "s"),
        "--quiet",
        "--json",
    ]
    assert main(args) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["fleet.replicas"] for r in records} == {6, 10} and len(records) == 2 * PER_STRATEGY
    tidy = pd.DataFrame.from_records(records)
    axes = [sweep.parse_grid("fleet.replicas=6,10")]
    assert len(sweep.chart(tidy, axes).axes) == 1, "lead time vs blast radius only"
    judged = tidy.rename(columns={"fleet.replicas": "judges.fixed.max_p99_ms"})
    assert len(sweep.chart(judged, [sweep.parse_grid("judges.fixed.max_p99_ms=6,10")]).axes) == 2, (
        "false rollbacks vs escaped defects too when a judge threshold is swept"
    )


def test_an_axis_touches_only_the_strategies_whose_config_it_is():
    scn = sim.load_scenario("default")  # canary and blue-green judge by `fixed`, progressive by `baseline`
    assert scn.safety_net == "slo"

    def touched(key: str, within: sim.Scenario = scn) -> list[str]:
        return [s for s in within.strategies if sweep.touches(sweep.parse_grid(f"{key}=1,2"), s, within)]

    assert touched("strategies.canary.steps[0].weight") == ["canary"]
    assert touched("judges.baseline.max_latency_ratio") == ["progressive"]
    assert touched("judges.fixed.max_error_rate") == ["blue_green", "canary"]
    assert touched("judges.mann_whitney.alpha") == []
    assert touched("judges.slo.window_s") == list(scn.strategies), "the safety net watches every strategy"
    assert touched("judges") == touched("fleet.replicas") == touched("run.follow_s") == list(scn.strategies)
    no_net = sim.load_scenario("default", overrides=["safety_net=null"])
    assert touched("judges.slo.window_s", no_net) == []


def test_a_strategy_no_axis_touches_is_simulated_once_and_its_rows_reused(tmp_path, capsys, monkeypatch):
    simulated: list[tuple[str, ...]] = []
    real = sweep.run_batch

    def counting(scn, deploys, seed, *, strategies, **kw):
        simulated.append(tuple(strategies))
        return real(scn, deploys, seed, strategies=strategies, **kw)

    monkeypatch.setattr(sweep, "run_batch", counting)
    ratio, weight = "judges.baseline.max_latency_ratio", "strategies.canary.steps[0].weight"
    args = ["sweep", "default", "--grid", f"{ratio}=1.2,3", "--grid", f"{weight}=1,2", "--deploys", "6"]
    for s in ("recreate", "canary", "progressive"):
        args += ["--strategy", s]
    assert main([*args, "--jobs", "1", "--out", str(tmp_path / "s")]) == 0
    captured = capsys.readouterr()
    # (1.2, 1) simulates all three; (1.2, 2) only canary; (3, 1) only progressive; (3, 2) nothing.
    assert simulated == [("recreate", "canary", "progressive"), ("canary",), ("progressive",)]
    notes = [line for line in captured.err.splitlines() if "simulated" in line]
    twice = "simulated 2 times and reused across the 4 combinations"
    assert notes == [
        "deploysim: recreate: no grid axis touches it; simulated once and reused for all 4 combinations",
        f"deploysim: canary: only {weight} touches it; {twice}",
        f"deploysim: progressive: only {ratio} touches it; {twice}",
    ]
    # The combination made only of reused summaries is exactly what a fresh run of it gives.
    tidy = pd.read_csv(tmp_path / "s" / "sweep.csv")
    last = tidy[(tidy[ratio] == 3) & (tidy[weight] == 2)][SUMMARY_COLUMNS].reset_index(drop=True)
    scn = sim.load_scenario("default", overrides=[f"{ratio}=3", f"{weight}=2"])
    fresh = sim.summarize(real(scn.only(["recreate", "canary", "progressive"]), 6, scn.run.seed))
    pd.testing.assert_frame_equal(last, fresh, check_dtype=False)
    # The printout shows recreate once, for every combination; the others per combination.
    text = captured.out
    assert "all 4 combinations" in text and text.count("recreate") == 1
    assert text.count("canary") == text.count("progressive") == 4
