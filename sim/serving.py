"""Serving a stretch of traffic: route each window's requests to a slot, fail some, load the fleet.

A slot is one of two arms traffic is split between: stable and new binary during a rollout, or
flag-off and flag-on users of the new binary during a feature-flag ramp. Everything is vectorised
over rows — one row per piece of a window under one state — so a whole rollout step, or several
steps each under its own state snapshot, is served by a handful of numpy draws: a binomial split of
requests between slots, binomial failures (the fault's, the schema's, the overloaded resource's,
the background's). The cost grows with the number of windows, never with the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import fleet

STABLE, NEW = 0, 1  # slot 0: stable binary (or flag off); slot 1: new binary (or flag on)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What traffic meets while the control plane holds still."""

    down: bool  # no version is up: every request fails
    share: np.ndarray  # (S + 1,): share of each segment's users in slot 1, then of synthetic traffic
    cap: np.ndarray  # (2,): requests per second each slot's fleet can serve
    noise_lat: np.ndarray  # (2,): latency multiplier from noisy neighbours
    p_bg: np.ndarray  # (2,): background failure probability (baseline and noise)
    fault: np.ndarray  # (2,): 1 where the release's fault is active in the slot
    p_schema: np.ndarray  # (2,): failure probability from a schema the slot's binary cannot read
    shared: bool  # both slots run on one fleet (a flag ramp): load adds up
    leak_from: float  # when the leaking binary started (NaN: no leak in force)
    packed: np.ndarray = field(init=False, repr=False)  # all of it in one row (see `serve`)
    split: np.ndarray = field(init=False, repr=False)  # slot-1 shares of user and synthetic traffic
    plain: bool = field(init=False, repr=False)  # nothing but routing, load and background failures

    def __post_init__(self) -> None:
        row = np.concatenate(
            [
                self.share,
                self.cap,
                self.noise_lat,
                self.p_bg,
                self.fault,
                self.p_schema,
                [float(self.down), float(self.shared), self.leak_from],
            ]
        )
        object.__setattr__(self, "packed", row)
        S = len(self.share) - 1
        plain = (
            not self.down
            and not self.shared
            and not self.fault.any()
            and not self.p_schema.any()
            and bool(np.isnan(self.leak_from))
            and bool(np.all(self.share[:S] == self.share[0]))
        )
        object.__setattr__(self, "plain", plain)
        object.__setattr__(self, "split", self.share[[0, S]])


