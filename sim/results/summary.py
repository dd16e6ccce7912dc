"""Summaries across deploys: per strategy, each metric over its own population, with 95% intervals.

Each metric is summarised over the deploys it describes, and `n` says how many:

- **durations** (time to detect, repair, restore) over the bad releases that hurt users. A release
  still not restored when its follow-up ended is right-censored, so these are Kaplan–Meier
  estimates (statsmodels' `SurvfuncRight`): percentiles from the survival curve (NaN when the
  curve never falls that far: more than that share was never restored), the mean restricted to
  the longest follow-up, and `censored` counts the releases never restored.
- **blast radius** (faulty requests, affected users, exposure, budget per bad release) over the
  bad releases the follow-up saw to an end; `censored` counts those it did not, whose counts
  are only lower bounds and would grow with the follow-up.
- **cost** (downtime, instance-hours, lead time, failures, budget) over every deploy.

Means get a bootstrap (or, for large samples, Student-t) interval, medians a distribution-free
order-statistic one; rates (false rollbacks among good releases, escapes among bad ones) get a
Wilson score interval, which behaves at rates near 0 and 1 where the normal one does not.

`pareto_front` picks the points nothing beats on two axes at once (the sweep chart's front).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..core.columns import DURATIONS, METRICS

RATES = {
    # name: (numerator flag, population)
    "false_rollback_rate": ("false_rollback", "good"),
    "escaped_rate": ("escaped", "bad"),
    "detection_rate": ("detected", "bad"),
    "censored_rate": ("censored", "bad"),
    "rollback_rate": ("rolled_back", "all"),
}

#: Per-bad-release counts: summarised over the bad releases whose follow-up ended (caught and undone).
PER_BAD_RELEASE = ("faulty_requests", "affected_users", "exposure_at_detection")

#: Derived metrics: name → (row column, population). The error budget a bad release burns is the
#: advisor's safety limit; per deploy it is a cost.
DERIVED = {"error_budget_per_bad_release": ("error_budget_used", "bad")}

#: Every metric a summary has, in order (rates follow).
SUMMARY_METRICS: tuple[str, ...] = (*(m for m in METRICS if m != "censored_after_s"), *DERIVED)

BOOTSTRAP_MAX = 2000
BOOTSTRAP_RESAMPLES = 1000

SUMMARY_COLUMNS = [
    "strategy", "metric", "n", "censored",
    "mean", "p50", "p90", "p99", "ci95_lo", "ci95_hi", "p50_lo", "p50_hi",
]  # fmt: skip

NAN = math.nan


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval for the mean.

    Per-deploy metrics are skewed (most bad releases are caught small, a few escape big), where a
    t-interval is too narrow on one side and can dip below zero. Up to BOOTSTRAP_MAX values this is
    a percentile bootstrap (fixed seed, so summaries are reproducible); beyond, the sample is large
    enough for the Student-t interval.
    """
    n = len(values)
    if n < 2:
        return (NAN, NAN)
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


