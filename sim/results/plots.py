"""Charts of deploysim results, shared by the CLI, the app and the notebooks.

Every function takes plain results — per-deploy rows (`run_batch`), a summary (`summarize`), a sweep
table or a `Timeline` — and returns a `matplotlib.figure.Figure`. Figures are built without pyplot,
so no global figure state leaks between calls and nothing needs a display: save one with
`fig.savefig(path)`, show it with `st.pyplot(fig)`, or let a notebook render it.

Every strategy stays visible: each has a colour, a marker and a dash pattern of its own (`styles`),
points that would coincide are dodged sideways by a few points per strategy, curves drawn first are
drawn widest so a curve on top of another leaves its edges showing, and legends sit outside the
data. Titles are wrapped to their figure's width.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator
from matplotlib.transforms import Transform, blended_transform_factory, offset_copy

from ..config.judges import BaselineJudge, FixedJudge, GateJudge, Metric
from ..engine.judging import measurer
from .report import TABLE
from .summary import durations, pareto_front, survival, wilson
from .timeline import Timeline

#: Strategy colours, in order of first appearance (the built-in four keep theirs across charts).
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
BUILT_IN_COLOURS = {
    "recreate": PALETTE[3],
    "blue_green": PALETTE[0],
    "canary": PALETTE[1],
    "progressive": PALETTE[2],
}
#: Strategy markers: a strategy is told apart by its shape too, not by its colour alone.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
BUILT_IN_MARKERS = {"recreate": "s", "blue_green": "D", "canary": "^", "progressive": "o"}
#: Dash patterns of strategy curves, so two that coincide still show both.
DASHES: tuple[Any, ...] = ("-", (0, (6, 2)), (0, (4, 1.5, 1, 1.5)), (0, (1.5, 1.2)), (0, (8, 2, 1, 2, 1, 2)))

#: The quadrant chart's lines. Fast restore: within an hour, DORA's line between its elite and high
#: performers' time to restore service. Large blast: a bad release whose faulty requests reach 2% of
#: the SLO period's error budget — the share the SRE Workbook's fastest burn-rate alert pages for.
FAST_RESTORE_S = 3600.0
LARGE_BLAST_BUDGET_SHARE = 0.02

#: Durations worth a tick on a log axis of seconds, and how they read.
DURATION_TICKS = (
    (1.0, "1 s"),
    (10.0, "10 s"),
    (60.0, "1 min"),
    (600.0, "10 min"),
    (3600.0, "1 h"),
    (6 * 3600.0, "6 h"),
    (86400.0, "1 d"),
    (7 * 86400.0, "7 d"),
    (30 * 86400.0, "30 d"),
)


@dataclass(frozen=True)
class Style:
    """How one strategy is drawn on every chart."""

    colour: str
    marker: str
    dashes: Any
    width: float  # of its curves: the first strategies' widest, so later ones drawn on top leave them showing


def _assign(strategies: Iterable[str], built_in: dict[str, Any], pool: Sequence[Any]) -> dict[str, Any]:
    free = [c for c in pool if c not in built_in.values()]
    out: dict[str, Any] = {}
    for s in dict.fromkeys(strategies):
        others = len(out) - len(built_in.keys() & out.keys())
        out[s] = built_in.get(s) or free[others % len(free)]
    return out


def colours(strategies: Iterable[str]) -> dict[str, str]:
    return _assign(strategies, BUILT_IN_COLOURS, PALETTE)


def styles(strategies: Iterable[str]) -> dict[str, Style]:
    """Colour, marker, dash pattern and line width per strategy, in order of first appearance."""
    names = list(strategies)  # read twice
    palette, markers = colours(names), _assign(names, BUILT_IN_MARKERS, MARKERS)
    order = list(palette)
    return {
        s: Style(palette[s], markers[s], DASHES[i % len(DASHES)], max(1.2, 4.2 - 0.9 * i))
        for i, s in enumerate(order)
    }


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _wrap(text: str, width_in: float, fontsize: float) -> str:
    # An average character of the default sans-serif is a little under 0.6 em wide.
    per_line = max(20, int(width_in * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(part, per_line) for part in text.split("\n"))


def _title(fig: Figure, text: str, fontsize: float = 11.0) -> None:
    """The figure's title, wrapped to its width (a title wider than its figure is cut off)."""
    fig.suptitle(_wrap(text, fig.get_figwidth() - 0.3, fontsize), fontsize=fontsize)


def _legend_outside(ax: Axes, **kw: Any) -> None:
    """A legend right of the axes, off the data; or a note that there was nothing to draw."""
    if ax.get_legend_handles_labels()[0] or kw.get("handles"):
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **{"fontsize": 8, **kw})
    else:
        _no_data(ax)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["error"].isna()] if "error" in df else df


