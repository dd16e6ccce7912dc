"""Deployment strategies' settings: one record per kind, each checked as it is built.

The records of the scenario's `strategies:` section. The strategy kinds are one family
(`STRATEGIES`); how each kind rolls a release out and takes one back is the engine's
(`sim.engine.strategies`), registered there as the kind's implementation. Parsing `kind: canary`
loads none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..core.errors import ConfigError
from ..core.registry import Kinds
from ..core.schema import Config, num, pick_kind, section, text
from .analysis import AnalysisConfig
from .routing import RouteOverride, RoutingConfig

#: The strategy kinds, in the order error messages and the scenario reference list them.
STRATEGIES = Kinds("strategy", ("blue_green", "canary", "progressive", "flag", "canary_flag", "recreate"))


@dataclass(frozen=True)
class StrategyConfig(Config):
    """Base of every strategy's settings; `kind` picks the concrete class (by default, the key)."""

    kind: str = ""

    kinds: ClassVar[Kinds] = STRATEGIES

    @classmethod
    def variant(cls, data: Any, key: str | None) -> type[Config]:
        return pick_kind(STRATEGIES, data, key)

    def judges_used(self) -> tuple[str, ...]:
        """Names of the judges this strategy refers to, checked against the scenario's judges."""
        return ()

    def routing_for(self, base: RoutingConfig) -> RoutingConfig:
        """The routing this strategy runs under: the scenario's, unless it brings its own."""
        return base


# ---- recreate ----


@STRATEGIES.record("recreate")
@dataclass(frozen=True)
class RecreateConfig(StrategyConfig):
    kind: str = "recreate"
    silence_alerts: bool = True  # planned downtime: pages are held until the shortest short window clears
    hold_after_s: float | None = num(
        None,
        0.0,
        7 * 86400.0,
        unit="s",
        doc="pages held this long after the planned outage ends; default: the shortest short window",
    )


# ---- blue-green ----


@dataclass(frozen=True)
class PostPromotion(Config):
    """Analysis of green after the cutover (Argo's postPromotionAnalysis); failing it flips back."""

    analysis: AnalysisConfig = AnalysisConfig(judge="fixed", count=5)


@STRATEGIES.record("blue_green")
@dataclass(frozen=True)
class BlueGreenConfig(StrategyConfig):
    kind: str = "blue_green"
    smoke_test_s: float = num(
        120.0, 0.0, 86400.0, unit="s", doc="smoke test of green before any user sees it"
    )
    auto_promote: bool = True
    scale_down_delay_s: float = num(
        1800.0, 0.0, 30 * 86400.0, unit="s", doc="blue kept warm after the cutover (Argo's default is 30 s)"
    )
    pre_promotion: AnalysisConfig | None = None
    post_promotion: AnalysisConfig | None = None
    gate_judge: str = text("fixed", doc="judge an operator uses at a manual promotion")
    preview_replicas: int | None = num(
        None, 0, 10_000, doc="green's replicas before promotion (Argo previewReplicaCount); default: all"
    )
    auto_promotion_s: float = num(
        0.0, 0.0, 30 * 86400.0, unit="s", doc="auto_promote: pause this long before the cutover"
    )
    abort_scale_down_delay_s: float = num(
        0.0, 0.0, 30 * 86400.0, unit="s", doc="green kept this long after a rollback (Argo's default: 30)"
    )

    def judges_used(self) -> tuple[str, ...]:
        runs = [a for a in (self.pre_promotion, self.post_promotion) if a is not None]
        return (self.gate_judge, *(j for a in runs for j in a.judges()))

    def validate(self) -> None:
        for name in ("pre_promotion", "post_promotion"):
            run: AnalysisConfig | None = getattr(self, name)
            for i, m in enumerate(run.metrics if run is not None else ()):
                if m.count is None:
                    where = (name, "count") if i == 0 else (name, "also", i - 1, "count")
                    what = name.replace("_", "-")
                    raise ConfigError(f"a {what} analysis needs a count (it must end)", where)


# ---- manual canary ----


