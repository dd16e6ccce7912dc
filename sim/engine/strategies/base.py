"""The mechanics every strategy is written in: replicas, routing, people, judgment, detection.

A strategy is two SimPy generators — `rollout` and `rollback` — composed from these steps (and the
analysis loops of `analysis`), so the strategies differ only where their mechanics really differ.
The driver (`driver`) runs the rollout; the first detection (a judge, a smoke test, an operator, the
SLO alert answered by the on-call) interrupts it and runs the rollback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

import numpy as np
import simpy

from ...config.judges import GateJudge, JudgeConfig
from ...config.strategies import STRATEGIES, StrategyConfig
from ...core import rng as streams
from .. import judging, routing
from ..people import Humans
from ..tape import QuietTimeout
from ..world import NEW, STABLE, World

if TYPE_CHECKING:
    from ...config.scenario import Scenario
    from ..alert import BurnRateAlert

Gen = Generator[Any, Any, Any]

#: Detections made by people (who then abort by hand), as against a controller's own checks.
PEOPLE = frozenset({"slo_alert", "ticket", "user_report"})
#: How long before a controller's pass an abort it reads at that pass lands: the pass reads its
#: rollback hooks before anything else it does.
_BEFORE_PASS = 1e-6


class PlannedLook(NamedTuple):
    """One read of a plan's analysis or a person's review: the judge, and per tick the windows it
    reads (first, past the last)."""

    judge: GateJudge
    k_from: list[int]
    k_to: list[int]
    run: int  # the analysis run (or review) it belongs to: its percentiles' stream (`Deploy.look_run`)
    review: bool = False  # a person's review: only a failing look is a decision (inconclusive goes on)
    # An analysis's statuses the plan takes, tick by tick ("pass" or "inconclusive"; None: all pass):
    # a deploy follows the plan while its looks come out so.
    expect: tuple[str, ...] | None = None


class LookRun(NamedTuple):
    """An analysis run, or a person's review: its number in the deploy and its looks' stream."""

    n: int
    rng: np.random.Generator


#: The config record a strategy runs from (CanaryConfig for Canary, ...).
SpecT = TypeVar("SpecT", bound=StrategyConfig)


class Strategy(Generic[SpecT]):
    """A deployment strategy: how it rolls a release out and how it takes one back. Each kind's
    class is registered as its implementation in the strategies' family
    (`@STRATEGIES.implementation(kind)`); `implementation(spec)` builds the one a record's kind names.
    A kind's class names its record (`class Canary(Strategy[CanaryConfig])`), so `self.spec` is typed."""

    #: Switches whole fleets with a service selector (blue-green, recreate) rather than weighting.
    switches_fleets: ClassVar[bool] = False
    #: The release's behaviour ships dark behind a feature flag and is released by the flag.
    uses_flag: ClassVar[bool] = False
    #: The schema change runs before the rollout starts (recreate runs it once the old version is down).
    migrates_first: ClassVar[bool] = True

    def __init__(self, spec: SpecT) -> None:
        self.spec: SpecT = spec

    def rollout(self, d: Deploy) -> Gen:
        raise NotImplementedError  # every registered strategy overrides this

    def rollback(self, d: Deploy) -> Gen:
        raise NotImplementedError  # every registered strategy overrides this

    @staticmethod
    def implementation(spec: StrategyConfig) -> Strategy[Any]:
        """The strategy a record's kind names, set to run it."""
        return STRATEGIES.implementation_of(spec.kind)(spec)


