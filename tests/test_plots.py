"""The shared charts: each returns its own Figure, draws what the rows say, and needs no display or pyplot."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from statsmodels.duration.survfunc import SurvfuncRight

import sim
from sim.results import plots
from sim.results.summary import pareto_front
from sim.runs import sweep

SCN = sim.load_scenario("default")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return sim.run_batch(SCN, deploys=40, seed=2)


@pytest.fixture(scope="module")
def summary(rows: pd.DataFrame) -> pd.DataFrame:
    return sim.summarize(rows)


def _bad(strategy: str, restore: float | None, blast: float, followed: float | None = None) -> dict:
    """A bad release's row: restored after `restore` s, or (restore None) still hurting users when
    its follow-up ended `followed` s after the first one."""
    return {
        "strategy": strategy,
        "release_bad": True,
        "time_to_restore_s": restore,
        "censored": restore is None and followed is not None,
        "censored_after_s": followed,
        "faulty_requests": blast,
        "affected_users": blast / 10,
        "error": None,
    }


#: Three strategies whose bad releases restore alike (ties), one release never restored in a week,
#: one caught before any user met it.
TIES = pd.DataFrame(
    [
        _bad(s, t, b)
        for s in ("canary", "progressive", "flag")
        for t, b in ((62.0, 200.0), (62.0, 300.0), (700.0, 5e3))
    ]
    + [_bad("canary", None, 9e6, followed=604_800.0), _bad("flag", None, 0.0)]
)


def test_run_charts_are_independent_figures_that_save_as_png(rows, summary):
    charts = plots.run_charts(rows, summary)
    assert set(charts) == {
        "blast_radius",
        "time_to_restore",
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
    code = "import sys, sim.results.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_strategy_has_a_shape_and_a_line_of_its_own():
    names = ["recreate", "blue_green", "canary", "progressive", "flag", "canary_flag", "a", "b", "c", "d"]
    look = plots.styles(names)
    assert len({s.marker for s in look.values()}) == len(names)
    assert len({(s.colour, s.dashes) for s in look.values()}) == len(names)
    # The built-in four keep their colour and shape whatever else is compared.
    assert plots.styles(["progressive"])["progressive"] == plots.Style(
        plots.BUILT_IN_COLOURS["progressive"], "o", plots.DASHES[0], look["recreate"].width
    )
    widths = [s.width for s in look.values()]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]


def test_blast_radius_draws_one_curve_per_strategy_from_the_bad_releases(rows):
    fig = plots.blast_radius(rows)
    faulty_ax, users_ax = fig.axes
    bad = rows[rows["release_bad"].astype(bool)]
    lines = faulty_ax.get_lines()
    for line, strategy in zip(lines, SCN.strategies, strict=True):
        values = np.sort(bad.loc[bad["strategy"] == strategy, "faulty_requests"].to_numpy())
        assert line.get_label() == f"{strategy} (n={len(values)})"
        # The curve steps through every value; the share above the largest is 0.
        assert np.array_equal(line.get_xdata()[1:], values) and line.get_ydata()[-1] == 0.0
    assert len({(line.get_color(), line.get_linestyle(), line.get_linewidth()) for line in lines}) == len(
        lines
    )
    assert users_ax.get_xlabel() == "affected users"


def test_blast_radius_says_how_many_counts_are_only_lower_bounds():
    line = plots.blast_radius(TIES).axes[0].get_lines()[0]
    assert line.get_label() == "canary (n=4, 1 not restored: at least)"


def _clouds(fig: Figure) -> dict[str, PathCollection]:
    """The quadrant chart's point clouds by gid ("canary: restored", "canary: median", ...), drawn."""
    FigureCanvasAgg(fig).draw()
    return {c.get_gid(): c for c in fig.axes[0].collections if isinstance(c, PathCollection) and c.get_gid()}


