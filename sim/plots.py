"""Charts of deploysim results, shared by the CLI, the app and the notebooks.

Every function takes plain results — per-deploy rows (`run_batch`), a summary (`summarize`), a sweep
table or a `Timeline` — and returns a `matplotlib.figure.Figure`. Figures are built without pyplot,
so no global figure state leaks between calls and nothing needs a display: save one with
`fig.savefig(path)`, show it with `st.pyplot(fig)`, or let a notebook render it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from .report import TABLE
from .summary import wilson
from .sweep import pareto_front
from .timeline import Timeline

#: Strategy colours, in order of first appearance (the built-in four keep theirs across charts).
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
BUILT_IN_COLOURS = {
    "recreate": PALETTE[3],
    "blue_green": PALETTE[0],
    "canary": PALETTE[1],
    "progressive": PALETTE[2],
}

#: Where the blast-radius/recovery chart draws its quadrant lines (the article's small/large blast
#: radius and fast/slow recovery): a minute separates a flip from a redeploy; a tenth of user
#: traffic separates a canary slice from "everyone".
FAST_RECOVERY_S = 60.0
SMALL_EXPOSURE = 0.10


def colours(strategies: Sequence[str]) -> dict[str, str]:
    free = [c for c in PALETTE if c not in BUILT_IN_COLOURS.values()]
    out: dict[str, str] = {}
    for s in dict.fromkeys(strategies):
        others = len(out) - len(BUILT_IN_COLOURS.keys() & out.keys())
        out[s] = BUILT_IN_COLOURS.get(s) or free[others % len(free)]
    return out


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _legend(ax: Axes, **kw: object) -> None:
    """A legend, or a note that there was nothing to draw (a run without a single bad release)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray")


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["error"].isna()] if "error" in df else df


def _ccdf(ax: Axes, values: np.ndarray, colour: str, label: str, max_points: int = 2000) -> None:
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
        color=colour,
        label=label,
        linewidth=1.8,
    )


def _distribution(df: pd.DataFrame, panels: Sequence[tuple[str, str]], title: str, rows: pd.Series) -> Figure:
    ok = _ok(df)
    fig = _figure(5.0 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    palette = colours(ok["strategy"])
    for ax, (col, xlabel) in zip(axes, panels, strict=True):
        for s, colour in palette.items():
            part = ok[(ok["strategy"] == s) & rows.loc[ok.index]]
            v = part[col].dropna().to_numpy(float)
            _ccdf(ax, v, colour, f"{s} (n={len(v)})")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of deploys above x")
        ax.grid(True, alpha=0.3)
        _legend(ax, fontsize=8)
    fig.suptitle(title)
    return fig


def blast_radius(df: pd.DataFrame) -> Figure:
    """How many requests and users met each bad release, per strategy (complementary CDFs)."""
    bad = df["release_bad"].fillna(False).astype(bool)
    return _distribution(
        df,
        [("faulty_requests", "faulty requests"), ("affected_users", "affected users")],
        "Blast radius of bad releases: share whose count exceeds x",
        bad,
    )


def time_to_restore(df: pd.DataFrame) -> Figure:
    """From the first user the fault hurt until no user meets it, per strategy (restored bad releases)."""
    return _distribution(
        df,
        [("time_to_restore_s", "time to restore, s")],
        "Time to restore: share of restored bad releases taking longer than x",
        df["time_to_restore_s"].notna(),
    )


def blast_vs_recovery(df: pd.DataFrame, max_points: int = 3000) -> Figure:
    """Each detected bad release as a point: exposure at detection against time to restore, in the
    article's quadrants (small/large blast radius × fast/slow recovery); big markers are medians."""
    ok = _ok(df)
    ok = ok[ok["exposure_at_detection"].notna() & ok["time_to_restore_s"].notna()]
    fig = _figure(7.5, 5.0)
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # fixed: the same rows always draw the same chart
    for s, colour in colours(df["strategy"]).items():
        part = ok[ok["strategy"] == s]
        n = len(part)
        if n > max_points:
            part = part.iloc[np.sort(rng.choice(len(part), max_points, replace=False))]
        x, y = part["time_to_restore_s"].to_numpy(float), 100 * part["exposure_at_detection"].to_numpy(float)
        ax.scatter(x, y, s=12, alpha=0.35, color=colour, label=f"{s} (n={n})", linewidths=0)
        if len(part):
            ax.scatter([np.median(x)], [np.median(y)], s=160, color=colour, edgecolors="black", zorder=3)
    ax.set_xscale("symlog", linthresh=1.0)
    slowest = float(ok["time_to_restore_s"].max()) if len(ok) else 0.0
    ax.set_xlim(0, max(10 * FAST_RECOVERY_S, 2 * slowest))
    ax.set_ylim(-2, 104)
    ax.axvline(FAST_RECOVERY_S, color="gray", linestyle="--", linewidth=1)
    ax.axhline(100 * SMALL_EXPOSURE, color="gray", linestyle="--", linewidth=1)
    for x, y, text, ha, va in (
        (0.02, 0.02, "small blast, fast recovery", "left", "bottom"),
        (0.98, 0.02, "small blast, slow recovery", "right", "bottom"),
        (0.02, 0.97, "large blast, fast recovery", "left", "top"),
        (0.98, 0.97, "large blast, slow recovery", "right", "top"),
    ):
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=8, color="dimgray")
    ax.set_xlabel("time to restore, s")
    ax.set_ylabel("user traffic on the bad version at detection, %")
    ax.set_title("Blast radius vs time to restore, per detected bad release")
    ax.grid(True, alpha=0.3)
    _legend(ax, fontsize=8, loc="center right")
    return fig


