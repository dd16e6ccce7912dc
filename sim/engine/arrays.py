"""The array engine: a block of deploys served along their strategy's plan at once; the event engine
takes over only the deploys that depart from the plan.

Until a deploy makes a decision that depends on what it saw — a look that does not pass, an
alert that fires — it does exactly what the strategy's plan does: the same weights and replicas at
the same instants. The plan is the event engine's own run of the strategy with every look passing
and nothing served (`simulate(..., plan=...)`), made once per scenario and strategy. A block of
`BLOCK` deploys is then served along it in a handful of numpy calls over deploys × windows, from
one stream per block. Each deploy's looks and alert are worked out from those arrays with the
deploy's own observation stream, exactly as the event engine would make them. A deploy whose looks
all pass and whose alert never fires is done: its row is read from the arrays. Any other is run by
the event engine over the same traffic (`Fill`): the tape hands out the block's draws for as long
as the deploy follows the plan, so the event engine meets the same decision at the same instant,
and draws for itself from there on. A deploy's row is therefore the event engine's row for the
block's traffic, whichever way it was computed (`tests/test_arrays.py` checks it deploy by deploy).

Covered for now: progressive rollouts (no manual gate; looks judged from aggregates) of releases
that are good, met by no noisy neighbour and no schema change. Everything else runs in the event
engine, chosen by the deploy's exogenous draws alone, so the choice never depends on what the
array engine drew.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..config.judges import QUANTILE
from ..config.scenario import Scenario
from ..config.strategies import BlueGreenConfig, ProgressiveConfig, RecreateConfig
from ..core import rng as streams
from ..core import sampling
from . import judging
from .alert import ServiceWindows, fires_by, steady_past
from .exogenous import Episode, Exogenous
from .fleet import SYNTHETIC_LATENCY_MS, quantile_ms
from .metrics import deploy_row
from .routing import RoutingFixed, RoutingState, route
from .serving import ServingFixed, Snapshot, Stretch, serve
from .simulate import Simulation, simulate
from .strategies.base import PlannedLook
from .tape import Fill, pieces
from .telemetry import Telemetry
from .world import background, noise_changes

#: Deploys drawn together from one stream: a deploy's row depends on its block, never on how a
#: batch chunks the deploys (a chunk computes whole blocks).
BLOCK = 64

#: A block holds about 150 bytes per deploy and window (telemetry, ledger, requests left); longer
#: watches than this many windows (20 h of 10 s windows: about 70 MB a block) run in the event
#: engine, which holds one deploy's windows at a time.
MAX_WINDOWS = 7200

_EPS = 1e-9


class Pieces(NamedTuple):
    """[0, end) cut at windows and at state changes: the states in force, and per piece its state's
    index, its window, its start and its length; the pieces sharing a window (see `tape.pieces`)."""

    snaps: list[Snapshot]
    which: np.ndarray
    k: np.ndarray
    start: np.ndarray
    dt: np.ndarray
    shared: list[int]


def _pieces(segments: list[tuple[float, Snapshot]], end: float, window_s: float) -> Pieces:
    snaps, k, start, stop, which, shared = pieces(segments, 0.0, end, window_s)
    return Pieces(snaps, which, k, start, stop - start, shared)


@dataclass(frozen=True)
class Plan:
    """A strategy's run along which a block is served: its states, its looks, its pieces of windows."""

    run: Simulation  # the plan's own run: its world's marks and its deploy, as a row reads them
    segments: list[tuple[float, Snapshot]]  # (start, state) in time order
    states: list[tuple[float, RoutingState]]  # the control plane's states behind them
    looks: list[PlannedLook]  # every read its analyses make, in the order they make them
    pieces: Pieces
    end: float
    fixed: ServingFixed
    routing: RoutingFixed
    base_error: float  # the fleet's own failure probability (noisy neighbours add theirs)

    @property
    def steps(self) -> tuple[float, ...]:
        return tuple(t for t, _ in self.segments)

    def segments_of(self, exo: Exogenous) -> list[tuple[float, Snapshot]]:
        """The states a deploy meets while it follows the plan: the plan's, and its noisy
        neighbours' episodes beginning and ending (what `world.noise_process` replays)."""
        if not exo.episodes:
            return self.segments
        noise = [(t, a) for t, a in noise_changes(exo.episodes) if t < self.end]
        times = sorted({t for t, _ in self.states} | {t for t, _ in noise})
        out: list[tuple[float, Snapshot]] = []
        i = n = 0
        active: tuple[Episode, ...] = ()
        for t in times:
            while i + 1 < len(self.states) and self.states[i + 1][0] <= t:
                i += 1
            while n < len(noise) and noise[n][0] <= t:
                active = noise[n][1]
                n += 1
            # One state per instant anything changes, as the tape records them (equal ones too).
            out.append(
                (t, route(self.routing, self.states[i][1], background(active, self.base_error)).snapshot)
            )
        return out


