"""Blue-green: a second fleet, a smoke test, an atomic cutover; undo is a flip back while blue is warm."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import AnalysisConfig
from ..errors import ConfigError
from ..schema import Config, num, text
from ..world import NEW, STABLE
from .base import Deploy, Gen, Strategy, StrategyConfig


@dataclass(frozen=True)
class PostPromotion(Config):
    """Analysis of green after the cutover (Argo's postPromotionAnalysis); failing it flips back."""

    analysis: AnalysisConfig = AnalysisConfig(judge="fixed", count=5)


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

    def judges_used(self) -> tuple[str, ...]:
        used = [self.gate_judge]
        used += [
            a.judge for a in (self.pre_promotion, self.post_promotion) if a and a.pass_probability is None
        ]
        return tuple(used)

    def validate(self) -> None:
        if self.pre_promotion is not None and self.pre_promotion.count is None:
            raise ConfigError(
                "a pre-promotion analysis needs a count (it must end)", ("pre_promotion", "count")
            )
        if self.post_promotion is not None and self.post_promotion.count is None:
            raise ConfigError(
                "a post-promotion analysis needs a count (it must end)", ("post_promotion", "count")
            )


class BlueGreen(Strategy):
    kind = "blue_green"
    config = BlueGreenConfig
    switches_fleets = True

    def rollout(self, d: Deploy) -> Gen:
        spec: BlueGreenConfig = self.spec  # type: ignore[assignment]
        d.log("step", "provision green")
        yield from d.start(NEW, d.fleet.replicas)
        if spec.smoke_test_s:
            yield d.env.timeout(spec.smoke_test_s)
            if d.world.release.caught_by_smoke_test:
                d.log("smoke test", "failed")
                d.detect("smoke_test")
                return
            d.log("smoke test", "passed")
        if spec.pre_promotion is not None and not (yield from d.analyse(spec.pre_promotion, "pre-promotion")):
            return
        if not spec.auto_promote and not (
            yield from d.wait_for_promotion(spec.gate_judge, spec.smoke_test_s)
        ):
            return
        d.log("step", "cut over to green")
        yield from d.switch(1.0)
        d.stop_later(STABLE, spec.scale_down_delay_s)
        if spec.post_promotion is not None:
            yield from d.analyse(spec.post_promotion, "post-promotion")

    def rollback(self, d: Deploy) -> Gen:
        # While blue is warm this is one flip; once it has been scaled down, a redeploy comes first.
        yield from d.route_back()
        yield from d.stop(NEW)
