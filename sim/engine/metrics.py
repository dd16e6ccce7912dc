"""Per-deploy metrics: one flat row per (deploy, strategy), measured from the world's ledger and marks.

The columns — their order, kinds, units and meanings — are the table `sim.core.columns.ROW`; the row
built here has exactly those (a test checks it). Undefined values are NaN, never 0: a good release
has no faulty requests to count, a release that never reached 100% has no lead time.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..core import rng as streams
from ..core import sampling
from ..core.columns import COLUMNS, METRICS
from ..core.held import held_for
from .exogenous import hit_probability

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..config.traffic import TrafficConfig
    from .strategies import Deploy
    from .world import World

NAN = math.nan


def _first_faulty_request(phases: Sequence[World], rng: np.random.Generator) -> float:
    """When the first user request met the active fault: inside the first row that had any, the
    earliest of its n arrivals, each uniform over the row (the minimum of n uniforms is Beta(1, n))."""
    for world in phases:
        L = world.ledger
        faulty = L["faulty"]
        # The first row with any: found in the flat counts (never negative), where summing every
        # row's few segments first cost a numpy step per row.
        flat = faulty.ravel()
        j = int(np.argmax(flat > 0)) if len(flat) else 0
        if len(flat) and flat[j] > 0:
            i = j // faulty.shape[1]
            return float(L["t0"][i] + L["dt"][i] * rng.beta(1, int(faulty[i].sum())))
    return NAN


def _column(phases: Sequence[World], name: str) -> np.ndarray:
    """A ledger column over every phase of a run, in time order."""
    if len(phases) == 1:
        return phases[0].ledger[name]
    return np.concatenate([w.ledger[name] for w in phases])


class Audience(NamedTuple):
    """What `affected_users` reads of a scenario's traffic: its users by segment, as numbers and as
    whole numbers (never negative), and the shape of their request rates."""

    users: np.ndarray
    whole: np.ndarray
    shape: float

    @classmethod
    def of(cls, users: np.ndarray, shape: float) -> Audience:
        whole = np.maximum(np.round(users).astype(np.int64), 0)
        users.flags.writeable = whole.flags.writeable = False  # shared by every row
        return cls(users, whole, shape)


#: `Audience` by traffic settings (held, so that their id stays their own): the same for every row of a
#: scenario, and for a strategy's copy of it with its own routing.
_AUDIENCE: OrderedDict[int, tuple[Any, dict[str, Audience]]] = OrderedDict()
_KEEP = 8


def audience(traffic: TrafficConfig) -> Audience:
    """The scenario's `Audience`, made once per traffic settings."""
    kept = held_for(_AUDIENCE, traffic, _KEEP, dict)
    if not kept:
        kept["of"] = Audience.of(traffic.users.population * traffic.shares, traffic.users.activity_shape)
    return kept["of"]


def affected_users(
    phases: Sequence[World], scn: Scenario, rng: np.random.Generator, *, faulty: np.ndarray | None = None
) -> float:
    """Distinct users who met faulty code.

    Under sticky routing a row's faulty requests of segment s come from the users whose hash falls
    below the row's share of that segment, spread evenly over them; without stickiness, from every
    user of the segment. Under session affinity they are the users holding the canary's cookie.
    Users are grouped into bands between the distinct shares; a band's users met a mean number of
    faulty requests each, and `hit_probability` turns that into the chance that one of them met at
    least one. `faulty`: the phases' faulty column, if read already.
    """
    u = audience(scn.traffic)
    if faulty is None:
        faulty = _column(phases, "faulty")
    if scn.routing.session_affinity:
        return _cookie_holders(faulty, _column(phases, "share"), u.users, rng)
    if scn.routing.sticky:
        return _banded(faulty, _column(phases, "share"), u.users, u.shape, rng)
    return _unbanded(faulty, u, rng)


def _banded(
    faulty: np.ndarray, share: np.ndarray | None, users: np.ndarray, k: float, rng: np.random.Generator
) -> float:
    """`affected_users` by bands; share None: not sticky (every row reaches all of a segment's users)."""
    total = 0
    for s, users_s in enumerate(users.tolist()):
        rows = faulty[:, s] > 0
        if not rows.any():
            continue
        reach = share[rows, s] if share is not None else np.ones(int(rows.sum()))
        reach = np.maximum(reach, 1e-12)
        per_user = faulty[rows, s] / (users_s * reach)  # mean faulty requests per user of the row's slice
        edges = np.unique(reach)
        # Users above band edge j are reached by every row whose reach is at least edge j.
        order = np.searchsorted(edges, reach)
        per_band = np.cumsum(np.bincount(order, weights=per_user, minlength=len(edges))[::-1])[::-1]
        counts = np.diff(np.round(users_s * np.concatenate([[0.0], edges])).astype(np.int64))
        total += int(rng.binomial(np.maximum(counts, 0), hit_probability(per_band, k)).sum())
    return float(total)


def _cookie_holders(
    faulty: np.ndarray, held: np.ndarray, users: np.ndarray, rng: np.random.Generator
) -> float:
    """`affected_users` under session affinity: a user holds the canary's cookie only after a
    request the canary served, and sends it every request from then on, so every holder by the
    last moment faulty code served the segment met it. (Counted from the holders at that moment:
    one who got the cookie before a fault's onset and sent nothing after it is counted too.)"""
    total = 0
    for s, users_s in enumerate(users.tolist()):
        rows = faulty[:, s] > 0
        if rows.any():
            total += int(rng.binomial(round(users_s), float(held[rows, s].max())))
    return float(total)


