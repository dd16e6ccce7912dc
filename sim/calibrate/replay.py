"""A judge and its analysis run replayed over recorded canary and baseline series (`deploysim judge`).

The judges' own measurement code (`sim.engine.judging.measure`) reads a world through four calls —
`stats`, `series`, `counts`, `slow_counts` over the complete windows of an interval — and the
analysis run's limits are the engine's `Tally`. `Recorded` offers those calls backed by a service's
per-version Prometheus series instead of the simulated tape: one window per step of the data,
each sample describing the step that ends at its timestamp (what `rate(x[step])` and a counter's
increase read). Percentiles are histogram_quantile of the version's buckets summed over the
interval (one data point per step for the per-window judges); saturation is not recorded, so
no judge reads it here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..config.analysis import AnalysisConfig
from ..config.judges import GateJudge
from ..config.scenario import Scenario
from ..core.errors import ConfigError
from ..engine import judging
from ..engine.judging import Verdict
from ..engine.strategies.analysis import Tally
from ..engine.telemetry import Stats
from .histogram import bucket_quantile
from .prom import Series

STABLE, NEW = judging.STABLE, judging.NEW
#: A baseline label's default values: Argo Rollouts' and Flagger's names for the version serving now.
BASELINE_VALUES = ("stable", "baseline", "primary")
_EPS = 1e-9


@dataclass(frozen=True)
class Versions:
    """Recorded per-step counts of both versions (index 0 the baseline, 1 the canary)."""

    start: float  # unix time the first window starts
    step: float
    requests: np.ndarray  # (windows, 2)
    errors: np.ndarray  # (windows, 2)
    les: np.ndarray | None = None  # bucket bounds as read (+Inf last)
    buckets: np.ndarray | None = None  # (windows, 2, buckets) requests at or under each bound
    to_ms: float = 1000.0
    #: A summary's quantile per step (q → (windows, 2), ms; NaN where missing): read without buckets.
    summary: dict[float, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default=())

    @property
    def windows(self) -> int:
        return len(self.requests)


def parse_label(text: str, option: str) -> tuple[str, tuple[str, ...]]:
    """`k=v` (or `k=v1|v2`) as a label name and the values it may take."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"{text!r} is not LABEL=VALUE (e.g. version=canary)", (option,))
    return key.strip(), tuple(v.strip() for v in value.split("|") if v.strip())


def split_versions(
    series: tuple[Series, ...],
    canary: tuple[str, tuple[str, ...]],
    baseline: tuple[str, tuple[str, ...]],
) -> Versions:
    """Per-version counts per step from read series: each series is the canary's or the baseline's
    by its label (others are left out with a note); several of one kind and version are added up."""
    if not series:
        raise ConfigError("no series read", ("DATA",))
    step = series[0].step
    if any(abs(s.step - step) > 1e-6 * step for s in series):
        raise ConfigError("the files' steps differ; export every query at the same step", ("step",))
    # A sample covers the step ending at its timestamp: window j of the grid starts at t0 + j·step.
    t0 = min(float(s.timestamps[0]) for s in series) - step
    n = max(round((float(s.timestamps[-1]) - t0) / step) for s in series)
    requests, errors = np.zeros((n, 2)), np.zeros((n, 2))
    seen = {"requests": [False, False], "errors": [False, False]}
    les = sorted({s.le for s in series if s.kind == "latency"})
    buckets = np.zeros((n, 2, len(les))) if les else None
    summary: dict[float, np.ndarray] = {}
    notes, first = [], n
    for s in series:
        side = _side(s, canary, baseline)
        if side is None:
            notes.append(f"{s.source}: {s.name}{dict(s.labels)} is neither version's: left out")
            continue
        k = np.round((s.timestamps - t0) / step).astype(np.int64) - 1
        per_step = np.nan_to_num(s.values * step, nan=0.0)  # a missing step counts nothing
        ok = np.flatnonzero(np.isfinite(s.values))
        if s.kind in ("requests", "errors"):
            if len(ok):
                first = min(first, int(k[ok[0]]))
            (requests if s.kind == "requests" else errors)[k, side] += per_step
            seen[s.kind][side] = True
        elif s.kind == "latency" and buckets is not None:
            buckets[k, side, les.index(s.le)] += per_step
        elif s.kind == "quantile" and s.quantile in (0.5, 0.99):
            to_ms = 1.0 if ("millisecond" in s.name.lower() or "_ms" in s.name.lower()) else 1000.0
            summary.setdefault(s.quantile, np.full((n, 2), np.nan))[k, side] = s.values * to_ms
    for kind, sides in seen.items():
        for side, name in ((NEW, "canary"), (STABLE, "baseline")):
            if kind == "requests" and not sides[side]:
                raise ConfigError(
                    f"no {kind} series of the {name} (label {_show(canary if side else baseline)})",
                    ("--canary-label" if side else "--baseline-label",),
                )
            if kind == "errors" and not sides[side]:
                notes.append(f"no errors series of the {name}: its error rate reads 0")
    if buckets is not None and not math.isinf(les[-1]):
        raise ConfigError('the histogram has no le="+Inf" bucket', ("le",), source=series[0].source)
    first = min(first, n - 1)
    name = next((s.name.lower() for s in series if s.kind == "latency"), "")
    return Versions(
        t0 + first * step,
        step,
        requests[first:],
        errors[first:],
        np.array(les) if les else None,
        None if buckets is None else buckets[first:],
        1.0 if ("millisecond" in name or "_ms" in name) else 1000.0,
        {q: v[first:] for q, v in summary.items()},
        tuple(notes),
    )