def _flag(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df:
        return pd.Series(False, index=df.index)
    return df[column].fillna(False).astype(bool)


def _dodge(ax: Axes, i: int, k: int, step_pt: float = 4.0) -> Transform:
    """Data coordinates shifted sideways by a few points per strategy (i of k): values that coincide
    stay side by side, and the data themselves are not moved."""
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    return offset_copy(ax.transData, fig=fig, x=(i - (k - 1) / 2) * step_pt, y=0.0, units="points")


def _take_in(ax: Axes, x: Any, y: Any) -> None:
    """Autoscale to data drawn through a dodged transform (matplotlib takes in only data drawn in
    plain data coordinates)."""
    xy = np.column_stack([np.ravel(np.asarray(x, float)), np.ravel(np.asarray(y, float))])
    xy = xy[np.isfinite(xy).all(1)]
    if len(xy):
        ax.update_datalim(xy)
        ax.autoscale_view()


def duration_axis(axis: Any, lo: float, hi: float) -> None:
    """Ticks of a log axis of seconds at durations people read (1 min, 1 h, 1 d), between lo and hi."""
    ticks = [(v, label) for v, label in DURATION_TICKS if lo <= v <= hi]
    axis.set_major_locator(FixedLocator([v for v, _ in ticks]))
    axis.set_major_formatter(FuncFormatter(lambda v, pos: dict(ticks).get(v, "")))
    axis.set_minor_locator(NullLocator())


def duration(seconds: float) -> str:
    """A duration in words: 45 s, 12 min, 2 h 29 min, 3 d 4 h."""
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(round(s / 3600), 24)
    return f"{d} d {h} h" if h else f"{d} d"


def compact(x: float, pos: int | None = None) -> str:
    """A tick label short enough not to run into its neighbours: 1.5 M, 250 k, 0.5."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g} M"
    if a >= 1e4:
        return f"{x / 1e3:.3g} k"
    return f"{x:,.0f}" if a >= 1000 else f"{x:g}"


# ---- blast radius ----


def _ccdf(ax: Axes, values: np.ndarray, style: Style, label: str, max_points: int = 2000) -> None:
    """Share of values above x, as a step line (values sorted once; no binning choices). Past
    max_points, every k-th order statistic (and the largest) is drawn: the same curve to the eye,
    without a million-vertex line in memory."""
    v = np.sort(values)
    n = len(v)
    if n == 0:
        return
    share_above = 1.0 - np.arange(1, n + 1) / n
    if n > max_points:
        keep = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        v, share_above = v[keep], share_above[keep]
    ax.step(
        np.concatenate([[v[0]], v]),
        np.concatenate([[1.0], share_above]),
        where="post",
        color=style.colour,
        linestyle=style.dashes,
        linewidth=style.width,
        label=label,
    )


def blast_radius(df: pd.DataFrame) -> Figure:
    """How many requests and users met each bad release, per strategy (complementary CDFs). A bad
    release still hurting users when its follow-up ended counts what it had done by then (a lower
    bound); the legend says how many."""
    ok = _ok(df)
    bad = _flag(ok, "release_bad")
    censored = _flag(ok, "censored")
    look = styles(ok["strategy"])
    fig = _figure(10.5, 4.3)
    axes = fig.subplots(1, 2)
    for ax, (col, xlabel) in zip(
        axes, [("faulty_requests", "faulty requests"), ("affected_users", "affected users")], strict=True
    ):
        for s, style in look.items():
            part = ok[(ok["strategy"] == s) & bad]
            v = part[col].dropna().to_numpy(float)
            c = int(censored[part.index].sum())
            _ccdf(ax, v, style, f"{s} (n={len(v)}" + (f", {c} not restored: at least" if c else "") + ")")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of bad releases above x")
        ax.grid(True, alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
    else:
        for ax in axes:
            _no_data(ax)
    _title(fig, "Blast radius of bad releases: share whose count exceeds x")
    return fig


# ---- time to restore ----


def kaplan_meier(times: np.ndarray, ended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan–Meier curve of right-censored durations: the distinct times at which some ended,
    and the share not yet ended just after each (the product of 1 − ended/at risk)."""
    t = np.asarray(times, float)
    e = np.asarray(ended, bool)
    order = np.argsort(t, kind="stable")
    t, e = t[order], e[order]
    at = np.unique(t[e])
    at_risk = len(t) - np.searchsorted(t, at, side="left")
    done = np.sort(t[e])
    died = np.searchsorted(done, at, side="right") - np.searchsorted(done, at, side="left")
    return at, np.cumprod(1.0 - died / at_risk)


def time_to_restore(df: pd.DataFrame) -> Figure:
    """Per strategy, the share of bad releases that hurt users and are not yet restored x after their
    first user impact (Kaplan–Meier): a release still not restored when its follow-up ended stays
    in the count for as long as it was followed, and is marked with a tick there."""
    ok = _ok(df)
    look = styles(ok["strategy"])
    fig = _figure(9.5, 4.6)
    ax = fig.subplots()
    seen: list[np.ndarray] = []
    for i, (s, style) in enumerate(look.items()):
        part = ok[ok["strategy"] == s]
        if "censored_after_s" not in part:
            part = part.assign(censored_after_s=np.nan)
        t, ended = durations(part, "time_to_restore_s")
        if not len(t):
            continue
        seen.append(t)
        at, surv = kaplan_meier(t, ended)
        start = float(t.min()) / 2
        x = np.concatenate([[start], at, [float(t.max())]])
        y = np.concatenate([[1.0], surv, [surv[-1] if len(surv) else 1.0]])
        c = int((~ended).sum())
        label = f"{s} (n={len(t)}" + (f", {c} not restored" if c else "") + ")"
        ax.step(
            x, y, where="post", color=style.colour, linestyle=style.dashes, linewidth=style.width, label=label
        )
        if c:
            cut = t[~ended]
            height = np.concatenate([[1.0], surv])[np.searchsorted(at, cut, side="right")]
            ax.plot(
                cut,
                height,
                linestyle="none",
                marker="|",
                markersize=12,
                markeredgewidth=2,
                color=style.colour,
                transform=_dodge(ax, i, len(look), 3.0),  # ticks of strategies followed alike side by side
            )
    if seen:
        every = np.concatenate(seen)
        lo, hi = float(every.min()) / 2, float(every.max()) * 2
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        duration_axis(ax.xaxis, lo, hi)
        handles, labels = ax.get_legend_handles_labels()
        tick = Line2D([], [], linestyle="none", marker="|", markersize=12, markeredgewidth=2, color="black")
        _legend_outside(
            ax, handles=[*handles, tick], labels=[*labels, "not restored when its\nfollow-up ended"]
        )
    else:
        _no_data(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time since the bad release first hurt a user")
    ax.set_ylabel("share not yet restored")
    ax.grid(True, alpha=0.3)
    _title(
        fig,
        "Time to restore: share of the bad releases that hurt users not yet restored after x (Kaplan–Meier)",
    )
    return fig


# ---- blast radius vs time to restore ----


def error_budget_requests(df: pd.DataFrame) -> float:
    """The SLO period's error budget in requests, as the rows measure it (failed requests over the
    share of the budget they used); NaN when the rows cannot tell."""
    if "failed_requests" not in df or "error_budget_used" not in df:
        return math.nan
    used = df["error_budget_used"].to_numpy(float)
    failed = df["failed_requests"].to_numpy(float)
    keep = (used > 0) & np.isfinite(failed) & (failed > 0)
    return float(np.median(failed[keep] / used[keep])) if keep.any() else math.nan


BLAST_LABELS = {"faulty_requests": "faulty requests", "affected_users": "affected users"}


def blast_vs_recovery(
    df: pd.DataFrame,
    blast: Literal["faulty_requests", "affected_users"] = "faulty_requests",
    *,
    large_blast: float | None = None,
    fast_restore_s: float = FAST_RESTORE_S,
    max_points: int = 3000,
) -> Figure:
    """Each bad release that hurt users as a point: its blast radius (`blast`, log) against its time
    to restore (log), in the article's quadrants — small/large blast radius × fast/slow restore.

    A release not restored when its follow-up ended is drawn hollow at how long it was followed,
    with an arrow: at least that long, at least that large. Large markers are each strategy's
    medians (time to restore: Kaplan–Meier). The lines: `fast_restore_s` (default an hour) and
    `large_blast` (default, for faulty requests, 2% of the SLO period's error budget in requests;
    for affected users only when given). Points of a strategy are shifted a few points sideways so
    strategies that restore alike stay visible side by side; the data are not moved. Each point
    cloud's gid names it: "<strategy>: restored", ": not restored", ": at least", ": median".
    """
    ok = _ok(df)
    bad = ok[_flag(ok, "release_bad")]
    if "censored_after_s" not in bad:
        bad = bad.assign(censored_after_s=np.nan)
    look = styles(ok["strategy"])
    fig = _figure(10.0, 5.6)
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # fixed: the same rows always draw the same chart
    censored = _flag(bad, "censored")
    restored = bad["time_to_restore_s"].notna() & ~censored
    drawn = bad[restored | censored]
    ax.set_xlabel(
        f"time to restore: from the first user hurt to no user on it (dashed: {duration(fast_restore_s)})"
    )
    ax.set_ylabel(f"{BLAST_LABELS.get(blast, blast)} per bad release")
    _title(fig, "Blast radius vs time to restore, per bad release that hurt users")
    if drawn.empty:
        _no_data(ax)
        return fig
    handles: list[Any] = []
    for i, (s, style) in enumerate(look.items()):
        part = bad[bad["strategy"] == s]
        shift = _dodge(ax, i, len(look))
        done, open_ = part[restored[part.index]], part[censored[part.index]]
        missed = len(part) - len(done) - len(open_)
        for rows, hollow in ((done, False), (open_, True)):
            if len(rows) > max_points:
                rows = rows.iloc[np.sort(rng.choice(len(rows), max_points, replace=False))]
            x = rows["censored_after_s" if hollow else "time_to_restore_s"].to_numpy(float)
            y = rows[blast].to_numpy(float)
            if not len(x):
                continue
            ax.scatter(
                x,
                y,
                s=30,
                marker=style.marker,
                facecolors="none" if hollow else style.colour,
                edgecolors=style.colour,
                alpha=0.9 if hollow else 0.55,
                linewidths=1.2 if hollow else 0.4,
                transform=shift,
                zorder=3,
                gid=f"{s}: {'not restored' if hollow else 'restored'}",
            )
            if hollow:  # at least this long, at least this large
                arrow = offset_copy(shift, fig=fig, x=7.0, y=7.0, units="points")
                ax.scatter(
                    x,
                    y,
                    s=70,
                    marker="$\u2197$",
                    color=style.colour,
                    transform=arrow,
                    linewidths=0,
                    zorder=3,
                    gid=f"{s}: at least",
                )
        t, ended = durations(part, "time_to_restore_s")
        median_t = survival(t, ended)[3] if len(t) else math.nan
        hurt = pd.concat([done[blast], open_[blast]]).dropna()
        if not math.isnan(median_t) and len(hurt):
            ax.scatter(
                [median_t],
                [float(hurt.median())],
                s=190,
                marker=style.marker,
                color=style.colour,
                edgecolors="black",
                linewidths=1.5,
                transform=shift,
                zorder=4,
                gid=f"{s}: median",
            )
        label = f"{s}: {len(done)} restored" + (f", {len(open_)} not" if len(open_) else "")
        label += f"; {missed} met no user" if missed else ""
        label += "" if not math.isnan(median_t) or not len(t) else " (median not reached)"
        handles.append(
            Line2D(
                [], [], linestyle="none", marker=style.marker, color=style.colour, markersize=7, label=label
            )
        )
    median = Line2D([], [], linestyle="none", marker="o", markersize=12, color="white")
    median.set(markeredgecolor="black", markeredgewidth=1.5, label="large: the strategy's median")
    handles.append(median)
    if censored.any():
        open_mark = Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="none")
        open_mark.set(
            markeredgecolor="black", label="hollow \u2197: not restored when its\nfollow-up ended (at least)"
        )
        handles.append(open_mark)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    if large_blast is None and blast == "faulty_requests":
        large_blast = LARGE_BLAST_BUDGET_SHARE * error_budget_requests(ok)
    x_all = np.concatenate(
        [
            drawn["time_to_restore_s"].dropna().to_numpy(float),
            drawn.loc[censored[drawn.index], "censored_after_s"].to_numpy(float),
            [fast_restore_s],
        ]
    )
    y_all = drawn[blast].dropna().to_numpy(float)
    lo, hi = max(0.5, float(x_all.min()) / 2), float(x_all.max()) * 3
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    duration_axis(ax.xaxis, lo, hi)
    marks = [*y_all, *([large_blast] if large_blast and math.isfinite(large_blast) else [])]
    top = max([1.0, *marks])
    if (y_all <= 0).any():  # an affected-user count can be 0: a linear stretch at the bottom holds it
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(0, top * 4)
    else:
        ax.set_yscale("log")
        ax.set_ylim(min([top, *marks]) / 4, top * 4)
    _quadrants(ax, fast_restore_s, large_blast)
    ax.grid(True, alpha=0.3)
    return fig


def _quadrants(ax: Axes, fast_restore_s: float, large_blast: float | None) -> None:
    """The quadrant chart's dashed lines and the names of its corners (two without a blast line)."""
    ax.axvline(fast_restore_s, color="gray", linestyle="--", linewidth=1)
    corners = [(0.01, "left", "fast restore"), (0.99, "right", "slow restore")]
    if large_blast is not None and math.isfinite(large_blast):
        ax.axhline(large_blast, color="gray", linestyle="--", linewidth=1)
        ax.set_ylabel(f"{ax.get_ylabel()}; dashed: {compact(large_blast)}")
        texts = [(x, 0.015, ha, "bottom", f"small blast, {what}") for x, ha, what in corners]
        texts += [(x, 0.985, ha, "top", f"large blast, {what}") for x, ha, what in corners]
    else:
        texts = [(x, 0.015, ha, "bottom", what) for x, ha, what in corners]
    box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.5}
    for x, y, ha, va, text in texts:
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=8, color="dimgray", bbox=box)


