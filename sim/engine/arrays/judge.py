"""Judging a block's looks: every look of every deploy from cumulative sums, each run's percentiles
from its own stream in the event engine's order (the SLO alert is `alert`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from ...config.judges import QUANTILE, GateJudge
from ...config.scenario import Scenario
from ...core import rng as streams
from ...core import sampling
from .. import judging
from ..exogenous import Exogenous
from ..fleet import SYNTHETIC_LATENCY_MS, quantile_ms
from ..strategies.base import PlannedLook
from ..telemetry import Telemetry
from .alert import alert_fires
from .plan import Plan
from .serve import Block


def follows_plan(
    scn: Scenario, plan: Plan, block: Block, j: int, exo: Exogenous, key: tuple[int, int]
) -> bool:
    """Whether deploy j of the block (`key`: the seed and the deploy's number) makes no decision of
    its own before its horizon: every look of the plan passes (each run's percentiles drawn from
    the run's own stream, as the event engine draws them), no person's review fails, and the SLO
    alert never fires. Deploy by deploy, through the event engine's own code; `looks_pass` works
    the looks out for a whole block (a test holds the two to the same answer)."""
    return plan_looks_pass(scn, plan, block, j, exo, key) and not alert_fires(scn, plan, block, j, exo)


def plan_looks_pass(
    scn: Scenario, plan: Plan, block: Block, j: int, exo: Exogenous, key: tuple[int, int]
) -> bool:
    """`follows_plan` short of the alert: every look and review of the plan comes out as it takes them."""
    seed, deploy = key
    tel = deploy_telemetry(scn, block, j, exo, key)
    runs: dict[int, np.random.Generator] = {}
    for look in plan.looks:
        judge = look.judge
        if look.run not in runs:
            runs[look.run] = streams.run_stream(seed, deploy, streams.LOOKS, look.run)
        s = tel.stats_many(
            look.k_from,
            look.k_to,
            judge.quantiles,
            judge.min_tail_samples,
            "saturation" in judge.watch,
            rng=runs[look.run],
        )
        statuses = judging.looks_from_stats(judge, s, len(look.k_to)).status
        if look.review:
            if "fail" in statuses:
                return False
        elif statuses != list(look.expect or ("pass",) * len(statuses)):
            return False
    return True


def plans_looks_pass(
    scn: Scenario,
    plans: Sequence[Plan],
    block: Block,
    picked: Sequence[tuple[int, int, Exogenous]],
    seed: int,
) -> list[bool]:
    """`plan_looks_pass` for deploys each along its own plan (`picked`: each one's row in the block,
    number and draws; `plans`: by row): deploys whose plans take their looks alike — the same
    judges, runs and kinds in the same order, each at its own windows (a manual canary's reviews,
    its person's pace apart) — judged together, as `looks_pass` judges a shared plan's; any other
    deploy through the event engine's code. A test holds the two to the same answer."""
    out: list[bool | None] = [None] * len(picked)
    groups: dict[tuple[object, ...], list[int]] = {}
    for x, (j, _, _) in enumerate(picked):
        sig = _signature(plans[j].looks)
        if sig is None:
            continue
        groups.setdefault(sig, []).append(x)
    for xs in groups.values():
        if len(xs) < 2:
            continue
        rows = [picked[x][0] for x in xs]
        first = plans[rows[0]].looks
        stacked = [
            StackedLook(
                look.judge,
                np.array([plans[j].looks[at].k_from for j in rows]),
                np.array([plans[j].looks[at].k_to for j in rows]),
                look.run,
                look.review,
                look.expect,
            )
            for at, look in enumerate(first)
        ]
        deploys = [(picked[x][1], picked[x][2]) for x in xs]
        passed = _passed(look_statuses(scn, stacked, block, deploys, seed, rows, passing=True), len(xs))
        for x, ok in zip(xs, passed.tolist(), strict=True):
            out[x] = ok
    return [
        ok if ok is not None else plan_looks_pass(scn, plans[j], block, j, exo, (seed, i))
        for ok, (j, i, exo) in zip(out, picked, strict=True)
    ]


def _signature(looks: Sequence[PlannedLook]) -> tuple[object, ...] | None:
    """What a plan's looks are, short of their windows (None: a look reads saturation, which the
    stacked form does not)."""
    if any("saturation" in look.judge.watch for look in looks):
        return None
    return tuple((id(look.judge), look.run, look.review, look.expect, len(look.k_to)) for look in looks)


def deploy_telemetry(scn: Scenario, block: Block, j: int, exo: Exogenous, key: tuple[int, int]) -> Telemetry:
    """What monitoring shows of deploy j of the block (`key`: the seed and the deploy's number), read
    in place from the block's arrays, as the event engine's telemetry would show it."""
    seed, deploy = key
    release = exo.release
    return Telemetry.holding(
        (block.acc[j], block.util[j], block.svc[j]),
        scn.fleet.latency,
        release.latency_profile,
        release.severity,
        streams.lazy(seed, deploy, streams.OBSERVE),  # never drawn from: every look names its run's
    )


PERCENTILES = ((0.5, "p50_ms"), (0.99, "p99_ms"))


class StackedLook(NamedTuple):
    """The same look of several deploys' own plans (the same judge, run and kind), each at its own
    windows: per deploy (rows) and tick, the first window and the one past the last."""

    judge: GateJudge
    k_from: np.ndarray  # (deploys, ticks)
    k_to: np.ndarray
    run: int
    review: bool = False
    expect: tuple[str, ...] | None = None


_Look = TypeVar("_Look", PlannedLook, StackedLook)


def _look_sums(acc: np.ndarray, look: PlannedLook | StackedLook) -> np.ndarray:
    """Each deploy's and tick's sums of every field (D, T, 2, fields), as the telemetry sums them:
    differences of running sums from the deploy's first window of the look."""
    if isinstance(look, PlannedLook):
        lo, hi = look.k_from[0], look.k_to[-1]
        cs = np.zeros((acc.shape[0], hi - lo + 1, 2, acc.shape[3]))
        acc[:, lo:hi].cumsum(axis=1, out=cs[:, 1:])  # from the look's first window, as the tape sums
        return cs[:, [b - lo for b in look.k_to]] - cs[:, [a - lo for a in look.k_from]]
    # Each deploy's windows from its own first one, aligned; past its last, zeros (which add nothing
    # to the running sums read).
    first = look.k_from[:, :1]
    span = np.arange(int((look.k_to[:, -1:] - first).max()))
    at = first + span
    rows = np.arange(acc.shape[0])[:, None]
    running = np.zeros((acc.shape[0], len(span) + 1, 2, acc.shape[3]))
    inside = at < look.k_to[:, -1:]
    np.cumsum(
        np.where(inside[:, :, None, None], acc[rows, np.minimum(at, acc.shape[1] - 1)], 0.0),
        axis=1,
        out=running[:, 1:],
    )
    return running[rows, look.k_to - first] - running[rows, look.k_from - first]


def _look_figures(
    judge: judging.GateJudge, acc: np.ndarray, look: PlannedLook | StackedLook
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[tuple[str, float, np.ndarray]]]:
    """A look's figures for every deploy of a block, as `Telemetry.stats_many` works them out, short
    of the percentiles' Beta draws: requests (D, T, 2), users, error rates, and per percentile its
    quantile, the (deploy, tick, version) it is drawn for, and its Beta parameters in draw order."""
    sums = _look_sums(acc, look)
    nu, ns, err = sums[..., Telemetry.USER], sums[..., Telemetry.SYN], sums[..., Telemetry.ERR]
    n = nu + ns
    with np.errstate(divide="ignore", invalid="ignore"):
        figures = {"error_rate": np.where(n > 0, err / np.where(n > 0, n, 1.0), np.nan)}
    draws = []
    for q, metric in PERCENTILES:
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
    """Whether every look of the plan comes out as the plan takes it (a pass, unless it says
    otherwise; a review: no failure), for the deploys `rows` of the block (`deploys`: theirs):
    `follows_plan`'s looks for all of them at once, each deploy's Beta draws from each run's own
    stream in the order the event engine draws them (look after look of the run, tick by tick,
    then quantile, then version)."""
    return _passed(look_statuses(scn, plan.looks, block, deploys, seed, rows, passing=True), len(deploys))


def _passed(
    judged: Sequence[tuple[PlannedLook | StackedLook, np.ndarray, np.ndarray]], deploys: int
) -> np.ndarray:
    """Per deploy, whether every look came out as its plan takes it (a pass, unless the plan says
    otherwise; a review: no failure), from `look_statuses`."""
    passed = np.ones(deploys, bool)
    for look, ok, failed in judged:
        if look.review:
            passed &= ~failed.any(axis=1)
        elif look.expect is None:
            passed &= ok.all(axis=1)
        else:
            want = np.array([status == "pass" for status in look.expect])
            passed &= np.where(want, ok, ~ok & ~failed).all(axis=1)
    return passed


def look_statuses(
    scn: Scenario,
    looks_of: Sequence[_Look],
    block: Block,
    deploys: Sequence[tuple[int, Exogenous]],
    seed: int,
    rows: Sequence[int],
    *,
    passing: bool = False,
) -> list[tuple[_Look, np.ndarray, np.ndarray]]:
    """Every look of a plan (`looks_of`, in order) over the deploys `rows` of the block (`deploys`:
    theirs), as `looks_pass` judges them: per look, whether each (deploy, tick) passes and whether
    it fails (neither: inconclusive). Stacked looks: each deploy's own plan's, at its own windows
    (no saturation read among them). `passing`: only whether each deploy's looks all come out as
    its plan takes them (`_passed`) is read, so a deploy that too few requests take off its plan
    at some look (`_off`) draws no percentile: its looks come back as if none could be judged."""
    D = len(deploys)
    acc = block.acc if list(rows) == list(range(block.acc.shape[0])) else block.acc[list(rows)]
    looks = []
    # Every percentile to draw, in the order of the (look, quantile) that asks for it, then its
    # deploy, tick and version (as the looks are read below), each with its place in its run's draws.
    k_flat, b_flat, places = [], [], []
    for look in looks_of:
        n, sums, figures, draws = _look_figures(look.judge, acc, look)
        looks.append((look, n, sums, figures, draws))
    if passing:  # deploys some look takes off the plan whatever their percentiles: none drawn
        off = np.zeros(D, bool)
        for look, n, _, _, _ in looks:
            off |= _off(look, n)
        for _, _, _, _, draws in looks:
            draws[:] = [(metric, q, ok & ~off[:, None, None]) for metric, q, ok in draws]
    for at_look, (look, n, _, _, draws) in enumerate(looks):
        for at_q, (_, q, ok) in enumerate(draws):
            k = np.maximum(1.0, np.ceil(q * n))
            k_flat.append(k[ok])
            b_flat.append((n - k + 1)[ok])
            d, t, v = np.nonzero(ok)
            fixed = [np.full_like(d, x) for x in (look.run, at_look, at_q)]
            places.append(np.stack([d, fixed[0], fixed[1], t, fixed[2], v]))
    u_flat = np.zeros(0)
    if sum(len(k) for k in k_flat):
        K, B, place = np.concatenate(k_flat), np.concatenate(b_flat), np.concatenate(places, axis=1)
        order = np.lexsort(place[::-1])  # by deploy, run, look, tick, quantile, version
        who, run = place[0, order], place[1, order]
        starts = np.flatnonzero(np.r_[True, (who[1:] != who[:-1]) | (run[1:] != run[:-1])])
        ends = np.r_[starts[1:], len(order)]
        keys = [(deploys[who[a]][0], streams.LOOKS, int(run[a])) for a in starts.tolist()]
        made = streams.streams_of(seed, keys)
        u_flat = np.empty(len(K))
        u_flat[order] = sampling.beta_runs(made.__getitem__, K[order], B[order], ends.tolist())
    at = 0
    out = []
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
            x[ok] = pooled_ms(
                scn, p_user, (off[ok], on[ok]), ([exo for _, exo in deploys], np.nonzero(ok)[0])
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
        ok, failed = statuses(judge, n, figures)  # per deploy and tick
        out.append((look, ok, failed))
    return out


def _off(look: PlannedLook | StackedLook, n: np.ndarray) -> np.ndarray:
    """Per deploy, whether the look takes it off its plan whatever its percentiles: a tick where too
    few requests (`statuses`' `enough`) make inconclusive a look the plan takes as a pass."""
    if look.review:  # only a failure departs from a review, and a look without requests never fails
        return np.zeros(n.shape[0], bool)
    judge = look.judge
    least = max(1, judge.min_requests)
    short = n[..., 1] < least
    if judging.measurer(judge).needs_baseline:
        short |= n[..., 0] < least
    if look.expect is not None:
        short &= np.array([status == "pass" for status in look.expect])
    return np.asarray(short.any(axis=1))


def pooled_ms(
    scn: Scenario,
    p_user: np.ndarray,
    weights: tuple[np.ndarray, np.ndarray],
    releases: tuple[Sequence[Exogenous], np.ndarray],
) -> np.ndarray:
    """Pooled percentiles (ms) at user probabilities p_user, as the telemetry works them out: the
    fleet's quantile over windows without a fault's latency profile (`weights`: off, on), the
    release's profiled one over those with it (`releases`: the deploys' draws, and the deploy of
    each figure); below the synthetic share, a probe's latency."""
    lat = scn.fleet.latency
    off, on = weights
    exos, row = releases
    x = quantile_ms(lat, p_user) * off
    for d, exo in enumerate(exos):  # each release its own profile (a bad one's: `arrays.faulted`)
        r = exo.release
        if r.latency_profile and (at := np.flatnonzero(row == d)).size:
            x[at] = x[at] + quantile_ms(lat, p_user[at], r.latency_profile, r.severity) * on[at]
    x[p_user <= 0] = SYNTHETIC_LATENCY_MS
    return x


def statuses(
    judge: judging.GateJudge, n: np.ndarray, figures: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per deploy and tick, whether the look passes and whether it fails (`judging.looks_from_stats`,
    for a block: the same limits, worked out by the judge's own `limits_many`, the same comparisons);
    neither: inconclusive."""
    how = judging.measurer(judge)
    stable_n, new_n = n[..., 0], n[..., 1]
    least = max(1, judge.min_requests)
    enough = new_n >= least
    if how.needs_baseline:
        enough &= stable_n >= least
    # Arrays where it takes lists: the same arithmetic, element by element. Each version's figures
    # as one row of all (deploy, tick) pairs: a judge's per-tick limits are then one array's work.
    s = {name: (x[..., 0].reshape(1, -1), x[..., 1].reshape(1, -1)) for name, x in figures.items()}
    limits = how.limits_many(judge, s)  # type: ignore[arg-type]
    any_judged = np.zeros(new_n.shape, bool)
    fail = np.zeros(new_n.shape, bool)
    with np.errstate(invalid="ignore"):
        for metric in judge.watch:
            value = figures[judging.STAT[metric]][..., 1]
            bound = np.asarray(limits[metric], float)
            if bound.ndim:
                bound = bound.reshape(value.shape)
            q = QUANTILE.get(metric)
            judged = ~np.isnan(value)
            if q is not None:
                judged &= new_n * (1.0 - q) >= judge.min_tail_samples
            # value/limit > 1, as `judging._status` reads it: over the limit, or over 0 when the
            # limit is not above 0 (a NaN limit included)
            over = np.where(bound > 0, value > bound, value > 0)
            any_judged |= judged
            fail |= judged & over
    fail &= enough
    return np.asarray(enough & any_judged & ~fail), np.asarray(fail)
