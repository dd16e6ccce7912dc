"""The service during one deploy: the state the control plane sets, and the marks metrics are read from.

Traffic is split between two slots. While a binary rolls out they are the stable and the new
binary; during a feature-flag ramp both run the new binary and the slots are flag-off and flag-on
users. Each change records a snapshot on the traffic tape (see `tape`); the tape draws traffic
lazily from the snapshots. The world also stamps the moments metrics are measured from: when the
faulty code first and fully reached users, when the release reached everyone, detection, recovery.
Noisy neighbours' episodes are replayed into it by a SimPy process (`noise_process`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from ..core.held import held_for
from .exogenous import Episode, Release, TrafficDraw
from .fleet import cold_multiplier
from .ledger import Ledger
from .routing import Background, RoutingFixed, RoutingState, route
from .serving import NEW, STABLE, ServingFixed
from .tape import DeployEnvironment, ExogenousTimeout, Tape
from .telemetry import Telemetry

if TYPE_CHECKING:
    from ..config.scenario import Scenario

__all__ = ["NEW", "STABLE", "Marks", "World", "noise_process"]
_EPS = 1e-9
_new_state = tuple.__new__  # a NamedTuple made from its fields in order, without its constructor


@dataclass
class Marks:
    """Moments the per-deploy metrics are measured from, stamped as state changes."""

    new_started_at: float | None = None  # first replica of the new binary began to start
    first_serving_at: float | None = None  # the new binary first served a user request
    first_reach_at: float | None = None  # the faulty code path first served a user request
    faulty_full_at: float | None = None  # the faulty code path first served every user
    full_at: float | None = None  # the release first reached every user
    sequence_done_at: float | None = None  # the last deploy of the release's plan reached everyone
    detected_at: float | None = None
    recovered_at: float | None = None
    faulty_share_at_detection: float = math.nan
    extra_instance_s: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)  # (t, share of users on slot 1)


def make_routing_fixed(scn: Scenario, release: Release, uses_flag: bool = False) -> RoutingFixed:
    """What routing reads that stays put while a release is deployed (`routing.RoutingFixed`)."""
    shares = scn.traffic.shares
    return RoutingFixed(
        tuple(float(scn.routing.canary_bias.segments.get(s, 1.0)) for s in scn.traffic.segment_names),
        tuple(shares.tolist()),
        scn.fleet.capacity_rps,
        scn.routing.synthetic,
        scn.migration.touch_share,
        uses_flag,
        release.layer == "flag" and uses_flag,
        release.segment if release.kind == "segment_bug" else None,
        release.bad,
        float(np.ones(len(shares)) @ shares),
        scn.traffic.users.activity_shape,
    )


def make_serving_fixed(scn: Scenario, release: Release) -> ServingFixed:
    """What serving reads that stays put while a release is deployed (`serving.ServingFixed`)."""
    S = len(scn.traffic.shares)
    return ServingFixed(
        release.failure_probability(S),
        release.touches(S).astype(np.int64),
        release.leak_per_s,
        release.latency_profile > 0,
        scn.traffic.rate_rps / (scn.fleet.replicas * scn.fleet.capacity_rps),
        scn.fleet.workers,
    )


#: `routing_fixed` and `serving_fixed` by scenario (held, so that its id stays its own; a scenario is
#: frozen), then by what of the release they read: every world of a batch asked for them again,
#: though a good release's are the same deploy after deploy (a bad one's, strategy after strategy).
_FIXED: OrderedDict[int, tuple[Scenario, dict[tuple[Any, ...], Any]]] = OrderedDict()
_KEEP, _KEEP_RELEASES = 8, 256


def _kept(scn: Scenario) -> dict[tuple[Any, ...], Any]:
    kept: dict[tuple[Any, ...], Any] = held_for(_FIXED, scn, _KEEP, dict)
    if len(kept) >= _KEEP_RELEASES:  # bad releases' severities are each their own: start again
        kept.clear()
    return kept


def routing_fixed(scn: Scenario, release: Release, uses_flag: bool = False) -> RoutingFixed:
    """`make_routing_fixed`, made once per scenario and what it reads of the release (a record of
    plain values: nothing in it can change)."""
    kept = _kept(scn)
    key = ("routing", uses_flag, release.layer, release.kind, release.segment, release.bad)
    fixed: RoutingFixed | None = kept.get(key)
    if fixed is None:
        fixed = kept[key] = make_routing_fixed(scn, release, uses_flag)
    return fixed


def serving_fixed(scn: Scenario, release: Release) -> ServingFixed:
    """`make_serving_fixed`, made once per scenario and what it reads of the release; its arrays are
    read-only, since every world of those shares them."""
    kept = _kept(scn)
    key = ("serving", release.bad, release.kind, release.severity, release.segment)
    fixed: ServingFixed | None = kept.get(key)
    if fixed is None:
        fixed = kept[key] = make_serving_fixed(scn, release)
        fixed.fault_p.flags.writeable = False
        fixed.fault_touch.flags.writeable = False
    return fixed


def carried(served: np.ndarray, into: np.ndarray, windows: int) -> np.ndarray:
    """Each row of `served` (windows, columns) added into row `into` of `windows` rows of zeros, one
    after the other: `np.add.at` into zeros, bit for bit (a weighted bincount adds its weights in
    the same order, from zero), at a tenth of its cost."""
    if not len(served):  # (a bincount of nothing is of integers)
        return np.zeros((windows, served.shape[1]))
    return np.stack(
        [np.bincount(into, weights=served[:, c], minlength=windows) for c in range(served.shape[1])], axis=1
    )


def leak_from(state: RoutingState, leaks: bool, started: float | None) -> float:
    """When a state's leak began (NaN: none in force): a leaking binary leaks while it is up."""
    return started if leaks and state.armed and state.up[NEW] and started is not None else math.nan


