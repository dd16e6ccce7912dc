"""The service during one deploy: the state the control plane sets, and the traffic drawn from it.

Time moves only through SimPy events and state changes only at events. A change costs nothing but
a snapshot: traffic is drawn lazily, when someone reads it, for every stretch since the last draw
at once — each piece of a window under the snapshot in force then (see `serving`). A read draws on
to the next event that may change the state; if an observer's finding changes it sooner, the
world rewinds to the start of that window and draws again. Reads see only complete windows before
now (a monitoring lag of at most one window), so nothing a decision was based on is ever redrawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from . import routing
from .faults import Release
from .ledger import Ledger
from .noise import Episode
from .serving import NEW, STABLE, Snapshot, serve
from .telemetry import Stats, Telemetry
from .traffic import TrafficDraw

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["NEW", "STABLE", "Marks", "World"]
_EPS = 1e-9


@dataclass
class Marks:
    """Moments the per-deploy metrics are measured from, stamped as state changes."""

    new_started_at: float | None = None  # first replica of the new version began to start
    first_serving_at: float | None = None  # the new version first got user traffic
    full_at: float | None = None  # every user request first went to the new version
    detected_at: float | None = None
    recovered_at: float | None = None
    faulty_share_at_detection: float = math.nan
    extra_instance_s: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)  # (t, user share on new)


class World:
    def __init__(
        self,
        env: simpy.Environment,
        scn: Scenario,
        traffic: TrafficDraw,
        release: Release,
        rng: np.random.Generator,
    ) -> None:
        self.env, self.scn, self.traffic, self.release, self.rng = env, scn, traffic, release, rng
        self.window_s = scn.run.window_s
        self.horizon_s = scn.run.horizon_s
        self.spec_replicas = scn.fleet.replicas
        self.capacity = scn.fleet.capacity_rps
        self.mode = scn.routing.mode
        self.shares = scn.traffic.shares
        self.bias = np.array(
            [scn.routing.canary_bias.segments.get(s, 1.0) for s in scn.traffic.segment_names]
        )
        self.rem = traffic.counts.copy()  # requests of each window not yet drawn
        n = traffic.windows
        self.ledger = Ledger(n + 64, len(self.shares))
        self.telemetry = Telemetry(n, scn.fleet.latency, release.latency_profile, release.severity, rng)
        self.materialized = 0.0
        self.generation = 0
        self.rewind_listeners: list[Callable[[int], None]] = []
        self.observers: set[simpy.Process] = set()
        self.ref_util = scn.traffic.rate_rps / (self.spec_replicas * self.capacity)
        self.fault_p = release.failure_probability(len(self.shares))
        self.fault_touch = release.touches(len(self.shares)).astype(np.int64)
        self.up = np.array([True, False])
        self.ready = np.array([self.spec_replicas, 0])
        self.instances = np.array([self.spec_replicas, 0])
        self.weight = 0.0  # router weight of the new version, 0..1
        self.fault_active = False
        self.noise_lat = np.ones(2)
        self.noise_err = np.zeros(2)
        self.marks = Marks()
        self._inst_t = 0.0
        self._segments: list[tuple[float, Snapshot]] = []  # (start, state) in time order; the last is open
        self._route()

    # ---- state changes, each at env.now ----

    def set_weight(self, weight: float) -> None:
        self._change(lambda: setattr(self, "weight", weight))

    def set_replicas(self, version: int, ready: int | None = None, instances: int | None = None) -> None:
        """Ready replicas take traffic (a version is up while it has any); instances cost money."""
        if instances is not None:  # cost only: traffic does not see it
            self._account_instances(self.env.now)
            if version == NEW and instances > 0 and self.marks.new_started_at is None:
                self.marks.new_started_at = self.env.now
            self.instances[version] = instances
        if ready is not None:

            def apply() -> None:
                self.ready[version] = ready
                self.up[version] = ready > 0

            self._change(apply)

    def set_noise(self, episodes: tuple[Episode, ...]) -> None:
        def apply() -> None:
            for v in (STABLE, NEW):
                hit = [e for e in episodes if e.hits(v)]
                self.noise_lat[v] = math.prod(e.latency_factor for e in hit)
                self.noise_err[v] = 1.0 - math.prod(1.0 - e.error_rate for e in hit)

        self._change(apply)

    def activate_fault(self) -> None:
        self._change(lambda: setattr(self, "fault_active", True))

    def mark_detected(self) -> None:
        if self.marks.detected_at is None:
            self.marks.detected_at = self.env.now
            self.marks.faulty_share_at_detection = self.user_share_new if self.release.bad else math.nan
            self._check_recovered()

    def _change(self, apply: Callable[[], None]) -> None:
        now = self.env.now
        if self.materialized > now + _EPS:
            self._rewind(now)
        self._account_instances(now)
        apply()
        self._route()
        self._stamp(now)

    # ---- routing and bookkeeping ----

    def _route(self) -> None:
        self.down = not (self.up[STABLE] or self.up[NEW])
        if not self.up[NEW]:
            w = 0.0
        elif not self.up[STABLE]:
            w = 1.0
        elif self.mode == "router":
            w = self.weight
        else:  # without a router, traffic spreads evenly over ready replicas
            w = self.ready[NEW] / self.ready.sum()
        self.seg_share = routing.segment_shares(w, self.bias)
        if w <= 0 or w >= 1:
            syn_share = float(w >= 1)
        else:
            syn_share = routing.synthetic_share(self.scn.routing.synthetic, w, self.ready * self.up)
        leak = self.release.leak_per_s and self.up[NEW] and self.marks.new_started_at is not None
        snap = Snapshot(
            down=self.down,
            share=np.zeros(len(self.shares) + 1) if self.down else np.append(self.seg_share, syn_share),
            cap=self.ready * self.up * self.capacity,
            noise_lat=self.noise_lat.copy(),
            p_bg=1.0 - (1.0 - self.scn.fleet.error_rate) * (1.0 - self.noise_err),
            fault=self.fault_active,
            leak_from=self.marks.new_started_at if leak else math.nan,
        )
        now = self.env.now
        if self._segments and self._segments[-1][0] >= now - _EPS:
            self._segments[-1] = (self._segments[-1][0], snap)  # several changes at one instant
        else:
            self._segments.append((now, snap))

    @property
    def user_share_new(self) -> float:
        return 0.0 if self.down else float(self.seg_share @ self.shares)

    def _stamp(self, now: float) -> None:
        m = self.marks
        share = self.user_share_new
        if not m.history or m.history[-1][1] != share:
            m.history.append((now, share))
        if share > 0 and m.first_serving_at is None:
            m.first_serving_at = now
            if self.release.bad:
                self.env.process(self._onset())
        if share >= 1.0 - _EPS and m.full_at is None:
            m.full_at = now
        self._check_recovered()

    def _check_recovered(self) -> None:
        m = self.marks
        if (
            m.detected_at is not None
            and m.recovered_at is None
            and not self.down
            and self.user_share_new == 0
        ):
            m.recovered_at = self.env.now

    def _onset(self) -> Any:
        if self.release.onset_s > 0:
            yield self.env.timeout(self.release.onset_s)
        self.activate_fault()

    def _account_instances(self, now: float) -> None:
        extra = max(0, int(self.instances.sum()) - self.spec_replicas)
        self.marks.extra_instance_s += extra * (now - self._inst_t)
        self._inst_t = now

    # ---- drawing traffic ----

    def ensure(self, t: float) -> None:
        """Have traffic drawn at least up to time t, and on to the next event that may change state."""
        if t <= self.materialized + _EPS:
            return
        self._draw(min(max(t, self.next_change()), self.horizon_s))

    def next_change(self) -> float:
        """Time of the next scheduled event that may change the world's state.

        Observers (analysis loops, the alert, the on-call answering a page) only read; when one of
        them does set off a change, the stretch drawn past it is rewound. Skipping their ticks lets
        a whole step of a rollout be drawn at once.
        """
        best = math.inf
        for t, _prio, _eid, event in self.env._queue:  # SimPy's event heap: small
            if t < best and not any(
                getattr(cb, "__self__", None) in self.observers for cb in event.callbacks or ()
            ):
                best = t
        return best

    def finish(self, t: float) -> None:
        """End the ledger at t (the end of the run) and settle the cost account."""
        t = min(t, self.horizon_s)
        if self.materialized > t + _EPS:
            self._rewind(t)
        self._draw(t)
        self._account_instances(t)

    def _rewind(self, t: float) -> None:
        k = int(t // self.window_s)
        L = self.ledger
        i = L.first_row_of_window(k)
        ks = L["k"][i:]
        np.add.at(self.rem, ks, L["taken"][i:])
        L.truncate(i)
        self.telemetry.clear_from(k)
        self.materialized = k * self.window_s
        self.generation += 1
        for listener in self.rewind_listeners:
            listener(k)

    def _pieces(
        self, t0: float, t1: float
    ) -> tuple[list[Snapshot], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Split [t0, t1) at window and state boundaries: the snapshots in force, and per piece its
        window, start, end and snapshot index."""
        W = self.window_s
        snaps: list[Snapshot] = []
        ks, starts, ends, which = [], [], [], []
        segs = self._segments
        for i in range(len(segs) - 1, -1, -1):  # newest first: old segments lie behind t0
            s_start = segs[i][0]
            a = max(s_start, t0)
            b = min(segs[i + 1][0] if i + 1 < len(segs) else math.inf, t1)
            if b > a + _EPS:
                k = np.arange(int(a // W + _EPS), math.ceil(b / W - _EPS))
                ks.append(k)
                starts.append(np.maximum(k * W, a))
                ends.append(np.minimum((k + 1) * W, b))
                which.append(np.full(len(k), len(snaps)))
                snaps.append(segs[i][1])
            if s_start <= t0:
                break
        if len(ks) == 1:
            return snaps, ks[0], starts[0], ends[0], which[0]
        return (snaps, *(np.concatenate(x[::-1]) for x in (ks, starts, ends, which)))

    def _draw(self, t1: float) -> None:
        t0 = self.materialized
        if t1 <= t0 + _EPS:
            return
        W = self.window_s
        snaps, k, start, end, which = self._pieces(t0, t1)
        dt = end - start
        # A piece takes its window's remaining requests in proportion to the time left in the window,
        # each request independently; only a piece ending before its window does needs a draw, and
        # pieces sharing a window (a state change inside it) are taken in time order.
        frac = np.minimum(dt / ((k + 1) * W - start), 1.0)
        rem = self.rem
        if len(k) == int(k[-1] - k[0]) + 1:  # one piece per window: slices, and only the last may be cut
            sl = slice(int(k[0]), int(k[-1]) + 1)
            taken = rem[sl].copy()
            if frac[-1] < 1.0 - _EPS:
                taken[-1] = self.rng.binomial(taken[-1], frac[-1])
            rem[sl] -= taken
        else:  # state changes inside windows: those windows' pieces take their shares in time order
            taken = rem[k]  # a copy (fancy indexing)
            dup = np.zeros(len(k), bool)
            dup[1:] = k[1:] == k[:-1]
            dup[:-1] |= dup[1:]
            cut = np.flatnonzero((frac < 1.0 - _EPS) & ~dup)
            if len(cut):
                taken[cut] = self.rng.binomial(taken[cut], frac[cut][:, None])
            rem[k[~dup]] -= taken[~dup]
            for i in np.flatnonzero(dup):
                ki, f = int(k[i]), float(frac[i])
                taken[i] = rem[ki] if f >= 1.0 - _EPS else self.rng.binomial(rem[ki], f)
                rem[ki] -= taken[i]
        served = serve(
            self.rng,
            snaps,
            which,
            k,
            start + dt / 2,
            dt,
            taken,
            self.fault_p,
            self.fault_touch,
            self.release.leak_per_s,
            self.release.latency_profile > 0,
            self.ref_util,
            self.scn.fleet.workers,
        )
        self.telemetry.add(served)
        self.ledger.append(
            t0=start,
            dt=dt,
            k=k,
            taken=taken,
            caused=served.caused,
            faulty=served.faulty,
            share=served.share,
            down=served.down,
        )
        self.materialized = t1

    # ---- reads: complete windows before now, as monitoring would show them ----

    def _windows(self, t_from: float, t_to: float) -> tuple[int, int]:
        # Observers may evaluate a tick ahead of the clock over traffic already drawn (see analysis).
        k_to = int(min(t_to, max(self.env.now, self.materialized)) // self.window_s + _EPS)
        k_from = min(int(max(t_from, 0.0) // self.window_s + _EPS), k_to)
        self.ensure(k_to * self.window_s)
        return k_from, k_to

    def stats(
        self, t_from: float, t_to: float, quantiles: tuple[float, ...] = (0.5, 0.99), min_tail: float = 0.0
    ) -> tuple[Stats, Stats]:
        """What monitoring shows for (stable, new) over the complete windows in [t_from, t_to)."""
        k_from, k_to = self._windows(t_from, t_to)
        return self.telemetry.stats(k_from, k_to, quantiles, min_tail)

    def series(self, version: int, t_from: float, t_to: float) -> dict[str, np.ndarray]:
        """Per-window values of one version over the complete windows in [t_from, t_to)."""
        k_from, k_to = self._windows(t_from, t_to)
        return self.telemetry.series(version, k_from, k_to)
