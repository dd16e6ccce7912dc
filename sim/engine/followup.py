"""After the watch: a bad release nobody has caught is followed on until it is caught and undone.

Once a rollout has settled (shipped, old fleet gone) nothing changes until someone calls the
release bad, so the follow-up draws its traffic in coarse windows (`run.follow_window_s`) — a week
is a couple of thousand windows, served at once — and hands the watch's state to a second world
on the same clock. The same watchers look on: the alert's pages (slow burns the 6 h pair needs
hours for) and tickets, and the users' reports. When one fires, the strategy's own rollback runs
there; a release still not undone at `run.follow_s` is right-censored.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import rng as streams
from ..core.held import held_for
from .alert import BurnRateAlert
from .strategies import Deploy, Strategy
from .strategies.base import Gen
from .strategies.driver import take_back
from .tape import DeployEnvironment
from .user_reports import UserReports, can_hurt, harm, slow_share
from .world import World, noise_process

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from .exogenous import Exogenous


@dataclass
class Follow:
    """The follow-up of one (deploy, strategy): its world, its deploy and when it ended."""

    world: World
    deploy: Deploy
    start: float
    end: float


#: The follow-up's scenario (its coarse windows, its horizon) by scenario, held so that its id stays
#: its own: a scenario copied and checked again for every follow-up cost more than the rest of many.
_COARSE: OrderedDict[int, tuple[Any, dict[str, Scenario]]] = OrderedDict()
_KEEP = 8


def _coarse(scn: Scenario) -> Scenario:
    """The scenario as the follow-up runs it: windows of `run.follow_window_s`, to `run.follow_s`."""
    kept = held_for(_COARSE, scn, _KEEP, dict)
    if not kept:
        run = scn.run
        kept["coarse"] = dataclasses.replace(
            scn, run=dataclasses.replace(run, window_s=run.follow_window_s, horizon_s=run.follow_s)
        )
    return kept["coarse"]


def follow_up(
    scn: Scenario,
    impl: Strategy[Any],
    exo: Exogenous,
    before: World,
    d: Deploy,
    start: float,
) -> Follow:
    """Follow a settled, uncaught bad release from `start` until it is undone or `run.follow_s`."""
    run, coarse = scn.run, _coarse(scn)
    traffic, episodes = exo.follow(scn)
    env = DeployEnvironment(initial_time=start)
    world = World(
        env,
        coarse,
        traffic,
        exo.release,
        streams.stream(exo.seed, exo.deploy, streams.FOLLOW_OBSERVE),
        uses_flag=impl.uses_flag,
    )
    world.carry_over(before, start)
    # Most are caught within a day or two: drawing a week ahead would mostly be drawn again after the
    # rollback, so draw a day at a time.
    world.tape.reach_s = 86400.0
    later = Deploy(
        env,
        world,
        coarse,
        d.humans,
        d.rng,
        record=d.record,
        looks=(exo.seed, exo.deploy, streams.FOLLOW_LOOKS),
    )
    later.events, later.undo, later.silenced_until = d.events, d.undo, d.silenced_until
    later.take_over_retirements(d)  # blue kept warm for hours is scaled down on time here
    later.log("follow-up", f"no one has caught the release; followed on in {run.follow_window_s:g} s windows")
    if episodes:
        env.process(noise_process(env, episodes, world))
    if scn.safety_net is not None:
        later.alert = BurnRateAlert(
            env, world, scn.slo, {"page": later.page, "ticket": later.ticket}, lambda: later.silenced_until
        )
        later.alert.start()
    if can_hurt(scn, exo.release):
        slow = slow_share(scn.fleet.latency, exo.release, scn.reports.slow_ms)
        prior = harm(before, slow).sum(0) if before.ledger.n else np.zeros(len(scn.traffic.shares))
        UserReports(env, world, exo.report_threshold(scn), later.escalated, prior=prior).start()
    env.process(_aftermath(later, impl))
    env.run(until=env.any_of([later.finished, env.timeout(run.follow_s - start)]))
    end = min(env.now, run.follow_s)
    world.finish(end)
    return Follow(world, later, start, end)


def _aftermath(d: Deploy, impl: Strategy[Any]) -> Gen:
    yield d.abort
    for proc in d.background_processes:  # a scale-down still to come is called off, as in the watch
        if proc.is_alive:
            proc.interrupt("abort")
    yield from take_back(d, impl)
