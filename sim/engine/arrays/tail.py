"""The quiet stretch after a plan's last change, served lean: only its failures are drawn up front.

Once a plan has made its last change (a progressive rollout promoted, a recreate's new fleet up),
its deploys' traffic meets one plain state with nothing to split: every user request goes to one
slot, every probe to one slot. No analysis reads those windows; the SLO alert reads the service's
requests and failures, and a row reads nothing of them (no fault, no outage: nothing caused). So a
block draws the failures alone — one binomial per deploy and window, as `serving` draws them — and
works out the rest of those windows (telemetry, ledger rows) only for a deploy the event engine
takes over (`Block.fill`). The cost of a watch then hardly grows with its quiet hours.

A stretch is lean only where serving it in full would draw nothing else: a plain state, shares of
0 or 1, no slot over its capacity (shedding draws) and whole windows; a block's deploys with noisy
neighbours are served in full.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ...core import sampling
from .. import fleet
from ..serving import NEW, STABLE, Served, ServingFixed, Snapshot
from ..strategies.base import PlannedLook
from ..telemetry import Telemetry

_EPS = 1e-9


def tail_from(
    segments: list[tuple[float, Snapshot]], looks: list[PlannedLook], end: float, window_s: float
) -> int | None:
    """The first window of a plan's lean stretch (see the module), or None if it has none."""
    start, snap = segments[-1]
    k0 = math.ceil(start / window_s - _EPS)
    k1 = round(end / window_s)
    if abs(k1 * window_s - end) > _EPS * max(1.0, end) or k0 >= k1:  # the horizon cuts a window
        return None
    if not snap.plain or any(0.0 < x < 1.0 for x in snap.split.tolist()):
        return None
    if any(k > k0 for look in looks for k in look.k_to):  # a look reads it
        return None
    return k0


def _slots(snap: Snapshot) -> tuple[int, int]:
    """The slot serving users and the one serving probes."""
    user, syn = snap.split.tolist()
    return (NEW if user >= 1 else STABLE), (NEW if syn >= 1 else STABLE)


def _load(snap: Snapshot, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row (any leading shape) the user and synthetic requests by slot, (..., 2) each."""
    S = counts.shape[-1] - 1
    su, ss = _slots(snap)
    user = np.zeros((*counts.shape[:-1], 2), np.int64)
    syn = np.zeros_like(user)
    np.add.reduce(counts[..., :S], axis=-1, out=user[..., su])
    syn[..., ss] = counts[..., S]
    return user, syn


def _util(snap: Snapshot, user: np.ndarray, syn: np.ndarray, window_s: float) -> np.ndarray:
    """Utilisation by slot, as `serving` works it out for a whole window."""
    return (user + syn) * snap.cap_on / (window_s * snap.cap_floor)


def fits(snap: Snapshot, counts: np.ndarray, window_s: float) -> bool:
    """Whether serving these windows (deploys × windows × columns) in full would shed nothing.

    A slot's utilisation only grows with its load (a product and a quotient, each correctly
    rounded, are monotone), so the busiest row's load gives the largest utilisation bit for bit,
    without working out every row's."""
    if not counts.size:
        return True
    S = counts.shape[-1] - 1
    su, ss = _slots(snap)
    users = user_requests(counts)
    load = np.zeros(2, np.int64)
    if su == ss:
        load[su] = (users + counts[..., S]).max()
    else:
        load[su], load[ss] = users.max(), counts[..., S].max()
    return bool((load * snap.cap_on / (window_s * snap.cap_floor)).max() <= 1.0)


def user_requests(counts: np.ndarray) -> np.ndarray:
    """Per row (any leading shape) its user requests: every column but the last (the probes')
    summed, as `np.add.reduce` over them sums them. Counts of requests (int64) are added column
    after column, which gives the same integers in any order: a reduction over a last axis of a
    few columns pays per row what adding whole columns does not."""
    S = counts.shape[-1] - 1
    if counts.dtype != np.int64 or S < 1:
        return np.add.reduce(counts[..., :S], axis=-1)
    out = counts[..., 0].copy()
    for s in range(1, S):
        out += counts[..., s]
    return out


def draw_failures(snap: Snapshot, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The failed user requests of each row (deploys × windows: `users`, their user requests), on
    the slot that serves users."""
    return sampling.binomial(rng, users, failure_probability(snap))


def failure_probability(snap: Snapshot) -> float:
    """A user request's chance to fail in a lean stretch under this state: its slot's background."""
    return float(snap.p_bg[_slots(snap)[0]])


class Tail(NamedTuple):
    """One deploy's lean stretch: windows k0.., their requests and the failures drawn for them."""

    k0: int
    counts: np.ndarray  # (windows, S + 1)
    err: np.ndarray  # (windows,)
    snap: Snapshot
    # Latency-only noisy neighbours (`serve._lay_noise`): each window's latency factor by slot, and
    # the windows an episode's edge falls inside, served in full apart from the stretch.
    noise: np.ndarray | None = None
    redrawn: tuple[int, ...] = ()
    rows: dict[str, np.ndarray] | None = None  # their ledger rows, served in full

    def served(self, fixed: ServingFixed, window_s: float) -> Served:
        """The stretch as `serving` would have served it, given the failures drawn."""
        snap, n = self.snap, len(self.err)
        user, syn = _load(snap, self.counts)
        util = _util(snap, user, syn, window_s)
        err = np.zeros_like(user)
        err[:, _slots(snap)[0]] = self.err
        S = self.counts.shape[1] - 1
        return Served(
            k=np.arange(self.k0, self.k0 + n),
            user=user,
            syn=syn,
            err=err,
            mult=fleet.queueing_factor(util, fixed.ref_util, fixed.workers)
            * (snap.noise_lat if self.noise is None else snap.noise_lat * self.noise),
            profile=None,
            util=util,
            svc_user=np.add.reduce(self.counts[:, :S], axis=1),
            svc_err=self.err,
            caused=0,
            schema_failed=0,
            faulty=0,
            share=np.broadcast_to(snap.share[None, :S], (n, S)),
            down=False,
        )

    def ledger(self, served: Served, window_s: float) -> dict[str, np.ndarray]:
        """The ledger's rows of the stretch, one per window."""
        n, S = len(self.err), self.counts.shape[1] - 1
        k = served.k
        t0 = k * window_s
        rows = {
            "t0": t0,
            "dt": (k + 1) * window_s - t0,  # as the tape cuts windows
            "k": k,
            "taken": self.counts,
            "caused": np.zeros(n, np.int64),
            "schema_failed": np.zeros(n, np.int64),
            "faulty": np.zeros((n, S), np.int64),
            "share": np.array(served.share),
            "down": np.zeros(n, bool),
        }
        if not self.redrawn:
            return rows
        keep = ~np.isin(k, self.redrawn)  # theirs are the rows served in full
        assert self.rows is not None
        return in_time_order(
            {name: np.concatenate([col[keep], self.rows[name]]) for name, col in rows.items()}
        )

    def telemetry(self, served: Served) -> tuple[np.ndarray, np.ndarray]:
        """The telemetry's arrays over the stretch: (windows, 2, fields) and utilisation."""
        return Telemetry.fields_of(served), served.util


def in_time_order(ledger: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ledger rows sorted by when they begin (rows of one time keep their order)."""
    order = np.argsort(ledger["t0"], kind="stable")
    return {name: col[order] for name, col in ledger.items()}
