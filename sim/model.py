"""One simulated deploy: draw the exogenous world once, then run each strategy against it in SimPy.

A run has up to three stretches: the watch (`run.horizon_s` in windows of `run.window_s`), an hour's
margin in the same windows when a repair or a rollout is still under way at its end, and — for a
bad release nobody has caught by then — the follow-up in coarse windows (`followup`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import simpy

from .config.scenario import Scenario
from .core import rng as streams
from .faults import Release, draw_release
from .followup import Follow, follow_up
from .humans import Humans
from .metrics import deploy_row
from .noise import Episode, draw_episodes, noise_process
from .reports import UserReports, can_hurt
from .slo import BurnRateAlert
from .strategies import Deploy, Strategy
from .strategies.plan import drive
from .traffic import TrafficDraw, draw_span, draw_traffic
from .watcher import Watcher
from .world import World

#: How long past the horizon a repair, or a rollout, under way there is followed in fine windows.
MARGIN_S = 3600.0


@dataclass(frozen=True)
class Exogenous:
    """What happens to a deploy whatever the strategy: the release, the traffic, the noise — and,
    drawn on first need and then shared by every strategy, what comes after the horizon."""

    release: Release
    traffic: TrafficDraw
    episodes: tuple[Episode, ...]
    seed: int = 0
    deploy: int = 0
    _later: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._later:
            self._later[key] = make()
        return self._later[key]

    def margin(self, scn: Scenario) -> TrafficDraw:
        """Traffic of the hour after the horizon, in the horizon's windows."""
        W, n = scn.run.window_s, len(self.traffic.counts)

        def make() -> TrafficDraw:
            rng = streams.stream(self.seed, self.deploy, streams.MARGIN)
            return draw_span(scn.traffic, W, n, n + math.ceil(MARGIN_S / W), self.traffic.start_hour, rng)

        return self._once("margin", make)

    def follow(self, scn: Scenario) -> tuple[TrafficDraw, tuple[Episode, ...]]:
        """Traffic and noise of the follow-up, in its coarse windows, from the horizon's on."""
        run = scn.run

        def make() -> tuple[TrafficDraw, tuple[Episode, ...]]:
            W = run.follow_window_s
            rng = streams.stream(self.seed, self.deploy, streams.FOLLOW)
            k0 = math.floor(run.horizon_s / W + 1e-9)
            traffic = draw_span(scn.traffic, W, k0, math.ceil(run.follow_s / W), self.traffic.start_hour, rng)
            episodes: tuple[Episode, ...] = ()
            if scn.noise.error_rate.bounds()[1] > 0:  # latency noise changes nothing the follow-up reads
                noise = streams.stream(self.seed, self.deploy, streams.FOLLOW_NOISE)
                episodes = tuple(
                    e for e in draw_episodes(scn.noise, run.follow_s, noise) if e.end > run.horizon_s
                )
            return traffic, episodes

        return self._once("follow", make)

    def report_threshold(self, scn: Scenario) -> float:
        """Where on the reports' clock the escalating report falls (shared by every strategy)."""
        n = scn.reports.escalate_after
        return self._once(
            "reports", lambda: float(streams.stream(self.seed, self.deploy, streams.REPORTS).gamma(n))
        )


def draw_exogenous(scn: Scenario, seed: int, deploy: int) -> Exogenous:
    release = draw_release(
        scn.releases, scn.traffic.segment_names, streams.stream(seed, deploy, streams.RELEASE)
    )
    traffic = draw_traffic(
        scn.traffic, scn.run.window_s, scn.run.horizon_s, streams.stream(seed, deploy, streams.TRAFFIC)
    )
    episodes = draw_episodes(scn.noise, scn.run.horizon_s, streams.stream(seed, deploy, streams.NOISE))
    return Exogenous(release, traffic, episodes, seed, deploy)


@dataclass
class Run:
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
        d.alert = BurnRateAlert(env, world, scn.slo, {"page": d.page, "ticket": d.ticket})
        out.append(d.alert)
    if can_hurt(scn, exo.release):
        out.append(UserReports(env, world, exo.report_threshold(scn), d.escalated))
    for w in out:
        w.start()
    return out


def simulate(
    scn: Scenario, strategy: str, exo: Exogenous, seed: int, deploy: int, record: bool = False
) -> Run:
    spec = scn.strategies[strategy]
    own = spec.routing_for(scn.routing)
    if own is not scn.routing:  # an imported rollout brings its own router (or lack of one)
        scn = dataclasses.replace(scn, routing=own)
    impl = Strategy.implementation(spec)
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
    watching = watchers(env, world, d, scn, exo)
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
    return Run(deploy_row(scn, strategy, deploy, seed, phases, last, end), world, d, exo, strategy, follow)


def run_deploy(
    scn: Scenario, strategy: str, deploy: int = 0, seed: int | None = None, record: bool = True
) -> Run:
    """Simulate one deploy of one strategy (e.g. to replay the worst one with its timeline)."""
    seed = scn.run.seed if seed is None else seed
    return simulate(scn, strategy, draw_exogenous(scn, seed, deploy), seed, deploy, record=record)
