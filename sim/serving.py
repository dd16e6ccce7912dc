"""Serving a stretch of traffic: route each window's requests to a version, fail some, load the fleet.

Everything is vectorised over rows — one row per piece of a window under one state — so a whole
rollout step, or several steps each under its own state snapshot, is served by a handful of numpy
draws: a binomial split of requests between versions, binomial failures (the fault's, the
overloaded resource's, the background's). The cost grows with the number of windows, never with
the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import fleet

STABLE, NEW = 0, 1


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What traffic meets while the control plane holds still."""

    down: bool  # no version is up: every request fails
    share: np.ndarray  # (S + 1,): share of each segment's users on the new version, then of synthetic traffic
    cap: np.ndarray  # (2,): requests per second each version can serve
    noise_lat: np.ndarray  # (2,): latency multiplier from noisy neighbours
    p_bg: np.ndarray  # (2,): background failure probability (baseline and noise)
    fault: bool  # the release's fault is active on the new version
    leak_from: float  # when the leaking version started (NaN: no leak in force)

    def packed(self) -> np.ndarray:
        """All parameters in one row, so pieces under different states are served by one set of draws."""
        return np.concatenate(
            [
                self.share,
                self.cap,
                self.noise_lat,
                self.p_bg,
                [float(self.down), float(self.fault), self.leak_from],
            ]
        )


@dataclass
class Served:
    """Per-row results of serving rows of windows `k`."""

    k: np.ndarray
    user: np.ndarray  # (m, 2) user requests served, by version
    syn: np.ndarray  # (m, 2)
    err: np.ndarray  # (m, 2) failed user requests, by version
    mult: np.ndarray  # (m, 2) latency multiplier (queueing × noise)
    profile: np.ndarray  # (m,) the fault's latency profile in force on the new version
    util: np.ndarray  # (m, 2)
    svc_user: np.ndarray  # (m,) user requests, including those that found no version up
    svc_err: np.ndarray  # (m,)
    caused: np.ndarray  # (m,) failures the deploy caused
    faulty: np.ndarray  # (m, S) user requests that ran faulty code
    share: np.ndarray  # (m, S) share of each segment's users routed to the new version
    down: np.ndarray  # (m,)


def serve(
    rng: np.random.Generator,
    snaps: list[Snapshot],
    which: np.ndarray,
    k: np.ndarray,
    mid: np.ndarray,
    dt: np.ndarray,
    taken: np.ndarray,
    taken_syn: np.ndarray,
    fault_p: np.ndarray,
    fault_touch: np.ndarray,
    leak_per_s: float,
    has_profile: bool,
    ref_util: float,
    workers: int,
) -> Served:
    """Serve rows: `which[i]` is the index in `snaps` of the state row i was served under."""
    m, S = taken.shape
    # One parameter row per state, broadcast over the pieces (indexed when states differ).
    P = snaps[0].packed()[None, :] if len(snaps) == 1 else np.stack([s.packed() for s in snaps])[which]
    share, cap, noise, p_bg = P[:, : S + 1], P[:, S + 1 : S + 3], P[:, S + 3 : S + 5], P[:, S + 5 : S + 7]
    down = np.broadcast_to(P[:, S + 7] > 0, (m,))
    fault = np.broadcast_to(P[:, S + 8] > 0, (m,))
    total = np.where(down, 0, taken.sum(1))
    user = np.empty((m, 2), np.int64)
    syn = np.empty((m, 2), np.int64)
    uniform = not fault.any() and bool(np.all(share[:, :S] == share[:, :1]))
    if uniform:  # every segment at one share and no fault to trace: splitting totals is exact, and cheaper
        counts = np.stack([total, taken_syn], 1)
        p = share[:, [0, S]]
    else:
        counts = np.concatenate([taken, taken_syn[:, None]], 1)
        p = share
    new = np.where(p >= 1, counts, 0)
    frac = (p > 0) & (p < 1)
    if frac.any():  # one binomial call splits the user and the synthetic traffic
        if len(snaps) == 1:
            cols = frac[0]
            new[:, cols] = rng.binomial(counts[:, cols], p[0, cols])
        else:
            new[frac] = rng.binomial(counts[frac], np.broadcast_to(p, counts.shape)[frac])
    new_seg = None if uniform else new[:, :S]
    user[:, NEW] = new[:, 0] if uniform else new_seg.sum(1)
    syn[:, NEW] = new[:, -1]
    user[:, STABLE] = total - user[:, NEW]
    syn[:, STABLE] = np.where(down, 0, taken_syn) - syn[:, NEW]
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap > 0, (user + syn) / (dt[:, None] * cap), 0.0)
    if leak_per_s:
        since = np.broadcast_to(P[:, S + 9], (m,))
        leaking = ~np.isnan(since)
        util[leaking, NEW] += leak_per_s * (mid[leaking] - since[leaking])
    served = user
    faulty = np.zeros((m, S), np.int64)
    fault_fail = np.zeros(m, np.int64)
    if fault.any():
        faulty[fault] = new_seg[fault] * fault_touch
        if fault_p.any():
            fault_fail[fault] = rng.binomial(new_seg[fault], fault_p).sum(1)
            served = user.copy()
            served[:, NEW] -= fault_fail
    if util.max(initial=0.0) > 1.0:
        shed = rng.binomial(served, fleet.shed_probability(util))
        err = rng.binomial(served - shed, p_bg) + shed
    else:
        shed = None
        err = rng.binomial(served, p_bg)
    err[:, NEW] += fault_fail
    fail_down = np.where(down, taken.sum(1), 0)
    # Overload the release brought (a leak) is caused by the deploy; a surge overloading a sound
    # fleet is not: it would have happened anyway.
    caused = fault_fail + fail_down
    if leak_per_s and shed is not None:
        caused = caused + shed[:, NEW]
    mult = fleet.queueing_factor(util, ref_util, workers) * noise
    return Served(
        k=k,
        user=user,
        syn=syn,
        err=err,
        mult=mult,
        profile=fault & has_profile,
        util=util,
        svc_user=total + fail_down,
        svc_err=err.sum(1) + fail_down,
        caused=caused,
        faulty=faulty,
        share=np.broadcast_to(share[:, :S], (m, S)),
        down=down,
    )
