"""Feature-flag releases: ship the binary with the new path dark, then release the behaviour by flag.

`flag` puts the binary on the whole fleet at once; `canary_flag` rolls the binary out as a
progressive canary first. Either way the release itself is a flag ramp — internal accounts, then
cohorts by percentage with sticky bucketing — each step judged (flag-on users against flag-off
users of the same binary), undone by the kill switch. Two layers, two blast radii, two undo paths:
"can we run this code" is answered by the binary rollout, "should users see this" by the flag.
"""

from __future__ import annotations

import dataclasses

from ...config.strategies import STRATEGIES, CanaryFlagConfig, FlagConfig
from ..world import NEW, STABLE
from .analysis import analyse
from .base import Deploy, Gen, Strategy
from .progressive import Progressive


def release_by_flag(d: Deploy, spec: FlagConfig) -> Gen:
    """Dark launch, then the ramp: internal accounts, the cohorts, everyone."""
    flags, r = d.scn.flags, d.world.release
    if flags.shadow_s:
        d.log("flag", "dark launch: shadow calls exercise the flagged path")
        yield d.env.timeout(flags.shadow_s)
        if r.bad and r.layer == "flag" and r.shadow_u < flags.shadow_catch:
            d.log("shadow", "the flagged path failed under shadow traffic; the flag stays off")
            d.undo = "flag_off"
            d.detect("shadow_traffic")
            return
    cohorts = [(100.0 * flags.internal_share, "internal accounts")] if flags.internal_share else []
    cohorts += [(s.percent, f"{s.percent:g}% of users") for s in spec.ramp]
    pauses = ([spec.ramp[0].pause_s] if flags.internal_share else []) + [s.pause_s for s in spec.ramp]
    for (percent, who), pause in zip(cohorts, pauses, strict=True):
        yield from set_flag(d, percent / 100.0, who)
        count = max(1, int((pause - spec.analysis.initial_delay_s) // spec.analysis.interval_s) + 1)
        step = dataclasses.replace(spec.analysis, count=count)
        if not (yield from analyse(d, step, f"flag {who}")):
            return
    yield from set_flag(d, 1.0, "everyone")


def set_flag(d: Deploy, share: float, who: str) -> Gen:
    yield d.env.timeout(d.scn.flags.propagation_s)
    d.world.set_flag(share)
    d.log("flag", f"on for {who}")


def take_back(d: Deploy) -> Gen:
    """The kill switch while the flag is in play; if users still meet the fault (it is in the binary,
    not behind the flag), the on-call rolls the binary back after answering again."""
    if d.world.phase == "flag":
        d.undo = d.undo or "kill_switch"
        yield from set_flag(d, 0.0, "nobody (kill switch)")
        if d.world.faulty_reach == 0:
            return
        yield d.env.timeout(d.humans.delay("page_response_s", d.hour()))
        d.world.end_flag_phase()
        d.undo = "kill_switch+rollback"
    elif d.undo is None:
        d.undo = "rollback"
    if d.undo == "flag_off":
        return
    yield from d.route_back()
    yield from d.retire_new()


@STRATEGIES.implementation("flag")
class Flag(Strategy[FlagConfig]):
    uses_flag = True
    switches_fleets = True

    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
        d.log("step", "provision the new binary (flag off)")
        yield from d.start(NEW, d.fleet.replicas)
        yield from d.switch(1.0)
        d.stop_later(STABLE, spec.scale_down_delay_s)
        yield from release_by_flag(d, spec)

    def rollback(self, d: Deploy) -> Gen:
        yield from take_back(d)


@STRATEGIES.implementation("canary_flag")
class CanaryFlag(Strategy[CanaryFlagConfig]):
    uses_flag = True

    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
        if not (yield from Progressive(spec.binary).rollout(d)):
            return
        yield from release_by_flag(d, spec)

    def rollback(self, d: Deploy) -> Gen:
        yield from take_back(d)