def plannable(scn: Scenario, strategy: str) -> bool:
    """Whether a strategy's deploys follow one plan until their first decision: a progressive
    rollout with no manual gate, a blue-green cutover that promotes itself, or a recreate; looks
    all judged from aggregates; no schema change; watched for at most `MAX_WINDOWS` windows."""
    spec = scn.strategies[strategy]
    if scn.migration.kind != "none" or scn.run.horizon_s / scn.run.window_s > MAX_WINDOWS:
        return False
    if isinstance(spec, ProgressiveConfig):
        if any(step.manual_gate for step in spec.steps):
            return False
        runs = [*spec.analyses, *(s.analysis for s in spec.steps if s.analysis is not None)]
        runs += [spec.checks] if spec.checks is not None else []
    elif isinstance(spec, BlueGreenConfig):
        if not spec.auto_promote:  # a person promotes
            return False
        runs = [a for a in (spec.pre_promotion, spec.post_promotion) if a is not None]
    elif isinstance(spec, RecreateConfig):
        runs = []
    else:
        return False
    for cfg in (m for run in runs for m in run.metrics):
        judge = scn.judges[cfg.judge]
        if cfg.pass_probability is not None or cfg.error_probability:
            return False
        if not isinstance(judge, judging.GateJudge) or not judging.measurer(judge).limits_from_aggregates:
            return False
    return True


def covered(exo: Exogenous) -> bool:
    """Whether a deploy can follow the plan at all: a good release (noisy neighbours or not)."""
    return not exo.release.bad


def make_plan(scn: Scenario, strategy: str, exo: Exogenous, seed: int) -> Plan | None:
    """The plan of a strategy, from a covered deploy's draws (the plan does not depend on which);
    None if it does not run its whole horizon undisturbed."""
    looks: list[PlannedLook] = []
    quiet = dataclasses.replace(exo, episodes=())
    run = simulate(scn, strategy, quiet, seed, 0, plan=looks)
    horizon = scn.run.horizon_s
    world = run.world
    tape = world.tape
    if run.deploy.detected_by is not None or run.deploy.finished.triggered or tape.horizon_s != horizon:
        return None
    assert world.states is not None
    segments = list(tape.segments)
    return Plan(
        run,
        segments,
        list(world.states),
        looks,
        _pieces(segments, horizon, scn.run.window_s),
        horizon,
        tape.serving,
        world.routing_fixed,
        scn.fleet.error_rate,
    )


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
    scn: Scenario, plan: Plan, deploys: Sequence[tuple[int, Exogenous]], seed: int, block: int
) -> Block:
    """Serve a block's covered deploys ((deploy, its exogenous draws), all of the block's) along the
    plan, from the block's own stream: those no noisy neighbour meets along the plan's pieces, then
    the others each along its own states."""
    rng = streams.stream(seed, block, streams.ARRAYS)
    W = scn.run.window_s
    quiet = [j for j, (_, exo) in enumerate(deploys) if not exo.episodes]
    noisy = [j for j, (_, exo) in enumerate(deploys) if exo.episodes]
    groups: list[tuple[list[int], tuple[Any, ...]]] = []
    if quiet:
        counts = np.stack([deploys[j][1].traffic.counts for j in quiet])
        groups.append((quiet, serve_block(plan.pieces, plan.fixed, counts, rng, W)))
    segments = [plan.segments] * len(deploys)
    if noisy:
        for j in noisy:
            segments[j] = plan.segments_of(deploys[j][1])
        cuts = [_pieces(segments[j], plan.end, W) for j in noisy]
        counts = np.stack([deploys[j][1].traffic.counts for j in noisy])
        groups.append((noisy, serve_apart(cuts, plan.fixed, counts, rng, W)))
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


