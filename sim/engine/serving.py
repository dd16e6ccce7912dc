"""Serving a stretch of traffic: route each window's requests to a slot, fail some, load the fleet.

A slot is one of two arms traffic is split between: stable and new binary during a rollout, or
flag-off and flag-on users of the new binary during a feature-flag ramp. Everything is vectorised
over rows — one row per piece of a window under one state — so a whole rollout step, or several
steps each under its own state snapshot, is served by a handful of numpy draws: a binomial split of
requests between slots, binomial failures (the fault's, the schema's, the overloaded resource's,
the background's). The cost grows with the number of windows, never with the number of requests.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..core import sampling
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
    # (S,): share of each segment's users on slot 1 where it differs from their traffic's (session
    # affinity: the cookie holders); None: the same as `share`
    users: np.ndarray | None = None
    # Shadow traffic on slot 1 (mirrored copies, a load test): per segment the chance a user request
    # is mirrored to it, then per segment the load test's requests per second; empty: none. A
    # shadow request loads and fails on the new binary and is monitored, but no user waits for it.
    shadow: tuple[float, ...] = ()

    # Derived once per state, so serving a stretch tests flags instead of scanning arrays. Tested as
    # Python lists: at two to a few elements, a numpy call costs more than the work it does.
    split: np.ndarray = field(init=False, repr=False)  # slot-1 shares of user and synthetic traffic
    cap_on: np.ndarray = field(init=False, repr=False)  # (2,): whether the slot has any capacity
    cap_floor: np.ndarray = field(init=False, repr=False)  # (2,): capacity, never 0 (a safe divisor)
    even: bool = field(init=False, repr=False)  # every user segment has the same share in slot 1
    has_fault: bool = field(init=False, repr=False)  # the release's fault is active in some slot
    has_schema: bool = field(init=False, repr=False)  # some slot fails on the schema
    leaking: bool = field(init=False, repr=False)  # a leak is in force
    plain: bool = field(init=False, repr=False)  # nothing but routing, load and background failures
    # Factors of 1 a stretch need not multiply by (x · 1 is x, bit for bit): every slot has capacity,
    # no noisy neighbour slows either slot.
    cap_all: bool = field(init=False, repr=False)
    noise_one: bool = field(init=False, repr=False)
    # Every column of `share` (users, synthetic) all in slot 1, or none of it: no split to draw.
    all_new: bool = field(init=False, repr=False)
    none_new: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shares = self.share.tolist()
        derived = {
            "split": np.array([shares[0], shares[-1]]),
            "cap_on": self.cap > 0,
            "cap_floor": np.maximum(self.cap, 1e-9),
            "even": all(x == shares[0] for x in shares[:-1]),
            "has_fault": any(self.fault.tolist()),
            "has_schema": any(self.p_schema.tolist()),
            "leaking": not math.isnan(self.leak_from),
            "cap_all": all(x > 0 for x in self.cap.tolist()),
            "noise_one": all(x == 1.0 for x in self.noise_lat.tolist()),
            "all_new": all(x >= 1 for x in shares),
            "none_new": all(x <= 0 for x in shares),
        }
        trouble = self.down or self.shared or any(derived[f] for f in ("has_fault", "has_schema", "leaking"))
        trouble = trouble or bool(self.shadow)  # shadow traffic is served by the general path only
        derived["plain"] = derived["even"] and not trouble
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @functools.cached_property
    def columns(self) -> tuple[np.ndarray, np.ndarray, int]:
        """By column of `share` (user segments, then synthetic): where all of it goes to slot 1,
        where a draw splits it, and how many columns a draw splits."""
        frac = (self.share > 0) & (self.share < 1)
        return self.share >= 1, frac, int(frac.sum())

    @functools.cached_property
    def few(self) -> _FewState | None:
        """The state as Python numbers for `serve`'s shortcuts (`_serve_one`), or None where a stretch
        under it needs the array paths (a shared fleet, shadow traffic, a leak, a schema, a fault in
        both slots)."""
        fault = self.fault.tolist()
        if self.shared or self.shadow or self.leaking or self.has_schema or all(fault):
            return None
        return _FewState(
            self.share.tolist(),
            self.cap_floor.tolist(),
            self.cap_on.tolist(),
            self.p_bg.tolist(),
            (NEW if fault[NEW] else STABLE) if self.has_fault else -1,
        )

    @functools.cached_property
    def packed(self) -> np.ndarray:
        """All of it in one row, laid out as `_Rows` reads it; only stretches under several states,
        or under trouble, need it — many a state is replaced within the instant it was set."""
        flags = [float(self.down), float(self.shared), self.leak_from]
        parts: list[ArrayLike] = [
            self.share,
            self.cap,
            self.noise_lat,
            self.p_bg,
            self.fault,
            self.p_schema,
            flags,
        ]
        return np.concatenate(parts)


class _FewState(NamedTuple):
    """A state's numbers as `_serve_one`'s shortcuts read them."""

    share: list[float]
    cap_floor: list[float]
    cap_on: list[bool]
    p_bg: list[float]
    fault_slot: int  # the one slot the release's fault is active in (-1: none)


#: Up to this many rows under one state `serve` works number by number (`_serve_few`): over so few,
#: numpy's cost per call is most of the work.
FEW_ROWS = 3


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
    # (m, 2) shadow requests the new binary served (slot 0 none) and how many of them failed; None:
    # no shadow traffic. Monitored with the slot's requests, never counted as a user's.
    shadow: np.ndarray | None = None
    shadow_err: np.ndarray | None = None


class ServingFixed(NamedTuple):
    """What serving reads that stays put for a deploy's life: the release's fault and leak, and the
    fleet's queueing (see `fleet.queueing_factor`)."""

    # Each of the next four is one deploy's, or one per row (`arrays.faulted` serves many deploys'
    # releases in one call): (S,) or (m, S), a number or (m,).
    fault_p: np.ndarray  # chance the active fault fails a user request, by segment
    fault_touch: np.ndarray  # 1 where the segment's requests run the faulty code
    leak_per_s: float | np.ndarray  # growth of a leaking binary's utilisation per second
    has_profile: bool | np.ndarray  # the fault slows requests (a latency profile)
    ref_util: float  # utilisation the fleet's latency was measured at
    workers: int  # parallel workers per replica