@dataclass(frozen=True)
class ManualStep(Config):
    weight: float = num(1.0, 0.0, 100.0, lo_open=True, unit="%", doc="share of traffic on the canary")
    pause_s: float = num(600.0, 0.0, 7 * 86400.0, unit="s", doc="bake time before the operator looks")


def _default_manual_steps() -> tuple[ManualStep, ...]:
    return tuple(ManualStep(w, 600.0) for w in (1.0, 5.0, 25.0, 50.0))


def check_ascending(values: list[float], path: tuple, name: str = "weight") -> None:
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise ConfigError(
                f"{name}s must go up step by step: {values[i]:g} after {values[i - 1]:g}", (*path, i, name)
            )


@STRATEGIES.record("canary")
@dataclass(frozen=True)
class CanaryConfig(StrategyConfig):
    kind: str = "canary"
    steps: tuple[ManualStep, ...] = section(_default_manual_steps, doc="ramp before full promotion")
    judge: str = text("fixed", doc="how the operator reads the dashboards (fixed limits or a baseline)")
    scale_down_delay_s: float = num(30.0, 0.0, 30 * 86400.0, unit="s", doc="old version kept after promotion")

    def judges_used(self) -> tuple[str, ...]:
        return (self.judge,)

    def validate(self) -> None:
        if not self.steps:
            raise ConfigError("needs at least one step", ("steps",))
        check_ascending([s.weight for s in self.steps], ("steps",))


# ---- progressive delivery ----


STEP_KINDS = (
    "weight",
    "pause_s",
    "manual_gate",
    "analysis",
    "canary_scale",
    "checks",
    "header_route",
    "mirror_route",
    "experiment",
)


@dataclass(frozen=True)
class MirrorRoute(Config):
    """Argo's setMirrorRoute (Flagger's mirror): a copy of a share of the matched requests sent to the
    canary, its response thrown away."""

    percentage: float = num(
        100.0,
        0.0,
        100.0,
        unit="%",
        doc="share of the matched requests copied to the canary (Argo's default: 100); 0 removes the route",
    )
    segments: tuple[str, ...] = section(
        lambda: (), doc="the segments the route's match selects (none named: every user)"
    )


@dataclass(frozen=True)
class ExperimentTemplate(Config):
    """One ReplicaSet of an Argo experiment: the stable's pod spec (baseline) or the canary's."""

    replicas: int = num(1, 1, 10_000, doc="replicas of this template, started fresh with the experiment")
    weight: float | None = num(
        None,
        0.0,
        100.0,
        lo_open=True,
        unit="%",
        doc="share of user traffic the router sends it (with a router); none: it takes no user traffic"
        " and is measured under a load test",
    )


@dataclass(frozen=True)
class ExperimentStep(Config):
    """Argo's experiment step: a fresh baseline and a canary ReplicaSet started together, judged
    against each other for a duration; a failed analysis aborts the rollout."""

    duration_s: float | None = num(
        3600.0,
        0.0,
        30 * 86400.0,
        lo_open=True,
        unit="s",
        doc="how long the experiment runs once its replicas are ready; none: until its analysis ends",
    )
    baseline: ExperimentTemplate | None = section(
        ExperimentTemplate, doc="the stable version's pod spec on fresh replicas; none: no baseline template"
    )
    canary: ExperimentTemplate = section(ExperimentTemplate, doc="the new version's pod spec, fresh")
    analysis: AnalysisConfig | None = section(
        lambda: AnalysisConfig(judge="baseline", initial_delay_s=60.0),
        doc="judges the experiment's canary against its baseline (not the stable) while it runs; a run"
        " still going when the duration ends counts as passed; none: the experiment only runs",
    )

    def validate(self) -> None:
        weights = [t.weight or 0.0 for t in (self.baseline, self.canary) if t is not None]
        if sum(weights) > 100.0:
            raise ConfigError(
                f"the templates' weights add up to {sum(weights):g}%, over 100", ("canary", "weight")
            )
        if self.duration_s is None and (
            self.analysis is None or any(m.count is None for m in self.analysis.metrics)
        ):
            raise ConfigError(
                "an experiment without a duration ends with its analysis, which needs a count",
                ("duration_s",),
            )

    @property
    def replicas(self) -> int:
        """Both templates' replicas."""
        return self.canary.replicas + (self.baseline.replicas if self.baseline is not None else 0)


