"""Judges: how a rollout decides the new version is bad — fixed limits, a concurrent baseline, Mann-Whitney.

A judge reads what monitoring would show over a lookback (counts, pooled percentiles, per-window
series) and returns a verdict: pass, fail, or inconclusive when there is too little traffic to say.
Which metrics a judge watches is part of its config; what it does not watch it cannot see.
The whole-service SLO burn-rate alert is a judge too; it lives in `slo`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import numpy as np
from scipy import stats as sps
from scipy.special import ndtri

from .core.errors import ConfigError
from .core.schema import Config, num, pick_kind, section

if TYPE_CHECKING:
    from .world import World

Metric = Literal["error_rate", "p50", "p99", "saturation"]
METRICS: tuple[str, ...] = get_args(Metric)
STABLE, NEW = 0, 1
_STAT = {"error_rate": "error_rate", "p50": "p50_ms", "p99": "p99_ms", "saturation": "saturation"}
_QUANTILE = {"p50": 0.5, "p99": 0.99}


@dataclass(frozen=True)
class Verdict:
    status: Literal["pass", "fail", "inconclusive", "error"]
    score: float = 0.0  # worst observed/limit ratio over watched metrics; above 1 fails
    values: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric → (canary, limit)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


class Looks:
    """The verdicts of many looks: every status at once, a look's full verdict (its values and
    score) only when asked for — a batch run needs the statuses, only a recorded run logs values."""

    __slots__ = ("_verdict", "status")

    def __init__(self, status: list[str], verdict: Callable[[int], Verdict]) -> None:
        self.status, self._verdict = status, verdict

    def verdict(self, i: int) -> Verdict:
        return self._verdict(i)

    @classmethod
    def of(cls, verdicts: list[Verdict]) -> Looks:
        return cls([v.status for v in verdicts], verdicts.__getitem__)


@dataclass(frozen=True)
class JudgeConfig(Config):
    """Base of all judges; `kind` picks the concrete class."""

    kind: str = "fixed"

    kinds: ClassVar[dict[str, type[JudgeConfig]]] = {}

    @classmethod
    def variant(cls, data: Any, key: str | None) -> type[Config]:
        return pick_kind(JudgeConfig.kinds, data, key)


def _register(kind: str):  # type: ignore[no-untyped-def]
    def deco(cls: type[JudgeConfig]) -> type[JudgeConfig]:
        JudgeConfig.kinds[kind] = cls
        return cls

    return deco


@dataclass(frozen=True)
class GateJudge(JudgeConfig):
    """A judge that gates a rollout on the new version's metrics."""

    watch: tuple[Metric, ...] = section(lambda: ("error_rate", "p99"), doc="metrics this judge looks at")
    min_requests: int = num(100, 0, 1e9, doc="fewer canary requests in the lookback: inconclusive")
    min_tail_samples: float = num(
        10.0, 0.0, 1e9, doc="a percentile is judged only with this many requests expected beyond it"
    )
    lookback_s: float | None = num(
        None,
        0.0,
        7 * 86400.0,
        lo_open=True,
        unit="s",
        doc="data each look covers; default: the analysis interval",
    )

    def validate(self) -> None:
        if not self.watch:
            raise ConfigError("watches no metric", ("watch",))
        if self.kind not in self.kinds or not isinstance(self, self.kinds[self.kind]):
            raise ConfigError(f"{self.kind!r} is not one of: {', '.join(self.kinds)}", ("kind",))

    def measure(self, world: World, t_to: float, lookback_s: float) -> Verdict:
        raise NotImplementedError  # every registered judge kind overrides this

    def measure_many(self, world: World, ticks: list[float], lookback_s: float) -> Looks:
        """`measure` as of many tick times over traffic already drawn. Judges whose limits are
        simple functions of the interval's aggregates (`limits_many`) do it in one read."""
        if type(self).limits_many is GateJudge.limits_many:
            return Looks.of([self.measure(world, t, lookback_s) for t in ticks])
        s = world.stats_many(
            ticks, lookback_s, self.quantiles, self.min_tail_samples, "saturation" in self.watch
        )
        least = max(1, self.min_requests)
        stable_n, new_n = s["requests"]
        limits = self.limits_many(s)
        T = len(ticks)
        columns = [(m, s[_STAT[m]][NEW], _per_tick(limits[m], T)) for m in self.watch]

        def judged(i: int) -> list[tuple[str, float, float]] | None:
            """The (metric, value, limit) a look at tick i can judge; None without enough requests."""
            new = new_n[i]
            if new < least or (self.needs_baseline and stable_n[i] < least):
                return None
            look = []
            for m, values, bounds in columns:  # a loop, not a comprehension: cheaper on a few metrics
                value = values[i]
                if not math.isnan(value) and self.judgeable(m, new):
                    look.append((m, value, bounds[i]))
            return look

        def verdict(i: int) -> Verdict:
            look = judged(i)
            return Verdict("inconclusive") if look is None else self._verdict(look)

        return Looks([_status(judged(i)) for i in range(T)], verdict)

    needs_baseline: ClassVar[bool] = False

    def limits_many(self, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        """Per metric, the limit at each tick (a list), or one for all (a number), given `stats_many`'s
        values (per quantity, the stable and the new version's, one per tick)."""
        raise NotImplementedError  # optional: judges without it are measured tick by tick

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(_QUANTILE[m] for m in self.watch if m in _QUANTILE)

    def judgeable(self, metric: str, requests: float) -> bool:
        """Whether the sample is big enough to judge a metric. The p99 of 250 requests is their
        third-largest value: noise, not signal. A percentile q needs requests·(1 - q) beyond it."""
        q = _QUANTILE.get(metric)
        return q is None or requests * (1.0 - q) >= self.min_tail_samples

    def _limits(self, observed: dict[str, float], limits: dict[str, float], requests: float) -> Verdict:
        return self._verdict(
            [
                (m, observed[m], limits[m])
                for m in self.watch
                if not math.isnan(observed[m]) and self.judgeable(m, requests)
            ]
        )

    @staticmethod
    def _verdict(judged: list[tuple[str, float, float]]) -> Verdict:
        """The verdict on the metrics that could be judged: (metric, value, limit) each."""
        if not judged:
            return Verdict("inconclusive", 0.0, {})
        values, score = {}, 0.0
        for metric, value, limit in judged:
            values[metric] = (value, limit)
            ratio = value / limit if limit > 0 else (math.inf if value > 0 else 0.0)
            score = max(score, ratio)
        return Verdict("fail" if score > 1.0 else "pass", score, values)


def _per_tick(limit: Any, ticks: int) -> list[float]:
    """A limit as one float per tick, whether it varies by tick (a list) or not (a number)."""
    return limit if isinstance(limit, list) else [float(limit)] * ticks


def _status(judged: list[tuple[str, float, float]] | None) -> str:
    """The status `GateJudge._verdict` gives these (metric, value, limit), without its values and
    score: value/limit > 1 is value > limit, or any value over a limit of 0."""
    if not judged:
        return "inconclusive"
    for _, v, bound in judged:
        if (v > bound) if bound > 0 else (v > 0):
            return "fail"
    return "pass"


def _observed(s: Any) -> dict[str, float]:
    return {m: getattr(s, _STAT[m]) for m in METRICS}


@_register("fixed")
@dataclass(frozen=True)
class FixedJudge(GateJudge):
    """Absolute limits on the new version alone: simple, and fooled by anything that moves both versions."""

    kind: str = "fixed"
    max_error_rate: float = num(0.01, 0.0, 1.0, doc="fail above this share of failed requests")
    max_p50_ms: float = num(100.0, 0.0, 1e7, lo_open=True, unit="ms")
    max_p99_ms: float = num(500.0, 0.0, 1e7, lo_open=True, unit="ms")
    max_saturation: float = num(0.9, 0.0, 100.0, lo_open=True, doc="fail above this utilisation")

    def measure(self, world: World, t_to: float, lookback_s: float) -> Verdict:
        _, c = world.stats(t_to - lookback_s, t_to, self.quantiles, self.min_tail_samples)
        if c.requests < max(1, self.min_requests):
            return Verdict("inconclusive")
        limits = {
            "error_rate": self.max_error_rate,
            "p50": self.max_p50_ms,
            "p99": self.max_p99_ms,
            "saturation": self.max_saturation,
        }
        return self._limits(_observed(c), limits, c.requests)

    def limits_many(self, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        return {
            "error_rate": self.max_error_rate,
            "p50": self.max_p50_ms,
            "p99": self.max_p99_ms,
            "saturation": self.max_saturation,
        }


@_register("baseline")
@dataclass(frozen=True)
class BaselineJudge(GateJudge):
    """The new version against the stable one over the same interval: noise that moves both cancels."""

    kind: str = "baseline"
    max_error_ratio: float = num(2.0, 1.0, 1e6, doc="fail when canary errors exceed baseline × this ...")
    error_margin: float = num(0.01, 0.0, 1.0, doc="... plus this absolute share (keeps tiny rates quiet)")
    max_latency_ratio: float = num(1.5, 1.0, 1e6, doc="fail when canary p50/p99 exceeds baseline × this")
    max_saturation_delta: float = num(
        0.15, 0.0, 100.0, doc="fail when canary utilisation exceeds baseline + this"
    )

    def measure(self, world: World, t_to: float, lookback_s: float) -> Verdict:
        b, c = world.stats(t_to - lookback_s, t_to, self.quantiles, self.min_tail_samples)
        if c.requests < max(1, self.min_requests) or b.requests < max(1, self.min_requests):
            return Verdict("inconclusive")
        base = _observed(b)
        return self._limits(_observed(c), {m: self._bounds(m, [base[m]])[0] for m in self.watch}, c.requests)

    needs_baseline: ClassVar[bool] = True

    def limits_many(self, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        return {m: self._bounds(m, s[_STAT[m]][STABLE]) for m in self.watch}

    def _bounds(self, metric: str, baselines: list[float]) -> list[float]:
        """The limit on a metric given each of its baseline values."""
        if metric == "error_rate":
            ratio, margin = self.max_error_ratio, self.error_margin
            return [x * ratio + margin for x in baselines]
        if metric == "saturation":
            delta = self.max_saturation_delta
            return [x + delta for x in baselines]
        ratio = self.max_latency_ratio
        return [x * ratio for x in baselines]  # p50, p99


@dataclass(frozen=True)
class MannWhitneyResult:
    classification: Literal["high", "low", "pass", "nodata"]
    p_value: float
    estimate: float  # Hodges–Lehmann shift, experiment − control
    lower: float
    upper: float
    mean_ratio: float


def mann_whitney_classify(
    experiment: np.ndarray, control: np.ndarray, confidence: float, tolerance: float, allowed_ratio: float
) -> MannWhitneyResult:
    """Classify experiment vs control as automated canary analysis (Kayenta) does.

    The Hodges–Lehmann shift estimate comes with a distribution-free confidence interval from the
    ordered pairwise differences. High when the interval's lower end lies above tolerance × |estimate|
    (the shift is clearly positive) and the effect size — the ratio of means — reaches allowed_ratio;
    low symmetrically; otherwise pass.
    """
    x, y = np.asarray(experiment, float), np.asarray(control, float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0 or len(y) == 0:
        return MannWhitneyResult("nodata", math.nan, math.nan, math.nan, math.nan, math.nan)
    m, n = len(x), len(y)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    estimate = float(np.median(diffs))
    ratio = float(x.mean() / y.mean()) if y.mean() != 0 else (math.inf if x.mean() > 0 else 1.0)
    if np.array_equal(np.sort(x), np.sort(y)):
        return MannWhitneyResult("pass", 1.0, estimate, estimate, estimate, ratio)
    p_value = float(sps.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue)
    z = float(ndtri(1 - (1 - confidence) / 2))
    # Kayenta's interval is R's asymptotic wilcox.test one: the shifts a continuity- and
    # tie-corrected normal test keeps. Between pairwise differences only within-sample ties exist,
    # and the kept shifts end at the j-th smallest and j-th largest difference.
    tx, ty = np.unique(x, return_counts=True)[1], np.unique(y, return_counts=True)[1]
    ties = float((tx**3 - tx).sum() + (ty**3 - ty).sum()) / ((m + n) * (m + n - 1))
    sigma = math.sqrt(m * n / 12.0 * (m + n + 1 - ties))
    j = min(max(1, math.ceil(m * n / 2 - 0.5 - z * sigma)), (m * n + 1) // 2)
    lower, upper = float(diffs[j - 1]), float(diffs[m * n - j])
    bound = tolerance * abs(estimate)
    if lower > bound and ratio >= allowed_ratio:
        label = "high"
    elif upper < -bound and ratio <= 1 / allowed_ratio:
        label = "low"
    else:
        label = "pass"
    return MannWhitneyResult(label, p_value, estimate, lower, upper, ratio)


@_register("mann_whitney")
@dataclass(frozen=True)
class MannWhitneyJudge(GateJudge):
    """Per-window values of canary and baseline compared with a Mann-Whitney U test (Kayenta style)."""

    kind: str = "mann_whitney"
    confidence: float = num(0.95, 0.5, 0.9999, doc="confidence level of the shift's interval")
    tolerance: float = num(0.25, 0.0, 10.0, doc="the interval must clear this fraction of the estimate")
    allowed_ratio: float = num(1.1, 1.0, 1e6, doc="effect size: canary/baseline mean ratio needed to fail")
    min_windows: int = num(3, 1, 1e6, doc="fewer windows with traffic on either side: inconclusive")

    def measure(self, world: World, t_to: float, lookback_s: float) -> Verdict:
        c = world.series(NEW, t_to - lookback_s, t_to)
        b = world.series(STABLE, t_to - lookback_s, t_to)
        if np.nansum(c["requests"]) < max(1, self.min_requests):
            return Verdict("inconclusive")
        values, worst, inconclusive = {}, 0.0, False
        for metric in self.watch:
            key = _STAT[metric]
            x, y = c[key][self._usable(metric, c["requests"])], b[key][self._usable(metric, b["requests"])]
            if len(x) < self.min_windows or len(y) < self.min_windows:
                inconclusive = True
                continue
            res = mann_whitney_classify(x, y, self.confidence, self.tolerance, self.allowed_ratio)
            values[metric] = (res.mean_ratio, self.allowed_ratio)
            if res.classification == "high":
                worst = max(worst, res.mean_ratio / self.allowed_ratio, 1.0 + 1e-9)
        if worst > 1.0:
            return Verdict("fail", worst, values)
        return Verdict("inconclusive" if inconclusive else "pass", worst, values)

    def _usable(self, metric: str, requests: np.ndarray) -> np.ndarray:
        q = _QUANTILE.get(metric)
        return (requests > 0) & ((requests * (1.0 - q) >= self.min_tail_samples) if q is not None else True)


@_register("two_proportion")
@dataclass(frozen=True)
class TwoProportionJudge(GateJudge):
    """The canary's error rate against the baseline's with a one-sided two-proportion z-test at level alpha.

    The pooled statistic z = (p̂₁ − p̂₀) / √(p̄(1 − p̄)(1/n₁ + 1/n₀)) fails the look when it exceeds
    z₁₋α. Unlike the ratio thresholds of `baseline`, its false-alarm rate per look is α by
    construction (for counts large enough for the normal approximation), which is what makes the
    cost of repeated looks computable.
    """

    kind: str = "two_proportion"
    watch: tuple[Metric, ...] = section(lambda: ("error_rate",), doc="metrics it looks at: error_rate only")
    alpha: float = num(0.05, 0.0, 0.5, lo_open=True, doc="false-alarm probability of one look (one-sided)")

    def validate(self) -> None:
        super().validate()
        if tuple(self.watch) != ("error_rate",):
            raise ConfigError(
                "a two_proportion judge tests the error rate only: watch [error_rate]", ("watch",)
            )

    @property
    def z_critical(self) -> float:
        return float(ndtri(1.0 - self.alpha))

    def measure(self, world: World, t_to: float, lookback_s: float) -> Verdict:
        b, c = world.stats(t_to - lookback_s, t_to, ())
        if c.requests < max(1, self.min_requests) or b.requests < max(1, self.min_requests):
            return Verdict("inconclusive")
        z = two_proportion_z(c.errors, c.requests, b.errors, b.requests)
        score = z / self.z_critical
        return Verdict("fail" if score > 1.0 else "pass", score, {"error_rate": (c.error_rate, b.error_rate)})


def two_proportion_z(x1: float, n1: float, x0: float, n0: float) -> float:
    """Pooled two-proportion z statistic of x1/n1 against x0/n0 (0 when neither arm has a failure)."""
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)
    return (x1 / n1 - x0 / n0) / math.sqrt(var) if var > 0 else 0.0