def test_blast_vs_recovery_places_each_bad_release_that_hurt_users():
    fig = plots.blast_vs_recovery(TIES)
    (ax,) = fig.axes
    clouds = _clouds(fig)
    restored = TIES[TIES["time_to_restore_s"].notna()]
    for s in ("canary", "progressive", "flag"):
        expected = restored.loc[
            restored["strategy"] == s, ["time_to_restore_s", "faulty_requests"]
        ].to_numpy()
        np.testing.assert_allclose(clouds[f"{s}: restored"].get_offsets(), expected)
    # Never restored: hollow, where its follow-up ended, with its "at least" arrow.
    hollow = clouds["canary: not restored"]
    np.testing.assert_allclose(hollow.get_offsets(), [[604_800.0, 9e6]])
    assert hollow.get_facecolor().size == 0 or hollow.get_facecolor()[0][3] == 0
    np.testing.assert_allclose(clouds["canary: at least"].get_offsets(), [[604_800.0, 9e6]])
    assert "flag: not restored" not in clouds  # flag's release met no user: counted, not drawn
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "flag: 3 restored; 1 met no user" in labels and "canary: 3 restored, 1 not" in labels
    # Ties stay visible: the same data, a different place on the canvas for each strategy.
    x = {
        s: clouds[f"{s}: restored"]
        .get_offset_transform()
        .transform(clouds[f"{s}: restored"].get_offsets())[0, 0]
        for s in ("canary", "progressive", "flag")
    }
    assert x["progressive"] - x["canary"] >= 3 and x["flag"] - x["progressive"] >= 3
    markers = {tuple(map(tuple, clouds[f"{s}: restored"].get_paths()[0].vertices)) for s in x}
    assert len(markers) == 3  # and a shape each


def test_blast_vs_recovery_medians_are_the_summarys_and_its_lines_the_quadrants(rows, summary):
    fig = plots.blast_vs_recovery(rows)
    (ax,) = fig.axes
    clouds = _clouds(fig)
    p50 = summary[summary["metric"] == "time_to_restore_s"].set_index("strategy")["p50"]
    for s in SCN.strategies:
        assert clouds[f"{s}: median"].get_offsets()[0][0] == pytest.approx(p50[s])
    budget = (rows["failed_requests"] / rows["error_budget_used"]).dropna().median()
    v, h = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert v.get_xdata()[0] == plots.FAST_RESTORE_S == 3600.0
    assert h.get_ydata()[0] == pytest.approx(plots.LARGE_BLAST_BUDGET_SHARE * budget)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    texts = {t.get_text() for t in ax.texts}
    assert {"small blast, fast restore", "large blast, slow restore"} <= texts
    # The legend sits right of the data.
    assert ax.get_legend().get_window_extent().x0 > ax.bbox.x1


def test_kaplan_meier_is_statsmodels_product_limit():
    rng = np.random.default_rng(3)
    t = np.round(rng.lognormal(6, 1.5, 200))  # rounded: ties, as restore times have
    ended = rng.random(200) > 0.2
    at, surv = plots.kaplan_meier(t, ended)
    sf = SurvfuncRight(t, ended.astype(int))
    np.testing.assert_allclose(at, sf.surv_times)
    np.testing.assert_allclose(surv, sf.surv_prob)


def test_time_to_restore_keeps_releases_never_restored_in_the_curve():
    fig = plots.time_to_restore(TIES)
    (ax,) = fig.axes
    curves = [line for line in ax.get_lines() if line.get_linestyle() != "None"]
    canary = curves[0]
    assert canary.get_label() == "canary (n=4, 1 not restored)"
    # Half restored at 62 s, three quarters by 700 s; the fourth, followed a week, stays at 1/4.
    assert list(canary.get_ydata()) == [1.0, 0.5, 0.25, 0.25]
    assert list(canary.get_xdata()[1:]) == [62.0, 700.0, 604_800.0]
    (ticks,) = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert list(ticks.get_xdata()) == [604_800.0] and list(ticks.get_ydata()) == [0.25]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "7 d"
    # Strategies that restore alike stay told apart by their lines.
    assert len({(c.get_color(), c.get_linestyle()) for c in curves}) == len(curves) == 3


def test_charts_of_a_run_without_bad_releases_say_there_is_no_data():
    good = sim.run_batch(sim.load_scenario("default", overrides=["releases.bad_probability=0"]), deploys=3)
    for chart in (plots.time_to_restore, plots.blast_vs_recovery):
        fig = chart(good)
        assert [t.get_text() for t in fig.axes[0].texts] == ["no data"]


