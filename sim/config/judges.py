"""Judges: how a rollout decides the new version is bad — fixed limits, a concurrent baseline,
Mann-Whitney, a two-proportion z-test, an always-valid sequential test — and the whole-service SLO
burn-rate alert.

These are the records of the scenario's `judges:` section: what each judge watches and its limits.
Which metrics a judge watches is part of its config; what it does not watch it cannot see. How a
gate judge measures (reading what monitoring would show over a lookback and returning a verdict)
is the engine's (`sim.engine.judging`), and so is the burn-rate alert's evaluation
(`sim.engine.alert`).

The judge kinds are one family (`JUDGES`), listed in the order below.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from scipy.special import ndtri

from ..core.errors import ConfigError
from ..core.registry import Kinds
from ..core.schema import Config, num, pick_kind, section, text

#: The judge kinds, in the order error messages and the scenario reference list them.
JUDGES = Kinds(
    "judge", ("fixed", "baseline", "mann_whitney", "kayenta", "two_proportion", "sequential", "burn_rate")
)

Metric = Literal["error_rate", "p50", "p99", "saturation"]
METRICS: tuple[str, ...] = get_args(Metric)
#: What the sequential judge may watch: counts (failed requests; user requests slower than a threshold).
SequentialMetric = Literal["error_rate", "latency"]
SEQUENTIAL_METRICS: tuple[str, ...] = get_args(SequentialMetric)
#: The percentile metrics, and the quantile each is.
QUANTILE = {"p50": 0.5, "p99": 0.99}


@dataclass(frozen=True)
class JudgeConfig(Config):
    """Base of all judges; `kind` picks the concrete class."""

    kind: str = "fixed"

    kinds: ClassVar[Kinds] = JUDGES

    @classmethod
    def variant(cls, data: Any, key: str | None) -> type[Config]:
        return pick_kind(JUDGES, data, key)


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

    @property
    def quantiles(self) -> tuple[float, ...]:
        return tuple(QUANTILE[m] for m in self.watch if m in QUANTILE)

    def judgeable(self, metric: str, requests: float) -> bool:
        """Whether the sample is big enough to judge a metric. The p99 of 250 requests is their
        third-largest value: noise, not signal. A percentile q needs requests·(1 - q) beyond it."""
        q = QUANTILE.get(metric)
        return q is None or requests * (1.0 - q) >= self.min_tail_samples


@JUDGES.record("fixed")
@dataclass(frozen=True)
class FixedJudge(GateJudge):
    """Absolute limits on the new version alone: simple, and fooled by anything that moves both versions."""

    kind: str = "fixed"
    max_error_rate: float = num(0.01, 0.0, 1.0, doc="fail above this share of failed requests")
    max_p50_ms: float = num(100.0, 0.0, 1e7, lo_open=True, unit="ms")
    max_p99_ms: float = num(500.0, 0.0, 1e7, lo_open=True, unit="ms")
    max_saturation: float = num(0.9, 0.0, 100.0, lo_open=True, doc="fail above this utilisation")


@JUDGES.record("baseline")
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


@JUDGES.record("mann_whitney")
@dataclass(frozen=True)
class MannWhitneyJudge(GateJudge):
    """Per-window values of canary and baseline compared with a Mann-Whitney U test (Kayenta style)."""

    kind: str = "mann_whitney"
    confidence: float = num(0.95, 0.5, 0.9999, doc="confidence level of the shift's interval")
    tolerance: float = num(0.25, 0.0, 10.0, doc="the interval must clear this fraction of the estimate")
    allowed_ratio: float = num(1.1, 1.0, 1e6, doc="effect size: canary/baseline mean ratio needed to fail")
    min_windows: int = num(3, 1, 1e6, doc="fewer windows with traffic on either side: inconclusive")


@dataclass(frozen=True)
class KayentaMetric(Config):
    """How Kayenta's judge reads one metric (a canary config's `analysisConfigurations.canary`)."""

    direction: Literal["increase", "decrease", "either"] = "either"
    group: str = text("default", doc="the metric's group; groups are scored apart and weighted")
    critical: bool = False
    must_have_data: bool = False
    allowed_increase: float = num(1.0, 0.0, 1e6, doc="effect size (mean ratio) a High needs")
    allowed_decrease: float = num(1.0, 0.0, 1e6, doc="effect size (mean ratio) a Low needs")


@JUDGES.record("kayenta")
@dataclass(frozen=True)
class KayentaJudge(GateJudge):
    """Kayenta's canary analysis as its Netflix ACA judge runs it: each watched metric's per-window
    values of canary and baseline classified by a Mann-Whitney test (High, Low, Pass, or NODATA
    where a side has no usable window), the labels scored by group — a group's score the share of
    its metrics that pass, the groups weighted (`group_weights`, the rest sharing what is left of
    100) —, a failing critical metric or NODATA on half the metrics or more scoring 0; a look passes
    at `pass_score`, is marginal (inconclusive) from `marginal_score`, and fails below it, as Argo
    Rollouts' Kayenta provider reads the score."""

    kind: str = "kayenta"
    metrics: dict[str, KayentaMetric] = section(
        dict, doc="per watched metric: direction, group, critical, must_have_data, effect sizes"
    )
    group_weights: dict[str, float] = section(
        dict, doc="weight (%) of each named group; others share the rest"
    )
    pass_score: float = num(95.0, 0.0, 100.0, doc="a look's score at or above this passes")
    marginal_score: float = num(75.0, 0.0, 100.0, doc="below the pass score and at or above this: marginal")
    confidence: float = num(0.98, 0.5, 0.9999, doc="confidence level of the Mann-Whitney interval")
    tolerance: float = num(0.25, 0.0, 10.0, doc="the interval must clear this fraction of the estimate")
    step_s: float = num(
        60.0, 10.0, 86400.0, unit="s", doc="one data point per step, as the canary scope asks"
    )

    def validate(self) -> None:
        super().validate()
        for name in self.metrics:
            if name not in self.watch:
                raise ConfigError(
                    f"{name!r} is not watched: watch lists {', '.join(self.watch)}", ("metrics",)
                )
        if self.marginal_score > self.pass_score:
            raise ConfigError(
                f"{self.marginal_score:g} is above pass_score {self.pass_score:g}", ("marginal_score",)
            )
        for g, w in self.group_weights.items():
            if not 0.0 <= w <= 100.0:
                raise ConfigError(f"{w:g} is not within 0..100", ("group_weights", g))
        if sum(self.group_weights.values()) > 100.0:
            raise ConfigError("the weights add up to more than 100", ("group_weights",))

    def metric(self, name: str) -> KayentaMetric:
        """How a watched metric is read (Kayenta's defaults where the config says nothing)."""
        return self.metrics.get(name) or KayentaMetric()


