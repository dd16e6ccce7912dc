"""The driver: runs a release's deploys through a strategy and takes the release back when it is called bad.

Most releases are one deploy. An expand-and-contract schema change becomes several, in order, each
rolled out by the same strategy once the previous one's old fleet is gone and it has baked; only
the deploy that moves reads carries the release's behaviour, and so its faults. The first
detection interrupts whatever is under way and runs the strategy's rollback of the current deploy.
"""

from __future__ import annotations

from typing import Any

from ...config.migration import MigrationConfig
from .base import Deploy, Gen, Strategy, interruptible


def drive(d: Deploy, strategy: Strategy[Any]) -> Gen:
    env, world, plan = d.env, d.world, d.scn.migration
    steps = plan.deploys
    rollout = None
    for i, step in enumerate(steps):
        if i:
            yield from _between(d, plan, steps[i - 1])
            if d.abort.triggered:
                break
            world.adopt_new(armed=i == plan.behaviour_deploy)
            d.log("plan", f"deploy {i + 1} of {len(steps)}: {step}")
        else:
            world.armed = plan.behaviour_deploy == 0
            if len(steps) > 1:
                d.log("plan", f"deploy 1 of {len(steps)}: {step}")
        if strategy.migrates_first:
            d.migrate()
        rollout = env.process(interruptible(strategy.rollout(d)))
        yield rollout | d.abort
        if d.abort.triggered:
            break
    else:
        if world.marks.full_at is not None or strategy.uses_flag:
            world.marks.sequence_done_at = env.now
        d.settled.succeed()
        yield d.abort  # shipped: only a later page, ticket or report can still call it back
    for proc in [p for p in (rollout, *d.background_processes) if p is not None]:
        if proc.is_alive:
            proc.interrupt("abort")
    yield from take_back(d, strategy)


def take_back(d: Deploy, strategy: Strategy[Any]) -> Gen:
    """The rollback, once someone has called the release bad; the run ends when it is done."""
    d.rolled_back = True
    d.log("rollback", "started")
    yield from strategy.rollback(d)
    d.log("rollback", "done")
    if d.restoring is not None and d.restoring.is_alive:
        yield d.restoring  # the run is over once no user meets the broken schema either
    d.finished.succeed()


def _between(d: Deploy, plan: MigrationConfig, previous: str) -> Gen:
    """Wait for the old fleet to go, then bake (and backfill after the dual-write deploy)."""
    pending = [p for p in d.retiring if p.is_alive]
    if pending:
        yield d.env.all_of(pending) | d.abort
    wait = plan.gap_s + (float(plan.backfill_s.sample(d.rng)) if previous == "backfill" else 0.0)
    if wait and not d.abort.triggered:
        yield d.env.timeout(wait) | d.abort
