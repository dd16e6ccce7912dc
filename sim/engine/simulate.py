"""One simulated deploy: draw the exogenous world once, then run each strategy against it in SimPy.

`simulate` runs one (deploy, strategy) and returns a `Simulation`: its row and the objects a
timeline reads. A simulation has up to three stretches: the watch (`run.horizon_s` in windows of
`run.window_s`), an hour's margin in the same windows when a repair or a rollout is still under way
at its end, and — for a bad release nobody has caught by then — the follow-up in coarse windows
(`followup`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import simpy

from ..config.scenario import Scenario
from ..core import rng as streams
from .alert import BurnRateAlert
from .exogenous import MARGIN_S, Exogenous
from .followup import Follow, follow_up
from .metrics import deploy_row
from .people import Humans
from .strategies import Deploy, Strategy
from .strategies.base import PlannedLook
from .strategies.driver import drive
from .tape import DeployEnvironment, Fill
from .user_reports import UserReports, can_hurt
from .watcher import Watcher
from .world import World, noise_process


@dataclass
class Simulation:
    """A finished simulation of one (deploy, strategy): its row, and the objects a timeline reads
    (`follow`: the follow-up of a bad release the watch did not catch, if there was one)."""

    row: dict[str, Any]
    world: World
    deploy: Deploy
    exo: Exogenous
    strategy: str
    follow: Follow | None = None


def watchers(env: simpy.Environment, world: World, d: Deploy, scn: Scenario, exo: Exogenous) -> list[Watcher]:
    """Everything that may catch a bad release nobody else has: the alert's pages and tickets, the
    users' reports. Started; a follow-up starts its own."""
    out: list[Watcher] = []
    if scn.safety_net is not None:
        d.alert = BurnRateAlert(
            env, world, scn.slo, {"page": d.page, "ticket": d.ticket}, lambda: d.silenced_until
        )
        out.append(d.alert)
    if can_hurt(scn, exo.release):
        out.append(UserReports(env, world, exo.report_threshold(scn), d.escalated))
    for w in out:
        w.start()
    return out


def simulate(
    scn: Scenario,
    strategy: str,
    exo: Exogenous,
    seed: int,
    deploy: int,
    record: bool = False,
    *,
    fill: Fill | None = None,
    plan: list[PlannedLook] | None = None,
    guess: bool = False,
    statuses: dict[tuple[int, int], str] | None = None,
) -> Simulation:
    """Simulate one (deploy, strategy).

    Args:
        fill: traffic the array engine drew for this deploy along the strategy's plan, which the
            tape hands out for as long as the deploy follows the plan (`sim.engine.arrays`).
        plan: a plan's run: nothing is served, every analysis look passes and is logged here.
        guess: in a plan's run, a look the deploy's own traffic would leave inconclusive is taken
            so (a plan of its own: a person is asked then).
        statuses: in a plan's run, the statuses of the deploy's looks by (run, the window its look
            reads up to), as the array engine worked them out over its traffic: the run replays
            the deploy's decisions, with nothing served (`arrays.faulted`).
    """
    spec = scn.strategies[strategy]
    own = spec.routing_for(scn.routing)
    if own is not scn.routing:  # an imported rollout brings its own router (or lack of one)
        scn = dataclasses.replace(scn, routing=own)
    impl = Strategy.implementation(spec)
    env = DeployEnvironment()
    world = World(
        env,
        scn,
        exo.traffic,
        exo.release,
        # A plan's run observes nothing: its stream is built only if something draws from it.
        streams.stream(seed, deploy, streams.OBSERVE)
        if plan is None
        else streams.lazy(seed, deploy, streams.OBSERVE),
        uses_flag=impl.uses_flag,
    )
    if impl.switches_fleets:
        world.mode = "router"  # a selector switch moves whole fleets, whatever the routing mode
    d = Deploy(
        env,
        world,
        scn,
        Humans(scn.humans, streams.lazy(seed, deploy, streams.PEOPLE)),
        streams.lazy(seed, deploy, streams.CONTROL),
        record=record,
        looks=(seed, deploy, streams.LOOKS),
    )
    if fill is not None:
        world.tape.prefill(fill)
    if plan is not None:
        world.tape.plan_only, d.plan, d.plan_guesses, d.plan_statuses = True, plan, guess, statuses
        world.keep_states()
    if exo.episodes:  # most deploys meet no noisy neighbour: no process to replay them
        env.process(noise_process(env, exo.episodes, world))
    # A plan's run serves nothing, so no watcher could fire: the array engine runs the alert over
    # the block's traffic instead (`arrays.alert_fires`).
    watching = watchers(env, world, d, scn, exo) if plan is None else []
    env.process(drive(d, impl))
    horizon = scn.run.horizon_s
    env.run(until=env.any_of([d.finished, env.timeout(horizon)]))
    bad = exo.release.bad
    under_way = d.detected_by is not None or (bad and not d.settled.triggered)
    if not d.finished.triggered and under_way:
        # A repair, or a bad release's rollout, still under way: finish it in the same windows.
        world.extend(exo.margin(scn))
        for w in watching:
            if w.fired_at is None and (w.proc is None or not w.proc.is_alive):
                w.start()
        stop = [d.finished, env.timeout(MARGIN_S)]
        if d.detected_by is None:
            stop.append(d.settled)  # shipped uncaught: the follow-up takes over from there
        env.run(until=env.any_of(stop))
    end = min(env.now, world.limit_s)
    world.finish(end)
    phases, last = [world], d
    follow = None
    if bad and d.detected_by is None and d.settled.triggered and scn.run.follow_s > end:
        follow = follow_up(scn, impl, exo, world, d, end)
        phases.append(follow.world)
        last, end = follow.deploy, follow.end
    # A plan's run has no row of its own: its deploys' rows read its marks (`sim.engine.arrays`).
    row = deploy_row(scn, strategy, deploy, seed, phases, last=last, end=end) if plan is None else {}
    return Simulation(row, world, d, exo, strategy, follow)
