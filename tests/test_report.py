"""The comparison table: compact cells, safety before cost, counts per bad release, censored times in
words, and a layout that fits a 1,280 px window in a terminal and in the app."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results import report
from sim.results.report import WIDTH, compare, count, duration, format_table, how_to_choose, percent
from webapp import show

SIX = ["strategies.recreate={kind: recreate}", "strategies.blue_green={kind: blue_green}"]


def lines(text: str) -> list[str]:
    return text.splitlines()


def widest(text: str) -> int:
    return max(len(line) for line in lines(text))


def cells_fit_in_the_app(table: pd.DataFrame) -> None:
    """The app's column widths sum to what a 1,280 px window holds, and no cell is cut short."""
    config = show.column_widths(table)
    widths = {name: c["width"] for name, c in config.items()}
    assert sum(widths.values()) <= show.CONTENT_PX
    assert widths["_index"] >= max(show.text_px(str(i)) for i in table.index) + show.PAD_PX - 1
    for column in table.columns:
        need = max(show.text_px(v) for v in table[column]) + show.PAD_PX
        assert widths[str(column)] >= need - 1, (column, widths[str(column)], need)


def test_numbers_are_compact_and_carry_their_unit():
    assert [count(x) for x in (0, 2.5, 256, 3_100, 297_000, 999_700, 1.7e6, 2.4e9)] == [
        "0", "2.5", "256", "3.1 k", "297 k", "1 M", "1.7 M", "2.4 G",
    ]  # fmt: skip
    assert [duration(s) for s in (2, 42, 59.6, 61, 900, 15_120, 72_000, 604_800)] == [
        "2 s", "42 s", "60 s", "1 min", "15 min", "4.2 h", "20 h", "7 d",
    ]  # fmt: skip
    # Shares in percent, never "0" for a share above nothing.
    assert [percent(x) for x in (1.0, 0.21, 0.0018, 0.0007, 4e-5, 0.0)] == [
        "100", "21", "0.18", "0.07", "< 0.01", "0",
    ]  # fmt: skip
    assert report.interval(1.2e6, 3.6e6, count) == "[1.2, 3.6] M"
    assert report.interval(3.07e5, 3.6e6, count) == "[307 k, 3.6 M]"
    assert report.interval(1.0, math.nan, duration) == "≥ 1 s"  # an upper end beyond the follow-up
    assert report.interval(-5.0, 2.0, count) == "[0, 2]"  # a t-interval below 0 is shown at 0


@pytest.fixture(scope="module")
def default_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = sim.run_batch("default", deploys=60, seed=5)
    return rows, sim.summarize(rows)


def test_safety_per_bad_release_comes_first_with_its_counts_then_cost(default_run):
    rows, summary = default_run
    table = how_to_choose(summary, follow_s=7 * 86400)
    assert list(table.columns) == ["recreate", "blue_green", "canary", "progressive"]
    labels = list(table.index)
    assert labels[:5] == [
        report.SAFETY_HEAD, report.BAD, report.CAUGHT, report.HURT, "never restored in 7 d"
    ]  # fmt: skip
    assert labels.index("time to restore: median") < labels.index(report.COST_HEAD)
    assert labels.index(report.COST_HEAD) < labels.index("downtime s") < labels.index("false rollbacks %")
    for strategy in table.columns:
        mine = rows[rows["strategy"] == strategy]
        bad = mine[mine["release_bad"].astype(bool)]
        assert table.at[report.BAD, strategy] == str(len(bad))
        assert table.at[report.CAUGHT, strategy] == str(int(bad["detected"].astype(bool).sum()))
        assert table.at["never restored in 7 d", strategy] == str(int(bad["censored"].astype(bool).sum()))
        hurt = bad["time_to_restore_s"].notna() | bad["censored"].astype(bool)
        assert table.at[report.HURT, strategy] == str(int(hurt.sum()))
    # The cells are the summary's numbers, formatted: spot-check one of each kind.
    s = summary.set_index(["strategy", "metric"])
    assert table.at["faulty requests: median", "canary"] == count(s.at[("canary", "faulty_requests"), "p50"])
    restore = s.loc[("recreate", "time_to_restore_s")]
    assert table.at["time to restore: median", "recreate"] == duration(restore["p50"])
    assert table.at["time to restore: 95% CI", "recreate"] == report.interval(
        restore["p50_lo"], restore["p50_hi"], duration
    )
    lead = s.loc[("canary", "lead_time_s")]
    assert table.at["lead time min", "canary"].startswith(f"{report.minutes(lead['mean'])} [")
    # No migration in this scenario: its rows would only say "–", so there are none.
    assert "schema failures" not in table.index and report.PLAN not in table.index