@dataclass(frozen=True)
class Step(Config):
    """One step of the rollout; exactly one field is set (Argo's canary steps)."""

    weight: float | None = num(None, 0.0, 100.0, unit="%", doc="setWeight: share of traffic on the canary")
    pause_s: float | None = num(None, 0.0, 30 * 86400.0, unit="s", doc="pause for a fixed time")
    manual_gate: bool = False
    analysis: AnalysisConfig | None = None
    canary_scale: int | None = num(None, 0, 10_000, doc="setCanaryScale: canary replicas (router mode)")
    checks: int | None = num(
        None, 1, 1e6, doc="Flagger: wait for this many passing checks of the strategy's `checks` analysis"
    )
    header_route: tuple[str, ...] | None = section(
        lambda: None,
        doc="Argo's setHeaderRoute (with a router): every user of these segments to the canary whatever"
        " the weight, as a header match naming them sends them; [] removes the route",
    )
    mirror_route: MirrorRoute | None = section(
        lambda: None,
        doc="Argo's setMirrorRoute (with a router): copies of the matched users' requests served by the"
        " canary and monitored, no user meeting its answer; percentage 0 removes the route",
    )
    experiment: ExperimentStep | None = section(
        lambda: None,
        doc="Argo's experiment step: a fresh baseline and canary judged against each other for a"
        " duration; failing aborts the rollout",
    )

    def validate(self) -> None:
        given = [n for n in STEP_KINDS if n != "manual_gate" and getattr(self, n) is not None]
        given += ["manual_gate"] if self.manual_gate else []
        if len(given) != 1:
            what = ", ".join(given) if given else "nothing"
            raise ConfigError(f"a step sets exactly one of {', '.join(STEP_KINDS)} (got {what})")
        if self.analysis is not None:
            for i, m in enumerate(self.analysis.metrics):
                if m.count is None:
                    where = ("analysis", "count") if i == 0 else ("analysis", "also", i - 1, "count")
                    raise ConfigError("an analysis step needs a count (the rollout waits for it)", where)


def _default_steps() -> tuple[Step, ...]:
    plan = [(1.0, 600.0), (5.0, 600.0), (25.0, 900.0), (50.0, 900.0)]
    return tuple(s for w, p in plan for s in (Step(weight=w), Step(pause_s=p)))