def test_cost_vs_safety_and_rollbacks_plot_the_summary_means(summary):
    fig = plots.cost_vs_safety(summary)
    assert [ax.get_xlabel() for ax in fig.axes] == ["extra instance-hours per deploy", "lead time, min"]
    row = summary[(summary["strategy"] == "blue_green") & (summary["metric"] == "extra_instance_hours")]
    xs = [line.get_xdata()[0] for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 1]
    assert any(x == pytest.approx(row["mean"].iloc[0]) for x in xs)
    lo, hi = fig.axes[0].get_xlim()
    assert lo <= min(xs) and max(xs) <= hi  # dodged points are still taken into the axis range
    fig = plots.rollbacks_vs_escapes(summary)
    assert fig.axes[0].get_xlabel() == "false rollbacks, % of good releases"


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
    assert pareto_front(points["lead_time_s"], points["faulty_requests"]).tolist() == [
        True,
        True,
        False,
        False,
    ]


# ---- replay ----


@pytest.fixture(scope="module")
def progressive_caught() -> sim.Timeline:
    # Deploy 1 of seed 2: eleven passing looks, then a failing one stops the rollout at 5%.
    return sim.timeline(sim.run_deploy(SCN, "progressive", deploy=1, seed=2))


def _axis(fig: Figure, ylabel: str) -> Axes:
    return next(ax for ax in fig.axes if ax.get_ylabel() == ylabel)


def test_replay_shows_one_deploy_window_by_window(progressive_caught):
    tl = progressive_caught
    fig = plots.replay(tl)
    weight_ax, error_ax = _axis(fig, "on new, %"), _axis(fig, "error rate, %")
    latency_ax = _axis(fig, "latency, ms")
    (share,) = [line for line in weight_ax.get_lines() if line.get_label() == "user traffic on new, %"]
    assert len(share.get_xdata()) == len(tl.windows)  # the run ended with its rollback: all of it in view
    assert np.nanmax(share.get_ydata()) > 0
    marked = [line.get_xdata()[0] * 60 for line in weight_ax.get_lines() if line.get_linestyle() == "--"]
    detected_at = tl.events.loc[tl.events["kind"] == "detected", "t_s"].iloc[0]
    assert any(m == pytest.approx(detected_at) for m in marked)
    assert latency_ax.get_yscale() == "log" and error_ax.get_ylabel() == "error rate, %"


def test_replay_draws_each_watched_metric_against_its_judges_limit():
    # A good release through every step of the default progressive plan, judged by "baseline".
    tl = sim.timeline(sim.run_deploy(SCN, "progressive", deploy=3, seed=2))
    judge = SCN.judges["baseline"]
    assert list(tl.judges) == ["baseline"] and tuple(judge.watch) == ("error_rate", "p99")
    fig = plots.replay(tl)
    (limit,) = [
        line for line in _axis(fig, "latency, ms").get_lines() if line.get_label().startswith("p99 limit")
    ]
    assert limit.get_label() == "p99 limit (baseline: stable × 1.5)"
    drawn = np.asarray(limit.get_ydata(), float)
    w = tl.windows.iloc[: len(drawn)]
    judged = ~np.isnan(drawn)
    np.testing.assert_allclose(drawn[judged], 1.5 * w["p99_ms_stable"].to_numpy(float)[judged])
    # Drawn only where the judge could judge a p99: a minute's canary requests with 10 beyond it.
    per_minute = w["requests_new"].rolling(6, min_periods=1).sum().to_numpy(float)
    np.testing.assert_array_equal(
        judged, (per_minute * 0.01 >= 10) & (w["t_s"].to_numpy() < tl.looks["t_s"].max())
    )
    looking = (w["t_s"] > tl.looks["t_s"].min()) & (w["t_s"] < tl.looks["t_s"].max())
    assert judged.sum() > 100 and (looking & ~judged).sum() > 10  # at 1%, too few requests for a p99
    # The error-rate limit: 2 × the stable rate pooled over the minute a look reads, + 1 point.
    (errors,) = [line for line in _axis(fig, "error rate, %").get_lines() if "limit" in line.get_label()]
    pooled = (
        w["errors_stable"].rolling(6, min_periods=1).sum()
        / w["requests_stable"].rolling(6, min_periods=1).sum()
    )
    shown = ~np.isnan(np.asarray(errors.get_ydata(), float))
    np.testing.assert_allclose(
        np.asarray(errors.get_ydata(), float)[shown], 100 * (2 * pooled.to_numpy()[shown] + 0.01)
    )
    # A fixed judge's limit is its threshold.
    canary = sim.timeline(sim.run_deploy(SCN, "canary", deploy=2, seed=2))
    (fixed,) = [
        line
        for line in _axis(plots.replay(canary), "error rate, %").get_lines()
        if "limit" in line.get_label()
    ]
    assert fixed.get_label() == "error_rate limit (fixed: 1%)"
    assert set(np.asarray(fixed.get_ydata(), float)[~np.isnan(fixed.get_ydata())]) == {100 * 0.01}


