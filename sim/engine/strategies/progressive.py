"""Progressive delivery: a controller walks weight, pause and analysis steps and aborts on its own."""

from __future__ import annotations

from ...config.strategies import STRATEGIES, ProgressiveConfig
from .analysis import CheckTally, analyse, checks_loop, confirm_gate, pre_rollout
from .base import Deploy, Gen, Strategy
from .experiment import run_experiment


@STRATEGIES.implementation("progressive")
class Progressive(Strategy[ProgressiveConfig]):
    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
        running = []
        tally = CheckTally()
        if spec.checks is not None:  # Flagger reads a person's abort (its rollback hook) once a pass
            d.next_pass = tally.next_pass(d.env, spec.checks.interval_s)
        # Argo scales the stable set dynamically only with a traffic router (utils/replicaset/canary.go).
        d.dynamic_stable = spec.dynamic_stable_scale and d.world.mode == "router"
        if spec.load_test_rps > 0:  # the load tester runs through the analysis (reaches the canary once up)
            d.world.set_load_test(spec.load_test_rps)
        for i, step in enumerate(spec.steps):
            running += [
                d.background(analyse(d, a, f"background {j}"), observer=True)
                for j, a in enumerate(spec.analyses)
                if a.starting_step == i
            ]
            if (
                step.weight is not None
                and spec.pre_rollout
                and spec.checks is not None
                and d.world.weight <= 0
            ):
                tally.tick = d.env.now  # the first pass: the pre-rollout test before any traffic
                if (yield from pre_rollout(d, spec.checks, tally)) != "successful":
                    d.detect("smoke_test")
                    return
            if step.weight is not None:
                tally.tick = d.env.now  # the controller pass that sets the weight
                yield from d.set_canary_weight(step.weight)
            elif step.pause_s is not None:
                after = spec.steps[i + 1].weight if i + 1 < len(spec.steps) else 100.0  # promotion
                yield d.pause(step.pause_s, next_weight=after)
            elif step.header_route is not None:
                yield from d.set_header_route(step.header_route)
            elif step.mirror_route is not None:
                yield from d.set_mirror_route(step.mirror_route.percentage, step.mirror_route.segments)
            elif step.canary_scale is not None:
                yield from d.scale_canary(step.canary_scale)
            elif step.manual_gate and spec.checks is not None:  # Flagger's confirm-* webhook
                if (yield from confirm_gate(d, spec.checks, tally, f"step {i}")) != "successful":
                    d.log("analysis", f"step {i}: {tally.failed} failed checks")
                    d.detect("analysis")
                    return
            elif step.manual_gate:
                if not (yield from d.wait_for_promotion(spec.gate_judge, d.scn.routing.flip_s + 300.0)):
                    return
            elif step.experiment is not None:  # Argo aborts the rollout when its experiment fails
                if not (yield from run_experiment(d, step.experiment, f"step {i}")):
                    return
            elif step.analysis is not None and not (yield from analyse(d, step.analysis, f"step {i}")):
                return
            elif step.checks is not None and spec.checks is not None:
                outcome = yield from checks_loop(d, spec.checks, tally, step.checks, f"step {i}")
                if outcome != "successful":
                    d.log("analysis", f"step {i}: {tally.failed} failed checks")
                    d.detect("analysis")
                    return
        d.stop_shadow()
        d.next_pass = None  # promoted: no more passes; a later abort is a redeploy, made when decided
        yield from d.promote(spec.scale_down_delay_s)
        d.analyses_stopped_at = d.env.now
        for proc in running:  # background analysis ends with the rollout
            if proc.is_alive:
                proc.interrupt("promoted")
        return True

    def rollback(self, d: Deploy) -> Gen:
        spec = self.spec
        yield from d.route_back()
        yield from d.retire_new(spec.abort_scale_down_delay_s)
