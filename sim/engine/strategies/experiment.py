"""Argo Rollouts' experiment step: a fresh baseline and canary ReplicaSet on a tape of their own, judged.

Argo's experiment (rollout/experiment.go, experiments/experiment.go; docs/features/experiment.md)
starts one ReplicaSet per template — the baseline with the stable's pod spec, the canary with the
new one's — waits until they are available, runs its analyses for `duration`, and scales them down;
a failed or errored analysis aborts the rollout, an inconclusive one pauses it for a person. The
analyses compare the two templates' pods with each other, not with the long-running stable, so both
sides are equally cold (`fleet.cold_latency_factor`).

The two templates are served as the two slots of a tape of their own (slot 0 the baseline, slot 1
the canary), through the same vectorised serving path as the rollout: their traffic is a weight's
share of the users (with a router and a template weight), else a load test replaying production
traffic at the share their replicas would hold of the fleet, which harms no user. Their analyses
read that tape. A weighted canary's users also meet the new binary in the rollout's own canary
slot, on its fresh replicas, so that their harm counts in the rows (`Exposure`): the same users
drawn twice, once for the judge and once for the harm (see docs/model.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import simpy

from ...config.strategies import ExperimentStep
from ..fleet import cold_multiplier
from ..routing import Plain, snapshot
from ..serving import NEW, Snapshot
from ..tape import Tape
from ..telemetry import Telemetry
from ..world import World, serving_fixed
from .analysis import Outcome, metrics_loop
from .base import Deploy, Gen

_EPS = 1e-9


class ExperimentView:
    """What an analysis reads of the experiment: its tape, as judges read a world's."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.ensure, self.stats, self.stats_many = tape.ensure, tape.stats, tape.stats_many
        self.series, self.counts = tape.series, tape.counts

    @property
    def materialized(self) -> float:
        return self.tape.materialized


class _Judged:
    """The deploy as an experiment's analysis sees it: the same deploy, reading the experiment's tape."""

    def __init__(self, d: Deploy, view: ExperimentView) -> None:
        self._d, self.world = d, view

    def __getattr__(self, name: str) -> Any:
        return getattr(self._d, name)


def shares(step: ExperimentStep, mode: str, spec_replicas: int) -> tuple[float, float]:
    """(share of user traffic the two templates take together, the canary's share of it). With a
    router and a weight the router sends each template its weight; without one a template takes no
    user traffic and is load-tested at the share its replicas would hold of the fleet."""
    b, c = step.baseline, step.canary
    b_weight, b_replicas = (b.weight or 0.0, b.replicas) if b is not None else (0.0, 0)
    if mode == "router" and (b_weight or c.weight):
        wb, wc = b_weight / 100.0, (c.weight or 0.0) / 100.0
    else:
        wb, wc = b_replicas / spec_replicas, c.replicas / spec_replicas
    total = min(1.0, wb + wc)
    return total, (wc / (wb + wc) if wb + wc > 0 else 0.0)


def experiment_tape(world: World, step: ExperimentStep, rng: np.random.Generator) -> Tape:
    """The experiment's own tape over the rest of the horizon: each window's user requests thinned
    to the templates' share (independent draws of the same traffic), no probes."""
    total, _ = shares(step, world.mode, world.spec_replicas)
    counts = np.zeros_like(world.traffic.counts)
    counts[:, :-1] = rng.binomial(world.traffic.counts[:, :-1], total)
    scn, release = world.scn, world.release
    tel = Telemetry(len(counts), scn.fleet.latency, release.latency_profile, release.severity, rng)
    tape = Tape(
        world.env,
        counts,
        serving_fixed(scn, release),
        tel,
        rng,
        window_s=world.window_s,
        horizon_s=world.horizon_s,
    )
    tape.begin_at(world.env.now)
    return tape


def experiment_state(world: World, step: ExperimentStep, ready_at: float, fault: bool) -> Snapshot:
    """The experiment's state at now: both templates' replicas turned ready at `ready_at` (equally
    cold), the neighbours' noise and background failures as the rollout's slots meet them, and the
    release's fault in the canary once it bites."""
    fleet, now = world.scn.fleet, world.env.now
    S = len(world.shares)
    _, canary_share = shares(step, world.mode, world.spec_replicas)
    W = world.window_s
    mid = (now + (math.floor(now / W + _EPS) + 1) * W) / 2  # as `World._cold_now` takes it
    cold = (
        cold_multiplier(np.array([ready_at]), mid, fleet.cold_latency_factor, fleet.cold_s)
        if fleet.cold
        else 1.0
    )
    bg = world.background
    baseline = step.baseline.replicas if step.baseline is not None else 0
    plain = Plain(
        down=False,
        share=(canary_share,) * S + (0.0,),
        cap=(baseline * fleet.capacity_rps, step.canary.replicas * fleet.capacity_rps),
        noise_lat=(bg.lat[0] * cold, bg.lat[1] * cold),
        p_bg=bg.p_bg,
        fault=(0.0, float(fault)),
        p_schema=(0.0, 0.0),
        shared=False,
        leak_from=math.nan,
    )
    return snapshot(plain)