class Stretch(NamedTuple):
    """A stretch of traffic to serve, in rows: each a piece of a window under one state. Built once
    per draw of the tape, however many windows it spans."""

    snaps: list[Snapshot]  # the states in force
    which: np.ndarray  # (m,): index in `snaps` of the state each row is served under
    k: np.ndarray  # (m,): each row's window
    start: np.ndarray  # (m,): when each row starts
    dt: np.ndarray  # (m,): how long each row lasts
    taken: np.ndarray  # (m, S + 1): each row's requests by user segment, then its synthetic requests


def _sum_columns(x: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """The first n columns of integer counts x (along its last axis) summed, column after column:
    the integers `np.add.reduce(x[..., :n], axis=-1)` gives, without the cost a reduce over a short
    last axis pays per row. Into `out` if given."""
    if n == 1:
        if out is None:
            return x[..., 0].copy()
        out[...] = x[..., 0]
        return out
    out = np.add(x[..., 0], x[..., 1], out=out)
    for j in range(2, n):
        np.add(out, x[..., j], out=out)
    return out


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0 where den is 0: a piece of no time, which a window such as 0.1 s (no binary
    fraction) can leave at a window's edge, took no requests and puts no load on anyone."""
    if den.all():  # the common case: no empty piece, so skip the guard's allocation
        return num / den
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    return np.divide(num, den, out=out, where=den > 0)


def serve(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served:
    """Serve the rows of a stretch, each under the state it was drawn in.

    Parameters are one row per state, broadcast over the pieces when one state covers them all
    (the common case), so the op count — not the window count — sets the fixed cost of a call.
    """
    snaps = stretch.snaps
    one = len(snaps) == 1
    if one:
        quick = _serve_one(rng, stretch, fixed)
        if quick is not None:
            return quick
    if snaps[0].plain if one else all(s.plain for s in snaps):
        return _serve_plain(rng, stretch, fixed)
    _, which, k, start, dt, taken = stretch
    fault_p, fault_touch, leak_per_s, has_profile, ref_util, workers = fixed
    m, S = taken.shape[0], taken.shape[1] - 1
    r = _Rows(snaps, which, S)
    # Each feature's work is done only when some state in force has it; with none of them in force
    # a step costs the few operations `_serve_plain` needs.
    if one:  # the state's own arrays, broadcast over the rows: the same values, fewer slices to make
        snap = snaps[0]
        share, noise, p_bg, fault = snap.share[None, :], snap.noise_lat, snap.p_bg, snap.fault[None, :]
        cap_on, cap_floor, p_schema = snap.cap_on, snap.cap_floor, snap.p_schema
        any_down, any_fault, any_shared, any_leak = snap.down, snap.has_fault, snap.shared, snap.leaking
        any_schema, cap_all, noise_one = snap.has_schema, snap.cap_all, snap.noise_one
    else:
        share, cap, noise, p_bg, fault, p_schema = r.share, r.cap, r.noise, r.p_bg, r.fault, r.p_schema
        cap_on, cap_floor = cap > 0, np.maximum(cap, 1e-9)
        any_down, any_fault = any(s.down for s in snaps), any(s.has_fault for s in snaps)
        any_shared, any_leak = any(s.shared for s in snaps), any(s.leaking for s in snaps)
        any_schema = any(s.has_schema for s in snaps)
        cap_all, noise_one = all(s.cap_all for s in snaps), all(s.noise_one for s in snaps)
    arrived = _sum_columns(taken, S)
    total, down = arrived, False
    if any_down:  # nobody serves these rows: their requests fail, none reaches a slot
        down = r.down > 0
        taken = np.where(down[:, None], 0, taken)
        total = _sum_columns(taken, S)
    # Split between slots: totals suffice unless a fault must be traced by segment or shares differ.
    # (A state may cover no row at all, so its uneven shares do not settle it.)
    uniform = not any_fault and (all(s.even for s in snaps) or bool((share[:, :S] == share[:, :1]).all()))
    if uniform:
        counts = np.empty((m, 2), np.int64)
        counts[:, 0], counts[:, 1] = total, taken[:, S]
        p = share[:, [0, S]]
    else:
        counts, p = taken, share
    if one and not uniform:  # by the state's columns, worked out once (a share of 1 needs no draw)
        whole, frac, split = snap.columns
        if split == S + 1:
            new = sampling.binomial(rng, counts, snap.share)
        elif snap.all_new:  # every column whole in slot 1: the counts themselves (only read below)
            new = counts
        elif snap.none_new:
            new = np.zeros_like(counts)
        else:
            new = counts * whole
            if split:
                new[:, frac] = sampling.binomial(rng, counts[:, frac], snap.share[frac])
    else:
        new = counts * (p >= 1)
        frac = (p > 0) & (p < 1)
        if frac.any() and one:
            cols = frac[0]
            new[:, cols] = sampling.binomial(rng, counts[:, cols], p[0, cols])
        elif frac.any():
            new[frac] = sampling.binomial(rng, counts[frac], p[frac])
    user = np.empty((m, 2), np.int64)
    syn = np.empty((m, 2), np.int64)
    user[:, NEW] = new[:, 0] if uniform else _sum_columns(new, S)
    syn[:, NEW] = new[:, -1]
    user[:, STABLE] = total - user[:, NEW]
    syn[:, STABLE] = taken[:, S] - syn[:, NEW]
    shadow: np.ndarray | None = None
    if any(s.shadow for s in snaps):  # copies and load tests on slot 1: counted apart from users
        shadow = _shadow_requests(rng, snaps, which, taken[:, :S], dt)
    load = _divide(user + syn, dt[:, None])
    if shadow is not None:
        load[:, NEW] += _divide(shadow.sum(1), dt)
    if any_shared:  # both slots on one fleet: each sees the fleet's whole load
        load = np.where((r.shared > 0)[:, None], load.sum(1, keepdims=True), load)
    util = load / cap_floor
    if not cap_all:  # (· 1 where every slot has capacity changes nothing)
        util *= cap_on
    leak_slots: np.ndarray | None = None  # (m, 2): where the leak's growth is in a slot's load
    leaks = leak_per_s.any() if isinstance(leak_per_s, np.ndarray) else leak_per_s
    if leaks and any_leak:
        since = np.broadcast_to(r.since, (m,))
        leaking = ~np.isnan(since)
        if leaking.any():
            grown = leak_per_s * (start + dt / 2 - since)
            slots = np.where((r.shared > 0)[:, None], 1.0, np.array([0.0, 1.0])) * leaking[:, None]
            util += slots * np.nan_to_num(grown)[:, None]
            leak_slots = slots > 0
    served = user
    faulty: np.ndarray | int = 0
    fault_fail: np.ndarray | int = 0
    if any_fault:
        fault_p_any = bool(fault_p.any())
        in_slot = fault[0].tolist()
        if one and not (in_slot[STABLE] and in_slot[NEW]):
            # The fault in one slot only: the other slot's requests meet none of it (and would draw
            # nothing: a binomial of probability 0), so only the faulty slot's are traced and drawn.
            slot = NEW if in_slot[NEW] else STABLE
            hit = new[:, :S] if slot == NEW else taken[:, :S] - new[:, :S]  # (m, S)
            faulty = hit * fault_touch
            if fault_p_any:
                fault_fail = np.zeros((m, 2), np.int64)
                fault_fail[:, slot] = _sum_columns(sampling.binomial(rng, hit, fault_p), S)
                served = user - fault_fail
        else:
            seg = np.empty((m, 2, S), np.int64)  # by slot and segment
            np.subtract(taken[:, :S], new[:, :S], out=seg[:, STABLE])
            seg[:, NEW] = new[:, :S]
            hit = seg * fault[:, :, None].astype(bool)
            touched = hit * _by_segment(fault_touch)
            faulty = touched[:, STABLE] + touched[:, NEW]
            if fault_p_any:
                fault_fail = _sum_columns(sampling.binomial(rng, hit, _by_segment(fault_p)), S)
                served = user - fault_fail
    schema_fail: np.ndarray | int = 0
    if any_schema:
        schema = rng.binomial(served, np.broadcast_to(p_schema, served.shape))
        served = served - schema
        schema_fail = schema.sum(1)
    err, shed = _fail(rng, served, util, p_bg)
    caused: np.ndarray | int = 0  # failures the deploy caused: its fault's, its schema's, downtime
    if not isinstance(fault_fail, int):
        err += fault_fail
        caused = _sum_columns(fault_fail, 2)
    if not isinstance(schema_fail, int):
        err += schema
        caused = caused + schema_fail
    svc_user, svc_err = total, _sum_columns(err, 2)
    if any_down:
        fail_down = np.where(down, arrived, 0)
        caused = caused + fail_down
        svc_user, svc_err = total + fail_down, svc_err + fail_down
    # Overload the release brought (a leak, once in force) is caused by the deploy; a surge
    # overloading a sound fleet is not: it would have happened anyway.
    if leak_slots is not None and shed is not None:
        caused = caused + (shed * leak_slots).sum(1)
    mult = fleet.queueing_factor(util, ref_util, workers)
    if not noise_one:
        mult *= noise
    shadow_n = shadow_err = None
    if shadow is not None:
        shadow_n, shadow_err = _serve_shadow(rng, shadow, fault if any_fault else None, fixed, util, p_bg)
    return Served(
        k=k,
        user=user,
        syn=syn,
        err=err,
        mult=mult,
        profile=_profile(fault, has_profile, m) if any_fault else None,
        util=util,
        svc_user=svc_user,
        svc_err=svc_err,
        caused=caused,
        schema_failed=schema_fail,
        faulty=faulty,
        share=share[:, :S],
        down=down,
        shadow=shadow_n,
        shadow_err=shadow_err,
    )


def _shadow_requests(
    rng: np.random.Generator, snaps: list[Snapshot], which: np.ndarray, arrived: np.ndarray, dt: np.ndarray
) -> np.ndarray:
    """(m, S) shadow requests slot 1 gets by row and segment: each user request that arrived copied
    with its segment's mirror chance (the copy goes whichever slot served the original, as an Istio
    mirror rule copies the matched requests of every destination), and the load test's Poisson
    arrivals at its rate over the row's time."""
    S = arrived.shape[1]
    params = np.array([s.shadow if s.shadow else (0.0,) * (2 * S) for s in snaps])[which]  # (m, 2S)
    mirror, rate = params[:, :S], params[:, S:]
    out = np.zeros_like(arrived)
    if mirror.any():
        out += rng.binomial(arrived, mirror)
    if rate.any():
        out += rng.poisson(rate * dt[:, None])
    return out


def _serve_shadow(
    rng: np.random.Generator,
    shadow: np.ndarray,
    fault: np.ndarray | None,
    fixed: ServingFixed,
    util: np.ndarray,
    p_bg: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The shadow requests served on slot 1 and their failures, by row and slot (slot 0 none): the
    release's fault where it is active in slot 1, then an overloaded resource's and the background's,
    as a user request meets them. A schema the old binary cannot read fails none: the new binary
    reads the new schema."""
    m = len(shadow)
    fault_fail = np.zeros(m, np.int64)
    if fault is not None and fixed.fault_p.any():
        on = np.broadcast_to(fault[:, NEW], (m,)) > 0
        if on.any():
            fault_fail = np.add.reduce(sampling.binomial(rng, shadow * on[:, None], fixed.fault_p), axis=1)
    n = np.zeros((m, 2), np.int64)
    n[:, NEW] = shadow.sum(1)
    rest = n.copy()
    rest[:, NEW] -= fault_fail
    err, _ = _fail(rng, rest, util, p_bg)
    err[:, NEW] += fault_fail
    return n, err


def _by_segment(x: np.ndarray) -> np.ndarray:
    """A (S,) parameter as it is, a (m, S) one per row, to broadcast over (m, slot, S)."""
    return x[:, None, :] if x.ndim == 2 else x


def _profile(fault: np.ndarray, has_profile: bool | np.ndarray, m: int) -> np.ndarray | None:
    """Where a fault's latency profile is in force, by row and slot (None: nowhere); one state's row
    repeated over the rows, each row its own, as its readers expect."""
    if isinstance(has_profile, np.ndarray):
        return (fault > 0) & has_profile[:, None] if has_profile.any() else None
    return (fault > 0).repeat(m // len(fault), axis=0) if has_profile else None


class _Rows:
    """Each row's state, read from the states' packed rows as views (one row for a single state,
    broadcast over the pieces). Only the parts asked for are sliced out."""

    __slots__ = ("_P", "_c")

    def __init__(self, snaps: list[Snapshot], which: np.ndarray, S: int) -> None:
        self._P = snaps[0].packed[None, :] if len(snaps) == 1 else np.array([s.packed for s in snaps])[which]
        self._c = S + 1

    def _pair(self, i: int) -> np.ndarray:
        c = self._c + 2 * i
        return self._P[:, c : c + 2]

    share = property(lambda self: self._P[:, : self._c])  # (·, S + 1)
    cap = property(lambda self: self._pair(0))  # (·, 2), as are the next four
    noise = property(lambda self: self._pair(1))
    p_bg = property(lambda self: self._pair(2))
    fault = property(lambda self: self._pair(3))
    p_schema = property(lambda self: self._pair(4))
    down = property(lambda self: self._P[:, self._c + 10])  # (·,): 1.0 where no version is up
    shared = property(lambda self: self._P[:, self._c + 11])  # (·,): 1.0 where one fleet runs both slots
    since = property(lambda self: self._P[:, self._c + 12])  # (·,): when the leak began, or NaN


def _serve_plain(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served:
    """The common case, with the fewest operations: states with one share for every segment, no
    fault in force, no schema trouble, someone up. Same draws, same results as the general path.
    `stretch.taken` may lead with an axis of deploys along the same pieces (`serve_plain_block`):
    each piece's state parameters are then broadcast over it, and the rows come out so shaped."""
    snaps, which, k, _, dt, taken = stretch
    S = taken.shape[-1] - 1
    counts = np.empty((*taken.shape[:-1], 2), np.int64)  # user, synthetic
    _sum_columns(taken, S, out=counts[..., 0])
    counts[..., 1] = taken[..., S]
    if len(snaps) == 1:
        snap = snaps[0]
        split, p_bg, noise, share = snap.split, snap.p_bg, snap.noise_lat, snap.share[None, :S]
        cap_on, cap_floor, cap_all, noise_one = snap.cap_on, snap.cap_floor, snap.cap_all, snap.noise_one
        if split[0] <= 0 and split[1] <= 0:
            new = np.zeros_like(counts)
        elif split[0] >= 1 and split[1] >= 1:
            new = counts
        else:  # one binomial call splits user and synthetic traffic (p of 0 or 1 is exact)
            new = sampling.binomial(rng, counts, split)
    else:  # each piece under its own state: the states' parameters, piece by piece
        r = _Rows(snaps, which, S)
        split, share, noise, p_bg = r.share[:, [0, S]], r.share[:, :S], r.noise, r.p_bg
        cap_on, cap_floor = r.cap > 0, np.maximum(r.cap, 1e-9)
        cap_all, noise_one = all(s.cap_all for s in snaps), all(s.noise_one for s in snaps)
        # A share of 1 is all of it without a draw (a binomial at p = 1 still spends a uniform).
        whole = split >= 1
        new = sampling.binomial(rng, counts, np.where(whole, 0.0, split)) + counts * whole
    both = np.empty((*counts.shape, 2), np.int64)  # by row, slot, then user or synthetic
    np.subtract(counts, new, out=both[..., STABLE, :])
    both[..., NEW, :] = new
    user, syn = both[..., 0], both[..., 1]
    total = counts[..., 0]
    num, den = _sum_columns(both, 2), dt[:, None] * cap_floor
    if not cap_all:  # (· 1 where every slot has capacity changes nothing)
        num *= cap_on
    util = num / den if dt.all() else _divide(num, den)  # _divide's guard only for an empty piece
    err, _ = _fail(rng, user, util, p_bg)
    mult = fleet.queueing_factor(util, fixed.ref_util, fixed.workers)
    if not noise_one:
        mult *= noise
    return Served(
        k=k,
        user=user,
        syn=syn,
        err=err,
        mult=mult,
        profile=None,
        util=util,
        svc_user=total,
        svc_err=_sum_columns(err, 2),
        caused=0,
        schema_failed=0,
        faulty=0,
        share=share,
        down=False,
    )


def _serve_one(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served | None:
    """`serve` of rows under one state by a shortcut where one applies: nobody up (`_serve_down`), or
    a few rows (`_serve_few`). None, before any draw, where the state or the stretch needs the array
    paths."""
    snap, taken = stretch.snaps[0], stretch.taken
    st = snap.few
    if st is None or taken.ndim != 2 or taken.dtype != np.int64 or isinstance(fixed.has_profile, np.ndarray):
        return None
    if st.fault_slot >= 0 and fixed.fault_p.ndim != 1:
        return None
    if snap.down:
        # (0 / dt is +0.0 only for dt >= 0: a NaN, or a negative time, is left to the array paths)
        return _serve_down(stretch, fixed, st) if bool((stretch.dt >= 0.0).all()) else None
    return _serve_few(rng, stretch, fixed, st) if len(stretch.k) <= FEW_ROWS else None


def _serve_down(stretch: Stretch, fixed: ServingFixed, st: _FewState) -> Served:
    """`serve` of rows under a state with nobody up, worked out: every request fails and none reaches
    a slot, so each of `serve`'s draws is of zero requests (no variate, and a zero) and its sums are
    zeros, but for the failures downtime caused (every request that arrived)."""
    snap, taken = stretch.snaps[0], stretch.taken
    m, S = taken.shape[0], taken.shape[1] - 1
    arrived = _sum_columns(taken, S)
    served = np.zeros((m, 6), np.int64)  # user requests, synthetic, errors: by slot
    util = np.zeros((m, 2))
    mult = fleet.queueing_factor(util, fixed.ref_util, fixed.workers)
    if not snap.noise_one:
        mult *= snap.noise_lat
    faulty: np.ndarray | int = 0
    profile = None
    if st.fault_slot >= 0:
        faulty = np.zeros((m, S), np.int64) * fixed.fault_touch  # (its dtype, as `serve` gives it)
        profile = _profile(snap.fault[None, :], fixed.has_profile, m)
    return Served(
        k=stretch.k,
        user=served[:, 0:2],
        syn=served[:, 2:4],
        err=served[:, 4:6],
        mult=mult,
        profile=profile,
        util=util,
        svc_user=arrived,
        svc_err=arrived.copy(),
        caused=arrived.copy(),
        schema_failed=0,
        faulty=faulty,
        share=snap.share[None, :S],
        down=np.ones(1, bool),
    )


def _serve_few(
    rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed, st: _FewState
) -> Served | None:
    """`serve` of a few rows under one state with someone up, number by number: the draws `serve` (or
    `_serve_plain`, for a plain state) makes, one by one in the same order with the same arguments
    (`sampling`'s equivalence), and the same arithmetic on each element; the arrays it gives, alike.
    None, before any draw, where the stretch needs the array paths."""
    snap, taken = stretch.snaps[0], stretch.taken
    dts = stretch.dt.tolist()
    if not all(d >= 0.0 for d in dts):  # (a NaN too)
        return None
    S, plain = taken.shape[1] - 1, snap.plain
    share, cap_floor, p_bg = st.share, st.cap_floor, st.p_bg
    if plain and all(dts) and not all(d * c > 0.0 for d in dts for c in cap_floor):
        return None  # a product underflowing to 0, which numpy would divide by
    draw = rng.binomial
    rows = taken.tolist()
    # Split between slots, by column (the totals of users and synthetic when every segment's share is
    # one): a column whole on slot 1 without a draw, unless a plain state's split draws at p = 1.
    uniform = snap.even and not snap.has_fault
    cols = [share[0], share[S]] if uniform else share
    counts = [[sum(r[:S]), r[S]] for r in rows] if uniform else rows
    if plain and all(q <= 0 for q in cols):
        news = [[0, 0] for _ in counts]
    elif plain and all(q >= 1 for q in cols):
        news = counts
    elif plain:
        news = [[draw(x, q) if x and q else 0 for x, q in zip(c, cols, strict=True)] for c in counts]
    else:
        news = [
            [x if q >= 1 else draw(x, q) if x and 0 < q < 1 else 0 for x, q in zip(c, cols, strict=True)]
            for c in counts
        ]
    # Per row: user requests by slot, synthetic by slot; then errors by slot, service requests and
    # errors, failures caused.
    out = []
    for c, new, r in zip(counts, news, rows, strict=True):
        u1 = new[0] if uniform else sum(new[:S])
        total = c[0] if uniform else sum(r[:S])
        out.append([total - u1, u1, r[S] - new[-1], new[-1]])
    util: list[float] = []
    cap_off = None if snap.cap_all else st.cap_on
    for o, d in zip(out, dts, strict=True):
        for slot in (STABLE, NEW):
            n = o[slot] + o[2 + slot]
            if plain:  # `_serve_plain`'s arithmetic: over the time by the capacity
                if cap_off is not None:
                    n = n if cap_off[slot] else 0
                den = d * cap_floor[slot]
                util.append(n / den if den else 0.0)
            else:
                x = (n / d if d else 0.0) / cap_floor[slot]
                util.append(x if cap_off is None else x * cap_off[slot])
    fault_fail = None
    faulty: np.ndarray | int = 0
    slot = st.fault_slot
    if slot >= 0:
        fp = fixed.fault_p.tolist()
        hits = [
            new[:S] if slot == NEW else [a - b for a, b in zip(r[:S], new[:S], strict=True)]
            for r, new in zip(rows, news, strict=True)
        ]
        faulty = np.array(hits, np.int64) * fixed.fault_touch
        if any(fp):
            fault_fail = [sum(draw(x, q) if x and q else 0 for x, q in zip(h, fp, strict=True)) for h in hits]
            for o, f in zip(out, fault_fail, strict=True):
                o[slot] -= f  # served, for now
    util_a = np.array(util).reshape(len(out), 2)
    if max(util) > 1.0:  # an overloaded resource sheds: the general way, on arrays (a rare case)
        err_a, _ = _fail(rng, np.array([o[:2] for o in out], np.int64), util_a, snap.p_bg)
        errs = err_a.tolist()
    else:
        errs = [[draw(x, q) if x and q else 0 for x, q in zip(o[:2], p_bg, strict=True)] for o in out]
    for i, (o, e) in enumerate(zip(out, errs, strict=True)):
        caused = 0
        if fault_fail is not None:
            caused = fault_fail[i]
            o[slot] += caused
            e[slot] += caused
        o += (e[0], e[1], o[0] + o[1], e[0] + e[1], caused)
    got = np.array(out, np.int64)
    mult = fleet.queueing_factor(util_a, fixed.ref_util, fixed.workers)
    if not snap.noise_one:
        mult *= snap.noise_lat
    return Served(
        k=stretch.k,
        user=got[:, 0:2],
        syn=got[:, 2:4],
        err=got[:, 4:6],
        mult=mult,
        profile=None if slot < 0 else _profile(snap.fault[None, :], fixed.has_profile, len(out)),
        util=util_a,
        svc_user=got[:, 6],
        svc_err=got[:, 7],
        caused=0 if fault_fail is None else got[:, 8],
        schema_failed=0,
        faulty=faulty,
        share=snap.share[None, :S],
        down=False,
    )


def serve_plain_block(rng: np.random.Generator, stretch: Stretch, fixed: ServingFixed) -> Served | None:
    """`serve` of several deploys' requests along the same pieces (`stretch.taken`: deploys × pieces
    × columns; the rest of the stretch one row per piece), when every state is plain: each piece's
    state parameters broadcast over the deploys, instead of copied to every row of the pieces
    repeated deploy after deploy. The rows come out as `serve` gives them for those repeated rows,
    from the same draws in the same order (a binomial reads parameters broadcast over a leading
    axis in C order, as it reads the repeated ones). None if some state is not plain."""
    if not all(s.plain for s in stretch.snaps):
        return None
    D, m = stretch.taken.shape[:2]
    served = _serve_plain(rng, stretch, fixed)
    rows = D * m
    share = served.share
    return Served(
        k=np.tile(stretch.k, D),
        user=served.user.reshape(rows, 2),
        syn=served.syn.reshape(rows, 2),
        err=served.err.reshape(rows, 2),
        mult=served.mult.reshape(rows, 2),
        profile=None,
        util=served.util.reshape(rows, 2),
        svc_user=served.svc_user.reshape(rows),
        svc_err=served.svc_err.reshape(rows),
        caused=0,
        schema_failed=0,
        faulty=0,
        share=share if len(share) == 1 else np.broadcast_to(share, (D, m, share.shape[-1])).reshape(rows, -1),
        down=False,
    )


def _fail(
    rng: np.random.Generator, served: np.ndarray, util: np.ndarray, p_bg: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Failures of the requests a slot served: shed by an overloaded resource, then background ones."""
    if util.max() > 1.0:
        shed = rng.binomial(served, fleet.shed_probability(util))
        return rng.binomial(served - shed, p_bg) + shed, shed
    return sampling.binomial(rng, served, p_bg), None