def follows_plan(
    scn: Scenario, plan: Plan, block: Block, j: int, exo: Exogenous, rng: np.random.Generator
) -> bool:
    """Whether deploy j of the block makes no decision of its own before its horizon: every look of
    the plan passes (drawn from `rng`, the deploy's observation stream, as the event engine draws
    them) and the SLO alert never fires. Deploy by deploy, through the event engine's own code;
    `looks_pass` works the looks out for a whole block (a test holds the two to the same answer)."""
    release = exo.release
    tel = Telemetry.holding(
        (block.acc[j], block.util[j], block.svc[j]),
        scn.fleet.latency,
        release.latency_profile,
        release.severity,
        rng,
    )
    for look in plan.looks:
        judge = look.judge
        s = tel.stats_many(
            look.k_from, look.k_to, judge.quantiles, judge.min_tail_samples, "saturation" in judge.watch
        )
        if any(status != "pass" for status in judging.looks_from_stats(judge, s, len(look.k_to)).status):
            return False
    return not alert_fires(scn, plan, block, j, exo)


def alert_fires(scn: Scenario, plan: Plan, block: Block, j: int, exo: Exogenous) -> bool:
    """Whether the SLO alert watching deploy j of the block fires (a page or a ticket) by the end."""
    if scn.safety_net is None:
        return False
    W = scn.run.window_s
    service = ServiceWindows(block.svc[j, :, 0], block.svc[j, :, 1], W)
    last_k = math.floor(plan.end / W + 1e-9)
    # A firing inside a maintenance silence (a recreate's planned outage) is refused and changes
    # nothing; what counts is a firing at or after the silence's end.
    silenced = plan.run.deploy.silenced_until
    return fires_by(scn.slo, service, steady_past(scn, exo.traffic.start_hour, W), (silenced, last_k))


_PERCENTILES = ((0.5, "p50_ms"), (0.99, "p99_ms"))


def _look_figures(
    judge: judging.GateJudge, acc: np.ndarray, look: PlannedLook
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[tuple[str, float, np.ndarray]]]:
    """A look's figures for every deploy of a block, as `Telemetry.stats_many` works them out, short
    of the percentiles' Beta draws: requests (D, T, 2), users, error rates, and per percentile its
    quantile, the (deploy, tick, version) it is drawn for, and its Beta parameters in draw order."""
    lo, hi = look.k_from[0], look.k_to[-1]
    cs = np.zeros((acc.shape[0], hi - lo + 1, 2, acc.shape[3]))
    acc[:, lo:hi].cumsum(axis=1, out=cs[:, 1:])  # from the look's first window, as the tape sums
    sums = cs[:, [b - lo for b in look.k_to]] - cs[:, [a - lo for a in look.k_from]]
    nu, ns, err = sums[..., Telemetry.USER], sums[..., Telemetry.SYN], sums[..., Telemetry.ERR]
    n = nu + ns
    with np.errstate(divide="ignore", invalid="ignore"):
        figures = {"error_rate": np.where(n > 0, err / np.where(n > 0, n, 1.0), np.nan)}
    draws = []
    for q, metric in _PERCENTILES:
        if q in judge.quantiles:
            ok = (nu > 0) & (n * (1.0 - q) >= judge.min_tail_samples)
            draws.append((metric, q, ok))
    return n, sums, figures, draws