@STRATEGIES.record("progressive")
@dataclass(frozen=True)
class ProgressiveConfig(StrategyConfig):
    kind: str = "progressive"
    steps: tuple[Step, ...] = section(_default_steps, doc="setWeight / pause / analysis steps, in order")
    analyses: tuple[AnalysisConfig, ...] = section(
        lambda: (AnalysisConfig(starting_step=1, initial_delay_s=60.0),),
        doc="background analyses, each from its starting_step on",
    )
    gate_judge: str = text("baseline", doc="judge an operator uses at manual gates and inconclusive analyses")
    scale_down_delay_s: float = num(30.0, 0.0, 30 * 86400.0, unit="s", doc="old version kept after promotion")
    abort_scale_down_delay_s: float = num(
        30.0, 0.0, 30 * 86400.0, unit="s", doc="canary kept after an abort before it is scaled down"
    )
    checks: AnalysisConfig | None = section(
        lambda: None,
        doc="Flagger's analysis, run by `checks` steps: a failed check holds the rollout, failed checks"
        " add up over the rollout, and past failure_limit the rollback starts at the next interval",
    )
    routing: RouteOverride | None = section(lambda: None, doc="routing that differs from the scenario's")
    pre_rollout: bool = section(
        lambda: False,
        doc="Flagger's pre-rollout webhook (with checks): the canary tested before it takes traffic; a fault"
        " the test catches (its smoke_catch chance) fails the check at every pass until the threshold",
    )
    load_test_rps: float = num(
        0.0,
        0.0,
        1e6,
        unit="req/s",
        doc="Flagger's load-test webhook (rollout type): synthetic requests on the canary, from the first"
        " step until promotion or abort, spread over segments by their traffic shares; monitored as the"
        " canary's own traffic, never a user's",
    )
    dynamic_stable_scale: bool = section(
        lambda: False,
        doc="Argo's dynamicStableScale (with a router): the stable fleet shrinks to its traffic share as"
        " the canary's weight grows, and an abort scales it back up before moving traffic back",
    )

    def judges_used(self) -> tuple[str, ...]:
        inline = [s.analysis for s in self.steps if s.analysis is not None]
        inline += [s.experiment.analysis for s in self.steps if s.experiment and s.experiment.analysis]
        runs = (*self.analyses, *inline, *([self.checks] if self.checks else []))
        return (self.gate_judge, *(j for a in runs for j in a.judges()))

    def routing_for(self, base: RoutingConfig) -> RoutingConfig:
        return self.routing.apply(base) if self.routing is not None else base

    def validate(self) -> None:
        last = 0.0
        for i, step in enumerate(self.steps):
            if step.weight is not None:
                if step.weight < last:
                    raise ConfigError(
                        f"weights must not go down: {step.weight:g} after {last:g}", ("steps", i, "weight")
                    )
                last = step.weight
        if self.pre_rollout and self.checks is None:
            raise ConfigError(
                "Flagger's pre-rollout webhook needs the strategy's checks analysis", ("pre_rollout",)
            )
        if self.checks is not None:  # Flagger counts failed checks against a threshold of at least 1
            if self.checks.failure_limit < 0:
                raise ConfigError(
                    "Flagger's checks fail at a threshold: 0 or more", ("checks", "failure_limit")
                )
            if self.checks.consecutive_success_limit:
                raise ConfigError(
                    "Flagger's checks have no success limit: leave it 0",
                    ("checks", "consecutive_success_limit"),
                )
        if self.checks is None:
            for i, step in enumerate(self.steps):
                if step.checks is not None:
                    raise ConfigError(
                        "a checks step needs the strategy's checks analysis", ("steps", i, "checks")
                    )
        for i, a in enumerate(self.analyses):
            if a.starting_step > len(self.steps):
                raise ConfigError(
                    f"{a.starting_step} is past the last step ({len(self.steps)} steps)",
                    ("analyses", i, "starting_step"),
                )


# ---- feature flags ----


@dataclass(frozen=True)
class FlagStep(Config):
    percent: float = num(1.0, 0.0, 100.0, lo_open=True, unit="%", doc="share of users who get the feature")
    pause_s: float = num(600.0, 0.0, 7 * 86400.0, unit="s", doc="time at this percentage, judged throughout")


def _default_ramp() -> tuple[FlagStep, ...]:
    return tuple(FlagStep(p, s) for p, s in ((1.0, 600.0), (5.0, 600.0), (25.0, 900.0), (50.0, 900.0)))


@STRATEGIES.record("flag")
@dataclass(frozen=True)
class FlagConfig(StrategyConfig):
    kind: str = "flag"
    ramp: tuple[FlagStep, ...] = section(_default_ramp, doc="cohorts after the internal accounts, then 100%")
    analysis: AnalysisConfig = section(
        lambda: AnalysisConfig(judge="baseline", initial_delay_s=60.0),
        doc="judges flag-on users against flag-off users at every step",
    )
    scale_down_delay_s: float = num(
        1800.0, 0.0, 30 * 86400.0, unit="s", doc="old binary kept after the new one takes all traffic"
    )

    def judges_used(self) -> tuple[str, ...]:
        return (self.analysis.judge,) if self.analysis.pass_probability is None else ()

    def validate(self) -> None:
        if not self.ramp:
            raise ConfigError("needs at least one step", ("ramp",))
        check_ascending([s.percent for s in self.ramp], ("ramp",), "percent")


@STRATEGIES.record("canary_flag")
@dataclass(frozen=True)
class CanaryFlagConfig(FlagConfig):
    kind: str = "canary_flag"
    binary: ProgressiveConfig = section(ProgressiveConfig, doc="how the binary rolls out (flag off)")

    def judges_used(self) -> tuple[str, ...]:
        return (*super().judges_used(), *self.binary.judges_used())