# ---- summaries: means with intervals ----


def _metric(summary: pd.DataFrame, strategy: str, metric: str) -> tuple[float, float, float]:
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)]
    if row.empty:
        return (math.nan, math.nan, math.nan)
    r = row.iloc[0]
    return float(r["mean"]), float(r["ci95_lo"]), float(r["ci95_hi"])


def _ci_points(ax: Axes, summary: pd.DataFrame, xm: str, ym: str, xs: float = 1.0, ys: float = 1.0) -> None:
    """One point per strategy at (mean x, mean y) with 95% CI bars, in the strategy's colour and
    shape (named in the legend: a name written beside each point runs into its neighbours'). Each
    strategy is dodged a few points sideways, so strategies with the same means stay apart."""
    look = styles(summary["strategy"])
    for i, (s, style) in enumerate(look.items()):
        (x, x0, x1), (y, y0, y1) = _metric(summary, s, xm), _metric(summary, s, ym)
        if math.isnan(x) or math.isnan(y):
            continue
        # Every plotted quantity is non-negative: an interval is not drawn below 0 (and a bound a
        # rounding error past the mean draws no bar rather than a negative one).
        xerr = [[max(0.0, x - max(x0, 0.0))], [max(0.0, x1 - x)]] if not math.isnan(x0) else [[0.0], [0.0]]
        yerr = [[max(0.0, y - max(y0, 0.0))], [max(0.0, y1 - y)]] if not math.isnan(y0) else [[0.0], [0.0]]
        xbar, ybar = np.array(xerr) * xs, np.array(yerr) * ys
        _take_in(ax, [x * xs - xbar[0][0], x * xs + xbar[1][0]], [y * ys - ybar[0][0], y * ys + ybar[1][0]])
        ax.errorbar(
            [x * xs],
            [y * ys],
            xerr=xbar,
            yerr=ybar,
            fmt=style.marker,
            color=style.colour,
            capsize=3,
            markersize=8,
            transform=_dodge(ax, i, len(look)),
            label=s,
        )
    ax.grid(True, alpha=0.3)


