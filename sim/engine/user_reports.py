"""Users who tell support: a bad release that hurts enough users is reported, escalated and undone.

The channel that catches what no alert watches — a slow page, a broken flow for one platform.
A user is *hurt* by a request the release failed (downtime aside: a planned outage is announced),
or made slower than `slow_ms` when it would not have been. Users are hurt at random, as they met
faulty requests (the gamma-Poisson user model of `exogenous.hit_probability`); each one hurt tells
support with probability `per_harmed_user`, so reports arrive as a Poisson process whose rate
grows with the users hurt. The `escalate_after`-th report reaches engineering, who roll back
after `response_s` of working time. The channel's settings are `sim.config.reports.ReportsConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import simpy

from ..config.fleet import Latency
from .exogenous import hit_probability
from .fleet import share_slower
from .watcher import Watcher

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from .exogenous import Release
    from .world import World


def slow_share(lat: Latency, release: Release, slow_ms: float) -> float:
    """Share of the release's requests its fault makes slower than slow_ms that would not be anyway."""
    if not release.bad or not release.latency_profile:
        return 0.0
    base = share_slower(lat, slow_ms)
    return max(0.0, share_slower(lat, slow_ms, release.latency_profile, release.severity) - base)


def harm(world: World, slow: float, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Requests that hurt a user, per ledger row from `lo` (to `hi`) and segment: failures the
    deploy caused outside a planned outage, shared out like the row's faulty requests (or, with
    none, like its requests), and the share of its faulty requests the fault made too slow."""
    L = world.ledger
    rows = slice(lo, hi)
    faulty = L["faulty"][rows]
    # In whole numbers while they are exact (counts, their sums and products), to floats at the
    # division: the values the float arithmetic gives, in fewer steps.
    failed = L["caused"][rows] * ~L["down"][rows]
    if failed.any():
        by = np.where(faulty.any(1, keepdims=True), faulty, L["taken"][rows, :-1])
        total = np.add.reduce(by, axis=1, keepdims=True)
        out = np.divide(failed[:, None] * by, total, out=np.zeros(by.shape), where=total > 0)
        if slow:
            out += slow * faulty
        return out
    return slow * faulty if slow else np.zeros(faulty.shape)


def can_hurt(scn: Scenario, release: Release) -> bool:
    """Whether the release can hurt anyone the channel counts (a median regression cannot)."""
    if not release.bad or scn.reports.per_harmed_user <= 0:
        return False
    if release.latency_profile and scn.migration.kind == "none":
        return slow_share(scn.fleet.latency, release, scn.reports.slow_ms) > 0
    return True


def expected_reports(scn: Scenario, hurt: np.ndarray) -> np.ndarray:
    """Mean reports by the end of each ledger row, given its cumulative hurt requests per segment."""
    users = scn.traffic.users.population * scn.traffic.shares
    per_user = hurt / users
    return scn.reports.per_harmed_user * (hit_probability(per_user, scn.traffic.users.activity_shape) @ users)


class Reporters(NamedTuple):
    """What the mean reports read of the scenario, as plain numbers (`short_of`)."""

    users: tuple[float, ...]  # users by segment, every one of them > 0
    shape: float  # Gamma shape of users' request rates
    per_harmed_user: float  # chance a hurt user tells support

    @classmethod
    def of(cls, scn: Scenario) -> Reporters | None:
        """None where a segment has no users, or the shape is none (the arrays' answer is NaN there,
        where plain floats would raise: no shortcut)."""
        users = tuple((scn.traffic.users.population * scn.traffic.shares).tolist())
        shape = scn.traffic.users.activity_shape
        if not (users and min(users) > 0 and math.isfinite(sum(users)) and shape > 0):
            return None
        return cls(users, shape, scn.reports.per_harmed_user)

    def short_of(self, hurt: np.ndarray, threshold: float) -> bool:
        """Whether the mean reports given one row's cumulative hurt requests per segment fall clearly
        short of `threshold` (by `SHORT_MARGIN` of it): then, hurt only ever growing row by row, so
        do those of every row up to it in `expected_reports`, and `crossing` finds none. Worked out
        in plain floats, not as arrays: most scans find nothing, and numpy calls on a few numbers
        cost more than their work."""
        k = self.shape
        total = 0.0
        for h, u in zip(hurt.tolist(), self.users, strict=True):
            total += (1.0 - (1.0 + h / u / k) ** -k) * u
        return self.per_harmed_user * total < threshold * (1.0 - SHORT_MARGIN)


#: How far short of the threshold a row's mean reports worked out in plain floats must fall for the
#: arrays' (`expected_reports`, every row's) to fall short too: the two differ by a few roundings of
#: sums of positive terms (parts in 1e15), far inside this.
SHORT_MARGIN = 1e-9


def crossing(reports: np.ndarray, threshold: float, before: float, ledger: Any) -> float | None:
    """When the mean reports (by the end of each ledger row, from `before` at its first row's
    start) reach the threshold, in the row they reach it in, reports growing evenly across it."""
    i = int(np.searchsorted(reports, threshold))  # reports only ever grow
    if i >= len(reports):
        return None
    if i:
        before = reports[i - 1]
    gain = reports[i] - before
    t0, dt = float(ledger["t0"][i]), float(ledger["dt"][i])
    return t0 + dt * ((threshold - before) / gain if gain > 0 else 1.0)


def escalates_at(scn: Scenario, release: Release, phase: Any, threshold: float) -> float | None:
    """When the users' reports of a release reach engineering over a ledger drawn whole (`phase`:
    what has its `ledger`), or None: the reports' watcher's instant, worked out in one pass."""
    slow = slow_share(scn.fleet.latency, release, scn.reports.slow_ms)
    hurt = np.cumsum(harm(phase, slow), axis=0)
    if not len(hurt) or expected_reports(scn, hurt[-1]) < threshold:  # reports only ever grow
        return None
    zero = float(expected_reports(scn, np.zeros(hurt.shape[1])))
    return crossing(expected_reports(scn, hurt), threshold, zero, phase.ledger)


class UserReports(Watcher):
    """Counts the users a release has hurt and fires when the `escalate_after`-th report arrives.

    `threshold` is that report's place on the process's own clock (a Gamma(escalate_after, 1) draw
    shared by every strategy of a deploy), so strategies that hurt users faster are reported
    sooner, report for report. `prior` is the hurt requests per segment of an earlier phase.
    """

    def __init__(
        self,
        env: simpy.Environment,
        world: World,
        threshold: float,
        on_escalate: Callable[[], None],
        prior: np.ndarray | None = None,
    ) -> None:
        super().__init__(env, world)
        scn = world.scn
        self.cfg = scn.reports
        self.users = scn.traffic.users.population * scn.traffic.shares
        self.shape = scn.traffic.users.activity_shape
        self.slow = slow_share(scn.fleet.latency, world.release, self.cfg.slow_ms)
        self.threshold, self.on_escalate = threshold, on_escalate
        self.prior = np.zeros(len(self.users)) if prior is None else prior
        self._cum = np.zeros((0, len(self.users)))  # hurt requests up to each ledger row scanned
        self._reports, self._reports_of = np.zeros(0), self._cum  # expected reports of that array
        self._before: float | None = None  # expected reports of the prior: the same at every scan
        self._reporters = Reporters.of(scn)
        self._checked, self._short = self._cum, False  # whether that array's last row falls clearly short

    def rewound(self, k: int) -> None:
        self._cum = self._cum[: self.world.ledger.first_row_of_window(k)]

    def expected_reports(self, hurt: np.ndarray) -> np.ndarray:
        """Mean reports by the end of each row, given its cumulative hurt requests per segment."""
        return expected_reports(self.world.scn, hurt)

    def scan(self) -> tuple[float | None, float | None]:
        world, env = self.world, self.env
        L = world.ledger
        done, drawn = len(self._cum), world.tape.rows_drawn()
        if drawn > done:
            rows = np.cumsum(harm(world, self.slow, done, drawn), axis=0)
            rows += self._cum[-1] if done else self.prior
            self._cum = np.concatenate([self._cum, rows])
        if len(self._cum) and self._checked is not self._cum:
            # Most scans fall clearly short: told from the last row alone (`Reporters.short_of`).
            rep, self._checked = self._reporters, self._cum
            self._short = rep is not None and rep.short_of(self._cum[-1], self.threshold)
        if len(self._cum) and not self._short:
            # Worked out again only once rows came in, and then over the whole array: a matrix
            # product's last bits may depend on where a row sits in it.
            if self._reports_of is not self._cum:
                self._reports, self._reports_of = self.expected_reports(self._cum), self._cum
            if self._before is None:
                self._before = float(self.expected_reports(self.prior))
            at = crossing(self._reports, self.threshold, self._before, L)
            if at is not None:
                return max(at, env.now), None
        again = max(world.materialized, env.now + world.window_s)
        return None, (None if env.now >= world.limit_s else min(again, world.limit_s))

    def fire(self, at: float) -> bool:
        self.on_escalate()
        return True