def looks_pass(
    scn: Scenario,
    plan: Plan,
    block: Block,
    deploys: Sequence[tuple[int, Exogenous]],
    seed: int,
    rows: Sequence[int],
) -> np.ndarray:
    """Whether every look of the plan passes, for the deploys `rows` of the block (`deploys`: theirs):
    `follows_plan`'s looks for all of them at once, each deploy's Beta draws from its own
    observation stream in the order the event engine draws them (every percentile of a look, tick
    by tick, look after look)."""
    D = len(deploys)
    acc = block.acc if list(rows) == list(range(block.acc.shape[0])) else block.acc[list(rows)]
    looks = []
    # Every percentile to draw, in the order of the (look, quantile) that asks for it, then its
    # deploy, tick and version: flat, with its deploy, so each deploy's come out in draw order.
    k_flat, b_flat, owner = [], [], []
    for look in plan.looks:
        n, sums, figures, draws = _look_figures(look.judge, acc, look)
        looks.append((look, n, sums, figures, draws))
        for _, q, ok in draws:
            k = np.maximum(1.0, np.ceil(q * n))
            k_flat.append(k[ok])
            b_flat.append((n - k + 1)[ok])
            owner.append(np.nonzero(ok)[0])
    u_flat = np.zeros(0)
    if k_flat:
        K, B, who = np.concatenate(k_flat), np.concatenate(b_flat), np.concatenate(owner)
        order = np.argsort(who, kind="stable")  # by deploy; within one, in draw order
        ends = np.cumsum(np.bincount(who, minlength=D))
        drawn = [
            streams.stream(seed, i, streams.OBSERVE).beta(K[order[lo:hi]], B[order[lo:hi]])
            for (i, _), lo, hi in zip(deploys, [0, *ends[:-1]], ends, strict=True)
        ]
        u_flat = np.empty(len(K))
        u_flat[order] = np.concatenate(drawn)
    at = 0
    passed = np.ones(D, bool)
    for look, n, sums, figures, draws in looks:
        judge = look.judge
        nu, ns = sums[..., Telemetry.USER], sums[..., Telemetry.SYN]
        on = sums[..., Telemetry.LATW_ON] / np.where(nu > 0, nu, 1.0)
        off = sums[..., Telemetry.LATW] / np.where(nu > 0, nu, 1.0) - on
        for metric, _, ok in draws:
            m = int(np.count_nonzero(ok))
            u, at = u_flat[at : at + m], at + m
            nn, nu_ok, ns_ok = n[ok], nu[ok], ns[ok]
            p_user = (u - ns_ok / nn) / (nu_ok / nn)
            x = np.full(n.shape, np.nan)
            x[ok] = _pooled_ms(
                scn, p_user, (off[ok], on[ok]), [deploys[d][1] for d in np.nonzero(ok)[0].tolist()]
            )
            figures[metric] = x
        if "saturation" in judge.watch:
            util = block.util[list(rows)]
            sat = np.stack(
                [
                    util[:, a:b].max(1) if b > a else np.full((D, 2), np.nan)
                    for a, b in zip(look.k_from, look.k_to, strict=True)
                ],
                1,
            )
            figures["saturation"] = np.where(n > 0, sat, np.nan)
        passed &= _statuses_pass(judge, n, figures)
    return passed