def median_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median: the order statistics whose ranks a Binomial(n, ½)
    count of values below the median brackets with at least `level` probability."""
    n = len(values)
    if n < 2:
        return (NAN, NAN)
    x = np.sort(values)
    lo_rank = int(stats.binom.ppf((1 - level) / 2, n, 0.5))  # values below the median: ≥ this w.p. ≥ level
    hi_rank = n - lo_rank
    return (float(x[max(lo_rank - 1, 0)]), float(x[min(hi_rank, n - 1)]))


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return (NAN, NAN)
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # At k = 0 or k = n one end is exactly 0 or 1, which rounding would put a hair inside.
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def survival(durations: np.ndarray, events: np.ndarray, level: float = 0.95) -> list[float]:
    """Kaplan–Meier summary of right-censored durations: [n, censored, mean, p50, p90, p99, mean's
    interval, median's interval]. With nothing censored it is `plain`'s.

    The mean is restricted to the longest duration seen (the area under the survival curve up to
    it), which is the plain mean when nothing is censored; its interval uses the usual variance of
    that area, Σ A_i² d_i / (Y_i (Y_i − d_i)). The q-quantile is the first time the curve falls
    below 1 − q (SAS's convention, statsmodels'); its interval is statsmodels' (log-log transformed,
    as Brookmeyer and Crowley). A percentile the curve never reaches is NaN.
    """
    n, censored = len(durations), int((~events).sum())
    if n == 0:
        return [0, 0, *([NAN] * 8)]
    if not censored:  # every one ended: the curve is the sample's own, and so are its intervals
        return plain(durations, level=level)
    if not events.any():
        return [n, censored, *([NAN] * 8)]
    from statsmodels.duration.survfunc import SurvfuncRight  # only a summary pays for the import

    sf = SurvfuncRight(durations, events.astype(int))
    times, surv = np.asarray(sf.surv_times, float), np.asarray(sf.surv_prob, float)
    at_risk, died = np.asarray(sf.n_risk, float), np.asarray(sf.n_events, float)
    tau = float(durations.max())
    # S is 1 before the first event time, then steps down at each event time.
    edges = np.concatenate([[0.0], times, [tau]])
    heights = np.concatenate([[1.0], surv])
    areas = heights * np.diff(np.minimum(edges, tau))
    mean = float(areas.sum())
    after = np.cumsum(areas[::-1])[::-1][1:]  # A_i: the area beyond each event time
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > died, after**2 * died / (at_risk * (at_risk - died)), 0.0)
    half = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(float(terms.sum()))
    with np.errstate(divide="ignore", invalid="ignore"):  # its transform meets S = 0 and 1 at the ends
        quantiles = [_nan(sf.quantile(p)) for p in (0.5, 0.9, 0.99)]
        p50_lo, p50_hi = (_nan(x) for x in sf.quantile_ci(0.5, alpha=1 - level))
    return [n, censored, mean, *quantiles, max(0.0, mean - half), mean + half, p50_lo, p50_hi]


def _nan(x: object) -> float:
    v = float(x)  # type: ignore[arg-type]
    return v if math.isfinite(v) else NAN


def plain(values: np.ndarray, censored: int = 0, level: float = 0.95) -> list[float]:
    """[n, censored, mean, p50, p90, p99, mean's interval, median's interval] of fully seen values."""
    if not len(values):
        return [0, censored, *([NAN] * 8)]
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    intervals = (*mean_ci(values, level), *median_ci(values, level))
    return [len(values), censored, float(values.mean()), p50, p90, p99, *intervals]


def change_failed(part: pd.DataFrame) -> pd.Series:
    """DORA's change failures among rows: deploys whose bad release reached users (its time to
    restore is set, or it was censored still hurting them) and so needed a rollback or a fix. A
    fault a smoke test caught before any user is not one."""
    reached = part["time_to_restore_s"].notna() | part["censored"].fillna(False).astype(bool)
    return part["release_bad"].fillna(False).astype(bool) & reached


def durations(part: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(durations, whether each ended in its event) of the bad releases a duration metric covers:
    a censored release counts as seen for as long as it was followed."""
    value = part[metric].to_numpy(float)
    followed = part["censored_after_s"].to_numpy(float)
    censored = part["censored"].fillna(False).to_numpy(bool, copy=True)
    if metric == "time_to_repair_s":  # from detection: only releases someone caught
        detect = part["time_to_detect_s"].to_numpy(float)
        followed = followed - detect
        censored = censored & ~np.isnan(detect)
    seen = ~np.isnan(value)
    keep = seen | censored
    return np.where(seen, value, followed)[keep], seen[keep]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Tidy summary: one row per (strategy, metric). Rates appear as metrics whose mean is the rate."""
    out = []
    ok = df[df["error"].isna()] if "error" in df else df
    for strategy in dict.fromkeys(df["strategy"]):
        part = ok[ok["strategy"] == strategy]
        bad = part["release_bad"].fillna(False).astype(bool)
        censored = part["censored"].fillna(False).astype(bool) if "censored" in part else bad & False
        for metric in SUMMARY_METRICS:
            if metric in DURATIONS:
                cells = survival(*durations(part, metric))
            elif metric in PER_BAD_RELEASE or metric in DERIVED:
                column = DERIVED.get(metric, (metric, "bad"))[0]
                rows = part[bad & ~censored]
                cells = plain(rows[column].dropna().to_numpy(float), int((bad & censored).sum()))
            else:
                cells = plain(part[metric].dropna().to_numpy(float))
            out.append([strategy, metric, *cells])
        populations = {"good": part[~bad], "bad": part[bad], "all": part}
        for rate, (flag, pop) in RATES.items():
            rows = populations[pop]
            n, k = len(rows), int(rows[flag].fillna(False).astype(bool).sum())
            lo, hi = wilson(k, n)
            out.append([strategy, rate, n, 0, k / n if n else NAN, NAN, NAN, NAN, lo, hi, NAN, NAN])
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where no other point is at least as low on both axes and lower on one (NaN: never)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    front = np.zeros(len(x), bool)
    for i in np.flatnonzero(ok):
        beaten = ok & (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        front[i] = not beaten.any()
    return front