def run_experiment(d: Deploy, step: ExperimentStep, label: str) -> Gen:
    """The experiment step: start both templates, judge them once ready until the duration ends (or,
    without one, until the analysis does), scale them down. True: the rollout goes on; False: it
    was aborted (the analysis detected)."""
    world, env, fleet = d.world, d.env, d.fleet
    world.set_experiment_instances(step.replicas)  # both ReplicaSets cost from their pods' start
    d.log("step", f"{label}: experiment started ({step.replicas} replicas)")
    exposed = Exposure(world, step)
    running: list[simpy.Process] = []
    try:
        yield env.timeout(fleet.ready_s)
        ready_at = env.now
        tape = experiment_tape(world, step, world.rng.spawn(1)[0])
        exposed.fold()
        release = world.release
        bad = release.bad and world.armed and not world.routing_fixed.dormant
        bites_at = math.inf if not bad else ready_at + (0.0 if world.fault_active else release.onset_s)
        end = ready_at + step.duration_s if step.duration_s is not None else math.inf

        def states() -> Gen:
            """The experiment's state anew at every window's edge while it runs: its replicas cool
            down, the fault begins to bite (a few hundred changes at most, only while it runs)."""
            W = world.window_s
            while env.now < end - _EPS:
                tape.record(experiment_state(world, step, ready_at, env.now >= bites_at - _EPS))
                edge = (math.floor(env.now / W + _EPS) + 1) * W
                nxt = min(edge, end, bites_at if bites_at > env.now + _EPS else math.inf)
                yield env.timeout(nxt - env.now)

        running.append(d.background(states(), observer=True))
        waits: list[simpy.Event] = [env.timeout(step.duration_s)] if step.duration_s is not None else []
        run = None
        if step.analysis is not None:
            judged = _Judged(d, ExperimentView(tape))
            gen = metrics_loop(judged, step.analysis, f"{label} experiment")  # type: ignore[arg-type]
            run = d.background(gen, observer=True)
            tape.observers.add(run)
            running.append(run)
            waits.append(run)
        yield env.any_of(waits)
        outcome: Outcome = "successful"
        if run is not None and run.triggered:
            outcome = run.value or "successful"
        # The duration is over: Argo terminates the runs still going, which count as passed.
        d.log("analysis", f"{label} experiment: {outcome}")
        if outcome in ("failed", "error"):
            d.detect("analysis")  # with the experiment's users still on it: they count as exposed
            return False
        exposed.unfold()
        if outcome == "inconclusive" and step.analysis is not None:  # Argo pauses the rollout for a person
            judge, lookback = step.analysis.judge, step.analysis.interval_s
            return (yield from d.review(judge, lookback, "inconclusive experiment"))
        return True
    finally:
        # Ended, failed, or the rollout aborted under it: Argo cancels its experiments, and their
        # weights leave the router at once (simplified: without the flip a weight change takes).
        if not world.finished:  # (a run that ended under it leaves its world as it was)
            for proc in running:
                if proc.is_alive:
                    proc.interrupt("experiment ended")
            exposed.unfold()
            env.process(_scale_down(world, fleet.stop_s))


class Exposure:
    """The users a weighted experiment canary serves, in the rollout's own slots: behind a router its
    weight's share of users meets the new binary on its fresh replicas, and any harm they meet counts
    in the rows as a canary's does. (The baseline's users meet the stable binary, as on the stable.)"""

    def __init__(self, world: World, step: ExperimentStep) -> None:
        self.world = world
        routed = world.mode == "router" and step.canary.weight
        self.weight = (step.canary.weight or 0.0) / 100.0 if routed else 0.0
        self.replicas = step.canary.replicas if routed else 0
        self.folded = False

    def fold(self) -> None:
        if self.weight and not self.folded:
            w = self.world
            w.set_replicas(NEW, ready=int(w.ready[NEW]) + self.replicas)
            w.set_weight(min(1.0, w.weight + self.weight))
            self.folded = True

    def unfold(self) -> None:
        if self.folded:
            w = self.world
            w.set_weight(max(0.0, w.weight - self.weight))
            w.set_replicas(NEW, ready=max(0, int(w.ready[NEW]) - self.replicas))
            self.folded = False


def _scale_down(world: World, stop_s: float) -> Gen:
    """The experiment's pods terminate (they cost until they are gone)."""
    yield world.env.timeout(stop_s)
    world.set_experiment_instances(0)
