"""Claims about simulated results, each backed by an interval: a strategy's mean, median or rate, a
share of deploys, and two strategies compared deploy by deploy.

Every strategy of a batch meets the same releases, traffic and noise in deploy i (common random
numbers), so two strategies can be compared on the same deploys: the share of deploys in which one
did better, with a Wilson interval, is a sign test that one escaped release cannot swing the way it
swings a mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..core.columns import DURATIONS
from ..results.summary import PER_BAD_RELEASE, RATES, durations, median_ci, survival, wilson


class Interval(NamedTuple):
    """An estimate and its confidence interval."""

    value: float
    lo: float
    hi: float

    def below(self, other: Interval) -> bool:
        """This interval lies entirely below the other: the difference is not luck."""
        return self.hi < other.lo

    def contains(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.lo:.4g}, {self.hi:.4g}]"


def interval(summary: pd.DataFrame, strategy: str, metric: str) -> Interval:
    """The mean (or rate) of a metric for one strategy, with its 95% interval, from `sim.summarize`."""
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)]
    if row.empty:
        known = ", ".join(dict.fromkeys(summary["strategy"]))
        raise KeyError(f"no {metric!r} for strategy {strategy!r} (strategies: {known})")
    r = row.iloc[0]
    return Interval(float(r["mean"]), float(r["ci95_lo"]), float(r["ci95_hi"]))


def median(summary: pd.DataFrame, strategy: str, metric: str) -> Interval:
    """The median of a metric for one strategy, with its 95% interval, from `sim.summarize` (for
    durations the Kaplan–Meier median: NaN when fewer than half were ever restored)."""
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)]
    if row.empty:
        known = ", ".join(dict.fromkeys(summary["strategy"]))
        raise KeyError(f"no {metric!r} for strategy {strategy!r} (strategies: {known})")
    r = row.iloc[0]
    return Interval(float(r["p50"]), float(r["p50_lo"]), float(r["p50_hi"]))


def _part(rows: pd.DataFrame, strategy: str) -> pd.DataFrame:
    part = rows[rows["strategy"] == strategy]
    if "error" in part:
        part = part[part["error"].isna()]
    if part.empty:
        known = ", ".join(dict.fromkeys(rows["strategy"]))
        raise KeyError(f"no rows for strategy {strategy!r} (strategies: {known})")
    return part


def median_of(rows: pd.DataFrame, strategy: str, metric: str, level: float = 0.95) -> Interval:
    """The median of a metric for one strategy, with its interval at `level`, from the rows: over the
    population `sim.summarize` uses (durations: Kaplan–Meier over the bad releases that hurt users;
    blast radius: the bad releases followed to an end; anything else: every deploy with a value). At
    0.95 it is `median(sim.summarize(rows), ...)`; a family of k claims takes level 1 − 0.05/k."""
    part = _part(rows, strategy)
    if metric in DURATIONS:
        x, ended = durations(part, metric)
        if not ended.all():
            cells = survival(x, ended, level=level)
            return Interval(float(cells[3]), float(cells[8]), float(cells[9]))
        # Nothing censored: the plain median, whose interval `survival` gives only at 95%.
    else:
        values = part[metric]
        if metric in PER_BAD_RELEASE:
            bad = part["release_bad"].fillna(False).astype(bool)
            values = values[bad & ~part["censored"].fillna(False).astype(bool)]
        x = values.dropna().to_numpy(float)
    lo, hi = median_ci(x, level)
    return Interval(float(np.median(x)) if len(x) else math.nan, lo, hi)


def rate_of(rows: pd.DataFrame, strategy: str, rate: str, level: float = 0.95) -> Interval:
    """One of `sim.summarize`'s rates (`escaped_rate`, `false_rollback_rate`, ...) for one strategy,
    with its Wilson interval at `level`, from the rows."""
    flag, population = RATES[rate]
    part = _part(rows, strategy)
    bad = part["release_bad"].fillna(False).astype(bool)
    chosen = {"good": part[~bad], "bad": part[bad], "all": part}[population]
    return share(chosen[flag].fillna(False), level)


def share(flags: pd.Series | np.ndarray, level: float = 0.95) -> Interval:
    """The share of True among `flags` (NaN dropped), with its Wilson interval at `level`."""
    v = pd.Series(flags).dropna().astype(bool)
    k, n = int(v.sum()), len(v)
    lo, hi = wilson(k, n, level)
    # At 0 or n successes the interval ends exactly at 0 or 1 (not a rounding error away from it).
    return Interval(k / n if n else math.nan, 0.0 if k == 0 else lo, 1.0 if k == n else hi)


def lower_share(a: pd.Series, b: pd.Series, level: float = 0.95) -> Interval:
    """Among the deploys where `a` and `b` differ (aligned on their index, NaN pairs dropped), the
    share in which `a` is lower, with its Wilson interval. A lower end above 0.5 says `a` is lower
    in most deploys, beyond luck. Booleans compare as 0 < 1 (e.g. `escaped`: `a` escaped less)."""
    x, y = a.astype(float).align(b.astype(float), join="inner")
    keep = x.notna() & y.notna() & (x != y)
    return share(x[keep] < y[keep], level)
