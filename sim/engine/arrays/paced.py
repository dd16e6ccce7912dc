"""A manual canary's plan of a deploy's own, made without a SimPy run: its world's state changes made
at the instants the event engine makes them.

A plan's run serves nothing and passes every review, so a manual canary's run is a fixed sequence —
scale the canary up, wait for its replicas, switch the weight, pause, wait for the operator, review
— in which only the operator's delays differ from deploy to deploy. `paced_run` walks that sequence
and calls the world's own state changes (`World.set_replicas`, `World.set_weight`) at each instant,
each instant its cause's plus its wait, added as SimPy adds them (the time an event is due is the
time it was scheduled at plus its delay), so the instants, the states, the looks and the marks are
the event engine's to the last bit (`tests/test_paced.py` holds a plan made either way to the same
fields, deploy by deploy). The operator's delays are drawn from the deploy's people stream at the
same instants and hours. Anything else — a canary without a router, a schema change — runs in SimPy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

from ...config.judges import GateJudge
from ...config.scenario import Scenario
from ...config.strategies import CanaryConfig
from ...core import rng as streams
from ..exogenous import Exogenous
from ..people import Humans
from ..routing import canary_replicas_for_router
from ..simulate import Simulation
from ..strategies import Deploy
from ..strategies.base import PlannedLook
from ..tape import DeployEnvironment, look_windows
from ..world import NEW, STABLE, World


def paced(scn: Scenario, strategy: str) -> bool:
    """Whether a strategy's plans of a deploy's own are made here, for good releases (a bad one's
    fault would set off its onset: a SimPy process): a manual canary behind a router, with no
    schema change (a selector's replica split, or a migration, runs in SimPy)."""
    spec = scn.strategies[strategy]
    if type(spec) is not CanaryConfig or scn.migration.kind != "none" or len(scn.migration.deploys) != 1:
        return False
    return spec.routing_for(scn.routing).mode == "router" and isinstance(scn.judges[spec.judge], GateJudge)


class _Event:
    """What a plan's deploy holds of an event (its `finished`, `settled`, `abort`): never triggered,
    unless the walk says so."""

    def __init__(self) -> None:
        self.triggered = False

    def succeed(self) -> None:
        self.triggered = True


class _Clock:
    """What a plan's world and deploy read of their environment: the instant, set as the walk goes.
    Nothing is scheduled: a plan's tape draws nothing, so what it would look ahead to is moot."""

    def __init__(self) -> None:
        self.now = 0.0
        self.active_process = None

    def scheduled(self) -> list[Any]:
        return []

    def event(self) -> _Event:
        return _Event()


class _Past(Exception):
    """An instant at or past the horizon: the run stops before it (`simulate` runs until then)."""


def paced_run(
    scn: Scenario, strategy: str, exo: Exogenous, key: tuple[int, int], looks: list[PlannedLook]
) -> Simulation:
    """`simulate(scn, strategy, exo, seed, deploy, plan=looks, guess=True)` for a strategy `paced`
    takes (`key`: the seed and the deploy): the same run with nothing served, walked without SimPy."""
    seed, deploy = key
    spec = scn.strategies[strategy]
    assert isinstance(spec, CanaryConfig)
    own = spec.routing_for(scn.routing)
    if own is not scn.routing:  # as `simulate` does
        scn = dataclasses.replace(scn, routing=own)
    clock = _Clock()
    env = cast(DeployEnvironment, clock)
    world = World(env, scn, exo.traffic, exo.release, streams.lazy(seed, deploy, streams.OBSERVE))
    # Every walk that gets past its first pause draws from the people stream: built at once.
    humans = Humans(scn.humans, streams.stream(seed, deploy, streams.PEOPLE))
    d = Deploy(
        env,
        world,
        scn,
        humans,
        streams.lazy(seed, deploy, streams.CONTROL),
        looks=(seed, deploy, streams.LOOKS),
    )
    world.tape.plan_only, d.plan, d.plan_guesses = True, looks, True
    world.keep_states()
    horizon, W = scn.run.horizon_s, scn.run.window_s

    def at(t: float) -> float:
        if not t < horizon:
            raise _Past
        clock.now = t
        return t

    judge = scn.judges[spec.judge]
    assert isinstance(judge, GateJudge)  # (`paced`)
    try:
        world.armed = scn.migration.behaviour_deploy == 0  # `drive`
        t = 0.0
        for step in spec.steps:  # `Canary.rollout`
            t = _weight(world, scn, step.weight, t, at)
            if step.weight >= 100:
                break
            t = at(t + step.pause_s)
            t = at(t + humans.delay("decision_s", exo.traffic.hour_at(t)))  # `Deploy.review`
            lookback = max(step.pause_s, judge.lookback_s or 0.0)
            run = d.look_run()
            k_from, k_to = look_windows([t], lookback, W)  # (`Tape.look_windows` less its draw: none)
            looks.append(PlannedLook(judge, k_from, k_to, run.n, review=True))
        t = _weight(world, scn, 100.0, t, at)  # `Deploy.promote`
        stable = world.ready[STABLE]  # (`desired`: none is starting)
        if world.marks.full_at is not None:  # `drive`, once the rollout has ended
            world.marks.sequence_done_at = t
        d.settled.succeed()
        if stable:  # `Deploy.stop_later`, then `Deploy.stop` and its instances' termination
            t = at(t + spec.scale_down_delay_s)
            world.set_replicas(STABLE, ready=world.ready[STABLE] - stable)
            at(t + scn.fleet.stop_s)
            world.set_replicas(STABLE, instances=int(world.instances[STABLE]) - stable)
    except _Past:
        pass
    clock.now = horizon  # `simulate` runs until the horizon, then ends the world there
    world.finish(min(horizon, world.limit_s))
    return Simulation({}, world, d, exo, strategy)


def _weight(world: World, scn: Scenario, pct: float, t: float, at: Callable[[float], float]) -> float:
    """`Deploy.set_canary_weight` behind a router, from instant t: the canary scaled up first if it
    needs more replicas (they take traffic once ready), then the router switched. Returns the
    instant it is done (`at`: the walk's clock, set to an instant, or the run's end if it is past).
    """
    n = scn.fleet.replicas
    need = n if pct >= 100 else max(1, canary_replicas_for_router(n, pct))
    have = int(world.ready[NEW])  # (`desired`: none is starting between steps)
    if need > have:  # `scale_to` → `start`, then `_ready_later`
        count = need - have
        world.set_replicas(NEW, instances=int(world.instances[NEW]) + count)
        t = at(t + scn.fleet.ready_s)
        world.set_replicas(NEW, ready=int(world.ready[NEW]) + count)
    t = at(t + scn.routing.flip_s)  # `switch`
    world.set_weight(pct / 100.0)
    return t