def cost_vs_safety(summary: pd.DataFrame) -> Figure:
    """What each strategy pays (extra instance-hours, lead time) against what it saves (blast radius)."""
    fig = _figure(11.0, 4.4)
    ax1, ax2 = fig.subplots(1, 2)
    _ci_points(ax1, summary, "extra_instance_hours", "faulty_requests")
    ax1.set_xlabel("extra instance-hours per deploy")
    _ci_points(ax2, summary, "lead_time_s", "faulty_requests", xs=1 / 60)
    ax2.set_xlabel("lead time, min")
    for ax in (ax1, ax2):
        ax.set_ylabel("faulty requests per bad release")
        ax.yaxis.set_major_formatter(FuncFormatter(compact))
    if ax1.get_legend_handles_labels()[0]:
        fig.legend(*ax1.get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    _title(fig, "Cost vs safety (means with 95% confidence intervals; lower left is cheaper and safer)")
    return fig


def rollbacks_vs_escapes(summary: pd.DataFrame) -> Figure:
    """False rollbacks of good releases against bad releases that reached everyone."""
    fig = _figure(8.0, 4.8)
    ax = fig.subplots()
    _ci_points(ax, summary, "false_rollback_rate", "escaped_rate", 100.0, 100.0)
    ax.set_xlabel("false rollbacks, % of good releases")
    ax.set_ylabel("escaped defects, % of bad releases")
    _legend_outside(ax)
    _title(fig, "False rollbacks vs escaped defects (95% Wilson intervals)")
    return fig


def run_charts(df: pd.DataFrame, summary: pd.DataFrame) -> dict[str, Figure]:
    """The charts a results folder keeps, by file name."""
    return {
        "blast_radius": blast_radius(df),
        "time_to_restore": time_to_restore(df),
        "blast_vs_recovery": blast_vs_recovery(df),
        "cost_vs_safety": cost_vs_safety(summary),
        "rollbacks_vs_escapes": rollbacks_vs_escapes(summary),
    }


def means(
    summary: pd.DataFrame,
    metrics: Sequence[str],
    limits: dict[str, float] | None = None,
    highlight: str | None = None,
) -> Figure:
    """One panel per metric: each strategy's mean with its 95% interval, in the "how to choose" table's
    units; a dashed line marks a metric's limit (the advisor's view) and `highlight` is outlined."""
    units = {m: (title, scale) for m, title, scale, _ in TABLE}
    look = styles(summary["strategy"])
    fig = _figure(max(4.5, 3.6 * len(metrics)), 1.2 + 0.45 * len(look))
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        title, scale = units.get(metric, (metric, 1.0))
        for y, (s, style) in enumerate(look.items()):
            mean, lo, hi = (v * scale for v in _metric(summary, s, metric))
            if math.isnan(mean):
                ax.text(0, y, " no data", va="center", fontsize=8, color="gray")
                continue
            err = [[max(0.0, mean - max(lo, 0.0))], [max(0.0, hi - mean)]] if not math.isnan(lo) else None
            ax.barh(
                y,
                mean,
                color=style.colour,
                alpha=0.85,
                edgecolor="black" if s == highlight else style.colour,
                linewidth=2.5 if s == highlight else 0.5,
                xerr=err,
                capsize=3,
            )
        if limits and metric in limits:
            at = limits[metric] * scale
            ax.axvline(at, color="#c44e52", linestyle="--", linewidth=1.5)
            # Named above the panel, where no bar is.
            ax.text(
                at,
                1.0,
                "limit",
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                ha="center",
                va="bottom",
                fontsize=8,
                color="#c44e52",
            )
        ax.set_xlabel(title)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.xaxis.set_major_formatter(FuncFormatter(compact))
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(look)), list(look))
    axes[0].invert_yaxis()
    _title(fig, "Mean per strategy with its 95% confidence interval")
    return fig


