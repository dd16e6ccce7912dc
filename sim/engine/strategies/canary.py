"""Manual canary: an operator ramps the weight step by step, judging dashboards at the end of each pause."""

from __future__ import annotations

from ...config.strategies import STRATEGIES, CanaryConfig
from .base import Deploy, Gen, Strategy


@STRATEGIES.implementation("canary")
class Canary(Strategy[CanaryConfig]):
    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
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