@JUDGES.record("two_proportion")
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


@JUDGES.record("sequential")
@dataclass(frozen=True)
class SequentialJudge(GateJudge):
    """The canary's error rate, and the share of its requests slower than a threshold, against the
    baseline's by an always-valid sequential test (mSPRT).

    Both are counts — failed requests, slow requests (`latency`: the SRE's latency SLI, user
    requests slower than `latency_threshold_ms`) — so one test serves both. Every look reads all
    the data since the rollout began and fails the canary once the evidence that it is worse — a
    mixture likelihood ratio over rate ratios from `min_ratio` to `max_ratio`
    (`sim.core.sequential`) — reaches 1/α; watching both, the two ratios' mean must (a mean of test
    martingales is one, whatever ties them). However often it is read, a canary no worse than the
    baseline is failed with probability at most α over the whole rollout, where a fixed-horizon
    test read at every look fails it more often with every look (Armitage). Percentiles are not
    watched: estimated from unequal samples they give no martingale. The method behind
    LaunchDarkly's guarded rollouts and Netflix's anytime-valid canaries (Lindon, Sanden,
    Shirikian, KDD 2022).
    """

    kind: str = "sequential"
    watch: tuple[SequentialMetric, ...] = section(  # type: ignore[assignment]
        lambda: ("error_rate",),
        doc="metrics it looks at: error_rate, latency (requests slower than latency_threshold_ms), or both",
    )
    alpha: float = num(
        0.05, 0.0, 0.5, lo_open=True, doc="false-alarm probability over the whole rollout, however many looks"
    )
    min_ratio: float = num(
        1.25,
        1.0,
        1e6,
        lo_open=True,
        doc="smallest canary/baseline rate ratio (errors, slow requests) weighed",
    )
    max_ratio: float = num(20.0, 1.0, 1e6, lo_open=True, doc="largest rate ratio the mixture weighs")
    latency_threshold_ms: float | None = num(
        None,
        0.0,
        1e7,
        lo_open=True,
        unit="ms",
        doc="latency: a user request slower than this is slow; default: the fleet's p99_ms (1% slow at "
        "the reference load)",
    )

    def validate(self) -> None:
        super().validate()
        if len(set(self.watch)) != len(self.watch) or not set(self.watch) <= set(SEQUENTIAL_METRICS):
            raise ConfigError(
                "a sequential judge tests counts: watch error_rate, latency (requests slower than "
                "latency_threshold_ms) or both, each once; percentiles of unequal samples give no martingale",
                ("watch",),
            )
        if self.latency_threshold_ms is not None and "latency" not in self.watch:
            raise ConfigError(
                "only the latency half reads it: watch latency or leave it unset", ("latency_threshold_ms",)
            )
        if self.lookback_s is not None:
            raise ConfigError(
                "a sequential judge reads everything since the rollout began: leave lookback_s unset",
                ("lookback_s",),
            )
        if self.max_ratio < self.min_ratio:
            raise ConfigError(f"{self.max_ratio:g} is below min_ratio {self.min_ratio:g}", ("max_ratio",))


