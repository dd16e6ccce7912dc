"""Progressive delivery: a controller walks weight, pause and analysis steps and aborts on its own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ..analysis import AnalysisConfig, CheckTally, run_checks
from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text
from ..routing import CanaryBias, RoutingConfig
from .base import Deploy, Gen, Strategy, StrategyConfig

STEP_KINDS = ("weight", "pause_s", "manual_gate", "analysis", "canary_scale", "checks")


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


@dataclass(frozen=True)
class RouteOverride(Config):
    """Routing a strategy brings with it where it differs from the scenario's: an imported manifest
    says whether there is a traffic router, whether users stick to a version, whom a header match
    sends to the canary. Unset fields keep the scenario's routing."""

    mode: Literal["router", "replicas"] | None = text(None, doc="router or replicas, not the scenario's")
    max_surge: int | None = num(None, 0, 10_000, doc="replicas mode: extra replicas a rollout may add")
    sticky: bool | None = text(None, doc="users pinned to a version (true) or routed per request (false)")
    canary_bias: CanaryBias | None = text(None, doc="whom the canary slice sees (an A/B match)")

    def apply(self, base: RoutingConfig) -> RoutingConfig:
        changes = {f.name: v for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None}
        return dataclasses.replace(base, **changes) if changes else base


def _default_steps() -> tuple[Step, ...]:
    plan = [(1.0, 600.0), (5.0, 600.0), (25.0, 900.0), (50.0, 900.0)]
    return tuple(s for w, p in plan for s in (Step(weight=w), Step(pause_s=p)))


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

    def judges_used(self) -> tuple[str, ...]:
        inline = [s.analysis for s in self.steps if s.analysis is not None]
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


class Progressive(Strategy):
    kind = "progressive"
    config = ProgressiveConfig

    def rollout(self, d: Deploy) -> Gen:
        spec: ProgressiveConfig = self.spec  # type: ignore[assignment]
        running = []
        tally = CheckTally()
        for i, step in enumerate(spec.steps):
            running += [
                d.background(d.analyse(a, f"background {j}"), observer=True)
                for j, a in enumerate(spec.analyses)
                if a.starting_step == i
            ]
            if step.weight is not None:
                tally.tick = d.env.now  # the controller pass that sets the weight
                yield from d.set_canary_weight(step.weight)
            elif step.pause_s is not None:
                after = spec.steps[i + 1].weight if i + 1 < len(spec.steps) else 100.0  # promotion
                yield d.pause(step.pause_s, next_weight=after)
            elif step.canary_scale is not None:
                yield from d.scale_canary(step.canary_scale)
            elif step.manual_gate:
                if not (yield from d.wait_for_promotion(spec.gate_judge, d.scn.routing.flip_s + 300.0)):
                    return
            elif step.analysis is not None and not (yield from d.analyse(step.analysis, f"step {i}")):
                return
            elif step.checks is not None and spec.checks is not None:
                outcome = yield from run_checks(d, spec.checks, tally, step.checks, f"step {i}")
                if outcome != "successful":
                    d.log("analysis", f"step {i}: {tally.failed} failed checks")
                    d.detect("analysis")
                    return
        yield from d.promote(spec.scale_down_delay_s)
        for proc in running:  # background analysis ends with the rollout
            if proc.is_alive:
                proc.interrupt("promoted")
        return True

    def rollback(self, d: Deploy) -> Gen:
        spec: ProgressiveConfig = self.spec  # type: ignore[assignment]
        yield from d.route_back()
        yield from d.retire_new(spec.abort_scale_down_delay_s)
