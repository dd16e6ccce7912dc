"""Serving a block: its deploys' requests along the plan's pieces (or each along its own), every
deploy in the same numpy calls, into the telemetry, ledger and requests the event engine would hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config.scenario import Scenario
from ...core import rng as streams
from ...core import sampling
from ..exogenous import Exogenous
from ..serving import ServingFixed, Snapshot, Stretch, serve
from ..tape import Fill
from ..telemetry import Telemetry
from .plan import Pieces, Plan, pieces_of

_EPS = 1e-9


@dataclass
class Block:
    """A block's covered deploys served along a plan: per deploy (first axis) its telemetry's arrays
    and the requests left undrawn, its ledger's rows and the states it was served under."""

    acc: np.ndarray  # (D, windows, 2, fields)
    util: np.ndarray  # (D, windows, 2)
    svc: np.ndarray  # (D, windows, 2)
    rem: np.ndarray  # (D, windows, S + 1)
    ledgers: list[dict[str, np.ndarray]]
    segments: list[list[tuple[float, Snapshot]]]

    def fill(self, plan: Plan, j: int) -> Fill:
        return Fill(
            self.segments[j],
            plan.steps,
            plan.end,
            self.rem[j],
            self.ledgers[j],
            self.acc[j],
            self.util[j],
            self.svc[j],
        )


def _share(dt: float, left: float) -> float:
    return 1.0 if left <= 0.0 else min(dt / left, 1.0)