def _metric(summary: pd.DataFrame, strategy: str, metric: str) -> tuple[float, float, float]:
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)]
    if row.empty:
        return (math.nan, math.nan, math.nan)
    r = row.iloc[0]
    return float(r["mean"]), float(r["ci95_lo"]), float(r["ci95_hi"])


def _ci_points(ax: Axes, summary: pd.DataFrame, xm: str, ym: str, xs: float = 1.0, ys: float = 1.0) -> None:
    """One point per strategy at (mean x, mean y) with 95% CI bars, labelled with its name."""
    for s, colour in colours(summary["strategy"]).items():
        (x, x0, x1), (y, y0, y1) = _metric(summary, s, xm), _metric(summary, s, ym)
        if math.isnan(x) or math.isnan(y):
            continue
        # Every plotted quantity is non-negative: an interval is not drawn below 0 (and a bound a
        # rounding error past the mean draws no bar rather than a negative one).
        xerr = [[max(0.0, x - max(x0, 0.0))], [max(0.0, x1 - x)]] if not math.isnan(x0) else [[0.0], [0.0]]
        yerr = [[max(0.0, y - max(y0, 0.0))], [max(0.0, y1 - y)]] if not math.isnan(y0) else [[0.0], [0.0]]
        xerr, yerr = np.array(xerr) * xs, np.array(yerr) * ys
        ax.errorbar([x * xs], [y * ys], xerr=xerr, yerr=yerr, fmt="o", color=colour, capsize=3, markersize=8)
        ax.annotate(s, (x * xs, y * ys), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.grid(True, alpha=0.3)


def cost_vs_safety(summary: pd.DataFrame) -> Figure:
    """What each strategy pays (extra instance-hours, lead time) against what it saves (blast radius)."""
    fig = _figure(10.0, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    _ci_points(ax1, summary, "extra_instance_hours", "faulty_requests")
    ax1.set_xlabel("extra instance-hours per deploy")
    _ci_points(ax2, summary, "lead_time_s", "faulty_requests", xs=1 / 60)
    ax2.set_xlabel("lead time, min")
    for ax in (ax1, ax2):
        ax.set_ylabel("faulty requests per bad release")
    fig.suptitle("Cost vs safety (means with 95% confidence intervals; lower left is cheaper and safer)")
    return fig


def rollbacks_vs_escapes(summary: pd.DataFrame) -> Figure:
    """False rollbacks of good releases against bad releases that reached everyone."""
    fig = _figure(6.5, 4.8)
    ax = fig.subplots()
    _ci_points(ax, summary, "false_rollback_rate", "escaped_rate", 100.0, 100.0)
    ax.set_xlabel("false rollbacks, % of good releases")
    ax.set_ylabel("escaped defects, % of bad releases")
    ax.set_title("False rollbacks vs escaped defects (95% Wilson intervals)")
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
    palette = colours(summary["strategy"])
    fig = _figure(max(4.0, 3.6 * len(metrics)), 0.9 + 0.45 * len(palette))
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        title, scale = units.get(metric, (metric, 1.0))
        for y, (s, colour) in enumerate(palette.items()):
            mean, lo, hi = (v * scale for v in _metric(summary, s, metric))
            if math.isnan(mean):
                ax.text(0, y, " no data", va="center", fontsize=8, color="gray")
                continue
            err = [[max(0.0, mean - max(lo, 0.0))], [max(0.0, hi - mean)]] if not math.isnan(lo) else None
            ax.barh(
                y,
                mean,
                color=colour,
                alpha=0.85,
                edgecolor="black" if s == highlight else colour,
                linewidth=2.5 if s == highlight else 0.5,
                xerr=err,
                capsize=3,
            )
        if limits and metric in limits:
            ax.axvline(limits[metric] * scale, color="#c44e52", linestyle="--", linewidth=1.5, label="limit")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_xlabel(title)
        ax.set_xlim(left=0)
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}" if ax.get_xlim()[1] >= 1000 else "{x:g}"))
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(palette)), list(palette))
    axes[0].invert_yaxis()
    fig.suptitle("Mean per strategy with its 95% confidence interval")
    return fig