def test_replay_says_a_statistical_judge_has_no_line_to_draw():
    scn = sim.load_scenario("default", overrides=["strategies.progressive.analyses[0].judge=mann_whitney"])
    tl = sim.timeline(sim.run_deploy(scn, "progressive", deploy=1, seed=2))
    legend = _axis(plots.replay(tl), "error rate, %").get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    # The gate judge (baseline) reviewed what the test left inconclusive: its limit is drawn.
    assert (
        "mann_whitney: a test, no line" in labels
        and "error_rate limit (baseline: stable × 2 + 1 pt)" in labels
    )


def test_replay_puts_every_verdict_in_its_own_strip(progressive_caught):
    tl = progressive_caught
    fig = plots.replay(tl)
    strip = next(ax for ax in fig.axes if [t.get_text() for t in ax.get_yticklabels()] == ["analysis"])
    drawn = {c.get_label(): len(c.get_offsets()) for c in strip.collections}
    assert drawn == tl.looks["status"].value_counts().to_dict()
    assert drawn["fail"] == 1 and drawn["pass"] > 5


def test_replay_opens_on_the_rollout_and_zooms_out_to_the_followed_run():
    good = sim.timeline(sim.run_deploy(SCN, "progressive", deploy=3, seed=2))
    promoted = good.events.loc[good.events["detail"] == "promoted", "t_s"].iloc[0]
    assert good.rollout_end_s == promoted == good.shipped_s
    ax = plots.replay(good).axes[-1]
    assert ax.get_xlabel() == "minutes since the deploy started"
    assert promoted / 60 < ax.get_xlim()[1] <= 1.15 * promoted / 60  # not the 180 minutes watched
    ax = plots.replay(good, "all").axes[-1]
    assert ax.get_xlim()[1] == pytest.approx(SCN.run.horizon_s / 60)  # all it watched
    # A release nobody caught: its follow-up, in coarse windows, to the end of the week.
    never = sim.timeline(sim.run_deploy(SCN, "recreate", deploy=76, seed=2))
    fig = plots.replay(never)
    assert fig.axes[-1].get_xlim()[1] < 5  # minutes
    assert "never caught in 7 d (censored)" in fig.get_suptitle()
    fig = plots.replay(never, "all")
    share = next(line for line in fig.axes[1].get_lines() if line.get_label() == "user traffic on new, %")
    days = np.asarray(share.get_xdata(), float)
    assert days[-1] == pytest.approx((SCN.run.follow_s - SCN.run.follow_window_s) / 86400)
    assert len(days) == len(never.follow) + SCN.run.horizon_s / SCN.run.window_s
    assert any("never caught" in t.get_text() for t in fig.axes[0].texts)


def test_replay_staggers_events_of_one_moment():
    tl = sim.timeline(sim.run_deploy(SCN, "blue_green", deploy=68, seed=2))
    fig = plots.replay(tl)
    lane = fig.axes[0]
    FigureCanvasAgg(fig).draw()
    boxes = [t.get_window_extent() for t in lane.texts]
    assert len(boxes) >= 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    # Shipped at the cut-over, caught by users' reports hours later: the rollout view says when.
    assert tl.rollout_end_s == tl.shipped_s < 300
    assert "detected by user_report" in fig.get_suptitle()


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


def test_durations_read_as_people_say_them():
    assert [plots.duration(s) for s in (45, 720, 3600, 8940, 273600)] == [
        "45 s",
        "12 min",
        "1 h",
        "2 h 29 min",
        "3 d 4 h",
    ]
    assert [plots.compact(x) for x in (0.5, 950, 2500, 250_000, 1_500_000)] == [
        "0.5",
        "950",
        "2,500",
        "250 k",
        "1.5 M",
    ]