class World:
    def __init__(
        self,
        env: DeployEnvironment,
        scn: Scenario,
        traffic: TrafficDraw,
        release: Release,
        rng: np.random.Generator,
        uses_flag: bool = False,
    ) -> None:
        self.env, self.scn, self.traffic, self.release, self.rng = env, scn, traffic, release, rng
        self.window_s = scn.run.window_s
        self.horizon_s = scn.run.horizon_s
        self.spec_replicas = scn.fleet.replicas
        self.capacity = scn.fleet.capacity_rps
        self.mode = scn.routing.mode
        self.shares = scn.traffic.shares
        self._fixed = routing_fixed(scn, release, uses_flag)
        self._leaks = bool(release.leak_per_s)
        self._cold = scn.fleet.cold  # cold replicas are tracked (a frozen setting: read once)
        self.telemetry = Telemetry(
            traffic.windows, scn.fleet.latency, release.latency_profile, release.severity, rng
        )
        serving = serving_fixed(scn, release)
        self.tape = Tape(
            env,
            traffic.counts,
            serving,
            self.telemetry,
            rng,
            window_s=self.window_s,
            horizon_s=self.horizon_s,
        )
        # Reads go straight to the tape: what monitoring shows is drawn there.
        self.ensure, self.stats, self.stats_many, self.series, self.counts, self.slow_counts = (
            self.tape.ensure,
            self.tape.stats,
            self.tape.stats_many,
            self.tape.series,
            self.tape.counts,
            self.tape.slow_counts,
        )
        self.up = [True, False]  # by slot, like ready and instances
        self.ready = [self.spec_replicas, 0]
        self.instances = [self.spec_replicas, 0]
        self.weight = 0.0  # router weight of the new binary, 0..1
        self.header: tuple[float, ...] = ()  # Argo's setHeaderRoute: segments sent to the canary
        self.mirror: tuple[float, ...] = ()  # per segment, the share of requests copied to the canary
        self.load_rps = 0.0  # a load test's request rate on the canary
        self._onset_begun = False  # the fault's onset clock is running (a user or a copy met it)
        self.fault_active = False
        self.armed = True  # this deploy carries the release's behaviour (and so its fault)
        self.uses_flag = uses_flag  # the release's path ships behind a flag, off until the ramp
        self.phase = "binary"  # or "flag": both slots run the new binary, split by the flag
        self.flag_share = 0.0
        self.schema_broken = False
        self.background = background((), scn.fleet.error_rate)
        # Cold replicas (fleet.cold_latency_factor): when each ready replica turned ready, by slot; the
        # stable fleet has run for long. Kept only when the setting is on.
        self.ready_at: list[list[float]] = [[-math.inf] * self.spec_replicas, []]
        self.cold_lat = (1.0, 1.0)  # each slot's mean latency multiplier from cold replicas
        self.experiment_instances = 0  # an Argo experiment's replicas (cost only: its own tape serves them)
        self._cooling: simpy.Process | None = None
        self._finished = False
        self.marks = Marks()
        self._inst_t = 0.0
        self.states: list[tuple[float, RoutingState]] | None = None
        self._cookies = Cookies(scn, traffic) if scn.routing.session_affinity else None
        self._route()

    def keep_states(self) -> None:
        """Keep every state from now on, with when it was set (a plan's run: `sim.engine.arrays`)."""
        self.states = [(self.env.now, self._state)]

    # ---- the tape, for readers ----

    @property
    def routing_fixed(self) -> RoutingFixed:
        """What routing reads that stays put for this world's life."""
        return self._fixed

    @property
    def ledger(self) -> Ledger:
        """The tape's ledger (built on first use: a plan's run never draws)."""
        return self.tape.ledger

    @property
    def materialized(self) -> float:
        return self.tape.materialized

    @property
    def observers(self) -> set[simpy.Process]:
        return self.tape.observers

    @property
    def rewind_listeners(self) -> list[Callable[[int], None]]:
        return self.tape.rewind_listeners

    @property
    def generation(self) -> int:
        return self.tape.generation

    @property
    def limit_s(self) -> float:
        """How far traffic is drawn: the horizon, or further once extended."""
        return self.tape.horizon_s

    def burning(self, budget: float, span_s: float) -> bool:
        """Whether the whole service failed at least `budget` of its user requests over the complete
        windows of the last `span_s` seconds: what an on-call sees on the SLO dashboard now."""
        k_from, k_to = self.tape.windows(self.env.now - span_s, self.env.now)
        tel = self.telemetry
        user = float(tel.svc_user[k_from:k_to].sum())
        return user > 0 and float(tel.svc_err[k_from:k_to].sum()) >= budget * user

    @property
    def finished(self) -> bool:
        """Whether the run has ended (or a later phase's world took over)."""
        return self._finished

    def finish(self, t: float) -> None:
        """End the run at t: draw the tape to it and settle the cost account."""
        self._finished = True
        self.tape.finish(t)
        self._account_instances(min(t, self.limit_s))

    def extend(self, tail: TrafficDraw) -> None:
        """Follow on past the horizon in the same windows, through `tail`'s windows after ours."""
        if self._cookies is not None:
            self._cookies.rate = tail.user_rate
        n = len(self.tape.rem)
        self.tape.extend(tail.counts[n:])
        self.telemetry.extend(len(tail.counts) - n)

    def carry_over(self, before: World, t: float) -> None:
        """Take over from the world of an earlier phase, ended at t: its state, its marks and what
        its service served before t (the history this phase's alerts look back on)."""
        self.ready, self.up, self.instances = list(before.ready), list(before.up), list(before.instances)
        self.weight, self.fault_active, self.armed = before.weight, before.fault_active, before.armed
        self.header, self.mirror, self.load_rps = before.header, before.mirror, before.load_rps
        if self._cookies is not None and before._cookies is not None:
            self._cookies.exposure, self._cookies.since = before._cookies.exposure, t
        self.mode, self.phase, self.flag_share = before.mode, before.phase, before.flag_share
        self.schema_broken = before.schema_broken
        self.ready_at, self.cold_lat = [list(r) for r in before.ready_at], before.cold_lat
        self.experiment_instances = before.experiment_instances
        before._finished = True
        self.marks = dataclasses.replace(before.marks, history=list(before.marks.history))
        self._inst_t = t
        self.tape.begin_at(t)
        self._route()
        W, w = self.window_s, before.window_s
        served = before.telemetry.svc[: math.ceil(t / w - _EPS)]
        # Each earlier window goes to the window of ours its start falls in.
        into = np.minimum(
            (np.arange(len(served)) * w / W + _EPS).astype(np.int64), len(self.telemetry.svc) - 1
        )
        self.telemetry.carry(carried(served, into, len(self.telemetry.svc)))
        m = self.marks
        if self.release.bad and not self.fault_active and m.first_reach_at is not None:
            self._onset_begun = True
            self.env.process(self._onset(at=m.first_reach_at + self.release.onset_s))
        self._start_cooling()

    # ---- state changes, each at env.now ----

    def set_header_route(self, segments: tuple[str, ...]) -> None:
        """Argo's setHeaderRoute: every user of these segments to the canary, whatever the weight;
        none: the route removed."""
        names = [s.name for s in self.scn.traffic.segments]
        header = tuple(float(n in segments) for n in names) if segments else ()
        self._change(lambda: setattr(self, "header", header))

    def reroute(self) -> None:
        """Route again with nothing set: what the state's routing reads has moved on (a cookie)."""
        self._change(lambda: None)

    def set_mirror(self, percentage: float, segments: tuple[str, ...] = ()) -> None:
        """A mirror route: `percentage` of the requests of these segments (none named: every
        segment) copied to the canary, their responses thrown away; 0: the route removed."""
        names = [s.name for s in self.scn.traffic.segments]
        p = percentage / 100.0
        mirror = tuple(p * float(not segments or n in segments) for n in names) if p > 0 else ()
        self._change(lambda: setattr(self, "mirror", mirror))

    def set_load_test(self, rps: float) -> None:
        """A load test's requests per second on the canary (0: stopped)."""
        self._change(lambda: setattr(self, "load_rps", rps))

    def set_weight(self, weight: float) -> None:
        now = self._accrue()
        self.weight = weight
        self._changed(now)

    def set_replicas(self, version: int, ready: int | None = None, instances: int | None = None) -> None:
        """Ready replicas take traffic (a version is up while it has any); instances cost money."""
        if instances is not None:  # cost only: traffic does not see it
            self._account_instances(self.env.now)
            if version == NEW and instances > 0 and self.marks.new_started_at is None:
                self.marks.new_started_at = self.env.now
            self.instances[version] = instances
        if ready is not None:
            now = self._accrue()
            if self._cold:
                self._ready_changed(version, ready)
            self.ready[version] = ready
            self.up[version] = ready > 0
            self._changed(now)
            if self._cold:
                self._start_cooling()

    def set_experiment_instances(self, instances: int) -> None:
        """An Argo experiment's replicas: they cost like any instance (their traffic is their own tape's)."""
        self._account_instances(self.env.now)
        self.experiment_instances = instances

    def _ready_changed(self, version: int, ready: int) -> None:
        """New ready replicas turn ready now; a scale-down deletes the replicas ready for the
        shortest time first (Kubernetes' ReplicaSet controller ranks pods so: `ActivePods.Less` in
        pkg/controller/controller_utils.go)."""
        at = self.ready_at[version]
        if ready > len(at):
            at.extend([self.env.now] * (ready - len(at)))
        else:
            del at[ready:]  # kept in the order they turned ready: the newest are last
        self.cold_lat = self._cold_now(self.env.now)

    def _cold_now(self, now: float) -> tuple[float, float]:
        """Each slot's cold multiplier until the next window's edge, taken at the middle of that
        stretch (the linear decay's mean over it)."""
        W = self.window_s
        mid = (now + (math.floor(now / W + _EPS) + 1) * W) / 2
        fleet = self.scn.fleet
        lat = [
            cold_multiplier(np.array(at), mid, fleet.cold_latency_factor, fleet.cold_s)
            for at in self.ready_at
        ]
        return lat[0], lat[1]

    def _still_cold(self, now: float) -> bool:
        newest = max((at[-1] for at in self.ready_at if at), default=-math.inf)
        return now - newest < self.scn.fleet.cold_s

    def _start_cooling(self) -> None:
        if self._cold and self._cooling is None and self._still_cold(self.env.now):
            self._cooling = self.env.process(self._cool())

    def _cool(self) -> Generator[Any, Any, None]:
        """While some replica is cold, its slot's latency multiplier is set anew at every window's edge."""
        W = self.window_s
        while not self._finished:
            now = self.env.now
            lat = self._cold_now(now)
            if lat != self.cold_lat:
                self._change(functools.partial(setattr, self, "cold_lat", lat))
            if not self._still_cold(now):
                break
            yield self.env.timeout((math.floor(now / W + _EPS) + 1) * W - now)
        self._cooling = None

    def set_noise(self, episodes: tuple[Episode, ...]) -> None:
        def apply() -> None:
            self.background = background(episodes, self.scn.fleet.error_rate)

        self._change(apply)

    def activate_fault(self) -> None:
        now = self._accrue()
        self.fault_active = True
        self._changed(now)

    def set_flag(self, share: float) -> None:
        """The flag's percentage (0-1); the first call starts the flag phase."""

        def apply() -> None:
            self.phase = "flag"
            self.flag_share = share

        self._change(apply)

    def end_flag_phase(self) -> None:
        """Back to routing binaries: every user on the new one (its rollback comes next)."""

        def apply() -> None:
            self.phase = "binary"
            self.flag_share = 0.0
            self.weight = 1.0

        self._change(apply)

    def break_schema(self) -> None:
        self._change(lambda: setattr(self, "schema_broken", True))

    def restore_schema(self) -> None:
        self._change(lambda: setattr(self, "schema_broken", False))

    def adopt_new(self, armed: bool) -> None:
        """Between the deploys of a plan: the new fleet becomes the stable one."""

        def apply() -> None:
            self.ready = self.ready[::-1]
            self.up = self.up[::-1]
            self.instances = self.instances[::-1]
            self.ready_at = self.ready_at[::-1]
            self.cold_lat = (self.cold_lat[1], self.cold_lat[0])
            self.weight = 0.0
            self.armed = armed
            if armed:
                self.marks.new_started_at = None

        self._change(apply)

    def mark_detected(self) -> None:
        if self.marks.detected_at is None:
            self.marks.detected_at = self.env.now
            self.marks.faulty_share_at_detection = self.faulty_reach if self.release.bad else math.nan
            self._check_recovered()

    def _change(self, apply: Callable[[], None]) -> None:
        # No instance count changes here (`set_replicas` accounts for those): the cost account is
        # settled only as instances change, so it adds the same terms whatever else changes between.
        now = self._accrue()
        apply()
        self._changed(now)

    # The two halves of `_change`, for the frequent changes (weights, replicas, the fault's onset)
    # that set a field or two in place rather than through a closure.
    def _accrue(self) -> float:
        """Before a change at env.now (returned): the cookie's spread up to now, at the old state."""
        now = self.env.now
        if self._cookies is not None:
            self._cookies.accrue(now)
        return now

    def _changed(self, now: float) -> None:
        """After a change at `now`: route the new state and stamp the marks it reaches."""
        self._route()
        self._stamp(now)

    # ---- routing and bookkeeping ----

    def _route(self) -> None:
        # Built as a plain tuple of the fields in order: RoutingState's own constructor (keywords,
        # defaults) costs more than the rest of a cache hit; the record is the same.
        state: RoutingState = _new_state(
            RoutingState,
            (
                self.mode,
                self.phase,
                self.flag_share,
                self.weight,
                (self.ready[STABLE], self.ready[NEW]),
                (self.up[STABLE], self.up[NEW]),
                self.fault_active,
                self.armed,
                self.schema_broken,
                math.nan,
                self.header,
                (),
                self.mirror,
                self.load_rps,
            ),
        )
        if self._cookies is not None:
            state = self._cookies.place(state, self._fixed)
            if self._cookies.active:
                self._cookies.keep_fresh(self)
        if self._leaks:
            state = state._replace(leak_from=leak_from(state, True, self.marks.new_started_at))
        self._state = state
        states = self.states
        if states is not None:  # a plan's run keeps its states (`sim.engine.arrays`)
            now = self.env.now
            if states and states[-1][0] >= now - _EPS:
                states[-1] = (states[-1][0], state)
            else:
                states.append((now, state))
        bg = self.background
        cold = self.cold_lat
        if cold != (1.0, 1.0):
            bg = bg._replace(lat=(bg.lat[0] * cold[0], bg.lat[1] * cold[1]))
        routed = route(self._fixed, state, bg)
        self.down, self.seg_share, self._seg_user_share = routed.down, routed.seg_share, routed.user_share
        self.eff_weight, self.faulty_reach, self.released = routed.weight, routed.reach, routed.released
        self.shadowed = routed.shadowed
        self.tape.record(routed.snapshot)

    @property
    def user_share_new(self) -> float:
        """Share of user traffic in slot 1 (the new binary, or flag-on users in a flag ramp)."""
        return 0.0 if self.down else self._seg_user_share

    def _stamp(self, now: float) -> None:
        m = self.marks
        share = 0.0 if self.down else self._seg_user_share  # `user_share_new`
        if not m.history or m.history[-1][1] != share:
            m.history.append((now, share))
        # Onset counts from the first user request the faulty path serves; reach ignores onset.
        if share > 0 and m.first_serving_at is None and self.phase == "binary":
            m.first_serving_at = now
        if self.faulty_reach > 0 and m.first_reach_at is None:
            m.first_reach_at = now
            self._begin_onset()
        if self.shadowed:  # a copy or a load test's request runs the faulty path: its clock starts too
            self._begin_onset()
        if self.faulty_reach >= 1.0 - _EPS and m.faulty_full_at is None:
            m.faulty_full_at = now
        if self.released >= 1.0 - _EPS and m.full_at is None:
            m.full_at = now
        self._check_recovered()

    def _check_recovered(self) -> None:
        m = self.marks
        if m.detected_at is not None and m.recovered_at is None and not self.down and self.faulty_reach == 0:
            m.recovered_at = self.env.now

    def _begin_onset(self) -> None:
        if not self._onset_begun:
            self._onset_begun = True
            self.env.process(self._onset())

    def _onset(self, at: float | None = None) -> Any:
        delay = self.release.onset_s if at is None else max(0.0, at - self.env.now)
        if delay > 0:
            yield self.env.timeout(delay)
        self.activate_fault()

    def _account_instances(self, now: float) -> None:
        extra = max(0, sum(self.instances) + self.experiment_instances - self.spec_replicas)
        self.marks.extra_instance_s += extra * (now - self._inst_t)
        self._inst_t = now