def escapes_by_fault(df: pd.DataFrame) -> Figure:
    """Share of bad releases that reached everyone, per fault kind and strategy (95% Wilson intervals):
    what a gate does not watch, or a canary slice does not see, shows up here."""
    ok = _ok(df)
    bad = ok[_flag(ok, "release_bad")]
    kinds = sorted(k for k in bad["fault_kind"].dropna().unique() if k)
    look = styles(ok["strategy"])
    fig = _figure(min(13.0, max(7.0, 2.6 + len(kinds) * max(1.3, 0.3 * len(look) + 0.4))), 4.6)
    ax = fig.subplots()
    width = 0.8 / max(1, len(look))
    for i, (s, style) in enumerate(look.items()):
        part = bad[bad["strategy"] == s]
        for j, kind in enumerate(kinds):
            rows = part[part["fault_kind"] == kind]
            n, k = len(rows), int(rows["escaped"].astype(bool).sum())
            if n == 0:
                continue
            lo, hi = wilson(k, n)
            rate = 100 * k / n
            ax.bar(
                j + (i - (len(look) - 1) / 2) * width,
                rate,
                width,
                color=style.colour,
                label=s if j == 0 else None,
                yerr=[[max(0.0, rate - 100 * lo)], [max(0.0, 100 * hi - rate)]],
                capsize=2,
            )
    # Every strategy meets the same releases (common random numbers): one count per fault kind.
    counts = [bad.loc[bad["fault_kind"] == k, "deploy"].nunique() for k in kinds]
    ax.set_xticks(
        range(len(kinds)),
        [f"{k}\n{n} bad releases" for k, n in zip(kinds, counts, strict=True)],
        fontsize=8,
    )
    ax.set_ylim(0, 105)
    ax.set_ylabel("escaped defects, % of bad releases")
    ax.grid(True, axis="y", alpha=0.3)
    _legend_outside(ax)
    _title(fig, "Which faults reach everyone, by fault kind (95% Wilson intervals)")
    return fig


#: A Pareto panel: (x column, y column, x label, y label, (x scale, y scale)); lower is better on both.
Panel = tuple[str, str, str, str, tuple[float, float]]
LEAD_VS_BLAST: Panel = (
    "lead_time_s",
    "faulty_requests",
    "lead time, min",
    "faulty requests per bad release",
    (1 / 60, 1.0),
)
ROLLBACKS_VS_ESCAPES: Panel = (
    "false_rollback_rate",
    "escaped_rate",
    "false rollbacks, % of good releases",
    "escaped defects, % of bad releases",
    (100.0, 100.0),
)


