"""Blue-green: a second fleet, a smoke test, an atomic cutover; undo is a flip back while blue is warm."""

from __future__ import annotations

from ...config.strategies import STRATEGIES, BlueGreenConfig
from ..world import NEW, STABLE
from .analysis import analyse
from .base import Deploy, Gen, Strategy


@STRATEGIES.implementation("blue_green")
class BlueGreen(Strategy[BlueGreenConfig]):
    switches_fleets = True

    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
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
        if spec.pre_promotion is not None and not (
            yield from analyse(d, spec.pre_promotion, "pre-promotion")
        ):
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
            yield from analyse(d, spec.post_promotion, "post-promotion")

    def rollback(self, d: Deploy) -> Gen:
        spec = self.spec
        # While blue is warm this is one flip; once it has been scaled down, a redeploy comes first.
        yield from d.route_back()
        yield from d.retire_new(spec.abort_scale_down_delay_s)
