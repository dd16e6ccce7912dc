"""Serving a stretch of traffic: route each window's requests to a version, fail some, load the fleet.

Everything is vectorised over rows — one row per piece of a window under one state — so a whole
rollout step, or several steps each under its own state snapshot, is served by a handful of numpy
draws: a binomial split of requests between versions, binomial failures (the fault's, the
overloaded resource's, the background's). The cost grows with the number of windows, never with
the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    packed: np.ndarray = field(init=False, repr=False)  # all of it in one row (see `serve`)

    def __post_init__(self) -> None:
        row = np.concatenate(
            [
                self.share,
                self.cap,
                self.noise_lat,
                self.p_bg,
                [float(self.down), float(self.fault), self.leak_from],
            ]
        )
        object.__setattr__(self, "packed", row)


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
    faulty: np.ndarray | int  # (m, S) user requests that ran faulty code (0: none)
    share: np.ndarray  # (m, S) or (1, S): share of each segment's users routed to the new version
    down: np.ndarray  # (m,) or (1,)


def serve(
    rng: np.random.Generator,
    snaps: list[Snapshot],
    which: np.ndarray,
    k: np.ndarray,
    mid: np.ndarray,
    dt: np.ndarray,
    taken: np.ndarray,
    fault_p: np.ndarray,
    fault_touch: np.ndarray,
    leak_per_s: float,
    has_profile: bool,
    ref_util: float,
    workers: int,
) -> Served:
    """Serve rows: `which[i]` is the index in `snaps` of the state row i was served under; `taken`
    holds each row's requests by user segment, then its synthetic requests.

    Parameters are one row per state, broadcast over the pieces when one state covers them all
    (the common case), so the op count — not the window count — sets the fixed cost of a call.
    """
    m, S = taken.shape[0], taken.shape[1] - 1
    taken_syn = taken[:, S]
    one = len(snaps) == 1
    P = snaps[0].packed[None, :] if one else np.stack([s.packed for s in snaps])[which]
    share = P[:, : S + 1]
    any_down = any(s.down for s in snaps)
    any_fault = any(s.fault for s in snaps)
    down = P[:, S + 7] > 0
    total = taken[:, :S].sum(1)
    if any_down:
        total = np.where(down, 0, total)
        syn_total = np.where(down, 0, taken_syn)
    else:
        syn_total = taken_syn
    uniform = not any_fault and bool((share[:, :S] == share[:, :1]).all())
    new_seg = None
    if uniform:  # one share for every segment and no fault to trace: splitting totals is exact
        counts = np.stack([total, syn_total], 1)
        p = share[:, [0, S]]
    else:
        counts = np.where(down[:, None], 0, taken) if any_down else taken
        p = share
    frac = (p > 0) & (p < 1)
    new = counts * (p >= 1)
    if frac.any():  # one binomial call splits user and synthetic traffic
        if one:
            cols = frac[0]
            new[:, cols] = rng.binomial(counts[:, cols], p[0, cols])
        else:
            new[frac] = rng.binomial(counts[frac], np.broadcast_to(p, counts.shape)[frac])
    if not uniform:
        new_seg = new[:, :S]
    user = np.empty((m, 2), np.int64)
    syn = np.empty((m, 2), np.int64)
    user[:, NEW] = new[:, 0] if uniform else new_seg.sum(1)
    syn[:, NEW] = new[:, -1]
    user[:, STABLE] = total - user[:, NEW]
    syn[:, STABLE] = syn_total - syn[:, NEW]
    cap = P[:, S + 1 : S + 3]
    util = (user + syn) / (dt[:, None] * np.maximum(cap, 1e-9)) * (cap > 0)
    if leak_per_s:
        since = P[:, S + 9] if not one else np.full(m, P[0, S + 9])
        leaking = ~np.isnan(since)
        util[leaking, NEW] += leak_per_s * (mid[leaking] - since[leaking])
    served = user
    faulty: np.ndarray | int = 0
    fault_fail: np.ndarray | int = 0
    fault = (P[:, S + 8] > 0) if not one else np.full(m, any_fault)
    if any_fault:
        faulty = np.where(fault[:, None], new_seg * fault_touch, 0)
        if fault_p.any():
            fault_fail = np.where(fault, rng.binomial(new_seg, fault_p).sum(1), 0)
            served = user.copy()
            served[:, NEW] -= fault_fail
    p_bg = P[:, S + 5 : S + 7]
    shed = None
    if util.max() > 1.0:
        shed = rng.binomial(served, fleet.shed_probability(util))
        err = rng.binomial(served - shed, p_bg) + shed
    else:
        err = rng.binomial(served, p_bg)
    caused = fault_fail
    if any_fault:
        err[:, NEW] += fault_fail
    svc_user, svc_err = total, err.sum(1)
    if any_down:
        fail_down = np.where(down, taken[:, :S].sum(1), 0)
        caused = caused + fail_down
        svc_user, svc_err = total + fail_down, svc_err + fail_down
    # Overload the release brought (a leak) is caused by the deploy; a surge overloading a sound
    # fleet is not: it would have happened anyway.
    if leak_per_s and shed is not None:
        caused = caused + shed[:, NEW]
    mult = fleet.queueing_factor(util, ref_util, workers) * P[:, S + 3 : S + 5]
    return Served(
        k=k,
        user=user,
        syn=syn,
        err=err,
        mult=mult,
        profile=fault & has_profile,
        util=util,
        svc_user=svc_user,
        svc_err=svc_err,
        caused=caused,
        faulty=faulty,
        share=share[:, :S],
        down=down,
    )