def escapes_by_fault(df: pd.DataFrame) -> Figure:
    """Share of bad releases that reached everyone, per fault kind and strategy (95% Wilson intervals):
    what a gate does not watch, or a canary slice does not see, shows up here."""
    ok = _ok(df)
    bad = ok[ok["release_bad"].fillna(False).astype(bool)]
    kinds = sorted(k for k in bad["fault_kind"].dropna().unique() if k)
    palette = colours(ok["strategy"])
    fig = _figure(min(12.0, max(6.0, 0.9 + len(kinds) * (0.5 + 0.3 * len(palette)))), 4.5)
    ax = fig.subplots()
    width = 0.8 / max(1, len(palette))
    for i, (s, colour) in enumerate(palette.items()):
        part = bad[bad["strategy"] == s]
        for j, kind in enumerate(kinds):
            rows = part[part["fault_kind"] == kind]
            n, k = len(rows), int(rows["escaped"].astype(bool).sum())
            if n == 0:
                continue
            lo, hi = wilson(k, n)
            rate = 100 * k / n
            ax.bar(
                j + (i - (len(palette) - 1) / 2) * width,
                rate,
                width,
                color=colour,
                label=s if j == 0 else None,
                yerr=[[max(0.0, rate - 100 * lo)], [max(0.0, 100 * hi - rate)]],
                capsize=2,
            )
    # Every strategy meets the same releases (common random numbers): one count per fault kind.
    counts = [bad.loc[bad["fault_kind"] == k, "deploy"].nunique() for k in kinds]
    ax.set_xticks(range(len(kinds)), [f"{k}\n{n} bad releases" for k, n in zip(kinds, counts, strict=True)])
    ax.set_ylim(0, 105)
    ax.set_ylabel("escaped defects, % of bad releases")
    ax.set_title("Which faults reach everyone, by fault kind (95% Wilson intervals)")
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
    fig = _figure(7.0 * len(panels), 5.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    palette = colours(points["strategy"])
    for ax, (x, y, xlabel, ylabel, (xs, ys)) in zip(axes, panels, strict=True):
        for s, colour in palette.items():
            part = points[points["strategy"] == s]
            ax.scatter(part[x] * xs, part[y] * ys, color=colour, label=s, s=40, alpha=0.8)
        best = points[pareto_front(points[x], points[y])].sort_values([x, y])
        ax.plot(best[x] * xs, best[y] * ys, color="black", linewidth=1, linestyle="--", label="Pareto front")
        for (px, py), same in best.groupby([x, y], sort=False):  # tied points share one label
            first = same.iloc[0]
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
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Sweep: every combination and strategy; the dashed line is the Pareto front")
    return fig


EVENT_COLOURS = {"detected": "#c44e52", "rollback": "#dd8452", "alert": "#8172b3", "smoke test": "#937860"}
NOISE_COLOURS = {"both": "#bbbbbb", "new": "#f2b8a0", "stable": "#a8c4e0"}


def replay(tl: Timeline) -> Figure:
    """One deploy replayed: traffic on the new version, error rate and p99 per version, noisy-neighbour
    episodes shaded, and the rollout's events (weight steps, verdicts, detection, rollback) marked."""
    w = tl.windows
    t = w["t_s"].to_numpy(float) / 60.0
    fig = _figure(10.0, 7.5)
    ax_w, ax_e, ax_l = fig.subplots(3, 1, sharex=True)
    ax_w.step(t, 100 * w["share_new"], where="post", color="black", label="user traffic on new, %")
    ax_w.set_ylabel("new version, %")
    ax_w.set_ylim(-3, 103)
    for name, colour in (("stable", PALETTE[0]), ("new", PALETTE[3])):
        ax_e.plot(t, 100 * w[f"error_rate_{name}"], color=colour, label=name, linewidth=1.2)
        ax_l.plot(t, w[f"p99_ms_{name}"], color=colour, label=f"{name} p99", linewidth=1.2)
        ax_l.plot(t, w[f"p50_ms_{name}"], ":", color=colour, label=f"{name} p50", linewidth=1.0)
    ax_e.set_ylabel("error rate, %")
    ax_l.set_ylabel("latency, ms")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("minutes since the deploy started")
    for ax in (ax_w, ax_e, ax_l):
        for _, ep in tl.noise.iterrows():
            ax.axvspan(
                ep["start_s"] / 60,
                ep["end_s"] / 60,
                color=NOISE_COLOURS.get(ep["target"], "#dddddd"),
                alpha=0.35,
                linewidth=0,
            )
        for _, ev in tl.events.iterrows():
            if ev["kind"] in EVENT_COLOURS:
                ax.axvline(ev["t_s"] / 60, color=EVENT_COLOURS[ev["kind"]], linewidth=1.2, linestyle="--")
        ax.grid(True, alpha=0.3)
    verdicts = tl.events[tl.events["kind"] == "measurement"]
    for status, marker, colour in (
        ("pass", "o", PALETTE[2]),
        ("fail", "x", PALETTE[3]),
        ("inconclusive", "s", "gray"),
    ):
        hit = verdicts[verdicts["detail"].str.contains(f": {status}", regex=False)]
        if len(hit):
            ax_w.scatter(
                hit["t_s"] / 60,
                np.full(len(hit), 100.0),
                marker=marker,
                color=colour,
                label=f"analysis {status}",
                zorder=3,
                s=18,
            )
    for _, ev in tl.events[tl.events["kind"].isin(EVENT_COLOURS)].iterrows():
        ax_w.annotate(
            f"{ev['kind']} {ev['detail']}".strip(),
            (ev["t_s"] / 60, 50),
            rotation=90,
            fontsize=7,
            ha="right",
            va="center",
            color=EVENT_COLOURS[ev["kind"]],
        )
    # The run ends once the rollout (or rollback) is done: noise after that is not part of the story.
    last = max([float(t[-1]) if len(t) else 0.0, *(tl.events["t_s"] / 60)])
    ax_w.set_xlim(0, last * 1.05 + 0.5)
    ax_w.legend(fontsize=7, loc="upper left")
    ax_e.legend(fontsize=7, loc="upper left")
    ax_l.legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(f"{tl.strategy}, deploy {tl.deploy}: shaded spans are noisy-neighbour episodes")
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
    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    for s, colour in colours(part["strategy"]).items():
        rows = part[part["strategy"] == s]
        x = np.array([where[v] for v in rows[key]])
        y = rows["mean"].to_numpy(float) * scale
        lo = np.clip(rows["ci95_lo"].to_numpy(float) * scale, 0.0, None)
        hi = rows["ci95_hi"].to_numpy(float) * scale
        err = np.vstack([np.clip(y - lo, 0.0, None), np.clip(hi - y, 0.0, None)])
        ax.errorbar(x, y, yerr=err, fmt="o-", color=colour, capsize=3, label=s)
    if not numeric:
        ax.set_xticks([where[v] for v in values], [str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel(ylabel or metric)
    ax.grid(True, alpha=0.3)
    _legend(ax, fontsize=8)
    ax.set_title(f"{ylabel or metric} against {key.rsplit('.', 1)[-1]} (means with 95% intervals)")
    return fig
