"""Latency histograms from `*_bucket` series, and their quantiles exactly as PromQL's histogram_quantile.

`bucket_quantile` follows Prometheus's promql/quantile.go (`bucketQuantile`): buckets sorted by
`le`, counts made monotonic, rank = q × the +Inf bucket's count, the first bucket whose count
reaches the rank, linear interpolation within it from the bucket below's bound (0 for the first
bucket, unless its bound is ≤ 0: then that bound); a quantile in the +Inf bucket is the highest
finite bound; no +Inf bucket, fewer than two buckets or no observations give NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError
from .prom import Series


def quantile_bucket(q: float, les: np.ndarray, cum: np.ndarray) -> tuple[float, float, float]:
    """histogram_quantile(q) of one histogram (cumulative counts by ascending `les`), and the bounds
    of the bucket it fell in: the interpolation's uncertainty."""
    if q < 0:
        return -math.inf, -math.inf, -math.inf
    if q > 1:
        return math.inf, math.inf, math.inf
    if len(les) < 2 or not math.isinf(les[-1]):
        return math.nan, math.nan, math.nan
    cum = np.maximum.accumulate(np.nan_to_num(cum, nan=0.0))  # quantile.go: ensureMonotonic
    total = float(cum[-1])
    if total <= 0:
        return math.nan, math.nan, math.nan
    rank = q * total
    b = int(np.searchsorted(cum[:-1], rank, side="left"))
    if b == len(les) - 1:
        return float(les[-2]), float(les[-2]), math.inf
    if b == 0 and les[0] <= 0:
        return float(les[0]), float(les[0]), float(les[0])
    start = 0.0 if b == 0 else float(les[b - 1])
    below = 0.0 if b == 0 else float(cum[b - 1])
    count = float(cum[b]) - below
    end = float(les[b])
    return start + (end - start) * (rank - below) / count, start, end


def bucket_quantile(q: float, les: np.ndarray, cum: np.ndarray) -> float:
    return quantile_bucket(q, les, cum)[0]


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per step (steps × buckets, ascending `le`, +Inf last)."""

    les: np.ndarray
    counts: np.ndarray
    to_ms: float

    def per_step(self, q: float) -> np.ndarray:
        ok = np.isfinite(self.counts).all(axis=1)
        out = np.full(len(self.counts), np.nan)
        for k in np.flatnonzero(ok):
            out[k] = bucket_quantile(q, self.les, self.counts[k])
        return out

    def total(self, mask: np.ndarray) -> np.ndarray:
        return np.asarray(self.counts[mask].sum(axis=0))

    def covered(self, k: int, quiet: np.ndarray, factor: float) -> float:
        """Share of step k's requests slowed by `factor`: least squares of its bucket shares on a mix
        of the quiet shares and those of the quiet histogram scaled by the factor (its cumulative
        shares read between bounds linearly, as histogram_quantile assumes)."""
        row = self.counts[k]
        if not np.isfinite(row).all() or row[-1] <= 0:
            return 0.0
        fin = self.les[:-1]
        cdf0 = quiet[:-1] / quiet[-1]
        cdf1 = np.interp(fin / factor, np.concatenate([[0.0], fin]), np.concatenate([[0.0], cdf0]))
        d = cdf1 - cdf0
        denom = float(d @ d)
        if denom <= 0:
            return 0.0
        x = float((row[:-1] / row[-1] - cdf0) @ d) / denom
        return min(max(x, 0.0), 1.0)


def histogram_of(series: Sequence[Series], on: Callable[[Series], np.ndarray]) -> Histogram:
    """Bucket series summed by `le` (over every other label, as `sum by (le)`) onto the steps."""
    by: dict[float, list[np.ndarray]] = {}
    for s in series:
        by.setdefault(s.le, []).append(on(s))
    les = np.array(sorted(by))
    if not math.isinf(les[-1]):
        raise ConfigError(
            'the histogram has no le="+Inf" bucket; export every bucket of the histogram',
            ("le",),
            source=series[0].source,
        )
    counts = np.column_stack([np.sum(by[le], axis=0) for le in les]) * series[0].step
    name = series[0].name.lower()
    to_ms = 1.0 if ("millisecond" in name or "_ms" in name) else 1000.0
    return Histogram(les, counts, to_ms)
