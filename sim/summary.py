"""Summaries across deploys: per strategy, each metric's mean, percentiles and 95% confidence interval.

Means get a bootstrap (or, for large samples, Student-t) interval; rates (false rollbacks among
good releases, escapes among bad ones) get a Wilson score interval, which behaves at rates near
0 and 1 where the normal one does not.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import METRICS

RATES = {
    # name: (numerator flag, population: rows where this flag is True or None for all rows)
    "false_rollback_rate": ("false_rollback", "good"),
    "escaped_rate": ("escaped", "bad"),
    "detection_rate": ("detected", "bad"),
    "rollback_rate": ("rolled_back", "all"),
}

BOOTSTRAP_MAX = 2000
BOOTSTRAP_RESAMPLES = 1000

SUMMARY_COLUMNS = ["strategy", "metric", "n", "mean", "p50", "p90", "p99", "ci95_lo", "ci95_hi"]


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval for the mean.

    Per-deploy metrics are skewed (most bad releases are caught small, a few escape big), where a
    t-interval is too narrow on one side and can dip below zero. Up to BOOTSTRAP_MAX values this is
    a percentile bootstrap (fixed seed, so summaries are reproducible); beyond, the sample is large
    enough for the Student-t interval.
    """
    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    if values.min() == values.max():
        return (float(values[0]), float(values[0]))
    if n <= BOOTSTRAP_MAX:
        rng = np.random.default_rng(20_260_101)
        means = values[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(1)
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        return (float(lo), float(hi))
    m, sd = float(values.mean()), float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return (m - half, m + half)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Tidy summary: one row per (strategy, metric). Rates appear as metrics whose mean is the rate."""
    out = []
    ok = df[df["error"].isna()] if "error" in df else df
    for strategy in dict.fromkeys(df["strategy"]):
        part = ok[ok["strategy"] == strategy]
        for metric in METRICS:
            v = part[metric].dropna().to_numpy(float)
            if len(v):
                p50, p90, p99 = np.percentile(v, [50, 90, 99])
                lo, hi = mean_ci(v)
                out.append([strategy, metric, len(v), float(v.mean()), p50, p90, p99, lo, hi])
            else:
                out.append([strategy, metric, 0, *([math.nan] * 6)])
        bad = part["release_bad"].astype(bool)
        populations = {"good": part[~bad], "bad": part[bad], "all": part}
        for rate, (flag, pop) in RATES.items():
            rows = populations[pop]
            n, k = len(rows), int(rows[flag].astype(bool).sum())
            lo, hi = wilson(k, n)
            out.append([strategy, rate, n, k / n if n else math.nan, math.nan, math.nan, math.nan, lo, hi])
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)
