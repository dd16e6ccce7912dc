"""The service during one deploy: version and routing state set by the control plane, traffic drawn from it.

Time moves only through SimPy events and state changes only at events, so traffic under a constant
state can be drawn for a whole stretch at once with vectorised numpy draws (binomial splits and
failures; percentiles as Beta order statistics when read) — the cost does not grow with the
request rate. Stretches are drawn ahead optimistically; a change landing inside a drawn stretch
rewinds to the start of the window it falls in and draws that part again. Reads see only complete
windows before now (a monitoring lag of at most one window), so nothing a decision was based on is
ever redrawn, and results do not depend on how far ahead was drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from . import fleet, routing
from .faults import Release
from .ledger import Ledger
from .noise import Episode
from .telemetry import Stats, Telemetry
from .traffic import TrafficDraw

if TYPE_CHECKING:
    from .scenario import Scenario

STABLE, NEW = 0, 1
_EPS = 1e-9

#: How far ahead of the clock traffic is drawn when a read needs more. Longer means fewer, larger
#: draws; a state change inside it throws away what lies beyond the change.
LOOKAHEAD_S = 900.0


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
        self.base_error = scn.fleet.error_rate
        self.mode = scn.routing.mode
        self.shares = scn.traffic.shares
        self.bias = np.array(
            [scn.routing.canary_bias.segments.get(s, 1.0) for s in scn.traffic.segment_names]
        )
        self.rem_user = traffic.user.copy()
        self.rem_syn = traffic.synthetic.copy()
        n = traffic.windows
        self.ledger = Ledger(n + 64, len(self.shares))
        self.telemetry = Telemetry(n, scn.fleet.latency, release.latency_profile, release.severity, rng)
        self.materialized = 0.0
        self.generation = 0
        self.rewind_listeners: list[Callable[[int], None]] = []
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
        self._route()

    # ---- state changes, each at env.now ----

    def set_weight(self, weight: float) -> None:
        self._change(lambda: setattr(self, "weight", weight))

    def set_replicas(self, version: int, ready: int | None = None, instances: int | None = None) -> None:
        """Ready replicas take traffic (a version is up while it has any); instances cost money."""
        if instances is not None:  # cost only: traffic does not see it, so no redraw
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
        self._settle(self.env.now)
        self._account_instances(self.env.now)
        apply()
        self._route()
        self._stamp(self.env.now)

    def _settle(self, t: float) -> None:
        """Make the ledger end exactly at t: rewind what was drawn past it, draw what is missing."""
        if self.materialized > t + _EPS:
            self._rewind(t)
        self._draw(t)

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
        self.eff_weight = w
        self.seg_share = routing.segment_shares(w, self.bias)
        self.uniform_share = bool(np.all(self.seg_share == self.seg_share[0]))
        if w <= 0 or w >= 1:
            self.syn_share = float(w >= 1)
        else:
            self.syn_share = routing.synthetic_share(self.scn.routing.synthetic, w, self.ready * self.up)

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
        """Have traffic drawn at least up to time t (and some way ahead, see LOOKAHEAD_S)."""
        if t <= self.materialized + _EPS:
            return
        W = self.window_s
        nxt = self.env.peek()  # nothing can change state before the next scheduled event
        target = math.ceil(max(t, self.env.now + LOOKAHEAD_S, nxt if math.isfinite(nxt) else 0.0) / W) * W
        self._draw(min(target, self.horizon_s))

    def finish(self, t: float) -> None:
        """End the ledger at t (the end of the run) and settle the cost account."""
        self._settle(min(t, self.horizon_s))
        self._account_instances(t)

    def _rewind(self, t: float) -> None:
        k = int(t // self.window_s)
        L = self.ledger
        i = L.first_row_of_window(k)
        ks = L["k"][i:]
        np.add.at(self.rem_user, ks, L["taken"][i:])
        np.add.at(self.rem_syn, ks, L["taken_syn"][i:])
        L.truncate(i)
        self.telemetry.clear_from(k)
        self.materialized = k * self.window_s
        self.generation += 1
        for listener in self.rewind_listeners:
            listener(k)

    def _draw(self, t1: float) -> None:
        t0 = self.materialized
        if t1 <= t0 + _EPS:
            return
        W = self.window_s
        k0, k1 = int(t0 // W), math.ceil(t1 / W - _EPS)
        ks = np.arange(k0, k1)
        starts = np.maximum(ks * W, t0)
        ends = np.minimum((ks + 1) * W, t1)
        dt = ends - starts
        taken, taken_syn = self.rem_user[k0:k1].copy(), self.rem_syn[k0:k1].copy()
        if ends[-1] < k1 * W - _EPS:  # the last window is cut: its remaining requests fall in the
            frac = dt[-1] / (k1 * W - starts[-1])  # part drawn now, each independently
            taken[-1] = self.rng.binomial(taken[-1], frac)
            taken_syn[-1] = self.rng.binomial(taken_syn[-1], frac)
        self.rem_user[k0:k1] -= taken
        self.rem_syn[k0:k1] -= taken_syn
        self._serve(k0, k1, starts, dt, taken, taken_syn)
        self.materialized = t1

    def _serve(
        self, k0: int, k1: int, starts: np.ndarray, dt: np.ndarray, taken: np.ndarray, taken_syn: np.ndarray
    ) -> None:
        """Route and serve a stretch of constant state: which version, what failed, how loaded."""
        m = k1 - k0
        rng, tel = self.rng, self.telemetry
        rows = dict(t0=starts, dt=dt, k=np.arange(k0, k1), taken=taken, taken_syn=taken_syn)
        if self.down:
            fail = taken.sum(1)
            zero = np.zeros((m, 2))
            tel.add(k0, k1, zero, zero, zero, zero, False, zero, fail, fail)
            self.ledger.append(**rows, caused=fail, faulty=0, share=0.0, down=True)
            return
        w = self.eff_weight
        new_seg = None
        if w >= 1:
            new_user, new_syn, new_seg = taken.sum(1), taken_syn, taken
        elif w <= 0:
            new_user, new_syn = np.zeros(m, np.int64), np.zeros(m, np.int64)
        elif self.fault_active or not self.uniform_share:
            # Per-segment counts are needed (a segment's bug, a biased slice): split every segment.
            both = rng.binomial(
                np.concatenate([taken, taken_syn[:, None]], 1), np.append(self.seg_share, self.syn_share)
            )
            new_seg, new_syn = both[:, :-1], both[:, -1]
            new_user = new_seg.sum(1)
        else:  # every segment at the same share: splitting the total is exact and cheaper
            both = rng.binomial(np.stack([taken.sum(1), taken_syn], 1), [w, self.syn_share])
            new_user, new_syn = both[:, 0], both[:, 1]
        user = np.empty((m, 2), np.int64)
        user[:, NEW] = new_user
        user[:, STABLE] = taken.sum(1) - new_user
        syn = np.empty((m, 2), np.int64)
        syn[:, NEW] = new_syn
        syn[:, STABLE] = taken_syn - new_syn
        cap = self.ready * self.capacity
        util = (user + syn) / (dt[:, None] * np.maximum(cap, _EPS)) * (cap > 0)
        leak = self.release.leak_per_s
        if leak and self.up[NEW] and self.marks.new_started_at is not None:
            util[:, NEW] += leak * (starts + dt / 2 - self.marks.new_started_at)
        served = user.copy()
        faulty: np.ndarray | int = 0
        fault_fail: np.ndarray | int = 0
        if self.fault_active and new_seg is not None:
            faulty = new_seg * self.fault_touch
            if self.fault_p.any():
                fault_fail = rng.binomial(new_seg, self.fault_p).sum(1)
                served[:, NEW] -= fault_fail
        shed = (
            rng.binomial(served, fleet.shed_probability(util)) if util.max() > 1.0 else np.zeros_like(served)
        )
        p_bg = 1.0 - (1.0 - self.base_error) * (1.0 - self.noise_err)
        err = rng.binomial(served - shed, p_bg) + shed
        err[:, NEW] += fault_fail
        # Overload the release brought (a leak) is caused by the deploy; a surge overloading a
        # sound fleet is not: it would have happened anyway.
        caused = fault_fail + shed[:, NEW] if leak else fault_fail
        mult = fleet.queueing_factor(util, self.ref_util, self.scn.fleet.workers) * self.noise_lat
        profile = self.fault_active and self.release.latency_profile > 0
        tel.add(k0, k1, user, syn, err, mult, profile, util, user.sum(1), err.sum(1))
        self.ledger.append(**rows, caused=caused, faulty=faulty, share=self.seg_share, down=False)

    # ---- reads: complete windows before now, as monitoring would show them ----

    def _windows(self, t_from: float, t_to: float) -> tuple[int, int]:
        k_to = int(min(t_to, self.env.now) // self.window_s + _EPS)
        k_from = min(int(max(t_from, 0.0) // self.window_s + _EPS), k_to)
        self.ensure(k_to * self.window_s)
        return k_from, k_to

    def stats(self, t_from: float, t_to: float, quantiles: tuple[float, ...] = (0.5, 0.99),
              min_tail: float = 0.0) -> tuple[Stats, Stats]:
        """What monitoring shows for (stable, new) over the complete windows in [t_from, t_to)."""
        k_from, k_to = self._windows(t_from, t_to)
        return self.telemetry.stats(k_from, k_to, quantiles, min_tail)

    def series(self, version: int, t_from: float, t_to: float) -> dict[str, np.ndarray]:
        """Per-window values of one version over the complete windows in [t_from, t_to)."""
        k_from, k_to = self._windows(t_from, t_to)
        return self.telemetry.series(version, k_from, k_to)