def _pooled_ms(
    scn: Scenario, p_user: np.ndarray, weights: tuple[np.ndarray, np.ndarray], exos: list[Exogenous]
) -> np.ndarray:
    """Pooled percentiles (ms) at user probabilities p_user, as the telemetry works them out: the
    fleet's quantile over windows without a fault's latency profile (`weights`: off, on), the
    release's profiled one over those with it; below the synthetic share, a probe's latency."""
    lat = scn.fleet.latency
    off, on = weights
    x = quantile_ms(lat, p_user) * off
    profiled = [j for j, exo in enumerate(exos) if exo.release.latency_profile]
    if profiled:  # each release its own profile (no covered deploy has one yet)
        for j in profiled:
            r = exos[j].release
            x[j] = x[j] + quantile_ms(lat, p_user[j : j + 1], r.latency_profile, r.severity)[0] * on[j]
    x[p_user <= 0] = SYNTHETIC_LATENCY_MS
    return x


def _statuses_pass(judge: judging.GateJudge, n: np.ndarray, figures: dict[str, np.ndarray]) -> np.ndarray:
    """Per deploy, whether every tick's look passes (`judging.looks_from_stats`, for a block: the
    same limits, worked out by the judge's own `limits_many`, and the same comparisons)."""
    how = judging.measurer(judge)
    stable_n, new_n = n[..., 0], n[..., 1]
    least = max(1, judge.min_requests)
    enough = new_n >= least
    if how.needs_baseline:
        enough &= stable_n >= least
    s = {name: (x[..., 0], x[..., 1]) for name, x in figures.items()}
    limits = how.limits_many(judge, s)  # type: ignore[arg-type]  # arrays where it takes lists: same arithmetic
    any_judged = np.zeros(new_n.shape, bool)
    fail = np.zeros(new_n.shape, bool)
    for metric in judge.watch:
        value = s[judging.STAT[metric]][1]
        bound = np.asarray(limits[metric], float)
        q = QUANTILE.get(metric)
        judged = ~np.isnan(value)
        if q is not None:
            judged &= new_n * (1.0 - q) >= judge.min_tail_samples
        with np.errstate(invalid="ignore"):
            # value/limit > 1, as `judging._status` reads it: over the limit, or over 0 when the
            # limit is not above 0 (a NaN limit included)
            over = np.where(bound > 0, value > bound, value > 0)
        any_judged |= judged
        fail |= judged & over
    return np.asarray((enough & any_judged & ~fail).all(axis=1))


class _Phase:
    """What a row reads of a run's world, for a deploy that followed the plan: the plan's marks, the
    deploy's release and its ledger's columns from the block."""

    def __init__(self, plan: Plan, release: Any, ledger: dict[str, np.ndarray]) -> None:
        self.marks, self.release, self.ledger, self.rng = plan.run.world.marks, release, ledger, None


def block_rows(
    scn: Scenario,
    strategy: str,
    plan: Plan,
    deploys: Sequence[tuple[int, Exogenous]],
    where: tuple[int, int, Sequence[int]],
) -> dict[int, dict[str, Any]]:
    """Rows for one strategy of the deploys `want` among a block's covered `deploys` (`where`:
    seed, block, want): read from the arrays where a deploy follows the plan, the event engine's
    over the same traffic otherwise."""
    seed, block, want = where
    drawn = draw_block(scn, plan, deploys, seed, block)
    wanted = set(want)
    picked = [(j, i, exo) for j, (i, exo) in enumerate(deploys) if i in wanted]
    passed = looks_pass(scn, plan, drawn, [deploys[j] for j, _, _ in picked], seed, [j for j, _, _ in picked])
    rows = {}
    for ok, (j, i, exo) in zip(passed.tolist(), picked, strict=True):
        if ok and not alert_fires(scn, plan, drawn, j, exo):
            phase: Any = _Phase(plan, exo.release, drawn.ledgers[j])
            rows[i] = deploy_row(scn, strategy, i, seed, [phase], last=plan.run.deploy, end=plan.end)
        else:
            rows[i] = simulate(scn, strategy, exo, seed, i, fill=drawn.fill(plan, j)).row
    return rows
