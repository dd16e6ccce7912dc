"""Serving a block: its deploys' requests along the plan's pieces (or each along its own), every
deploy in the same numpy calls, into the telemetry, ledger and requests the event engine would hold."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ...config.scenario import Scenario
from ...core import rng as streams
from ...core import sampling
from ..exogenous import Episode, Exogenous
from ..serving import ServingFixed, Snapshot, Stretch, serve, serve_plain_block
from ..tape import Fill
from ..telemetry import Telemetry
from ..world import background, noise_changes
from .plan import Pieces, Plan, pieces_of, windows_cut
from .tail import Tail, failure_probability, fits, in_time_order, tail_from, user_requests

_EPS = 1e-9


@dataclass
class Block:
    """A block's covered deploys served along a plan: per deploy (first axis) its telemetry's arrays
    and the requests left undrawn, its ledger's rows and the states it was served under; and its
    lean stretch, if it has one (`arrays.tail`: there only the service's figures are in the arrays)."""

    acc: np.ndarray  # (D, windows, 2, fields)
    util: np.ndarray  # (D, windows, 2)
    svc: np.ndarray  # (D, windows, 2)
    rem: np.ndarray  # (D, windows, S + 1)
    ledgers: list[dict[str, np.ndarray]]
    segments: list[list[tuple[float, Snapshot]] | None]  # None: its plan's with its noisy neighbours'
    tails: list[Tail | None]
    window_s: float
    noisy: dict[int, Exogenous] = field(default_factory=dict)  # the draws of those made on demand

    def fill(self, plan: Plan, j: int) -> Fill:
        """Deploy j's draws for the event engine, its lean stretch worked out in full."""
        acc, util, ledger, tail = self.acc[j], self.util[j], self.ledgers[j], self.tails[j]
        segments = self.segments[j]
        if segments is None:  # (a noisy neighbour's states are worked out for a deploy handed over)
            segments = plan.segments_of(self.noisy[j])
        if tail is not None:
            served = tail.served(plan.fixed, self.window_s)
            sl = slice(tail.k0, tail.k0 + len(tail.err))
            acc, util = acc.copy(), util.copy()
            again = list(tail.redrawn)  # windows served in full since (a noisy neighbour's edge)
            kept = acc[again], util[again]
            acc[sl], util[sl] = tail.telemetry(served)
            acc[again], util[again] = kept
            rows = tail.ledger(served, self.window_s)
            ledger = {name: np.concatenate([col, rows[name]]) for name, col in ledger.items()}
            if again:
                ledger = in_time_order(ledger)
        return Fill(
            segments,
            plan.steps,
            plan.end,
            self.rem[j],
            ledger,
            acc,
            util,
            self.svc[j],
        )


class Arrays(NamedTuple):
    """Deploys' arrays window by window (first axis: the deploy), written in place as their
    stretches are served: windows no stretch has served hold zeros (and all their requests)."""

    acc: np.ndarray  # (D, windows, 2, fields)
    util: np.ndarray  # (D, windows, 2)
    svc: np.ndarray  # (D, windows, 2)
    rem: np.ndarray  # (D, windows, S + 1), C-contiguous: served through a flat view

    @classmethod
    def empty(cls, counts: np.ndarray) -> Arrays:
        """Nothing served yet of these requests (deploys × windows × columns)."""
        D, K = counts.shape[:2]
        fields = len(Telemetry.FIELDS)
        return cls(np.zeros((D, K, 2, fields)), np.zeros((D, K, 2)), np.zeros((D, K, 2)), counts.copy())


def _share(dt: float, left: float) -> float:
    return 1.0 if left <= 0.0 else min(dt / left, 1.0)


def _shares(dt: np.ndarray, left: np.ndarray) -> np.ndarray:
    """`_share` of many pieces."""
    return np.where(left <= 0.0, 1.0, np.minimum(dt / np.where(left <= 0.0, 1.0, left), 1.0))


def sum_runs(x: np.ndarray, first: np.ndarray, axis: int = 0, *, out: np.ndarray | None = None) -> np.ndarray:
    """`np.add.reduceat(x, first, axis)` for nondecreasing `first`, bit for bit: a window's pieces
    are mostly one, and reduceat over rows of a few numbers pays per run what a copy and a few
    additions do not. Reduceat adds to a run's first element the sum of the rest, that sum taken
    left to right when the rest is shorter than `_PAIRWISE` (numpy's pairwise summation below
    that), so a run with more falls back to reduceat itself.

    Args:
        out: where to write the sums (and return them), a view into a block's arrays: the runs'
            first elements are copied there block by block of consecutive pieces (most windows
            are a piece of their own), not gathered into a copy first.
    """
    size = np.diff(np.append(first, x.shape[axis]))
    if size.size and int(size.max()) > _PAIRWISE:
        if out is None:
            return np.add.reduceat(x, first, axis=axis)
        out[...] = np.add.reduceat(x, first, axis=axis)
        return out
    idx: list[slice | np.ndarray] = [slice(None)] * axis
    if out is None:
        out = np.take(x, first, axis=axis)
    else:  # the runs of consecutive first elements, each one slice of x into one of out
        breaks = [0, *(np.flatnonzero(np.diff(first) != 1) + 1).tolist(), len(first)]
        for a, b in itertools.pairwise(breaks):
            if a == b:  # (no runs at all)
                continue
            f0 = int(first[a])
            out[(*idx, slice(a, b))] = x[(*idx, slice(f0, f0 + b - a))]
    runs = np.flatnonzero(size > 1)
    if not runs.size:
        return out
    rest = np.take(x, first[runs] + 1, axis=axis)
    r, at = 2, np.arange(runs.size)
    while (at := at[size[runs[at]] > r]).size:  # every run's r-th element at once
        rest[(*idx, at)] += x[(*idx, first[runs[at]] + r)]
        r += 1
    out[(*idx, runs)] += rest
    return out


#: Runs of up to this many elements reduceat sums as `sum_runs` does (its pairwise summation
#: begins at eight elements after a run's first).
_PAIRWISE = 8


def filled(shape: tuple[int, ...], x: float | bool, dtype: Any) -> np.ndarray:
    """`np.full(shape, x, dtype)`: a ledger's column that one number fills (no fault, no schema
    failure: a good release's every row). An integral zero is `np.zeros`, whose pages the system
    hands over zeroed, instead of written number by number (a float zero keeps `np.full`: -0.0)."""
    if isinstance(x, (bool, int, np.bool_, np.integer)) and x == 0:
        return np.zeros(shape, dtype)
    return np.full(shape, x, dtype)


def serve_block(
    cut: Pieces,
    fixed: ServingFixed,
    counts: np.ndarray,
    rng: np.random.Generator,
    window_s: float,
    *,
    into: tuple[Arrays, list[int] | slice] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    """Serve D deploys' requests (counts: deploys × windows × (segments + synthetic)) along the same
    pieces, one after the other as the tape would, every deploy in the same numpy calls: their
    telemetry's arrays, the requests left undrawn and each deploy's ledger rows.

    Args:
        into: arrays to serve into, and the rows of them these deploys are (their requests there
            are `counts`): only the windows served are written, so a long watch's quiet end is
            never touched; by default arrays of their own.
    """
    D, S1 = counts.shape[0], counts.shape[2]
    arrays, rows = into if into is not None else (Arrays.empty(counts), slice(None))
    k, start, dt, shared = cut.k, cut.start, cut.dt, cut.shared
    m, W = len(k), window_s
    k0, k1 = int(k[0]), int(k[-1]) + 1
    rem = arrays.rem[rows, :k1]  # the served windows' requests (a view for a slice of rows)
    taken = np.take(rem, k, axis=1)  # a copy
    last, short = m - 1, False
    if not shared or shared[-1] != last:  # the last piece, alone in its window, may end before it
        f = _share(float(dt[last]), (int(k[last]) + 1) * W - float(start[last]))
        if f < 1.0 - _EPS:
            taken[:, last] = sampling.binomial(rng, taken[:, last], f)
            short = True
    taken[:, shared] = 0
    _leave(rem, k, taken, (shared, short))
    for i in shared:  # a shared window's takes, one piece after the other
        ki = int(k[i])
        f = _share(float(dt[i]), (ki + 1) * W - float(start[i]))
        taken[:, i] = rem[:, ki] if f >= 1.0 - _EPS else sampling.binomial(rng, rem[:, ki], f)
        rem[:, ki] -= taken[:, i]
    if not isinstance(rows, slice):
        arrays.rem[rows, :k1] = rem
    served = serve_plain_block(rng, Stretch(cut.snaps, cut.which, k, start, dt, taken), fixed)
    if served is None:
        stretch = Stretch(
            cut.snaps,
            np.tile(cut.which, D),
            np.tile(k, D),
            np.tile(start, D),
            np.tile(dt, D),
            taken.reshape(D * m, S1),
        )
        served = serve(rng, stretch, fixed)
    S = S1 - 1

    def per_row(x: np.ndarray | int | bool, tail: tuple[int, ...] = (), dtype: Any = np.int64) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return np.broadcast_to(x, (D * m, *tail)).reshape(D, m, *tail)
        return filled((D, m, *tail), x, dtype)

    fields = len(Telemetry.FIELDS)
    rows_ = Telemetry.fields_of(served)
    first = np.searchsorted(k, np.arange(k0, k1))
    if isinstance(rows, slice):  # summed straight into the block's arrays (a view)
        sum_runs(rows_.reshape(D, m, 2, fields), first, axis=1, out=arrays.acc[rows, k0:k1])
    else:
        arrays.acc[rows, k0:k1] = sum_runs(rows_.reshape(D, m, 2, fields), first, axis=1)
    arrays.util[rows, k0:k1] = np.maximum.reduceat(served.util.reshape(D, m, 2), first, axis=1)
    arrays.svc[rows, k0:k1, 0] = np.add.reduceat(per_row(served.svc_user), first, axis=1)
    arrays.svc[rows, k0:k1, 1] = np.add.reduceat(per_row(served.svc_err), first, axis=1)
    down = served.down
    # Every deploy of the block meets the same states: deploy 0's rows say where nobody is up (one
    # state for every piece gives one value).
    down_m = (
        np.broadcast_to(down, (D * m,))[:m].copy() if isinstance(down, np.ndarray) else np.full(m, bool(down))
    )
    caused, schema_failed = per_row(served.caused), per_row(served.schema_failed)
    faulty, share = per_row(served.faulty, (S,)), per_row(served.share, (S,), float)
    ledgers = [
        {
            "t0": start,
            "dt": dt,
            "k": k,
            "taken": taken[d],
            "caused": caused[d],
            "schema_failed": schema_failed[d],
            "faulty": faulty[d],
            "share": share[d],
            "down": down_m,
        }
        for d in range(D)
    ]
    return arrays.acc, arrays.util, arrays.svc, arrays.rem, ledgers


def _leave(rem: np.ndarray, k: np.ndarray, taken: np.ndarray, how: tuple[list[int], bool]) -> None:
    """`rem[:, k] -= taken` for a block's pieces in window order (`how`: the pieces sharing a window,
    which take nothing yet, and whether the last piece took only part of its window): a piece alone
    in its window takes it all, so where every window from the first piece's to the last's has a
    piece the windows are cleared at once, the shared ones and a short last one then written back,
    instead of a fancy-indexed read, subtraction and write of every window."""
    shared, short = how
    k0, k1 = int(k[0]), int(k[-1]) + 1
    if int(np.count_nonzero(np.diff(k))) + 1 != k1 - k0:  # a window with no piece keeps its requests
        rem[:, k] -= taken
        return
    last = len(k) - 1
    kept = np.take(rem, k[shared], axis=1) if shared else None
    left = rem[:, int(k[last])] - taken[:, last] if short else None
    rem[:, k0:k1] = 0
    if kept is not None:
        rem[:, k[shared]] = kept
    if left is not None:
        rem[:, int(k[last])] = left


def serve_apart(
    cuts: Sequence[Pieces],
    fixed: ServingFixed,
    counts: np.ndarray | None,
    rng: np.random.Generator,
    window_s: float,
    *,
    into: tuple[Arrays, list[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    """`serve_block` for deploys each along its own pieces (counts: deploys × windows × columns):
    each deploy's requests taken piece by piece, then every deploy's pieces in one `serve` call.

    Args:
        into: as for `serve_block` (the requests are then read from its arrays: `counts` may be
            None); the windows served here must not have been served into them before.
    """
    if into is None:
        assert counts is not None
        arrays, members = Arrays.empty(counts), list(range(len(counts)))
    else:
        arrays, members = into
    n_windows, S1 = arrays.rem.shape[1:]
    W = window_s
    sizes = [len(c.k) for c in cuts]
    ends = np.cumsum([0, *sizes])
    k_all = np.concatenate([c.k for c in cuts])
    start_all = np.concatenate([c.start for c in cuts])
    dt_all = np.concatenate([c.dt for c in cuts])
    g = np.repeat(np.asarray(members) * n_windows, sizes) + k_all  # (deploy, window) as one index
    flat = arrays.rem.reshape(-1, S1)  # a view: the requests are taken in place
    taken = flat[g]  # a copy (fancy indexing)
    # A deploy's last piece, alone in its window, may end before it; pieces sharing a window take
    # its requests one after the other: every deploy's first such pieces at once, then the seconds.
    lasts = np.array(
        [ends[d + 1] - 1 for d, c in enumerate(cuts) if not c.shared or c.shared[-1] != sizes[d] - 1]
    )
    cut_short = np.zeros(0, np.int64)
    if len(lasts):
        f = _shares(dt_all[lasts], (k_all[lasts] + 1) * W - start_all[lasts])
        short = f < 1.0 - _EPS
        if short.any():
            cut_short = lasts[short]
            taken[cut_short] = rng.binomial(taken[cut_short], f[short][:, None])
    sh = np.concatenate([np.asarray(c.shared, np.int64) + ends[d] for d, c in enumerate(cuts)])
    taken[sh] = 0
    # What each piece leaves of its window: a piece alone in it takes it all, the short last one
    # leaves the rest, pieces sharing it take nothing yet (a window listed twice is left alike).
    whole = np.ones(len(g), bool)
    whole[sh] = False
    whole[cut_short] = False
    flat[g[whole]] = 0
    flat[g[cut_short]] -= taken[cut_short]
    if len(sh):
        gs = g[sh]
        first = np.r_[True, gs[1:] != gs[:-1]]
        rank = np.arange(len(sh)) - np.maximum.accumulate(np.where(first, np.arange(len(sh)), 0))
        f_sh = _shares(dt_all[sh], (k_all[sh] + 1) * W - start_all[sh])
        for r in range(int(rank.max()) + 1):
            at = rank == r
            rows, f, w = sh[at], f_sh[at], gs[at]
            take = flat[w]
            part = f < 1.0 - _EPS
            if part.any():
                take[part] = rng.binomial(take[part], f[part][:, None])
            taken[rows] = take
            flat[w] -= take
    # States recur across deploys (alike, if not the same object): each distinct one listed once.
    # (Most recur as the very object, `routing.snapshot`'s: those are looked up by identity.)
    snaps: list[Snapshot] = []
    index: dict[bytes, int] = {}
    known: dict[int, int] = {}
    which_all: list[np.ndarray] = []
    for cut in cuts:
        local = []
        for snap in cut.snaps:
            at_snap = known.get(id(snap))
            if at_snap is None:
                key = snap.packed.tobytes()
                if key not in index:
                    index[key] = len(snaps)
                    snaps.append(snap)
                at_snap = known[id(snap)] = index[key]
            local.append(at_snap)
        which_all.append(np.asarray(local)[cut.which])
    served = serve(
        rng,
        Stretch(
            snaps,
            np.concatenate(which_all),
            k_all,
            start_all,
            dt_all,
            taken,
        ),
        fixed,
    )
    first = np.flatnonzero(np.r_[True, np.diff(g) != 0])
    M = len(k_all)
    per_piece = Telemetry.fields_of(served)
    at = g[first]
    acc, util, svc = (a.reshape(-1, *a.shape[2:]) for a in arrays[:3])  # views
    acc[at] = sum_runs(per_piece, first)
    util[at] = np.maximum.reduceat(served.util, first, axis=0)
    svc[at, 0] = np.add.reduceat(np.broadcast_to(served.svc_user, (M,)), first)
    svc[at, 1] = np.add.reduceat(np.broadcast_to(served.svc_err, (M,)), first)
    S = S1 - 1

    def column(x: np.ndarray | int | bool, tail: tuple[int, ...] = (), dtype: Any = np.int64) -> np.ndarray:
        return np.broadcast_to(x, (M, *tail)) if isinstance(x, np.ndarray) else filled((M, *tail), x, dtype)

    caused, schema_failed = column(served.caused), column(served.schema_failed)
    faulty, share = column(served.faulty, (S,)), column(served.share, (S,), float)
    down = column(served.down, (), bool)
    ledgers = []
    for d, cut in enumerate(cuts):
        sl = slice(ends[d], ends[d + 1])
        ledgers.append(
            {
                "t0": cut.start,
                "dt": cut.dt,
                "k": cut.k,
                "taken": taken[sl],
                "caused": caused[sl],
                "schema_failed": schema_failed[sl],
                "faulty": faulty[sl],
                "share": share[sl],
                "down": down[sl],
            }
        )
    return arrays.acc, arrays.util, arrays.svc, arrays.rem, ledgers


def draw_block(
    scn: Scenario,
    plans: Plan | Sequence[Plan],
    deploys: Sequence[tuple[int, Exogenous]],
    seed: int,
    block: int,
) -> Block:
    """Serve a block's covered deploys ((deploy, its exogenous draws), all of the block's) along their
    plan (one for all, or each its own: `arrays.personal`), from the block's own stream: those no
    noisy neighbour meets along a shared plan's pieces, then the others each along its own states;
    a plan's quiet stretch after its last change lean (`arrays.tail`) for those no noisy neighbour
    meets."""
    rng = streams.stream(seed, block, streams.ARRAYS)
    W = scn.run.window_s
    shared = plans if isinstance(plans, Plan) else None
    each: list[Plan] = [plans] * len(deploys) if isinstance(plans, Plan) else list(plans)
    counts = np.stack([exo.traffic.counts for _, exo in deploys])
    end_k = round(each[0].end / W)  # the watch ends on a window's edge wherever a stretch is lean
    # A noisy neighbour that only slows requests changes nothing a block draws but the latency:
    # such a deploy is served along its plan's states with the others, and its episodes laid on
    # afterwards (`_lay_noise`); its own states are made only if the event engine takes it over.
    # (A deploy with a plan of its own is served apart anyway: there it saves nothing, measured.)
    slowed = [
        j for j, (_, exo) in enumerate(deploys) if shared is not None and exo.episodes and latency_only(exo)
    ]
    lazy = set(slowed)
    segments: list[list[tuple[float, Snapshot]] | None] = [
        None if j in lazy else plan.segments if not exo.episodes else plan.segments_of(exo)
        for j, (plan, (_, exo)) in enumerate(zip(each, deploys, strict=True))
    ]
    # The states each deploy is served along:
    along = [plan.segments if segs is None else segs for plan, segs in zip(each, segments, strict=True)]
    together = [j for j in range(len(deploys)) if along[j] is each[j].segments] if shared is not None else []
    in_block = set(together)
    # Where each deploy's lean stretch begins (None: served in full to the end); one cut for the
    # group along the shared plan: all lean, or none.
    lean = [
        None if j in in_block else _lean(plan, segs, counts[j], W)
        for j, (plan, segs) in enumerate(zip(each, along, strict=True))
    ]
    if shared is not None and together:
        group = _lean(
            shared, shared.segments, counts if len(together) == len(deploys) else counts[together], W
        )
        for j in together:
            lean[j] = group
    apart = [j for j in range(len(deploys)) if j not in in_block]
    tails: list[Tail | None] = [None] * len(deploys)
    into = Arrays.empty(counts)  # each group served into the block's rows: only its served windows touched
    ledgers: list[dict[str, np.ndarray]] = [{} for _ in deploys]
    if shared is not None and together:
        cut = shared.pieces if lean[together[0]] is None else shared.head
        rows: list[int] | slice = slice(None) if len(together) == len(deploys) else together
        # (served into the block's arrays: its requests are read there, `counts` gives the shape)
        mine = counts if isinstance(rows, slice) else counts[together]
        drawn = serve_block(cut, shared.fixed, mine, rng, W, into=(into, rows))
        for j, ledger in zip(together, drawn[4], strict=True):
            ledgers[j] = ledger
        if lean[together[0]] is not None:
            _draw_tails(together, (along, lean, end_k), counts, into, tails, rng=rng)
    if apart:
        cuts = [_cut(each[j], along[j], lean[j], W) for j in apart]
        drawn = serve_apart(cuts, each[apart[0]].fixed, None, rng, W, into=(into, apart))
        for j, ledger in zip(apart, drawn[4], strict=True):
            ledgers[j] = ledger
        _draw_tails(
            [j for j in apart if lean[j] is not None], (along, lean, end_k), counts, into, tails, rng=rng
        )
    if slowed:
        _lay_noise(slowed, (each, deploys), (counts, end_k, W), (into, ledgers, tails), rng=rng)
    noisy = {j: deploys[j][1] for j in slowed}
    return Block(into.acc, into.util, into.svc, into.rem, ledgers, segments, tails, W, noisy)


def _lean(
    plan: Plan, segments: list[tuple[float, Snapshot]], counts: np.ndarray, window_s: float
) -> int | None:
    """The first window of a deploy's lean stretch along these states (its plan's, with its noisy
    neighbours), or None: served in full to the end. (`counts`: windows × columns, or deploys ×
    windows × columns for deploys along the same states: their one start, if every one has it.)"""
    k0 = plan.tail if segments is plan.segments else tail_from(segments, plan.looks, plan.end, window_s)
    if k0 is None:
        return None
    k1 = round(plan.end / window_s)
    return k0 if counts.shape[-2] >= k1 and fits(segments[-1][1], counts[..., k0:k1, :], window_s) else None


def _cut(plan: Plan, segments: list[tuple[float, Snapshot]], k0: int | None, window_s: float) -> Pieces:
    """The pieces a deploy is served in full along: to its lean stretch, or to the end."""
    if segments is plan.segments:
        return plan.pieces if k0 is None else plan.head
    return pieces_of(segments, plan.end if k0 is None else k0 * window_s, window_s)


def _draw_tails(
    members: list[int],
    where: tuple[list[list[tuple[float, Snapshot]]], list[int | None], float],
    counts: np.ndarray,
    into: Arrays,
    tails: list[Tail | None],
    *,
    rng: np.random.Generator,
) -> None:
    """The lean stretches of deploys `members` of the block (`where`: every deploy's states, lean
    start, and the end of the watch): their failures drawn, the service's figures and requests
    filled in. One deploy after the other, each from its own start under its own last state, in one
    draw: a binomial array call draws element after element in C order, so the deploys' windows laid
    end to end draw what their calls one by one would (`sampling.binomial` draws a short array number
    by number, as the array call does), and the stream moves on alike."""
    if not members:
        return
    segments, lean, end_k = where
    k1 = int(end_k)
    starts = [k0 for j in members if (k0 := lean[j]) is not None]
    assert len(starts) == len(members)
    snaps = [segments[j][-1][1] for j in members]
    k_lo = min(starts)
    users_all = user_requests(counts[:, k_lo:k1])  # (every deploy of the block, windows from k_lo)
    sizes = [k1 - k0 for k0 in starts]
    p = [failure_probability(snap) for snap in snaps]
    one = all(q == p[0] for q in p)
    if one and all(k0 == k_lo for k0 in starts):  # (a block's group along its plan: one start for all)
        _draw_tails_alike(members, (k_lo, k1, users_all, snaps), counts, into, tails, rng=rng, p=p[0])
        return
    users = [users_all[j, k0 - k_lo :] for j, k0 in zip(members, starts, strict=True)]
    err_all = sampling.binomial(rng, np.concatenate(users), p[0] if one else np.repeat(np.array(p), sizes))
    at = 0
    for x, j in enumerate(members):
        k0, n = starts[x], sizes[x]
        err = err_all[at : at + n]
        at += n
        into.svc[j, k0:k1, 0] = users[x]
        into.svc[j, k0:k1, 1] = err
        into.rem[j, k0:k1] = 0
        tails[j] = Tail(k0, counts[j, k0:k1], err, snaps[x])


def _draw_tails_alike(
    members: list[int],
    where: tuple[int, int, np.ndarray, list[Snapshot]],
    counts: np.ndarray,
    into: Arrays,
    tails: list[Tail | None],
    *,
    rng: np.random.Generator,
    p: float,
) -> None:
    """`_draw_tails` of deploys whose lean stretches all begin at one window and fail alike (`where`:
    that window, the end of the watch, every deploy's user requests from it on, their last states):
    the same draw over the same requests in the same order, and the block's arrays written for all
    of them at once instead of deploy after deploy."""
    k0, k1, users_all, snaps = where
    rows: list[int] | slice = slice(None) if members == list(range(len(counts))) else members
    users = users_all[rows]  # (members, windows)
    err = sampling.binomial(rng, users.reshape(-1), p).reshape(users.shape)
    into.svc[rows, k0:k1, 0] = users
    into.svc[rows, k0:k1, 1] = err
    into.rem[rows, k0:k1] = 0
    for x, j in enumerate(members):
        tails[j] = Tail(k0, counts[j, k0:k1], err[x], snaps[x])


def latency_only(exo: Exogenous) -> bool:
    """Whether every noisy-neighbour episode a deploy meets only slows requests (adds no failures):
    then it changes nothing a block draws but the latency."""
    return all(e.error_rate == 0.0 for e in exo.episodes)


def _lay_noise(
    slowed: list[int],
    where: tuple[Sequence[Plan], Sequence[tuple[int, Exogenous]]],
    drawn: tuple[np.ndarray, int, float],
    held: tuple[Arrays, list[dict[str, np.ndarray]], list[Tail | None]],
    *,
    rng: np.random.Generator,
) -> None:
    """Lay the latency-only noisy neighbours of deploys `slowed` (served along their plan's states)
    on their draws (`where`: every deploy's plan and draws; `drawn`: the block's requests, the end
    of the watch in windows and the window's length; `held`: the block's arrays, ledgers and lean
    stretches). A window an episode begins or ends inside is served again in full under the
    deploy's own states, from its requests (the tape splits it there: pieces by time, each its own
    latency); every other window keeps its draws — the requests, routing and failures of a state
    whose failure probability the episode leaves as it is — and its latency is the episodes' factor
    times the plan's, as a state with them in force gives it. Exact in distribution: which windows
    are served again depends on the episodes alone, not on anything drawn."""
    each, deploys = where
    counts, end_k, W = drawn
    into, ledgers, tails = held
    again: dict[int, list[int]] = {}
    changes = {j: noise_changes(deploys[j][1].episodes) for j in slowed}
    for j in slowed:
        ks: set[int] = set()
        for t, _ in changes[j]:
            k = math.floor(t / W + _EPS)
            if 0.0 < t < end_k * W and abs(t - k * W) > _EPS and abs(t - (k + 1) * W) > _EPS:
                ks.add(k)
        if ks:
            again[j] = sorted(ks)
    if again:
        js = list(again)
        cuts = [windows_cut(each[j], changes[j], again[j], W) for j in js]
        for j in js:
            into.rem[j, again[j]] = counts[j, again[j]]  # its earlier draws there are dropped
        got = serve_apart(cuts, each[js[0]].fixed, None, rng, W, into=(into, js))
        for at, j in enumerate(js):
            tail = tails[j]
            k_lean = end_k if tail is None else tail.k0
            rows = got[4][at]
            early = rows["k"] < k_lean
            if early.any():  # a row reads these: spliced into its ledger now
                head = [k for k in again[j] if k < k_lean]
                ledgers[j] = _spliced(ledgers[j], {n: c[early] for n, c in rows.items()}, head)
            if tail is not None and not early.all():  # only a fill reads these
                late = tuple(k for k in again[j] if k >= tail.k0)
                tails[j] = tail._replace(redrawn=late, rows={n: c[~early] for n, c in rows.items()})
    lat = _latency([changes[j] for j in slowed], end_k, W, each[0].base_error)
    by_lean: dict[int, list[int]] = {}  # the windows laid on: those before a lean stretch
    for x, j in enumerate(slowed):
        lat[x, again.get(j, [])] = 1.0  # served again under its own states: its latency is already theirs
        tail = tails[j]
        by_lean.setdefault(end_k if tail is None else tail.k0, []).append(x)
        if tail is not None:
            tails[j] = tail._replace(noise=lat[x, tail.k0 : end_k])
    for k_lean, xs in by_lean.items():
        laid = [slowed[x] for x in xs]
        for f in (Telemetry.LATW, Telemetry.LATW_ON):
            into.acc[laid, :k_lean, :, f] *= lat[xs, :k_lean]


def _latency(
    changes: list[list[tuple[float, tuple[Episode, ...]]]], end_k: int, W: float, base_error: float
) -> np.ndarray:
    """Per deploy, window (end_k) and slot the latency factor of the episodes in force over the
    window (`changes`: each deploy's instants they begin and end, `world.noise_changes`; a window
    they begin or end inside takes the state at its middle: such windows are served again). A
    window's factor is that of the episodes in force from the last change no later than its middle;
    a stretch of windows with none in force keeps 1.0."""
    mids = (np.arange(end_k) + 0.5) * W
    out = np.ones((len(changes), end_k, 2))
    for x, deploy in enumerate(changes):
        # The windows from the first whose middle is at or past each change on: its episodes'.
        firsts = np.searchsorted(mids, [t for t, _ in deploy], side="left").tolist()
        for (_, active), a, b in zip(deploy, firsts, [*firsts[1:], end_k], strict=True):
            if active and b > a:
                out[x, a:b] = background(active, base_error).lat
    return out


def _spliced(
    ledger: dict[str, np.ndarray], rows: dict[str, np.ndarray], ks: list[int]
) -> dict[str, np.ndarray]:
    """A ledger (in time order) with its rows of windows `ks` (in order; if it has any) replaced by
    `rows` (theirs, in time order), in time order. A row begins inside its own window, so the rows
    of different windows never tie: each window's new rows go where its old ones were."""
    old, new = np.asarray(ledger["k"]), np.asarray(rows["k"])
    lo, hi = np.searchsorted(old, ks, "left").tolist(), np.searchsorted(old, ks, "right").tolist()
    first, last = np.searchsorted(new, ks, "left").tolist(), np.searchsorted(new, ks, "right").tolist()
    # Each column joined from slices (old rows up to a window, its new rows, ...), in one call.
    cuts: list[tuple[bool, slice]] = []
    prev = 0
    for a, b, c, d in zip(lo, hi, first, last, strict=True):
        cuts += [(False, slice(prev, a)), (True, slice(c, d))]
        prev = b
    cuts.append((False, slice(prev, len(old))))
    return {
        name: np.concatenate([(rows[name] if fresh else col)[sl] for fresh, sl in cuts])
        for name, col in ledger.items()
    }