def _unbanded(faulty: np.ndarray, u: Audience, rng: np.random.Generator) -> float:
    """`_banded` without stickiness, where each segment is one band (all its users), for every
    segment at once: the same numbers and draws at a fraction of the numpy calls."""
    # Counts, never negative: a segment was hit where its (exact, integer) sum is positive. A product
    # with ones sums the columns in one pass; numpy's reductions over a short last axis pay per row.
    hit = np.ones(len(faulty), np.int64) @ faulty > 0
    n_hit = np.count_nonzero(hit)
    if not n_hit:
        return 0.0
    if n_hit == len(hit):  # every segment (most bad releases): no copies
        users, whole = u.users, u.whole
    else:
        users, whole, faulty = u.users[hit], u.whole[hit], faulty[:, hit]
    # A running sum, as the bands' bincount adds (rows without faulty requests add exact zeros).
    per_user = np.add.accumulate(faulty / users, axis=0)[-1]
    return float(sampling.binomial(rng, whole, hit_probability(per_user, u.shape)).sum())


def deploy_row(
    scn: Scenario, strategy: str, deploy: int, seed: int, phases: Sequence[World], *, last: Deploy, end: float
) -> dict[str, Any]:
    """The row of a run: `phases` are its worlds in time order (the watch, then any follow-up),
    `last` the deploy (one strategy rolling out) of the last phase, `end` when the run ended."""
    world = phases[-1]
    m, r = world.marks, world.release
    bad = r.bad
    detected = last.detected_by is not None
    # The row's own draws come from a stream of their own: the same whatever the tape drew before
    # (a good release's row draws nothing).
    rng = streams.lazy(seed, deploy, streams.METRICS) if bad else None
    faulty = _column(phases, "faulty") if bad else None  # read once, for the three figures of the fault
    first = _first_faulty_request(phases, rng) if rng is not None else NAN
    # Time to restore counts from the first user the fault hurt (DORA's "time to restore service"):
    # a release caught before any user met it has no incident to restore from.
    detected_at = NAN if m.detected_at is None else m.detected_at  # set whenever `detected`
    recovered_at = NAN if m.recovered_at is None else m.recovered_at
    impacted = bad and not math.isnan(first) and (not detected or first <= detected_at)
    restored = impacted and detected and m.recovered_at is not None
    ttd = detected_at - first if impacted and detected else NAN
    repair = recovered_at - detected_at if restored else NAN
    restore = recovered_at - first if restored else NAN
    censored = impacted and not restored
    failed = float(_column(phases, "caused").sum())
    dt, down = _column(phases, "dt"), _column(phases, "down")
    slo = scn.slo
    budget = slo.budget * scn.traffic.rate_rps * (1 - scn.traffic.synthetic_share) * slo.budget_days * 86400
    return {
        "scenario": scn.name,
        "strategy": strategy,
        "deploy": deploy,
        "seed": seed,
        "release_bad": bad,
        "fault_kind": r.kind if bad else None,
        "detected": detected,
        "detected_by": last.detected_by,
        "rolled_back": last.rolled_back,
        # A rollback answering a breaking schema change is not false, even if the code was fine.
        "false_rollback": last.rolled_back and not bad and scn.migration.kind != "breaking",
        "escaped": bad and m.faulty_full_at is not None,
        "censored": censored,
        "time_to_detect_s": ttd,
        "time_to_repair_s": repair,
        "time_to_restore_s": restore,
        "censored_after_s": end - first if censored else NAN,
        "faulty_requests": float(faulty.sum()) if faulty is not None else NAN,
        "failed_requests": failed,
        "affected_users": affected_users(phases, scn, rng, faulty=faulty) if rng is not None else NAN,
        "exposure_at_detection": m.faulty_share_at_detection if bad and detected else NAN,
        "downtime_s": float(dt[down].sum()) if down.any() else 0.0,  # most runs have none
        "error_budget_used": failed / budget,
        "lead_time_s": m.full_at if m.full_at is not None else NAN,
        "extra_instance_hours": m.extra_instance_s / 3600.0,
        "migration_failed_requests": (
            float(_column(phases, "schema_failed").sum()) if scn.migration.kind != "none" else NAN
        ),
        "sequence_lead_time_s": m.sequence_done_at if m.sequence_done_at is not None else NAN,
        "fault_layer": r.layer if bad else None,
        "undo": (last.undo or "rollback") if last.rolled_back else None,
        "error": None,
    }


def error_row(scn: Scenario, strategy: str, deploy: int, seed: int, err: BaseException) -> dict[str, Any]:
    """The row of a run that raised: kept, with the failure recorded, so a batch never loses a row.
    What it could not measure is undefined: NaN for a metric, None for a flag or a word."""
    row: dict[str, Any] = {c: NAN if c in METRICS else None for c in COLUMNS}
    row.update(scenario=scn.name, strategy=strategy, deploy=deploy, seed=seed)
    row["error"] = f"{type(err).__name__}: {err}"
    return row
