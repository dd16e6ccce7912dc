"""Blue-green: a second fleet, a smoke test, an atomic cutover; undo is a flip back while blue is warm."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import AnalysisConfig
from ..core.errors import ConfigError
from ..core.schema import Config, num, text
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


class BlueGreen(Strategy):
    kind = "blue_green"
    config = BlueGreenConfig
    switches_fleets = True

    def rollout(self, d: Deploy) -> Gen:
        spec: BlueGreenConfig = self.spec  # type: ignore[assignment]
        d.log("step", "provision green")
        preview = spec.preview_replicas if spec.preview_replicas is not None else d.fleet.replicas
        yield from d.start(NEW, min(preview, d.fleet.replicas))
        if spec.smoke_test_s:
            yield d.env.timeout(spec.smoke_test_s)
            if d.world.release.caught_by_smoke_test:
                d.log("smoke test", "failed")
                d.detect("smoke_test")
                return
            d.log("smoke test", "passed")
        if spec.pre_promotion is not None and not (yield from d.analyse(spec.pre_promotion, "pre-promotion")):
            return
        if spec.auto_promote and spec.auto_promotion_s:
            yield d.env.timeout(spec.auto_promotion_s)
        if not spec.auto_promote and not (
            yield from d.wait_for_promotion(spec.gate_judge, spec.smoke_test_s)
        ):
            return
        if d.desired(NEW) < d.fleet.replicas:  # a smaller preview fleet is scaled up before the switch
            yield from d.scale_to(NEW, d.fleet.replicas)
        d.log("step", "cut over to green")
        yield from d.switch(1.0)
        d.stop_later(STABLE, spec.scale_down_delay_s)
        if spec.post_promotion is not None:
            yield from d.analyse(spec.post_promotion, "post-promotion")

    def rollback(self, d: Deploy) -> Gen:
        spec: BlueGreenConfig = self.spec  # type: ignore[assignment]
        # While blue is warm this is one flip; once it has been scaled down, a redeploy comes first.
        yield from d.route_back()
        yield from d.retire_new(spec.abort_scale_down_delay_s)