@dataclass
class Served:
    """Per-row results of serving rows of windows `k`."""

    k: np.ndarray
    user: np.ndarray  # (m, 2) user requests served, by slot
    syn: np.ndarray  # (m, 2)
    err: np.ndarray  # (m, 2) failed user requests, by slot
    mult: np.ndarray  # (m, 2) latency multiplier (queueing × noise)
    profile: np.ndarray | None  # (m, 2) the fault's latency profile in force in the slot (None: nowhere)
    util: np.ndarray  # (m, 2)
    svc_user: np.ndarray  # (m,) user requests, including those that found no version up
    svc_err: np.ndarray  # (m,)
    caused: np.ndarray | int  # (m,) failures the deploy caused
    schema_failed: np.ndarray | int  # (m,) failures from the schema change
    faulty: np.ndarray | int  # (m, S) user requests that ran faulty code (0: none)
    share: np.ndarray  # (m, S) or (1, S): share of each segment's users in slot 1
    down: np.ndarray | bool  # (m,), or False when every row is served


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
    one = len(snaps) == 1
    if one and snaps[0].plain:
        return _serve_plain(rng, snaps[0], k, dt, taken, ref_util, workers)
    P = snaps[0].packed[None, :] if one else np.stack([s.packed for s in snaps])[which]
    share = P[:, : S + 1]
    c = S + 1
    cap, noise, p_bg, fault, p_schema = (P[:, c + 2 * i : c + 2 * i + 2] for i in range(5))
    down, shared, since = P[:, c + 10] > 0, P[:, c + 11] > 0, P[:, c + 12]
    any_down = any(s.down for s in snaps)
    any_fault = any(s.fault.any() for s in snaps)
    arrived = taken[:, :S].sum(1)
    if any_down:  # nobody serves these rows: their requests fail, none reaches a slot
        taken = np.where(down[:, None], 0, taken)
    total = taken[:, :S].sum(1)
    # Split between slots: totals suffice unless a fault must be traced by segment or shares differ.
    uniform = not any_fault and bool((share[:, :S] == share[:, :1]).all())
    counts, p = (np.stack([total, taken[:, S]], 1), share[:, [0, S]]) if uniform else (taken, share)
    new = counts * (p >= 1)
    frac = (p > 0) & (p < 1)
    if frac.any():
        if one:
            cols = frac[0]
            new[:, cols] = rng.binomial(counts[:, cols], p[0, cols])
        else:
            new[frac] = rng.binomial(counts[frac], np.broadcast_to(p, counts.shape)[frac])
    user = np.empty((m, 2), np.int64)
    syn = np.empty((m, 2), np.int64)
    user[:, NEW] = new[:, 0] if uniform else new[:, :S].sum(1)
    syn[:, NEW] = new[:, -1]
    user[:, STABLE] = total - user[:, NEW]
    syn[:, STABLE] = taken[:, S] - syn[:, NEW]
    load = (user + syn) / dt[:, None]
    if shared.any():  # both slots on one fleet: each sees the fleet's whole load
        load = np.where(shared[:, None], load.sum(1, keepdims=True), load)
    util = load / np.maximum(cap, 1e-9) * (cap > 0)
    if leak_per_s:
        leaking = ~np.isnan(np.broadcast_to(since, (m,)))
        if leaking.any():
            grown = leak_per_s * (mid - np.broadcast_to(since, (m,)))
            slots = np.where(shared[:, None], 1.0, np.array([0.0, 1.0])) * leaking[:, None]
            util += slots * np.nan_to_num(grown)[:, None]
    served = user
    faulty: np.ndarray | int = 0
    fault_fail = np.zeros((m, 2), np.int64)
    if any_fault:
        seg = np.stack([taken[:, :S] - new[:, :S], new[:, :S]], 1)  # (m, 2, S) by slot and segment
        hit = seg * fault[:, :, None].astype(bool)
        faulty = (hit * fault_touch).sum(1)
        if fault_p.any():
            fault_fail = rng.binomial(hit, fault_p).sum(2)
        served = user - fault_fail
    schema_fail: np.ndarray | int = 0
    if (p_schema > 0).any():
        schema = rng.binomial(served, np.broadcast_to(p_schema, served.shape))
        served = served - schema
        schema_fail = schema.sum(1)
    err, shed = _fail(rng, served, util, p_bg)
    err += fault_fail
    if not isinstance(schema_fail, int):
        err += schema
    caused = fault_fail.sum(1) + schema_fail
    svc_user, svc_err = total, err.sum(1)
    if any_down:
        fail_down = np.where(down, arrived, 0)
        caused = caused + fail_down
        svc_user, svc_err = total + fail_down, svc_err + fail_down
    # Overload the release brought (a leak) is caused by the deploy; a surge overloading a sound
    # fleet is not: it would have happened anyway.
    if leak_per_s and shed is not None:
        caused = caused + shed[:, NEW]
    mult = fleet.queueing_factor(util, ref_util, workers) * noise
    profile = (fault > 0) & has_profile
    return Served(
        k=k,
        user=user,
        syn=syn,
        err=err,
        mult=mult,
        profile=np.broadcast_to(profile, (m, 2)),
        util=util,
        svc_user=svc_user,
        svc_err=svc_err,
        caused=caused,
        schema_failed=schema_fail,
        faulty=faulty,
        share=share[:, :S],
        down=down,
    )


def _serve_plain(rng: np.random.Generator, snap: Snapshot, k: np.ndarray, dt: np.ndarray, taken: np.ndarray,
                 ref_util: float, workers: int) -> Served:
    """The common case, with the fewest operations: one state, one share for every segment, no fault
    in force, no schema trouble, someone up. Same draws, same results as the general path."""
    m, S = taken.shape[0], taken.shape[1] - 1
    counts = np.empty((m, 2), np.int64)  # user, synthetic
    counts[:, 0] = taken[:, :S].sum(1)
    counts[:, 1] = taken[:, S]
    split = snap.split
    if split[0] <= 0 and split[1] <= 0:
        new = np.zeros_like(counts)
    elif split[0] >= 1 and split[1] >= 1:
        new = counts
    else:  # one binomial call splits user and synthetic traffic (p of 0 or 1 is exact)
        new = rng.binomial(counts, split)
    user = np.empty((m, 2), np.int64)
    syn = np.empty((m, 2), np.int64)
    user[:, NEW], syn[:, NEW] = new[:, 0], new[:, 1]
    user[:, STABLE] = counts[:, 0] - new[:, 0]
    syn[:, STABLE] = counts[:, 1] - new[:, 1]
    total = counts[:, 0]
    util = (user + syn) * (snap.cap > 0) / (dt[:, None] * np.maximum(snap.cap, 1e-9))
    err, _ = _fail(rng, user, util, snap.p_bg)
    mult = fleet.queueing_factor(util, ref_util, workers) * snap.noise_lat
    return Served(k=k, user=user, syn=syn, err=err, mult=mult, profile=None, util=util,
                  svc_user=total, svc_err=err.sum(1), caused=0, schema_failed=0, faulty=0,
                  share=snap.share[None, :S], down=False)


def _fail(
    rng: np.random.Generator, served: np.ndarray, util: np.ndarray, p_bg: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Failures of the requests a slot served: shed by an overloaded resource, then background ones."""
    if util.max() > 1.0:
        shed = rng.binomial(served, fleet.shed_probability(util))
        return rng.binomial(served - shed, p_bg) + shed, shed
    return rng.binomial(served, p_bg), None
