"""One simulated deploy: draw the exogenous world once, then run each strategy against it in SimPy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import simpy

from . import rng as streams
from .faults import Release, draw_release
from .humans import Humans
from .metrics import deploy_row
from .noise import Episode, draw_episodes, noise_process
from .scenario import Scenario
from .slo import BurnRateAlert
from .strategies import Deploy, Strategy
from .strategies.plan import drive
from .traffic import TrafficDraw, draw_traffic
from .world import World


@dataclass(frozen=True)
class Exogenous:
    """What happens to a deploy whatever the strategy: the release, the traffic, the noise."""

    release: Release
    traffic: TrafficDraw
    episodes: tuple[Episode, ...]


def draw_exogenous(scn: Scenario, seed: int, deploy: int) -> Exogenous:
    release = draw_release(
        scn.releases, scn.traffic.segment_names, streams.stream(seed, deploy, streams.RELEASE)
    )
    traffic = draw_traffic(
        scn.traffic, scn.run.window_s, scn.run.horizon_s, streams.stream(seed, deploy, streams.TRAFFIC)
    )
    episodes = draw_episodes(scn.noise, scn.run.horizon_s, streams.stream(seed, deploy, streams.NOISE))
    return Exogenous(release, traffic, episodes)


@dataclass
class Run:
    """A finished simulation of one (deploy, strategy): its row, and the objects a timeline reads."""

    row: dict[str, Any]
    world: World
    deploy: Deploy
    exo: Exogenous
    strategy: str


def simulate(
    scn: Scenario, strategy: str, exo: Exogenous, seed: int, deploy: int, record: bool = False
) -> Run:
    spec = scn.strategies[strategy]
    own = spec.routing_for(scn.routing)
    if own is not scn.routing:  # an imported rollout brings its own router (or lack of one)
        scn = dataclasses.replace(scn, routing=own)
    impl = Strategy.registry[spec.kind](spec)
    env = simpy.Environment()
    world = World(
        env,
        scn,
        exo.traffic,
        exo.release,
        streams.stream(seed, deploy, streams.OBSERVE),
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
    )
    if exo.episodes:  # most deploys meet no noisy neighbour: no process to replay them
        env.process(noise_process(env, exo.episodes, world))
    if scn.safety_net is not None:
        BurnRateAlert(env, world, scn.slo, d.page).start()
    env.process(drive(d, impl))
    env.run(until=env.any_of([d.finished, env.timeout(scn.run.horizon_s)]))
    end = min(env.now, scn.run.horizon_s)
    world.finish(end)
    return Run(deploy_row(scn, strategy, deploy, seed, world, d, end), world, d, exo, strategy)


def run_deploy(
    scn: Scenario, strategy: str, deploy: int = 0, seed: int | None = None, record: bool = True
) -> Run:
    """Simulate one deploy of one strategy (e.g. to replay the worst one with its timeline)."""
    seed = scn.run.seed if seed is None else seed
    return simulate(scn, strategy, draw_exogenous(scn, seed, deploy), seed, deploy, record=record)