def test_a_percentile_the_curve_never_reaches_reads_as_beyond_the_follow_up():
    # Five bad releases that hurt users: two restored (after 100 s and 200 s), three followed for a
    # week and never restored. S(t) falls to 0.6, never below ½: no median, no p90.
    restored = [100.0, 200.0]
    week = 7 * 86400.0
    rows = _bad_releases(restored + [week] * 3, censored=[False, False, True, True, True])
    table = how_to_choose(sim.summarize(rows), follow_s=week)
    assert table.at["time to restore: median", "s"] == report.NOT_REACHED == "> follow-up"
    assert table.at["time to restore: p90", "s"] == "> follow-up"
    assert table.at["never restored in 7 d", "s"] == "3"
    text = format_table(table)
    assert "nan" not in text.lower() and "> follow-up" in text


def _bad_releases(restore: list[float], censored: list[bool]) -> pd.DataFrame:
    """Rows of bad releases that hurt users: restored after `restore` s, or followed that long."""
    n = len(restore)
    values = {m: np.full(n, math.nan) for m in sim.METRICS}
    values |= {m: np.zeros(n) for m in ("faulty_requests", "affected_users", "downtime_s")}
    values |= {"failed_requests": np.zeros(n), "error_budget_used": np.zeros(n)}
    c, r = np.array(censored), np.array(restore)
    values["time_to_restore_s"] = np.where(c, math.nan, r)
    values["censored_after_s"] = np.where(c, r, math.nan)
    values["time_to_detect_s"] = np.where(c, math.nan, r - 1.0)
    values["time_to_repair_s"] = np.where(c, math.nan, 1.0)
    flags = {"detected": [not c for c in censored], "rolled_back": [not c for c in censored]}
    return pd.DataFrame(
        {"strategy": "s", "release_bad": True, "false_rollback": False, "escaped": False}
        | flags
        | {"censored": censored, "error": None}
        | values
    )


@pytest.mark.parametrize("name", sim.shipped_scenarios())
def test_every_shipped_scenarios_table_fits_a_1280_px_window(name):
    scn = sim.load_scenario(name)
    summary = sim.summarize(sim.run_batch(scn, deploys=6, seed=3))
    table = how_to_choose(summary, follow_s=scn.run.follow_s)
    text = format_table(table)
    assert widest(text) <= WIDTH
    assert all(s in lines(text)[0] for s in scn.strategies), "one header line: the strategies side by side"
    cells_fit_in_the_app(table)


def test_six_strategies_with_long_names_still_fit():
    scn = sim.load_scenario("noisy-cluster", overrides=SIX)
    assert len(scn.strategies) == 6 and max(len(s) for s in scn.strategies) == len("progressive_baseline")
    summary = sim.summarize(sim.run_batch(scn, deploys=12, seed=4))
    table = how_to_choose(summary, follow_s=scn.run.follow_s)
    text = format_table(table)
    assert widest(text) <= WIDTH
    assert text.count("\n\n") == 0, "one block: six strategies need no second one"
    assert all(s in lines(text)[0] for s in scn.strategies), "room for every name: no header wraps"
    cells_fit_in_the_app(table)


def test_compare_puts_runs_side_by_side_and_continues_in_blocks_that_fit(default_run):
    _, summary = default_run
    runs = [(f"default-2025010{i}T120000Z", summary) for i in range(3)]
    table = compare(runs)
    assert list(table.columns) == [(label, s) for label, _ in runs for s in summary["strategy"].unique()]
    text = format_table(table)
    assert widest(text) <= WIDTH
    blocks = text.split("\n\n")
    assert len(blocks) > 1, "12 columns do not fit in one block"
    for label, _ in runs:
        assert sum(label in block for block in blocks) >= 1
    # Every block has every row: each is a whole table of its columns.
    for block in blocks:
        assert block.count("faulty requests: mean") == 1 and block.count("false rollbacks %") == 1
    # A narrower terminal only means more blocks.
    assert widest(format_table(table, width=100)) <= 100


def test_a_subset_of_metrics_keeps_the_counts_its_section_needs(default_run):
    _, summary = default_run
    cost_only = how_to_choose(summary, ["lead_time_s", "false_rollback_rate"])
    assert list(cost_only.index) == [report.COST_HEAD, "lead time min", "false rollbacks %"]
    safety = how_to_choose(summary, ["faulty_requests"])
    assert list(safety.index) == [
        report.SAFETY_HEAD, report.BAD, report.CAUGHT, report.HURT, "never restored (censored)",
        "faulty requests: mean", "faulty requests: 95% CI", "faulty requests: median", "faulty requests: p90",
    ]  # fmt: skip


def test_the_caption_says_per_bad_release_with_the_count(default_run):
    rows, summary = default_run
    n = int(rows[rows["strategy"] == "canary"]["release_bad"].astype(bool).sum())
    text = "\n".join(report.caption(summary, 7 * 86400))
    assert f"per bad release (n = {n})" in text and "(7 d)" in text
    assert widest(text) <= WIDTH
    one_short = summary.copy()
    one_short.loc[(one_short["strategy"] == "canary") & (one_short["metric"] == "escaped_rate"), "n"] = n - 1
    assert f"(n = {n - 1}–{n})" in "\n".join(report.caption(one_short))
