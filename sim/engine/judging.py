"""How a gate judge measures: what monitoring would show over a lookback, against the judge's limits.

A judge reads counts, pooled percentiles and per-window series and returns a verdict: pass, fail,
or inconclusive when there is too little traffic to say. Its config (what it watches, its limits)
is a record of `sim.config.judges`; here each gate kind's measurement is registered as that
kind's implementation in the judges' family (`JUDGES`), and `measure` / `measure_many` run
whichever one a judge's kind names.

A kind whose limits are simple functions of an interval's aggregates declares it
(`Measure.limits_from_aggregates`) and gives them (`limits_many`): many looks over traffic already
drawn are then settled in one read. A statistical test is measured look by look.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from scipy.special import ndtri

from ..config.judges import (
    JUDGES,
    METRICS,
    QUANTILE,
    BaselineJudge,
    FixedJudge,
    GateJudge,
    KayentaJudge,
    KayentaMetric,
    MannWhitneyJudge,
    Metric,
    SequentialJudge,
    TwoProportionJudge,
)
from ..core import kayenta, sequential

if TYPE_CHECKING:
    from .world import World

STABLE, NEW = 0, 1
STAT = {"error_rate": "error_rate", "p50": "p50_ms", "p99": "p99_ms", "saturation": "saturation"}


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


class Measure:
    """How one gate judge kind measures. A subclass per kind, registered as its implementation
    (`@JUDGES.implementation(kind)`); its methods take the judge's record first."""

    #: The judge compares the new version with the stable one: a look needs enough requests on both.
    needs_baseline: ClassVar[bool] = False
    #: The judge's limits are simple functions of an interval's aggregates (`limits_many`), so many
    #: looks are settled in one read; without it each look is measured on its own.
    limits_from_aggregates: ClassVar[bool] = False

    @staticmethod
    def measure(judge: Any, world: World, t_to: float, lookback_s: float) -> Verdict:
        raise NotImplementedError  # every registered gate kind overrides this

    @staticmethod
    def limits_many(judge: Any, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        """Per metric, the limit at each tick (a list), or one for all (a number), given `stats_many`'s
        values (per quantity, the stable and the new version's, one per tick). Only for kinds that
        declare `limits_from_aggregates`."""
        raise NotImplementedError


def measurer(judge: GateJudge) -> type[Measure]:
    """How the judge's kind measures."""
    return JUDGES.implementation_of(judge.kind)


def measure(judge: GateJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
    """One look at time t_to over the last `lookback_s` seconds."""
    return measurer(judge).measure(judge, world, t_to, lookback_s)


def measure_many(
    judge: GateJudge, world: World, ticks: list[float], lookback_s: float, rng: np.random.Generator
) -> Looks:
    """`measure` as of many tick times over traffic already drawn, the percentiles from `rng` (the
    run's own stream), tick by tick. Judges whose limits are simple functions of the interval's
    aggregates (`limits_many`) do it in one read."""
    how = measurer(judge)
    if not how.limits_from_aggregates:
        return Looks.of([how.measure(judge, world, t, lookback_s) for t in ticks])
    s = world.stats_many(
        ticks, lookback_s, judge.quantiles, judge.min_tail_samples, "saturation" in judge.watch, rng=rng
    )
    return looks_from_stats(judge, s, len(ticks))


def looks_from_stats(judge: GateJudge, s: dict[str, tuple[list[float], list[float]]], T: int) -> Looks:
    """The looks of T ticks from `stats_many`'s figures for them (a judge with `limits_many`)."""
    how = measurer(judge)
    least = max(1, judge.min_requests)
    stable_n, new_n = s["requests"]
    limits = how.limits_many(judge, s)
    columns = [(m, s[STAT[m]][NEW], _per_tick(limits[m], T)) for m in judge.watch]
    needs_baseline = how.needs_baseline

    def judged(i: int) -> list[tuple[Metric, float, float]] | None:
        """The (metric, value, limit) a look at tick i can judge; None without enough requests."""
        new = new_n[i]
        if new < least or (needs_baseline and stable_n[i] < least):
            return None
        look = []
        for m, values, bounds in columns:  # a loop, not a comprehension: cheaper on a few metrics
            value = values[i]
            if not math.isnan(value) and judge.judgeable(m, new):
                look.append((m, value, bounds[i]))
        return look

    def verdict(i: int) -> Verdict:
        look = judged(i)
        return Verdict("inconclusive") if look is None else _verdict(look)

    return Looks([_status(judged(i)) for i in range(T)], verdict)


def _limits(
    judge: GateJudge, observed: dict[str, float], limits: dict[str, float], requests: float
) -> Verdict:
    return _verdict(
        [
            (m, observed[m], limits[m])
            for m in judge.watch
            if not math.isnan(observed[m]) and judge.judgeable(m, requests)
        ]
    )


def _verdict(judged: Sequence[tuple[str, float, float]]) -> Verdict:
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


def _status(judged: Sequence[tuple[str, float, float]] | None) -> str:
    """The status `_verdict` gives these (metric, value, limit), without its values and score:
    value/limit > 1 is value > limit, or any value over a limit of 0."""
    if not judged:
        return "inconclusive"
    for _, v, bound in judged:
        if (v > bound) if bound > 0 else (v > 0):
            return "fail"
    return "pass"


def _observed(s: Any) -> dict[str, float]:
    return {m: getattr(s, STAT[m]) for m in METRICS}


@JUDGES.implementation("fixed")
class FixedMeasure(Measure):
    """Absolute limits on the new version alone."""

    limits_from_aggregates = True

    @staticmethod
    def measure(judge: FixedJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        _, c = world.stats(t_to - lookback_s, t_to, judge.quantiles, judge.min_tail_samples)
        if c.requests < max(1, judge.min_requests):
            return Verdict("inconclusive")
        limits = {
            "error_rate": judge.max_error_rate,
            "p50": judge.max_p50_ms,
            "p99": judge.max_p99_ms,
            "saturation": judge.max_saturation,
        }
        return _limits(judge, _observed(c), limits, c.requests)

    @staticmethod
    def limits_many(judge: FixedJudge, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        return {
            "error_rate": judge.max_error_rate,
            "p50": judge.max_p50_ms,
            "p99": judge.max_p99_ms,
            "saturation": judge.max_saturation,
        }


@JUDGES.implementation("baseline")
class BaselineMeasure(Measure):
    """The new version against the stable one over the same interval."""

    needs_baseline = True
    limits_from_aggregates = True

    @staticmethod
    def measure(judge: BaselineJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        b, c = world.stats(t_to - lookback_s, t_to, judge.quantiles, judge.min_tail_samples)
        if c.requests < max(1, judge.min_requests) or b.requests < max(1, judge.min_requests):
            return Verdict("inconclusive")
        base = _observed(b)
        limits: dict[str, float] = {m: _baseline_bounds(judge, m, [base[m]])[0] for m in judge.watch}
        return _limits(judge, _observed(c), limits, c.requests)

    @staticmethod
    def limits_many(judge: BaselineJudge, s: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
        return {m: _baseline_bounds(judge, m, s[STAT[m]][STABLE]) for m in judge.watch}


def _baseline_bounds(judge: BaselineJudge, metric: str, baselines: list[float]) -> list[float]:
    """The limit on a metric given each of its baseline values."""
    if metric == "error_rate":
        ratio, margin = judge.max_error_ratio, judge.error_margin
        return [x * ratio + margin for x in baselines]
    if metric == "saturation":
        delta = judge.max_saturation_delta
        return [x + delta for x in baselines]
    ratio = judge.max_latency_ratio
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
    # Imported here: only this judge needs scipy.stats, which is a third of a batch worker's start-up.
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue)
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
    label: Literal["high", "low", "pass"]
    if lower > bound and ratio >= allowed_ratio:
        label = "high"
    elif upper < -bound and ratio <= 1 / allowed_ratio:
        label = "low"
    else:
        label = "pass"
    return MannWhitneyResult(label, p_value, estimate, lower, upper, ratio)


@JUDGES.implementation("mann_whitney")
class MannWhitneyMeasure(Measure):
    """Per-window values of canary and baseline compared with a Mann-Whitney U test (Kayenta style)."""

    @staticmethod
    def measure(judge: MannWhitneyJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        c = world.series(NEW, t_to - lookback_s, t_to)
        b = world.series(STABLE, t_to - lookback_s, t_to)
        if np.nansum(c["requests"]) < max(1, judge.min_requests):
            return Verdict("inconclusive")
        values: dict[str, tuple[float, float]] = {}
        worst, inconclusive = 0.0, False
        for metric in judge.watch:
            key = STAT[metric]
            x, y = (
                c[key][_usable(judge, metric, c["requests"])],
                b[key][_usable(judge, metric, b["requests"])],
            )
            if len(x) < judge.min_windows or len(y) < judge.min_windows:
                inconclusive = True
                continue
            res = mann_whitney_classify(x, y, judge.confidence, judge.tolerance, judge.allowed_ratio)
            values[metric] = (res.mean_ratio, judge.allowed_ratio)
            if res.classification == "high":
                worst = max(worst, res.mean_ratio / judge.allowed_ratio, 1.0 + 1e-9)
        if worst > 1.0:
            return Verdict("fail", worst, values)
        return Verdict("inconclusive" if inconclusive else "pass", worst, values)


def _usable(judge: GateJudge, metric: str, requests: np.ndarray) -> np.ndarray:
    q = QUANTILE.get(metric)
    return (requests > 0) & ((requests * (1.0 - q) >= judge.min_tail_samples) if q is not None else True)


@JUDGES.implementation("two_proportion")
class TwoProportionMeasure(Measure):
    """The canary's error rate against the baseline's with a one-sided two-proportion z-test."""

    needs_baseline = True

    @staticmethod
    def measure(judge: TwoProportionJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        b, c = world.stats(t_to - lookback_s, t_to, ())
        if c.requests < max(1, judge.min_requests) or b.requests < max(1, judge.min_requests):
            return Verdict("inconclusive")
        z = two_proportion_z(c.errors, c.requests, b.errors, b.requests)
        score = z / judge.z_critical
        return Verdict("fail" if score > 1.0 else "pass", score, {"error_rate": (c.error_rate, b.error_rate)})


def two_proportion_z(x1: float, n1: float, x0: float, n0: float) -> float:
    """Pooled two-proportion z statistic of x1/n1 against x0/n0 (0 when neither arm has a failure)."""
    pooled = (x1 + x0) / (n1 + n0)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)
    return (x1 / n1 - x0 / n0) / math.sqrt(var) if var > 0 else 0.0


@JUDGES.implementation("sequential")
class SequentialMeasure(Measure):
    """The canary's error rate, and its share of requests slower than a threshold, against the
    baseline's by an always-valid sequential test: each look reads every window since the rollout
    began (its lookback is the whole run so far)."""

    needs_baseline = True

    @staticmethod
    def measure(judge: SequentialJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        counts = world.counts(0.0, t_to)
        n1, _, n0, _ = counts.sum(axis=0).tolist() if len(counts) else (0.0, 0.0, 0.0, 0.0)
        if n1 < max(1, judge.min_requests) or n0 < max(1, judge.min_requests):
            return Verdict("inconclusive")
        ratios = sequential.ratio_grid(judge.min_ratio, judge.max_ratio)
        values: dict[str, tuple[float, float]] = {}
        # Each watched count's likelihood ratio Λ is a test martingale under "no worse"; their mean
        # is one too, whatever ties errors to slowness, so Ville's bound holds for it at 1/α (and it
        # crosses no later than Bonferroni's max Λ ≥ 2/α would). It fails the canary only where the
        # canary is worse on some count so far: a subset of the crossings, so still at most α.
        evidence, worse = [], False
        for metric in judge.watch:
            read = counts
            if metric == "latency":
                threshold = judge.latency_threshold_ms or world.scn.fleet.latency.p99_ms
                read = world.slow_counts(0.0, t_to, threshold)
            u1, x1, u0, x0 = read.sum(axis=0).tolist()
            evidence.append(float(sequential.log_evidence(read, ratios)[-1]))
            if u1 > 0 and u0 > 0:  # (no user requests on a side: no latency, and no evidence either)
                values[metric] = (x1 / u1, x0 / u0)
                worse = worse or x1 / u1 > x0 / u0
        mean = float(np.logaddexp.reduce(evidence)) - math.log(len(evidence))
        # The score is Λ·α: the evidence as a share of what fails the canary (above 1 fails).
        score = math.exp(min(mean - sequential.threshold(judge.alpha), 700.0))
        status: Literal["pass", "fail"] = "fail" if worse and score >= 1.0 else "pass"
        return Verdict(status, score if worse else min(score, 1.0 - 1e-9), values)


#: A Kayenta score's classification as Argo Rollouts' Kayenta provider reads it (`evaluateResult`).
_KAYENTA_STATUS: dict[str, Literal["pass", "fail", "inconclusive"]] = {
    "Pass": "pass",
    "Marginal": "inconclusive",
    "Fail": "fail",
}


@JUDGES.implementation("kayenta")
class KayentaMeasure(Measure):
    """Kayenta's canary analysis over a look's windows (`kayenta_label` per metric, then the score)."""

    needs_baseline = True

    @staticmethod
    def measure(judge: KayentaJudge, world: World, t_to: float, lookback_s: float) -> Verdict:
        # One data point per step of the lookback, each a query over its step (as Kayenta asks the
        # metrics store for a series at the scope's step), a percentile only with its tail samples.
        n = max(1, math.floor(lookback_s / judge.step_s + 1e-9))
        starts = [t_to - judge.step_s * (n - i) for i in range(n)]
        points = [world.stats(a, a + judge.step_s, judge.quantiles, judge.min_tail_samples) for a in starts]
        if sum(c.requests for _, c in points) < max(1, judge.min_requests):
            return Verdict("inconclusive")
        results = []
        for metric in judge.watch:
            how = judge.metric(metric)
            x, y = (
                np.array([v for v in (_point(p[side], judge, metric) for p in points) if v is not None])
                for side in (NEW, STABLE)
            )
            label = kayenta_label(x, y, how, (judge.confidence, judge.tolerance))
            results.append(kayenta.MetricResult(label, (how.group,), how.critical))
        score = kayenta.summary_score(results, judge.group_weights)
        out = _KAYENTA_STATUS[kayenta.classify(score, judge.pass_score, judge.marginal_score)]
        # The verdict's score is how far below a full score the canary sits, in units of the
        # distance from 100 to the marginal score: above 1 fails, as the other judges' scores.
        room = 100.0 - judge.marginal_score
        ratio = (100.0 - score) / room if room > 0 else (0.0 if score >= 100.0 else math.inf)
        return Verdict(
            out,
            max(ratio, 1.0 + 1e-9) if out == "fail" else min(ratio, 1.0),
            {"score": (score, judge.pass_score)},
        )


def _point(s: Any, judge: GateJudge, metric: str) -> float | None:
    """A data point of a metric from one step's figures; None where the step had nothing to judge
    (no request, or too few for a percentile's tail): Kayenta's `nanStrategy: remove`."""
    value = float(getattr(s, STAT[metric]))
    if s.requests <= 0 or math.isnan(value) or not judge.judgeable(metric, s.requests):
        return None
    return value


def kayenta_label(
    x: np.ndarray, y: np.ndarray, how: KayentaMetric, test: tuple[float, float]
) -> kayenta.Label:
    """A metric's label as Kayenta's `MannWhitneyClassifier.classify` gives it, windows without
    usable data removed (its `nanStrategy: remove`): NODATA where a side has none (NodataFailMetric
    when data is required of a metric that is not critical), else High or Low where the
    Mann-Whitney interval clears the tolerance in a direction the metric watches and the mean
    ratio reaches that direction's effect size, else Pass (`test`: confidence, tolerance)."""
    if len(x) == 0 or len(y) == 0:
        return "NodataFailMetric" if how.must_have_data and not how.critical else "Nodata"
    confidence, tolerance = test
    r = mann_whitney_classify(x, y, confidence, tolerance, how.allowed_increase)
    bound = tolerance * abs(r.estimate)
    if how.direction != "decrease" and r.lower > bound and r.mean_ratio >= how.allowed_increase:
        return "High"
    if how.direction != "increase" and r.upper < -bound and r.mean_ratio <= how.allowed_decrease:
        return "Low"
    return "Pass"
