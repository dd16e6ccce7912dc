"""Charts the advisor and workshop pages add: means with intervals and limits, escapes by fault kind."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results import plots
from sim.results.report import TABLE
from sim.results.summary import wilson

SCN = sim.load_scenario("default")
SCALE = {m: scale for m, _, scale, _ in TABLE}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return sim.run_batch(SCN, deploys=40, seed=5)


@pytest.fixture(scope="module")
def summary(rows: pd.DataFrame) -> pd.DataFrame:
    return sim.summarize(rows)


def test_means_draws_each_strategys_mean_in_the_tables_units(summary):
    metrics = ["faulty_requests", "lead_time_s", "false_rollback_rate"]
    fig = plots.means(summary, metrics)
    assert len(fig.axes) == len(metrics)
    for ax, metric in zip(fig.axes, metrics, strict=True):
        widths = [p.get_width() for p in ax.patches]
        expected = [
            summary[(summary.strategy == s) & (summary.metric == metric)]["mean"].iloc[0] * SCALE[metric]
            for s in SCN.strategies
            if not math.isnan(summary[(summary.strategy == s) & (summary.metric == metric)]["mean"].iloc[0])
        ]
        np.testing.assert_allclose(widths, expected)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(SCN.strategies)


def test_means_marks_limits_and_outlines_the_highlighted_strategy(summary):
    fig = plots.means(
        summary, ["time_to_recover_s", "extra_instance_hours"], {"time_to_recover_s": 60.0}, "canary"
    )
    ttr, cost = fig.axes
    assert [line.get_xdata()[0] for line in ttr.get_lines() if line.get_linestyle() == "--"] == [60.0]
    assert not [line for line in cost.get_lines() if line.get_linestyle() == "--"]
    widths = {tuple(p.get_edgecolor()): p.get_linewidth() for p in cost.patches}
    assert max(widths.values()) == 2.5 and sorted(widths.values()).count(2.5) == 1


def test_escapes_by_fault_bars_are_each_strategys_escaped_share_per_fault_kind(rows):
    fig = plots.escapes_by_fault(rows)
    ax = fig.axes[0]
    bad = rows[rows["release_bad"].astype(bool)]
    kinds = sorted(bad["fault_kind"].unique())
    expected = []
    for s in SCN.strategies:
        part = bad[bad["strategy"] == s]
        for kind in kinds:
            sel = part[part["fault_kind"] == kind]
            expected.append(100 * sel["escaped"].astype(bool).mean())
    np.testing.assert_allclose([p.get_height() for p in ax.patches], expected)
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == kinds
    # The whiskers are the Wilson interval of the first bar.
    sel = bad[(bad["strategy"] == next(iter(SCN.strategies))) & (bad["fault_kind"] == kinds[0])]
    lo, hi = wilson(int(sel["escaped"].astype(bool).sum()), len(sel))
    segs = next(c for c in ax.collections if c.get_segments()).get_segments()[0]
    np.testing.assert_allclose(sorted(segs[:, 1]), [100 * lo, 100 * hi], atol=1e-9)


def test_escapes_by_fault_without_a_bad_release_says_no_data(rows):
    good = rows[~rows["release_bad"].astype(bool)]
    ax = plots.escapes_by_fault(good).axes[0]
    assert not ax.patches and any(t.get_text() == "no data" for t in ax.texts)