def _show(label: tuple[str, tuple[str, ...]]) -> str:
    return f"{label[0]}={'|'.join(label[1])}"


def _side(
    s: Series, canary: tuple[str, tuple[str, ...]], baseline: tuple[str, tuple[str, ...]]
) -> int | None:
    labels = dict(s.labels)
    if labels.get(canary[0]) in canary[1]:
        return NEW
    if labels.get(baseline[0]) in baseline[1]:
        return STABLE
    return None


class Recorded:
    """What a judge reads of a world (`stats`, `series`, `counts`, `slow_counts`), from recorded
    series: times are seconds from the data's start, a read covers the complete windows in
    [t_from, t_to) as the tape's do."""

    def __init__(self, v: Versions, scn: Scenario) -> None:
        self.v, self.scn = v, scn

    def windows(self, t_from: float, t_to: float) -> tuple[int, int]:
        k_to = min(math.floor(t_to / self.v.step + _EPS), self.v.windows)
        k_from = min(max(math.floor(max(t_from, 0.0) / self.v.step + _EPS), 0), k_to)
        return k_from, max(k_to, k_from)

    def _quantile(self, q: float, k_from: int, k_to: int, side: int) -> float:
        """histogram_quantile of the buckets summed over the windows; without buckets, a summary's
        quantile averaged over the windows by their requests (a summary's quantiles cannot be pooled:
        an approximation)."""
        if self.v.buckets is None or self.v.les is None:
            if q not in self.v.summary:
                return math.nan
            x, w = self.v.summary[q][k_from:k_to, side], self.v.requests[k_from:k_to, side]
            ok = np.isfinite(x) & (w > 0)
            return float((x[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan
        cum = self.v.buckets[k_from:k_to, side].sum(axis=0)
        return bucket_quantile(q, self.v.les, cum) * self.v.to_ms

    def stats(
        self, t_from: float, t_to: float, quantiles: tuple[float, ...] = (0.5, 0.99), min_tail: float = 0.0
    ) -> tuple[Stats, Stats]:
        """(baseline, canary) over the interval, percentiles only with `min_tail` requests beyond them
        (the engine's rule)."""
        a, b = self.windows(t_from, t_to)
        out = []
        for side in (STABLE, NEW):
            n = float(self.v.requests[a:b, side].sum())
            e = float(self.v.errors[a:b, side].sum())
            pct = {
                q: self._quantile(q, a, b, side) if n * (1 - q) >= min_tail else math.nan for q in quantiles
            }
            out.append(
                Stats(
                    round(n),
                    round(e),
                    round(n),
                    e / n if n else math.nan,
                    pct.get(0.5, math.nan),
                    pct.get(0.99, math.nan),
                    math.nan,
                )
            )
        return out[0], out[1]

    def series(self, side: int, t_from: float, t_to: float) -> dict[str, np.ndarray]:
        """Per-window values of one version: requests, errors, error rate, p50, p99 (NaN where none)."""
        a, b = self.windows(t_from, t_to)
        n, e = self.v.requests[a:b, side], self.v.errors[a:b, side]
        has = n > 0
        p50 = np.array([self._quantile(0.5, k, k + 1, side) for k in range(a, b)])
        p99 = np.array([self._quantile(0.99, k, k + 1, side) for k in range(a, b)])
        return {
            "requests": n,
            "errors": e,
            "user": n,
            "error_rate": np.where(has, e / np.maximum(n, 1), np.nan),
            "p50_ms": np.where(has, p50, np.nan),
            "p99_ms": np.where(has, p99, np.nan),
            "saturation": np.full(len(n), np.nan),
        }

    def counts(self, t_from: float, t_to: float) -> np.ndarray:
        a, b = self.windows(t_from, t_to)
        r, e = self.v.requests[a:b], self.v.errors[a:b]
        return np.stack([r[:, NEW], e[:, NEW], r[:, STABLE], e[:, STABLE]], axis=1)

    def slow_counts(self, t_from: float, t_to: float, threshold_ms: float) -> np.ndarray:
        """Requests slower than the threshold per window, read off the buckets linearly between bounds
        (as histogram_quantile assumes); all zero without a histogram."""
        a, b = self.windows(t_from, t_to)
        r = self.v.requests[a:b]
        if self.v.buckets is None or self.v.les is None:
            return np.stack([r[:, NEW], np.zeros(b - a), r[:, STABLE], np.zeros(b - a)], axis=1)
        bounds = self.v.les[:-1] * self.v.to_ms
        slow = np.zeros((b - a, 2))
        for side in (STABLE, NEW):
            cum = self.v.buckets[a:b, side]
            total = cum[:, -1]
            under = np.array(
                [np.interp(threshold_ms, np.r_[0.0, bounds], np.r_[0.0, row[:-1]]) for row in cum]
            )
            slow[:, side] = np.clip(total - under, 0.0, None)
        return np.stack([r[:, NEW], slow[:, NEW], r[:, STABLE], slow[:, STABLE]], axis=1)


@dataclass(frozen=True)
class Look:
    """One look of the replayed run: its time from the data's start and the judge's verdict."""

    t: float
    verdict: Verdict
    canary: Stats
    baseline: Stats


@dataclass(frozen=True)
class Replay:
    looks: tuple[Look, ...]
    #: successful | failed | inconclusive | error, as the engine's run ends; "undecided" when the
    #: data ends before the run does.
    outcome: str


def replay(world: Recorded, judge: GateJudge, cfg: AnalysisConfig, start_s: float = 0.0) -> Replay:
    """The analysis run over the recorded data: a look at start + initial delay, then every interval
    until the count, a limit (the engine's `Tally`) or the data's end."""
    lookback = judge.lookback_s or cfg.interval_s
    end = world.v.windows * world.v.step
    tally, looks = Tally(), list[Look]()
    tick = start_s + cfg.initial_delay_s
    while cfg.count is None or len(looks) < cfg.count:
        if tick > end + _EPS:
            return Replay(tuple(looks), "undecided")
        # `Recorded` offers exactly the reads a judge makes of a World (its type hint), not the rest.
        verdict = judging.measure(judge, world, tick, lookback)  # type: ignore[arg-type]
        b, c = world.stats(tick - lookback, tick, judge.quantiles, judge.min_tail_samples)
        looks.append(Look(tick, verdict, c, b))
        outcome = tally.record(cfg, verdict.status)
        if outcome is not None:
            return Replay(tuple(looks), outcome)
        tick += cfg.interval_s
    return Replay(tuple(looks), tally.at_count(cfg))