def pareto(points: pd.DataFrame, panels: Sequence[Panel] = (LEAD_VS_BLAST,), label: str = "label") -> Figure:
    """Sweep results, one point per (combination, strategy), with each panel's Pareto front (the points
    no other point beats on both axes) joined by a dashed line and labelled with its combination.

    points: a row per point with the panels' columns, `strategy` and `label` (see `sweep.wide`).
    """
    fig = _figure(6.0 * len(panels) + 2.0, 5.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    look = styles(points["strategy"])
    for ax, (x, y, xlabel, ylabel, (xs, ys)) in zip(axes, panels, strict=True):
        for i, (s, style) in enumerate(look.items()):
            part = points[points["strategy"] == s]
            _take_in(ax, part[x] * xs, part[y] * ys)
            ax.scatter(
                part[x] * xs,
                part[y] * ys,
                color=style.colour,
                marker=style.marker,
                label=s,
                s=40,
                alpha=0.8,
                transform=_dodge(ax, i, len(look)),
            )
        best = points[pareto_front(points[x].to_numpy(), points[y].to_numpy())].sort_values([x, y])
        ax.plot(best[x] * xs, best[y] * ys, color="black", linewidth=1, linestyle="--", label="Pareto front")
        for _, same in best.groupby([x, y], sort=False):  # tied points share one label
            first = same.iloc[0]
            px, py = float(first[x]), float(first[y])
            more = f" (+{len(same) - 1} tied)" if len(same) > 1 else ""
            ax.annotate(
                f"{first['strategy']}: {first[label]}{more}",
                (px * xs, py * ys),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=7,
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(FuncFormatter(compact))
        ax.grid(True, alpha=0.3)
    _legend_outside(axes[-1])
    _title(fig, "Sweep: every combination and strategy; the dashed line is the Pareto front")
    return fig


def sweep_line(
    tidy: pd.DataFrame, key: str, metric: str, ylabel: str | None = None, scale: float = 1.0
) -> Figure:
    """One swept key against one metric: each value's mean and 95% interval, a line per strategy.

    tidy: a `sweep.run` table (or any `summarize` table with a `key` column). Numeric values are
    placed on a numeric axis; anything else (a mapping, a word) at evenly spaced, labelled positions.
    """
    part = tidy[tidy["metric"] == metric]
    values = list(dict.fromkeys(part[key]))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    where = {v: (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    fig = _figure(8.5, 4.5)
    ax = fig.subplots()
    look = styles(part["strategy"])
    for i, (s, style) in enumerate(look.items()):
        rows = part[part["strategy"] == s]
        x = np.array([where[v] for v in rows[key]])
        y = rows["mean"].to_numpy(float) * scale
        lo = np.clip(rows["ci95_lo"].to_numpy(float) * scale, 0.0, None)
        hi = rows["ci95_hi"].to_numpy(float) * scale
        err = np.vstack([np.clip(y - lo, 0.0, None), np.clip(hi - y, 0.0, None)])
        _take_in(ax, np.concatenate([x, x]), np.concatenate([y - err[0], y + err[1]]))
        ax.errorbar(
            x,
            y,
            yerr=err,
            fmt=f"{style.marker}-",
            color=style.colour,
            capsize=3,
            label=s,
            transform=_dodge(ax, i, len(look)),
        )
    if not numeric:
        ax.set_xticks([where[v] for v in values], [str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel(ylabel or metric)
    ax.grid(True, alpha=0.3)
    _legend_outside(ax)
    _title(fig, f"{ylabel or metric} against {key.rsplit('.', 1)[-1]} (means with 95% intervals)")
    return fig


# ---- one deploy replayed ----

EVENT_COLOURS = {
    "detected": "#c44e52",
    "rollback": "#dd8452",
    "alert": "#8172b3",
    "report": "#8172b3",
    "smoke test": "#937860",
    "follow-up": "#4c72b0",
    "end": "#4c72b0",
}
NOISE_COLOURS = {"both": "#bbbbbb", "new": "#f2b8a0", "stable": "#a8c4e0"}
VERDICT_MARKERS = {
    "pass": ("o", PALETTE[2]),
    "fail": ("X", PALETTE[3]),
    "inconclusive": ("s", "gray"),
    "error": ("D", "black"),
}
VERSION_COLOURS = {"stable": PALETTE[0], "new": PALETTE[3]}
#: Judge metrics: the panel that draws them, their window column and the scale to its unit.
JUDGED = {
    "error_rate": ("error", "error_rate", 100.0),
    "p50": ("latency", "p50_ms", 1.0),
    "p99": ("latency", "p99_ms", 1.0),
    "saturation": ("saturation", "saturation", 100.0),
}
#: Events the replay's lane leaves out: each verdict has the verdicts' strip.
LANE_SKIPS = ("measurement", "review")
LANE_FONT = 7.0

Span = Literal["rollout", "all"]


def _unit(seconds: float) -> tuple[str, float]:
    if seconds <= 3 * 3600:
        return "minutes", 60.0
    if seconds <= 3 * 86400:
        return "hours", 3600.0
    return "days", 86400.0


def _limit_label(name: str, judge: GateJudge, metric: str) -> str:
    if isinstance(judge, FixedJudge):
        value = {
            "error_rate": f"{100 * judge.max_error_rate:g}%",
            "p50": f"{judge.max_p50_ms:g} ms",
            "p99": f"{judge.max_p99_ms:g} ms",
            "saturation": f"{100 * judge.max_saturation:g}%",
        }[metric]
        return f"{metric} limit ({name}: {value})"
    if isinstance(judge, BaselineJudge):
        if metric == "error_rate":
            rule = f"stable × {judge.max_error_ratio:g} + {100 * judge.error_margin:g} pt"
        elif metric == "saturation":
            rule = f"stable + {judge.max_saturation_delta:g}"
        else:
            rule = f"stable × {judge.max_latency_ratio:g}"
        return f"{metric} limit ({name}: {rule})"
    return f"{metric} limit ({name})"


def judge_limits(tl: Timeline) -> list[tuple[str, Metric, np.ndarray]]:
    """(label, metric, limit per watch window) for each metric each of the strategy's judges watches,
    from the judge's own rule (`limits_many`) applied to the stable version's values, window by
    window. The limit is NaN outside the span the strategy was judging (its first look's lookback
    to its last look) and where the judge could not judge the metric: fewer requests on the new
    version over a lookback (the time between looks) than it needs, or too few for a percentile's
    tail. Error counts add up, so error rates are pooled over the lookback as a look reads them;
    percentiles do not, and stay per window. Judges with no such rule (statistical tests) draw none.
    """
    w = tl.windows
    looks = tl.looks
    if not len(looks) or not len(w):
        return []
    times = np.sort(looks["t_s"].to_numpy(float))
    gap = float(np.median(np.diff(times))) if len(times) > 1 else 60.0
    t = w["t_s"].to_numpy(float)
    judging = (t + tl.window_s > times[0] - gap) & (t < times[-1])
    k = max(1, round(gap / tl.window_s))
    pooled: dict[str, np.ndarray] = {}
    for v in ("stable", "new"):
        errors = w[f"errors_{v}"].rolling(k, min_periods=1).sum().to_numpy(float)
        pooled[v] = w[f"requests_{v}"].rolling(k, min_periods=1).sum().to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled[f"error_rate_{v}"] = np.where(pooled[v] > 0, errors / pooled[v], np.nan)
    stats = {col: (w[f"{col}_stable"].tolist(), w[f"{col}_new"].tolist()) for _, col, _ in JUDGED.values()}
    stats["error_rate"] = (pooled["error_rate_stable"].tolist(), pooled["error_rate_new"].tolist())
    stats["requests"] = (pooled["stable"].tolist(), pooled["new"].tolist())
    out = []
    for name, judge in tl.judges.items():
        if not isinstance(judge, GateJudge) or name in _tests(tl):
            continue
        how = measurer(judge)
        limits = how.limits_many(judge, stats)
        least = max(1, judge.min_requests)
        for metric in judge.watch:
            value = limits.get(metric)
            if value is None:
                continue
            series = np.full(len(t), value, float) if np.isscalar(value) else np.asarray(value, float)
            baseline_ok = pooled["stable"] >= least if how.needs_baseline else np.ones(len(t), bool)
            judged = (
                judging
                & baseline_ok
                & np.array([n >= least and judge.judgeable(metric, n) for n in pooled["new"]])
            )
            out.append((_limit_label(name, judge, metric), metric, np.where(judged, series, np.nan)))
    return out


def _lane_groups(events: pd.DataFrame, tol: float) -> list[tuple[float, str, str]]:
    """Events at (nearly) one time merged into one label: (time, colour kind, text)."""
    groups: list[tuple[float, str, str]] = []
    for t, kind, detail in events.itertuples(index=False):
        text = f"{kind}: {detail}" if str(detail).strip() else str(kind)
        if groups and t - groups[-1][0] <= tol:
            t0, k0, text0 = groups[-1]
            groups[-1] = (t0, k0 if k0 in EVENT_COLOURS else kind, f"{text0} · {text}")
        else:
            groups.append((float(t), kind, text))
    return groups


def _pack(
    groups: list[tuple[float, str, str]], x0: float, x1: float, width_pt: float
) -> list[tuple[int, bool, str]]:
    """A row per label so that no two labels of a row overlap, each right of its time (or left of
    it, where the right has less room), cut short where even that is too little: (row,
    right-aligned, text) per group, greedily."""
    per_pt = (x1 - x0) / width_pt
    char = 0.57 * LANE_FONT * per_pt  # a character's width, in data units (a little over the average)
    gap = 8.0 * per_pt  # the marker and the space after it
    ends: list[list[tuple[float, float]]] = []
    out = []
    for t, _, text in groups:
        right = (x1 - t) < (t - x0) and t + gap + len(text) * char > x1
        room = (t - x0 if right else x1 - t) - gap
        if len(text) * char > room:
            text = text[: max(1, int(room / char) - 1)] + "…"
        w = gap + len(text) * char
        span = (t - w, t) if right else (t, t + w)
        for row, taken in enumerate(ends):
            if all(span[1] < a or span[0] > b for a, b in taken):
                taken.append(span)
                out.append((row, right, text))
                break
        else:
            ends.append([span])
            out.append((len(ends) - 1, right, text))
    return out


def replay(tl: Timeline, span: Span = "rollout") -> Figure:
    """One deploy replayed: a lane of its events (simultaneous ones on separate rows), traffic on the
    new version, the judges' verdicts, error rate and latency per version against each watched
    metric's limit (`judge_limits`), noisy-neighbour episodes shaded.

    span: "rollout" opens on the rollout — from the start until shortly after it shipped or was
    undone (events later than that are named in the title); "all" shows the whole followed run,
    the follow-up of a release nobody caught included (in its coarse windows).
    """
    whole = span == "all"
    end = tl.rollout_end_s
    if whole:
        t_hi = max(tl.end_s if math.isfinite(tl.end_s) else 0.0, tl.watch_end_s, end)
    else:
        t_hi = end + max(0.1 * end, 60.0, 3 * tl.window_s)
    unit, per = _unit(t_hi)
    w = tl.windows
    if whole and len(tl.follow):
        w = pd.concat([w[w["t_s"] < float(tl.follow["t_s"].iloc[0])], tl.follow], ignore_index=True)
    w = w[w["t_s"] <= t_hi]  # what lies beyond the view would set the y scales
    limits = judge_limits(tl)
    events = tl.events[(tl.events["t_s"] <= t_hi) & ~tl.events["kind"].isin(LANE_SKIPS)]
    if whole and len(tl.follow) and tl.detected_s is None:
        # Followed to the end and never caught: right-censored, and the lane says so.
        end_row = pd.DataFrame([(tl.end_s, "end", "never caught: censored")], columns=events.columns)
        events = pd.concat([events, end_row], ignore_index=True)
    groups = _lane_groups(events.sort_values("t_s"), tol=0.004 * t_hi)
    fig_w = 11.0
    rows = _pack([(g[0] / per, g[1], g[2]) for g in groups], 0.0, t_hi / per, (fig_w - 3.9) * 72)
    n_rows = max([r for r, _, _ in rows], default=-1) + 1
    looks = tl.looks[tl.looks["t_s"] <= t_hi]
    heights = {"lane": 0.35 + 0.2 * max(1, n_rows), "traffic": 1.5}
    heights |= {"verdicts": 0.55} if len(looks) else {}
    heights |= {"error": 1.7, "latency": 1.8}
    heights |= {"saturation": 1.3} if any(m == "saturation" for _, m, _ in limits) else {}
    fig = _figure(fig_w, 1.1 + sum(heights.values()))
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=list(heights.values()))
    ax = dict(zip(heights, axes, strict=True))

    _lane(ax["lane"], [(t_ev / per, kind) for t_ev, kind, _ in groups], rows)
    t = w["t_s"].to_numpy(float) / per
    traffic = ax["traffic"]
    traffic.step(t, 100 * w["share_new"], where="post", color="black", label="user traffic on new, %")
    traffic.set_ylabel("on new, %")
    traffic.set_ylim(-3, 103)
    down = w["down_s"].to_numpy(float) > 0
    if down.any():  # no version serving (recreate's gap, a crash): where the share has no value
        traffic.fill_between(
            t,
            0,
            100,
            where=down,
            step="post",
            color=PALETTE[3],
            alpha=0.25,
            linewidth=0,
            label="service down",
        )
    if "verdicts" in ax:
        _verdicts(ax["verdicts"], looks, per)
    for name in ("stable", "new"):
        colour = VERSION_COLOURS[name]
        ax["error"].plot(t, 100 * w[f"error_rate_{name}"], color=colour, label=name, linewidth=1.2)
        ax["latency"].plot(t, w[f"p99_ms_{name}"], color=colour, label=f"{name} p99", linewidth=1.2)
        ax["latency"].plot(t, w[f"p50_ms_{name}"], ":", color=colour, label=f"{name} p50", linewidth=1.0)
        if "saturation" in ax:
            ax["saturation"].plot(t, 100 * w[f"saturation_{name}"], color=colour, label=name, linewidth=1.2)
    watch_t = tl.windows["t_s"].to_numpy(float)
    in_view = watch_t <= t_hi
    for i, (label, metric, series) in enumerate(limits):
        panel, _, scale = JUDGED[metric]
        ax[panel].step(
            watch_t[in_view] / per,
            scale * series[in_view],
            where="post",
            color="black",
            linestyle=DASHES[1 + i % (len(DASHES) - 1)],
            linewidth=1.3,
            label=label,
        )
    ax["error"].set_ylabel("error rate, %")
    ax["error"].set_ylim(bottom=0)
    # Few ticks in short labels: the layout is worked out before the ticks are final, and a longer
    # label than it planned for ("0.125" for "0.1") would be cut off at the canvas' edge.
    ax["error"].yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax["error"].yaxis.set_major_formatter(FuncFormatter(compact))
    ax["latency"].set_ylabel("latency, ms")
    _latency_ticks(ax["latency"])
    if "saturation" in ax:
        ax["saturation"].set_ylabel("saturation, %")

    shaded = _backdrop(
        [a for n, a in ax.items() if n not in ("lane", "verdicts")], tl.noise, events, t_hi, per
    )
    handles, labels = traffic.get_legend_handles_labels()
    for target in sorted(shaded):
        handles.append(Patch(color=NOISE_COLOURS.get(target, "#dddddd"), alpha=0.35))
        labels.append(f"noisy neighbours ({target})")
    _legend_outside(traffic, handles=handles, labels=labels, fontsize=7)
    handles, labels = ax["error"].get_legend_handles_labels()
    if len(looks):  # a statistical test has no line to draw: say so where the lines are
        for name in _tests(tl):
            kind = tl.judges[name].kind
            handles.append(Line2D([], [], linestyle="none"))
            labels.append(f"{name}{'' if name == kind else f' ({kind})'}: a test, no line")
    _legend_outside(ax["error"], handles=handles, labels=labels, fontsize=7)
    for name in ("latency", "saturation"):
        if name in ax:
            _legend_outside(ax[name], fontsize=7)
    axes[-1].set_xlim(0, t_hi / per)
    axes[-1].set_xlabel(f"{unit} since the deploy started")
    what = "the whole followed run" if whole else "the rollout"
    title = f"{tl.strategy}, deploy {tl.deploy}: {what}, 0–{duration(t_hi)}"
    later = "" if whole else _later(tl, t_hi)
    _title(fig, f"{title}\nLater (the whole run shows it): {later}" if later else title)
    return fig


def _tests(tl: Timeline) -> list[str]:
    """The strategy's judges with no limit to draw: statistical tests (their verdict is a test's)."""
    return [
        n for n, j in tl.judges.items() if isinstance(j, GateJudge) and not measurer(j).limits_from_aggregates
    ]


def _lane(lane: Axes, marks: list[tuple[float, str]], rows: list[tuple[int, bool, str]]) -> None:
    """The events, each a tick at its time and its label on its row (`_pack`)."""
    for (x, kind), (row, right, text) in zip(marks, rows, strict=True):
        colour = EVENT_COLOURS.get(kind, "dimgray")
        lane.plot([x], [row], marker="|", markersize=9, markeredgewidth=2, color=colour)
        lane.annotate(
            text,
            (x, row),
            textcoords="offset points",
            xytext=(-5 if right else 5, 0),
            ha="right" if right else "left",
            va="center",
            fontsize=LANE_FONT,
            color=colour,
        )
    n_rows = max([r for r, _, _ in rows], default=0) + 1
    lane.set_ylim(n_rows - 0.5, -0.5)
    lane.set_yticks([])
    lane.set_ylabel("events", rotation=0, ha="right", va="center")
    for side in ("left", "right", "top"):
        lane.spines[side].set_visible(False)


def _verdicts(strip: Axes, looks: pd.DataFrame, per: float) -> None:
    """Every verdict at its time, a row per kind (an analysis' measurements, a person's reviews)."""
    kinds = list(dict.fromkeys(looks["kind"]))
    for status, (marker, colour) in VERDICT_MARKERS.items():
        hit = looks[looks["status"] == status]
        if len(hit):
            rows = [kinds.index(k) for k in hit["kind"]]
            strip.scatter(hit["t_s"] / per, rows, marker=marker, color=colour, s=22, label=status, zorder=3)
    strip.set_yticks(range(len(kinds)), ["analysis" if k == "measurement" else k for k in kinds], fontsize=8)
    strip.set_ylim(len(kinds) - 0.5, -0.5)
    _legend_outside(strip, fontsize=7, title="judge's verdict", title_fontsize=7)


def _latency_ticks(ax: Axes) -> None:
    """A log axis in plain numbers at 1-2-5 (1-3, or decades, over a wider range): a range under a
    decade otherwise labels its crowded minor ticks."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    subs = (1.0, 2.0, 5.0) if decades < 1.5 else (1.0, 3.0) if decades < 3 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(compact))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _backdrop(
    axes: list[Axes], noise: pd.DataFrame, events: pd.DataFrame, t_hi: float, per: float
) -> set[str]:
    """Noisy-neighbour episodes shaded and the key events as dashed lines on every data panel; the
    episodes' targets shaded."""
    shaded = set()
    for a in axes:
        for start, stop, target in zip(noise["start_s"], noise["end_s"], noise["target"], strict=True):
            if start > t_hi:
                continue
            colour = NOISE_COLOURS.get(target, "#dddddd")
            a.axvspan(start / per, min(stop, t_hi) / per, color=colour, alpha=0.35, linewidth=0)
            shaded.add(target)
        for t_ev, kind in zip(events["t_s"], events["kind"], strict=True):
            if kind in EVENT_COLOURS:
                a.axvline(t_ev / per, color=EVENT_COLOURS[kind], linewidth=1.1, linestyle="--")
        a.grid(True, alpha=0.3)
    return shaded


def _later(tl: Timeline, t_hi: float) -> str:
    """What happened after the rollout window, in a few words."""
    after = tl.events[(tl.events["t_s"] > t_hi) & tl.events["kind"].isin(["detected", "follow-up"])]
    parts = []
    for t_ev, kind, detail in after.itertuples(index=False):
        if kind == "detected":
            parts.append(f"detected by {detail} at {duration(t_ev)}")
        else:
            parts.append(f"no one had caught it by {duration(t_ev)}: followed on")
    if tl.restored_s is not None and tl.restored_s > t_hi:
        parts.append(f"restored at {duration(tl.restored_s)}")
    elif len(tl.follow) and tl.detected_s is None:
        parts.append(f"never caught in {duration(tl.end_s)} (censored)")
    return "; ".join(parts)
