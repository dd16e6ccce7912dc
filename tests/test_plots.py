"""The shared charts: each returns its own Figure, draws what the rows say, and needs no display or pyplot."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import sim
from sim import plots, sweep

SCN = sim.load_scenario("default")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return sim.run_batch(SCN, deploys=40, seed=2)


@pytest.fixture(scope="module")
def summary(rows: pd.DataFrame) -> pd.DataFrame:
    return sim.summarize(rows)


def test_run_charts_are_independent_figures_that_save_as_png(rows, summary):
    charts = plots.run_charts(rows, summary)
    assert set(charts) == {
        "blast_radius",
        "time_to_recover",
        "blast_vs_recovery",
        "cost_vs_safety",
        "rollbacks_vs_escapes",
    }
    for fig in charts.values():
        assert isinstance(fig, Figure) and fig.axes
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
    again = plots.run_charts(rows, summary)
    assert all(again[k] is not charts[k] for k in charts), "a call never reuses another call's figure"


def test_plots_never_touch_pyplot():
    # pyplot keeps global figures and picks a GUI backend; the charts are built without it.
    code = "import sys, sim.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_blast_radius_draws_one_curve_per_strategy_from_the_bad_releases(rows):
    fig = plots.blast_radius(rows)
    faulty_ax, users_ax = fig.axes
    bad = rows[rows["release_bad"].astype(bool)]
    for line, strategy in zip(faulty_ax.get_lines(), SCN.strategies, strict=True):
        values = np.sort(bad.loc[bad["strategy"] == strategy, "faulty_requests"].to_numpy())
        assert line.get_label() == f"{strategy} (n={len(values)})"
        # The curve steps through every value; the share above the largest is 0.
        assert np.array_equal(line.get_xdata()[1:], values) and line.get_ydata()[-1] == 0.0
    assert users_ax.get_xlabel() == "affected users"


def test_blast_vs_recovery_places_each_detected_bad_release(rows):
    fig = plots.blast_vs_recovery(rows)
    (ax,) = fig.axes
    detected = rows[rows["exposure_at_detection"].notna() & rows["time_to_recover_s"].notna()]
    scatters = ax.collections[::2]  # each strategy: its points, then its median marker
    assert sum(len(c.get_offsets()) for c in scatters) == len(detected)
    texts = {t.get_text() for t in ax.texts}
    assert {"small blast, fast recovery", "large blast, slow recovery"} <= texts


def test_cost_vs_safety_and_rollbacks_plot_the_summary_means(summary):
    fig = plots.cost_vs_safety(summary)
    assert [ax.get_xlabel() for ax in fig.axes] == ["extra instance-hours per deploy", "lead time, min"]
    row = summary[(summary["strategy"] == "blue_green") & (summary["metric"] == "extra_instance_hours")]
    xs = [line.get_xdata()[0] for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 1]
    assert any(x == pytest.approx(row["mean"].iloc[0]) for x in xs)
    fig = plots.rollbacks_vs_escapes(summary)
    assert fig.axes[0].get_xlabel() == "false rollbacks, % of good releases"


def test_charts_of_a_run_without_bad_releases_say_there_is_no_data():
    good = sim.run_batch(sim.load_scenario("default", overrides=["releases.bad_probability=0"]), deploys=3)
    fig = plots.time_to_recover(good)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no data"]


def test_pareto_marks_the_front(summary):
    points = pd.DataFrame(
        {
            "strategy": ["a", "a", "b", "b"],
            "label": ["w=1", "w=5", "w=1", "w=5"],
            "lead_time_s": [600.0, 1200.0, 900.0, 1800.0],
            "faulty_requests": [50.0, 10.0, 60.0, 10.0],
        }
    )
    fig = plots.pareto(points)
    front = next(line for line in fig.axes[0].get_lines() if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [10.0, 20.0]  # minutes: (600 s, 50) and (1200 s, 10)
    assert sweep.pareto_front(points["lead_time_s"], points["faulty_requests"]).tolist() == [
        True,
        True,
        False,
        False,
    ]


def test_replay_shows_one_deploy_window_by_window():
    rows = sim.run_batch(SCN, deploys=30, seed=1, strategies=["progressive"])
    deploy = int(rows[rows["detected"].astype(bool) & rows["release_bad"].astype(bool)]["deploy"].iloc[0])
    tl = sim.timeline(sim.run_deploy(SCN, "progressive", deploy=deploy, seed=1))
    fig = plots.replay(tl)
    weight_ax, error_ax, latency_ax = fig.axes
    (share,) = [line for line in weight_ax.get_lines() if line.get_label() == "user traffic on new, %"]
    assert len(share.get_xdata()) == len(tl.windows)
    assert np.nanmax(share.get_ydata()) > 0
    marked = [line.get_xdata()[0] * 60 for line in weight_ax.get_lines() if line.get_linestyle() == "--"]
    detected_at = tl.events.loc[tl.events["kind"] == "detected", "t_s"].iloc[0]
    assert any(m == pytest.approx(detected_at) for m in marked)
    assert latency_ax.get_yscale() == "log" and error_ax.get_ylabel() == "error rate, %"


def test_a_long_distribution_is_drawn_through_its_order_statistics():
    n = 50_000
    values = np.random.default_rng(0).lognormal(8, 2, n)
    df = pd.DataFrame(
        {
            "strategy": "canary",
            "release_bad": True,
            "faulty_requests": values,
            "affected_users": values / 10,
            "error": None,
        }
    )
    line = plots.blast_radius(df).axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert len(x) <= 2001 and x[1] == values.min() and x[-1] == values.max() and y[-1] == 0.0
    # Every drawn step sits exactly on the empirical curve: share above x_k is 1 - rank/n.
    ranks = np.searchsorted(np.sort(values), x[1:], side="right")
    assert np.allclose(y[1:], 1 - ranks / n)


def test_sweep_line_draws_each_value_with_its_interval():
    axis = sweep.parse_grid("noise.episodes_per_hour=0,1")
    tidy = sweep.run(sweep.plan("default", [], [axis], ["canary"]), [axis], deploys=6, seed=1)
    fig = plots.sweep_line(tidy, axis.key, "false_rollback_rate", scale=100.0)
    (bars,) = fig.axes[0].containers  # one strategy: one line with its error bars
    line = bars.lines[0]
    rates = tidy[tidy["metric"] == "false_rollback_rate"]["mean"].to_numpy()
    assert list(line.get_xdata()) == [0.0, 1.0] and np.allclose(line.get_ydata(), 100 * rates)
    # Values that are not numbers sit at labelled positions.
    words = tidy.assign(**{axis.key: tidy[axis.key].map({0: "quiet", 1: "noisy"})})
    ticks = plots.sweep_line(words, axis.key, "false_rollback_rate").axes[0].get_xticklabels()
    assert [t.get_text() for t in ticks] == ["quiet", "noisy"]