# ---- the whole-service safety net: SLO multiwindow, multi-burn-rate alerting (the SRE Workbook) ----
#
# The alert watches every user request of the service, whichever version served it. A pair of
# windows fires when the error ratio over both the long and the short window exceeds
# burn_rate × (1 − SLO). For a constant error ratio e arriving after clean traffic, the long window
# alone fires after (1 − SLO) / e × window × burn_rate — the Workbook's detection time.


@dataclass(frozen=True)
class BurnWindow(Config):
    long_s: float = num(3600.0, 0.0, 90 * 86400.0, lo_open=True, unit="s")
    short_s: float = num(300.0, 0.0, 90 * 86400.0, lo_open=True, unit="s")
    burn_rate: float = num(14.4, 0.0, 1e6, lo_open=True, doc="budget spend rate that pages")

    def validate(self) -> None:
        if self.short_s > self.long_s:
            raise ConfigError(f"short_s {self.short_s:g} is longer than long_s {self.long_s:g}", ("short_s",))


def _workbook_pages() -> tuple[BurnWindow, ...]:
    # The SRE Workbook's paging pair: 2% of a 30-day budget in 1 h, 5% in 6 h.
    return (BurnWindow(3600.0, 300.0, 14.4), BurnWindow(21600.0, 1800.0, 6.0))


def _workbook_tickets() -> tuple[BurnWindow, ...]:
    # The Workbook's ticket: 10% of a 30-day budget in 3 days (burn rate 1), with a 6 h short window.
    return (BurnWindow(3 * 86400.0, 6 * 3600.0, 1.0),)


#: Alert tiers: a page wakes the on-call; a ticket waits for working hours.
TIERS = ("page", "ticket")


@JUDGES.record("burn_rate")
@dataclass(frozen=True)
class BurnRateJudge(JudgeConfig):
    kind: str = "burn_rate"
    slo: float = num(0.999, 0.0, 1.0, lo_open=True, doc="availability objective over user requests")
    budget_days: float = num(30.0, 0.0, 3650.0, lo_open=True, unit="d", doc="error-budget period")
    windows: tuple[BurnWindow, ...] = section(_workbook_pages, doc="window pairs that page the on-call")
    tickets: tuple[BurnWindow, ...] = section(
        _workbook_tickets, doc="window pairs that open a ticket, worked in business hours"
    )
    eval_interval_s: float = num(60.0, 0.0, 86400.0, lo_open=True, unit="s", doc="rule evaluation interval")

    def validate(self) -> None:
        if self.slo >= 1.0:
            raise ConfigError(f"{self.slo:g} is not below 1 (an SLO of 100% has no budget)", ("slo",))
        if not self.windows:
            raise ConfigError("needs at least one window pair", ("windows",))

    @property
    def budget(self) -> float:
        return 1.0 - self.slo

    def pairs(self, tier: str) -> tuple[BurnWindow, ...]:
        return self.windows if tier == "page" else self.tickets

    @functools.cached_property
    def spans_by_window(self) -> dict[tuple[str, float], Any]:
        """The alert's window spans by tier and window length, filled on first use by the engine
        (`sim.engine.alert`): kept on the judge, since a frozen config hashes field by field, which
        would cost more than the quick scan these serve."""
        return {}