class Deploy:
    """One strategy rolling out one release into one world."""

    def __init__(
        self,
        env: simpy.Environment,
        world: World,
        scn: Scenario,
        humans: Humans,
        rng: np.random.Generator,
        record: bool = False,
        *,
        looks: tuple[int, int, int] = (0, 0, streams.LOOKS),
    ) -> None:
        self.env, self.world, self.scn, self.humans, self.rng = env, world, scn, humans, rng
        self._looks, self._runs = looks, 0  # (seed, deploy, stream) of its look runs; runs so far
        # When each run started, and when the rollout stopped its background analyses: what the
        # array engine needs of a plan's run to work a background analysis's restarts out itself.
        self.run_starts: list[float] = []
        self.analyses_stopped_at: float | None = None
        self.fleet = scn.fleet
        self.abort = env.event()
        self.finished = env.event()
        # Shipped: nothing changes until a detection, but an old fleet's scheduled scale-down.
        self.settled = env.event()
        self.detected_by: str | None = None
        self.rolled_back = False
        self.undo: str | None = None  # how the release was taken back: rollback, kill_switch, ...
        self.retiring: list[simpy.Process] = []  # old fleets scaled down after a delay
        self.retire_at: list[tuple[int, float, simpy.Process]] = []  # (version, when, its process)
        self.restoring: simpy.Process | None = None  # a schema restore under way
        self.dynamic_stable = False  # Argo's dynamicStableScale: the stable set shrinks with its weight
        # A controller that reads a person's abort only at its passes (Flagger's rollback webhook):
        # when its next pass comes; None: an abort lands when it is made.
        self.next_pass: Callable[[], float] | None = None
        self.record = record
        self.events: list[tuple[float, str, str]] = []
        self._background: list[simpy.Process] = []
        self._starting: list[list[tuple[list[int], simpy.Process]]] = [[], []]
        self._paged = False
        self.silenced_until = -1.0
        self.alert: BurnRateAlert | None = None  # the SLO alert watching this deploy, to re-arm
        # A plan's run (`sim.engine.arrays`): every look passes and is logged here, windows and judge;
        # or, for a plan of the deploy's own, a look its traffic would leave inconclusive is so.
        self.plan: list[PlannedLook] | None = None
        self.plan_guesses = False
        # A plan's run that replays a deploy's looks: each one's status by (run, its last window's
        # end), as the array engine worked them out; a look not listed passes.
        self.plan_statuses: dict[tuple[int, int], str] | None = None

    # ---- bookkeeping ----

    def log(self, kind: str, detail: str = "", verdict: Any = None, at: float | None = None) -> None:
        if self.record:
            if verdict is not None and verdict.values:
                shown = ", ".join(f"{m}={v:.4g} (limit {lim:.4g})" for m, (v, lim) in verdict.values.items())
                detail = f"{detail}: {shown}"
            self.events.append((self.env.now if at is None else at, kind, detail))

    def judge(self, name: str) -> JudgeConfig:
        return self.scn.judges[name]

    def look_run(self) -> LookRun:
        """A new analysis run (or a person's review): its number, in the order runs start, and the
        stream its looks' percentiles are drawn from, built when first drawn from."""
        n, self._runs = self._runs, self._runs + 1
        self.run_starts.append(self.env.now)
        seed, deploy, which = self._looks
        return LookRun(n, streams.lazy(seed, deploy, which, n))

    def hour(self) -> float:
        return self.world.traffic.hour_at(self.env.now)

    # ---- detection and the driver ----

    def detect(self, by: str) -> None:
        """The first party to decide the release is bad wins; the rollback starts at once. A schema
        the old binary cannot read is restored (or fixed forward) alongside: rolling back the binary
        does not undo it."""
        if self.detected_by is None:
            self.detected_by = by
            self.world.mark_detected()
            self.log("detected", by)
            at = self.next_pass() if self.next_pass is not None and by in PEOPLE else self.env.now
            if at > self.env.now + 1e-9:
                self.env.process(self._abort_at(at))
            else:
                self.abort.succeed()
            if self.world.schema_broken:
                self.restoring = self.env.process(self._restore_schema())

    def _abort_at(self, at: float) -> Gen:
        # A hair before the pass: the controller reads its rollback hooks before it runs the pass's
        # checks or moves any traffic (scheduler.go).
        yield self.env.timeout(max(0.0, at - self.env.now - _BEFORE_PASS))
        self.log("rollback", "the controller's pass reads the abort")
        if not self.abort.triggered:
            self.abort.succeed()

    def migrate(self) -> None:
        """Run the release's schema change (a pre-deploy job). A breaking one lands on whatever the
        old binary is still serving."""
        if self.scn.migration.kind == "breaking":
            self.world.break_schema()
            self.log("migration", "breaking change applied")

    def _restore_schema(self) -> Gen:
        yield self.env.timeout(float(self.scn.migration.restore_s.sample(self.rng)))
        self.world.restore_schema()
        self.log("migration", "schema restored")

    def page(self) -> bool:
        """The SLO alert fired: the on-call answers after a delay and rolls back. A page inside a
        planned maintenance silence is not delivered (the alert keeps evaluating)."""
        if self.env.now < self.silenced_until:
            return False
        if self._paged or self.detected_by is not None:
            return True
        self._paged = True
        self.log("alert", "SLO burn-rate alert fired; on-call paged")
        self.world.observers.add(self.env.process(self._answer_page()))
        return True

    def _answer_page(self) -> Gen:
        yield self.env.timeout(self.humans.delay("page_response_s", self.hour()))
        self._respond("slo_alert", "page")

    def ticket(self) -> bool:
        """The slow-burn alert opened a ticket: someone works it in business hours and rolls back.
        A maintenance silence holds it as it holds pages."""
        if self.env.now < self.silenced_until:
            return False
        if self.detected_by is None:
            self.log("alert", "SLO burn-rate ticket opened")
            delay = self.humans.working(self.scn.humans.ticket_response_s, self.hour())
            self._answer_later(delay, lambda: self._respond("ticket", "ticket"))
        return True

    def escalated(self) -> None:
        """Support escalated users' reports: engineering works them in business hours and rolls back."""
        if self.detected_by is None:
            self.log("report", "users' reports escalated to engineering")
            delay = self.humans.working(self.scn.reports.response_s, self.hour())
            self._answer_later(delay, lambda: self.detect("user_report"))

    def _answer_later(self, delay: float, act: Callable[[], None]) -> None:
        def answer() -> Gen:
            yield self.env.timeout(delay)
            act()

        self.world.observers.add(self.env.process(answer()))

    def _respond(self, by: str, tier: str) -> None:
        """Whoever answers an alert looks at the service first: still failing at least its error
        budget's share of requests over the shortest short window, the release is rolled back. An
        alert raised by a burn that has stopped — a planned outage its silence did not cover, a
        passing noisy neighbour — or answered during a planned outage is acknowledged instead, and
        the alert may fire again."""
        if self.detected_by is not None:
            return
        slo = self.scn.slo
        planned = self.env.now < self.silenced_until  # a maintenance under way explains the burn
        if not planned and self.world.burning(slo.budget, min(w.short_s for w in slo.windows)):
            self.detect(by)
            return
        why = (
            "a planned outage is under way"
            if planned
            else "the service is no longer burning its error budget"
        )
        self.log("alert", f"{tier} acknowledged: {why}")
        if tier == "page":
            self._paged = False
        if self.alert is not None:
            self.alert.rearm(tier)

    @property
    def background_processes(self) -> list[simpy.Process]:
        return self._background

    def background(self, gen: Gen, observer: bool = False) -> simpy.Process:
        """A process that dies with the rollout (background analysis, delayed scale-downs).
        An observer only reads the world until it detects something (see World.next_change)."""
        proc = self.env.process(interruptible(gen))
        self._background.append(proc)
        if observer:
            self.world.observers.add(proc)
        return proc

    # ---- replicas ----

    def desired(self, version: int) -> int:
        """Replicas of a version that are ready or starting (not terminating)."""
        starting = self._starting[version]  # mostly none: then no generator to build
        return int(self.world.ready[version]) + (sum(b[0] for b, _ in starting) if starting else 0)

    def start(self, version: int, count: int) -> Gen:
        """Start `count` more replicas: they cost from now and take traffic once ready. Interrupting
        the caller does not stop the pods from coming up."""
        if count <= 0:
            return
        w = self.world
        w.set_replicas(version, instances=int(w.instances[version]) + count)
        batch = [count]
        proc = self.env.process(self._ready_later(version, batch))
        self._starting[version].append((batch, proc))
        yield proc

    def _ready_later(self, version: int, batch: list[int]) -> Gen:
        yield self.env.timeout(self.fleet.ready_s)
        self._starting[version] = [(b, p) for b, p in self._starting[version] if b is not batch]
        if batch[0] > 0:  # stop() may have killed some of the batch while it started
            self.world.set_replicas(version, ready=int(self.world.ready[version]) + batch[0])

    def stop(self, version: int, count: int | None = None) -> Gen:
        """Stop replicas (starting ones first): they leave the endpoints at once and cost until terminated."""
        have = self.desired(version)
        count = have if count is None else min(count, have)
        if count <= 0:
            return
        left = count
        for batch, _ in reversed(self._starting[version]):
            killed = min(batch[0], left)
            batch[0] -= killed
            left -= killed
        self.world.set_replicas(version, ready=int(self.world.ready[version]) - left)
        self.env.process(self._terminated_later(version, count))
        yield self.env.timeout(self.fleet.stop_s)

    def _terminated_later(self, version: int, count: int) -> Gen:
        yield self.env.timeout(self.fleet.stop_s)
        self.world.set_replicas(version, instances=int(self.world.instances[version]) - count)

    def stop_later(self, version: int, delay: float) -> None:
        def later() -> Gen:
            yield self.env.timeout(delay)
            yield from self.stop(version)

        proc = self.background(later())
        self.retiring.append(proc)
        self.retire_at.append((version, self.env.now + delay, proc))

    def take_over_retirements(self, before: Deploy) -> None:
        """Scale-downs an earlier phase scheduled and had not started by now: scheduled here. (One
        under way has taken its replicas off the endpoints already; they stop costing in `stop_s`.)"""
        for version, at, proc in before.retire_at:
            if proc.is_alive and at > self.env.now:
                self.stop_later(version, at - self.env.now)
        for version in (STABLE, NEW):
            leaving = int(self.world.instances[version]) - int(self.world.ready[version])
            if leaving > 0:
                self.env.process(self._terminated_later(version, leaving))

    def scale_to(self, version: int, count: int) -> Gen:
        """Bring a version to `count` replicas and wait until every one of them is ready."""
        have = self.desired(version)
        if count > have:
            yield from self.start(version, count - have)
        elif count < have:
            yield from self.stop(version, have - count)
        pending = [p for _, p in self._starting[version]]
        if pending:
            yield self.env.all_of(pending)

    def pause(self, seconds: float, next_weight: float | None) -> simpy.Timeout:
        """A rollout's pause, and the weight (%) it sets next, if any. Through a router nothing
        changes as the pause ends: the canary is only ever scaled up first, and its new replicas
        take `ready_s` to serve; with no new replicas the router takes `flip_s` to move traffic.
        Such a pause is quiet for that long, and the tape draws on past its end."""
        if next_weight is None or self.world.mode != "router":
            return self.env.timeout(seconds)
        grows = self._canary_replicas(next_weight) > self.desired(NEW)
        quiet_for = self.fleet.ready_s if grows else self.scn.routing.flip_s
        return QuietTimeout(self.env, seconds, quiet_for) if quiet_for > 0 else self.env.timeout(seconds)

    # ---- routing ----

    def switch(self, weight: float) -> Gen:
        """Move user traffic to `weight` (0-1) on the new version through the router or selector."""
        yield self.env.timeout(self.scn.routing.flip_s)
        self.world.set_weight(weight)
        if self.record:  # formatting costs more than the rest of the step when no one keeps the log
            self.log("weight", f"{weight * 100:g}%")

    def set_canary_weight(self, pct: float) -> Gen:
        """Canary at pct%: with a router, scale the canary to its share and shift weight; without one,
        approximate the weight with replica counts as Argo Rollouts does."""
        if self.world.mode == "router":
            need = self._canary_replicas(pct)
            if need > self.desired(NEW) or self.world.ready[NEW] < need:
                yield from self.scale_to(NEW, max(need, self.desired(NEW)))
            yield from self.switch(pct / 100.0)
            if self.dynamic_stable:
                self._shrink_stable(pct)
            return
        n, surge = self.fleet.replicas, self.scn.routing.max_surge
        canary, stable = routing.argo_replica_split(n, round(pct), surge)
        yield from self.scale_to(NEW, canary)  # new pods first, so capacity never dips
        yield from self.scale_to(STABLE, stable)
        self.log("weight", f"{pct:g}% asked, {canary}/{canary + stable} replicas")

    def set_header_route(self, segments: tuple[str, ...]) -> Gen:
        """Argo's setHeaderRoute: the router sends every user of these segments to the canary (none:
        the route removed), taking `flip_s` to reach every proxy, as a weight change does."""
        yield self.env.timeout(self.scn.routing.flip_s)
        self.world.set_header_route(segments)
        self.log("weight", f"header route: {', '.join(segments) or 'removed'}")

    def set_mirror_route(self, percentage: float, segments: tuple[str, ...]) -> Gen:
        """Argo's setMirrorRoute: the router copies `percentage` of the matched requests to the canary
        (0: the route removed), taking `flip_s` to reach every proxy, as a weight change does."""
        yield self.env.timeout(self.scn.routing.flip_s)
        self.world.set_mirror(percentage, segments)
        what = f"{percentage:g}% of {', '.join(segments) or 'all'}" if percentage > 0 else "removed"
        self.log("weight", f"mirror route: {what}")

    def stop_shadow(self) -> None:
        """Mirroring and load tests end at once on an abort or a promotion: Argo resets its managed
        routes with the weight, Flagger runs no more rollout webhooks."""
        if self.world.mirror or self.world.load_rps:
            self.world.set_mirror(0.0)
            self.world.set_load_test(0.0)
            self.log("weight", "shadow traffic stopped")

    def _shrink_stable(self, pct: float) -> None:
        """dynamicStableScale, once traffic has moved: the stable set down to its share of the fleet,
        ceil(replicas × (100 − weight) / 100), as Argo's CalculateReplicaCountsForTrafficRoutedCanary
        sizes it; the pods leave without holding up the rollout."""
        keep = math.ceil(self.fleet.replicas * (100.0 - pct) / 100.0 - 1e-9)
        if self.desired(STABLE) > keep:
            self.env.process(self.stop(STABLE, self.desired(STABLE) - keep))

    def _canary_replicas(self, pct: float) -> int:
        """Replicas a canary behind a router needs to serve pct% of traffic."""
        n = self.fleet.replicas
        return n if pct >= 100 else max(1, routing.canary_replicas_for_router(n, pct))

    def scale_canary(self, replicas: int) -> Gen:
        """setCanaryScale: canary replicas decoupled from its weight (only meaningful with a router)."""
        yield from self.scale_to(NEW, replicas)
        self.log("scale", f"canary at {replicas} replicas")

    def promote(self, scale_down_delay_s: float) -> Gen:
        """All traffic to the new version; the old fleet goes after the scale-down delay."""
        yield from self.set_canary_weight(100.0)
        self.log("step", "promoted")
        if self.desired(STABLE):
            self.stop_later(STABLE, scale_down_delay_s)

    def route_back(self) -> Gen:
        """Send every user back to a stable fleet, starting one first if it was scaled away (an abort
        removes a header route with the weight, as Argo resets its managed routes)."""
        self.stop_shadow()
        yield from self.scale_to(STABLE, self.fleet.replicas)
        if self.world.mode == "router":
            if self.world.header:  # the header route goes with the weight, in the same router update
                yield self.env.timeout(self.scn.routing.flip_s)
                self.world.set_header_route(())
                if self.world.weight > 0:
                    self.world.set_weight(0.0)
                    self.log("weight", "0%")
            elif self.world.weight > 0:
                yield from self.switch(0.0)
        else:
            yield from self.stop(NEW)

    def retire_new(self, delay_s: float = 0.0) -> Gen:
        """Remove the new version's replicas once no traffic needs them (after a delay)."""
        if delay_s:
            yield self.env.timeout(delay_s)
        yield from self.stop(NEW)

    # ---- judgment ----

    def review(self, judge_name: str, lookback_s: float, why: str) -> Gen:
        """An operator looks at the dashboards after their decision delay and calls it."""
        yield self.env.timeout(self.humans.delay("decision_s", self.hour()))
        judge = self.judge(judge_name)
        assert isinstance(judge, GateJudge)
        lookback, now = max(lookback_s, judge.lookback_s or 0.0), self.env.now
        run = self.look_run()
        if self.plan is not None:  # a plan's run: the review goes on; which windows it read is what counts
            k_from, k_to = self.world.tape.look_windows([now], lookback)
            self.plan.append(PlannedLook(judge, k_from, k_to, run.n, review=True))
            forced = None if self.plan_statuses is None else self.plan_statuses.get((run.n, k_to[0]))
            if forced is not None:  # a replayed failed look and the person's call on it (`arrays.faulted`)
                self.humans.waves_through(0.0)  # their draw, so that later delays come out as theirs
                if forced == "operator":
                    self.detect("operator")
                    return False
            return True
        # One look taken as analyses take many (`measure_many`), so that the array engine, which
        # works every look out from aggregates, draws its percentiles in the same order.
        verdict = judging.measure_many(judge, self.world, [now], lookback, run.rng).verdict(0)
        self.log("review", f"{why}: {verdict.status}", verdict)
        if verdict.failed and not self.humans.waves_through(verdict.score):
            self.detect("operator")
            return False
        if verdict.failed:
            self.log("review", "waved through a marginal regression")
        return True

    def wait_for_promotion(self, judge_name: str, lookback_s: float) -> Gen:
        """An indefinite pause: a person promotes after their decision delay and a look at the dashboards."""
        return (yield from self.review(judge_name, lookback_s, "manual gate"))


def interruptible(gen: Gen) -> Gen:
    try:
        return (yield from gen)
    except simpy.Interrupt:
        return None