class Cookies:
    """Flagger's session affinity over a deploy: how far the cookie has spread, as an exposure per
    segment (see `routing.cookie_shares`), accrued from the expected user traffic at the weight in
    force, and reset when the weight leaves (0, 1) — a rollback or a promotion removes the cookie
    route, and Flagger then expires the cookie (`getSessionAffinityRouteRules` in pkg/router/istio.go)."""

    def __init__(self, scn: Scenario, traffic: TrafficDraw) -> None:
        self.window_s = scn.run.window_s
        # The split is moved on once a minute (in whole windows), each time to the spread at the
        # middle of the minute ahead: a second-order error against moving it with every request.
        self.step_s = self.window_s * max(1, math.ceil(60.0 / self.window_s - _EPS))
        self._refresh: simpy.Process | None = None
        self.population = float(scn.traffic.users.population)
        self.rate = traffic.user_rate  # expected user requests per second, by window
        self.exposure = np.zeros(len(scn.traffic.shares))
        self.since = 0.0  # accrued up to here
        self.weight = np.zeros(len(scn.traffic.shares))  # per segment, since `since`
        self.active = False  # a cookie route is in force

    def accrue(self, now: float) -> None:
        """Add the exposure of [since, now) at the weights in force over it."""
        if self.active and now > self.since:
            self.exposure = self.exposure + self.weight * self._requests(self.since, now) / self.population
        self.since = now

    def _requests(self, t0: float, t1: float) -> float:
        """Expected user requests of the whole service over [t0, t1)."""
        W, rate = self.window_s, self.rate
        k0, k1 = int(t0 // W), int(t1 // W)
        last = len(rate) - 1
        if k0 == k1:
            return float(rate[min(k0, last)]) * (t1 - t0)
        inner = float(rate[k0 + 1 : min(k1, last + 1)].sum()) * W
        return (
            float(rate[min(k0, last)]) * ((k0 + 1) * W - t0)
            + inner
            + float(rate[min(k1, last)]) * (t1 - k1 * W)
        )

    def place(self, state: RoutingState, fixed: RoutingFixed) -> RoutingState:
        """The state with the cookie's spread in it; the weights it accrues at from now on."""
        w = state.weight if state.mode == "router" else 0.0
        self.active = state.phase == "binary" and state.up[NEW] and state.up[STABLE] and 0.0 < w < 1.0
        if not self.active:
            self.exposure = np.zeros_like(self.exposure)
            return state
        seg = np.minimum(1.0, w * np.array(fixed.bias))
        self.weight = np.maximum(seg, np.array(state.header)) if state.header else seg
        now = self.since
        upto = self._next_step(now)
        per_user = self.weight / self.population
        # Traffic at the spread of the middle of the stretch; users as the stretch leaves them.
        middle = self.exposure + per_user * self._requests(now, (now + upto) / 2)
        ahead = self.exposure + per_user * self._requests(now, upto)
        return state._replace(cookie=(*middle.tolist(), *ahead.tolist()))

    def _next_step(self, now: float) -> float:
        return self.step_s * (math.floor(now / self.step_s + _EPS) + 1)

    def keep_fresh(self, world: World) -> None:
        """Have the split moved on while the cookie route stays in force."""
        if self._refresh is None or not self._refresh.is_alive:
            self._refresh = world.env.process(self._moving(world))

    def _moving(self, world: World) -> Generator[Any, Any, None]:
        """Re-route at every step while a cookie route is in force: the cookie spreads with every
        request, so the split moves though the control plane holds still."""
        env = world.env
        while self.active:
            yield ExogenousTimeout(env, self._next_step(env.now) - env.now)
            if self.active:
                world.reroute()


@functools.lru_cache(maxsize=1024)
def background(episodes: tuple[Episode, ...], base_error: float) -> Background:
    """What each slot meets from the noisy neighbours' episodes under way (in the order they began).
    Asked again and again for the same ones (no episode at all, most often), so each is worked out once."""
    hits = [[e for e in episodes if e.hits(v)] for v in (STABLE, NEW)]
    lat_s, lat_n = (float(math.prod(e.latency_factor for e in hit)) for hit in hits)
    err_s, err_n = (1.0 - math.prod(1.0 - e.error_rate for e in hit) for hit in hits)
    bg_s, bg_n = (1.0 - (1.0 - base_error) * (1.0 - e) for e in (err_s, err_n))
    return Background((lat_s, lat_n), (bg_s, bg_n))


def noise_changes(episodes: tuple[Episode, ...]) -> list[tuple[float, tuple[Episode, ...]]]:
    """Each instant an episode begins or ends, and the episodes under way from then (in the order
    they began): what `noise_process` replays. Changes before t = 0 take effect at 0."""
    if not episodes:
        return []
    if len(episodes) == 1 and episodes[0].start < episodes[0].end:  # the usual deploy's: no sort needed
        e = episodes[0]
        return [(max(e.start, 0.0), episodes), (max(e.end, 0.0), ())]
    return _noise_changes_sorted(episodes)


def _noise_changes_sorted(episodes: tuple[Episode, ...]) -> list[tuple[float, tuple[Episode, ...]]]:
    """`noise_changes` of any episodes, by sorting their beginnings and ends."""
    changes = sorted(
        [(e.start, 1, e) for e in episodes] + [(e.end, 0, e) for e in episodes], key=lambda c: (c[0], c[1])
    )
    out: list[tuple[float, tuple[Episode, ...]]] = []
    active: list[Episode] = []
    for t, starting, ep in changes:
        if starting:
            active.append(ep)
        else:
            active.remove(ep)
        out.append((max(t, 0.0), tuple(active)))
    return out


def noise_process(
    env: simpy.Environment, episodes: tuple[Episode, ...], world: World
) -> Generator[Any, Any, None]:
    """Replay the episodes: at each start or end, hand the world the set of episodes under way."""
    for t, active in noise_changes(episodes):
        if t > env.now:
            yield ExogenousTimeout(env, t - env.now)
        world.set_noise(active)
