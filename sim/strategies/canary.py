"""Manual canary: an operator ramps the weight step by step, judging dashboards at the end of each pause."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text
from .base import Deploy, Gen, Strategy, StrategyConfig


@dataclass(frozen=True)
class ManualStep(Config):
    weight: float = num(1.0, 0.0, 100.0, lo_open=True, unit="%", doc="share of traffic on the canary")
    pause_s: float = num(600.0, 0.0, 7 * 86400.0, unit="s", doc="bake time before the operator looks")


def _default_steps() -> tuple[ManualStep, ...]:
    return tuple(ManualStep(w, 600.0) for w in (1.0, 5.0, 25.0, 50.0))


def check_ascending(values: list[float], path: tuple, name: str = "weight") -> None:
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            raise ConfigError(
                f"{name}s must go up step by step: {values[i]:g} after {values[i - 1]:g}", (*path, i, name)
            )


@dataclass(frozen=True)
class CanaryConfig(StrategyConfig):
    kind: str = "canary"
    steps: tuple[ManualStep, ...] = section(_default_steps, doc="ramp before full promotion")
    judge: str = text("fixed", doc="how the operator reads the dashboards (fixed limits or a baseline)")
    scale_down_delay_s: float = num(30.0, 0.0, 30 * 86400.0, unit="s", doc="old version kept after promotion")

    def judges_used(self) -> tuple[str, ...]:
        return (self.judge,)

    def validate(self) -> None:
        if not self.steps:
            raise ConfigError("needs at least one step", ("steps",))
        check_ascending([s.weight for s in self.steps], ("steps",))


class Canary(Strategy):
    kind = "canary"
    config = CanaryConfig

    def rollout(self, d: Deploy) -> Gen:
        spec: CanaryConfig = self.spec  # type: ignore[assignment]
        for step in spec.steps:
            yield from d.set_canary_weight(step.weight)
            if step.weight >= 100:
                break
            yield d.env.timeout(step.pause_s)
            if not (yield from d.review(spec.judge, step.pause_s, f"step {step.weight:g}%")):
                return
        yield from d.promote(spec.scale_down_delay_s)

    def rollback(self, d: Deploy) -> Gen:
        yield from d.route_back()
        yield from d.retire_new()