def serve_block(
    cut: Pieces, fixed: ServingFixed, counts: np.ndarray, rng: np.random.Generator, window_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    """Serve D deploys' requests (counts: deploys × windows × (segments + synthetic)) along the same
    pieces, one after the other as the tape would, every deploy in the same numpy calls: their
    telemetry's arrays, the requests left undrawn and each deploy's ledger rows."""
    D, n_windows, S1 = counts.shape
    k, start, dt, shared = cut.k, cut.start, cut.dt, cut.shared
    m, W = len(k), window_s
    rem = counts.copy()
    taken = rem[:, k]  # a copy (fancy indexing)
    last = m - 1
    if not shared or shared[-1] != last:  # the last piece, alone in its window, may end before it
        f = _share(float(dt[last]), (int(k[last]) + 1) * W - float(start[last]))
        if f < 1.0 - _EPS:
            taken[:, last] = sampling.binomial(rng, taken[:, last], f)
    taken[:, shared] = 0
    rem[:, k] -= taken
    for i in shared:  # a shared window's takes, one piece after the other
        ki = int(k[i])
        f = _share(float(dt[i]), (ki + 1) * W - float(start[i]))
        taken[:, i] = rem[:, ki] if f >= 1.0 - _EPS else sampling.binomial(rng, rem[:, ki], f)
        rem[:, ki] -= taken[:, i]
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
        return np.full((D, m, *tail), x, dtype)

    fields = len(Telemetry.FIELDS)
    rows = Telemetry.fields_of(served)
    k0, k1 = int(k[0]), int(k[-1]) + 1
    first = np.searchsorted(k, np.arange(k0, k1))
    acc = np.zeros((D, n_windows, 2, fields))
    acc[:, k0:k1] = np.add.reduceat(rows.reshape(D, m, 2, fields), first, axis=1)
    util = np.zeros((D, n_windows, 2))
    util[:, k0:k1] = np.maximum.reduceat(served.util.reshape(D, m, 2), first, axis=1)
    svc = np.zeros((D, n_windows, 2))
    svc[:, k0:k1, 0] = np.add.reduceat(per_row(served.svc_user), first, axis=1)
    svc[:, k0:k1, 1] = np.add.reduceat(per_row(served.svc_err), first, axis=1)
    down = served.down
    down_m = down.reshape(D, m)[0].copy() if isinstance(down, np.ndarray) else np.full(m, bool(down))
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
    return acc, util, svc, rem, ledgers


def serve_apart(
    cuts: Sequence[Pieces], fixed: ServingFixed, counts: np.ndarray, rng: np.random.Generator, window_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    """`serve_block` for deploys each along its own pieces (counts: deploys × windows × columns):
    each deploy's requests taken piece by piece, then every deploy's pieces in one `serve` call."""
    D, n_windows, S1 = counts.shape
    W = window_s
    rem = counts.copy()
    takes: list[np.ndarray] = []
    snaps: list[Snapshot] = []
    index: dict[int, int] = {}
    which_all: list[np.ndarray] = []
    for d, cut in enumerate(cuts):
        k, start, dt, shared = cut.k, cut.start, cut.dt, cut.shared
        taken = rem[d, k]  # a copy (fancy indexing)
        last = len(k) - 1
        if not shared or shared[-1] != last:
            f = _share(float(dt[last]), (int(k[last]) + 1) * W - float(start[last]))
            if f < 1.0 - _EPS:
                taken[last] = sampling.binomial(rng, taken[last], f)
        taken[shared] = 0
        rem[d, k] -= taken
        for i in shared:
            ki = int(k[i])
            f = _share(float(dt[i]), (ki + 1) * W - float(start[i]))
            taken[i] = rem[d, ki] if f >= 1.0 - _EPS else sampling.binomial(rng, rem[d, ki], f)
            rem[d, ki] -= taken[i]
        takes.append(taken)
        # States recur across deploys (routing is cached): each distinct one is listed once.
        local = []
        for snap in cut.snaps:
            if id(snap) not in index:  # (the list keeps it alive: its id stays its own)
                index[id(snap)] = len(snaps)
                snaps.append(snap)
            local.append(index[id(snap)])
        which_all.append(np.asarray(local)[cut.which])
    k_all = np.concatenate([c.k for c in cuts])
    dt_all = np.concatenate([c.dt for c in cuts])
    served = serve(
        rng,
        Stretch(
            snaps,
            np.concatenate(which_all),
            k_all,
            np.concatenate([c.start for c in cuts]),
            dt_all,
            np.concatenate(takes),
        ),
        fixed,
    )
    sizes = [len(c.k) for c in cuts]
    g = np.repeat(np.arange(D) * n_windows, sizes) + k_all  # (deploy, window) as one index
    first = np.flatnonzero(np.r_[True, np.diff(g) != 0])
    fields = len(Telemetry.FIELDS)
    M = len(k_all)
    rows = Telemetry.fields_of(served)
    at = g[first]
    acc = np.zeros((D * n_windows, 2, fields))
    acc[at] = np.add.reduceat(rows, first, axis=0)
    util = np.zeros((D * n_windows, 2))
    util[at] = np.maximum.reduceat(served.util, first, axis=0)
    svc = np.zeros((D * n_windows, 2))
    svc[at, 0] = np.add.reduceat(np.broadcast_to(served.svc_user, (M,)), first)
    svc[at, 1] = np.add.reduceat(np.broadcast_to(served.svc_err, (M,)), first)
    S = S1 - 1

    def column(x: np.ndarray | int | bool, tail: tuple[int, ...] = (), dtype: Any = np.int64) -> np.ndarray:
        return np.broadcast_to(x, (M, *tail)) if isinstance(x, np.ndarray) else np.full((M, *tail), x, dtype)

    caused, schema_failed = column(served.caused), column(served.schema_failed)
    faulty, share = column(served.faulty, (S,)), column(served.share, (S,), float)
    down = column(served.down, (), bool)
    ends = np.cumsum([0, *sizes])
    ledgers = []
    for d, cut in enumerate(cuts):
        sl = slice(ends[d], ends[d + 1])
        ledgers.append(
            {
                "t0": cut.start,
                "dt": cut.dt,
                "k": cut.k,
                "taken": takes[d],
                "caused": caused[sl],
                "schema_failed": schema_failed[sl],
                "faulty": faulty[sl],
                "share": share[sl],
                "down": down[sl],
            }
        )
    shape = (D, n_windows)
    return acc.reshape(*shape, 2, fields), util.reshape(*shape, 2), svc.reshape(*shape, 2), rem, ledgers


def draw_block(
    scn: Scenario,
    plans: Plan | Sequence[Plan],
    deploys: Sequence[tuple[int, Exogenous]],
    seed: int,
    block: int,
) -> Block:
    """Serve a block's covered deploys ((deploy, its exogenous draws), all of the block's) along their
    plan (one for all, or each its own: `plan.personal`), from the block's own stream: those no
    noisy neighbour meets along a shared plan's pieces, then the others each along its own states."""
    rng = streams.stream(seed, block, streams.ARRAYS)
    W = scn.run.window_s
    shared = plans if isinstance(plans, Plan) else None
    each = [shared] * len(deploys) if shared is not None else list(plans)
    quiet = [j for j, (_, exo) in enumerate(deploys) if not exo.episodes] if shared is not None else []
    apart = [j for j in range(len(deploys)) if j not in set(quiet)]
    groups: list[tuple[list[int], tuple[Any, ...]]] = []
    if shared is not None and quiet:
        counts = np.stack([deploys[j][1].traffic.counts for j in quiet])
        groups.append((quiet, serve_block(shared.pieces, shared.fixed, counts, rng, W)))
    segments = [plan.segments for plan in each]
    if apart:
        for j in apart:
            segments[j] = each[j].segments_of(deploys[j][1])
        cuts = [
            each[j].pieces if segments[j] is each[j].segments else pieces_of(segments[j], each[j].end, W)
            for j in apart
        ]
        counts = np.stack([deploys[j][1].traffic.counts for j in apart])
        groups.append((apart, serve_apart(cuts, each[apart[0]].fixed, counts, rng, W)))
    if len(groups) == 1:  # every deploy of the block in one group, in order
        acc, util, svc, rem, ledgers = groups[0][1]
    else:
        acc, util, svc, rem, ledgers = _assemble(groups, len(deploys))
    return Block(acc, util, svc, rem, ledgers, segments)


def _assemble(
    groups: list[tuple[list[int], tuple[Any, ...]]], D: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    """The groups' draws put back in the block's order of deploys."""
    arrays = [np.empty((D, *groups[0][1][f].shape[1:]), groups[0][1][f].dtype) for f in range(4)]
    ledgers: list[dict[str, np.ndarray]] = [{} for _ in range(D)]
    for members, drawn in groups:
        for f in range(4):
            arrays[f][members] = drawn[f]
        for j, ledger in zip(members, drawn[4], strict=True):
            ledgers[j] = ledger
    acc, util, svc, rem = arrays
    return acc, util, svc, rem, ledgers
