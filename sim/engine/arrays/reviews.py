"""A background analysis that asks a person: its restarts worked out over a block's arrays.

A progressive rollout's background analysis whose look comes out inconclusive asks a person, who
reviews the dashboards after their decision delay and, unless the review fails, lets the analysis
start again; the rollout's steps go on meanwhile. Nothing the deploy serves changes, so the block's
traffic along the shared plan stands for such a deploy, and only its looks move. `reviews_pass`
works those looks out deploy by deploy with the event engine's own judging code over the block's
arrays; `reviews_pass_block` does it for the block's deploys at once, round by round (a test holds
the two to the same answer for every deploy). Each analysis run and each review draws from its
run's own stream, each person's delay from the deploy's people stream, in the order the event
engine draws them. A deploy whose runs and reviews make no decision before the rollout stops its
analysis keeps the plan's row; any other, or one whose decisive instant ties with that stop (the
event engine's order of simultaneous events decides it), goes to the event engine as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...config.analysis import AnalysisConfig
from ...config.judges import GateJudge
from ...config.scenario import Scenario
from ...config.strategies import ProgressiveConfig
from ...core import rng as streams
from ...core import sampling
from .. import judging
from ..exogenous import Exogenous
from ..people import Humans
from ..strategies.analysis import Tally
from ..tape import look_windows
from ..telemetry import Telemetry
from .judge import PERCENTILES, deploy_telemetry, pooled_ms, statuses
from .plan import Plan
from .serve import Block

#: How close (s) a decisive instant may come to the rollout's stop of its analysis before the block
#: leaves the deploy to the event engine (which orders simultaneous events its own way).
TIE_S = 1e-6
_EPS = 1e-9  # `tape._window`'s: a time a rounding error short of a window's start is in it


@dataclass(frozen=True)
class Background:
    """A shared plan's one background analysis: its config and judge, when its first run started
    and when the rollout stopped it (at promotion)."""

    cfg: AnalysisConfig
    judge: GateJudge
    start: float
    stop: float


@dataclass
class Decisions:
    """What a deploy's background analysis took, run after run: each look's and review's status by
    (run, the window it reads up to), and who decided, if anyone did ("analysis": a run failed;
    "operator": a person did not wave a failed review through)."""

    statuses: dict[tuple[int, int], str] = field(default_factory=dict)
    by: str | None = None


def background(scn: Scenario, strategy: str, plan: Plan) -> Background | None:
    """The background analysis whose restarts the block works out for a strategy's shared plan:
    a progressive rollout with exactly one, of one metric, running until the rollout stops it,
    and no other look, gate or check of its own (those change the rollout's pace); else None."""
    spec = scn.strategies[strategy]
    if type(spec) is not ProgressiveConfig or len(spec.analyses) != 1:
        return None
    if any(s.analysis is not None or s.checks is not None or s.manual_gate for s in spec.steps):
        return None
    cfg = spec.analyses[0]
    if cfg.also or cfg.count is not None or cfg.pass_probability is not None or cfg.error_probability:
        return None
    judge = scn.judges[cfg.judge]
    d = plan.run.deploy
    if not isinstance(judge, GateJudge) or len(d.run_starts) != 1 or d.analyses_stopped_at is None:
        return None
    if "saturation" in judge.watch:  # a look's peak over its windows: not read off running sums
        return None
    return Background(cfg, judge, d.run_starts[0], d.analyses_stopped_at)


def reviews_pass(
    scn: Scenario, bg: Background, plan: Plan, block: Block, j: int, exo: Exogenous, *, key: tuple[int, int]
) -> bool:
    """Whether deploy j of the block (`key`: the seed and the deploy's number) makes no decision
    of its own through its background analysis: its runs, the reviews their inconclusive looks ask
    for and the runs after them, until the rollout stops the analysis (`bg.stop`). The SLO alert
    is left to the caller, as for a deploy that follows its plan outright.

    Args:
        scn: the scenario.
        bg: the plan's background analysis (`background`).
        plan: the shared plan the block was served along.
        block: the block's arrays.
        j: the deploy's row in the block.
        exo: the deploy's exogenous draws.
        key: the seed and the deploy's number, which name its streams.

    Returns:
        True if the deploy's row is the plan's; False if it needs the event engine.
    """
    seed, deploy = key
    cfg, judge, W = bg.cfg, bg.judge, scn.run.window_s
    tel = deploy_telemetry(scn, block, j, exo, key)
    humans = Humans(scn.humans, streams.stream(seed, deploy, streams.PEOPLE))
    read = (judge.quantiles, judge.min_tail_samples, "saturation" in judge.watch)
    last = _last_window(plan, block, j)

    def looks(ticks: list[float], lookback_s: float, rng: np.random.Generator) -> judging.Looks | None:
        k_from, k_to = look_windows(ticks, lookback_s, W)
        if k_to[-1] > last:  # (a review; a run's last tick is checked before its first)
            return None
        return judging.looks_from_stats(judge, tel.stats_many(k_from, k_to, *read, rng=rng), len(ticks))

    def inconclusive_at(first: float, n: int) -> float | None:
        """When run n (first tick at `first`) turns inconclusive before the stop: `math.inf` if
        every look passes until then, None for a decision (or a look the block cannot tell)."""
        total = math.floor((stop + TIE_S - first) / cfg.interval_s) + 1
        if look_windows([first + cfg.interval_s * (total - 1)], 0.0, W)[1][0] > last:
            return None
        rng = streams.run_stream(seed, deploy, streams.LOOKS, n)
        tally, done, size = Tally(), 0, 4
        while done < total:  # a few ticks first: most runs end early (draws go tick by tick)
            ticks = [first + cfg.interval_s * i for i in range(done, min(total, done + size))]
            seen = looks(ticks, judge.lookback_s or cfg.interval_s, rng)
            if seen is None:
                return None
            for t, status in zip(ticks, seen.status, strict=True):
                if (outcome := tally.record(cfg, status)) is not None:
                    # A decision, or a look at the very instant of the stop (the event engine orders those).
                    return t if outcome == "inconclusive" and t < stop - TIE_S else None
            done, size = done + len(ticks), size * 4
        return math.inf

    n, start, stop = 0, bg.start, bg.stop
    while True:  # run n from `start`; the runs are numbered as the event engine numbers them
        first = start + cfg.initial_delay_s
        at = math.inf if first > stop + TIE_S else inconclusive_at(first, n)
        if at is None or at == math.inf:
            return at is not None  # a decision; or every look passes until the rollout stops the run
        review = at + humans.delay("decision_s", exo.traffic.hour_at(at))
        if review > stop + TIE_S:
            return True  # the rollout stops the analysis while the person is still deciding
        rng = streams.run_stream(seed, deploy, streams.LOOKS, n + 1)
        seen = (
            None
            if review >= stop - TIE_S
            else looks([review], max(cfg.interval_s, judge.lookback_s or 0.0), rng)
        )
        if seen is None:
            return False
        verdict = seen.verdict(0)
        if verdict.failed and not humans.waves_through(verdict.score):
            return False
        n, start = n + 2, review


def _last_window(plan: Plan, block: Block, j: int) -> float:
    """The last window a look of deploy j may read: past it the block drew only what the alert reads."""
    tail = block.tails[j]
    return min(math.inf if plan.tail is None else plan.tail, math.inf if tail is None else tail.k0)


def reviews_pass_block(
    scn: Scenario,
    bg: Background,
    plan: Plan,
    block: Block,
    deploys: Sequence[tuple[int, Exogenous]],
    where: tuple[int, Sequence[int]],
    *,
    record: dict[int, Decisions] | None = None,
) -> np.ndarray:
    """`reviews_pass` for many deploys of the block at once, round by round: every deploy's
    current run judged in one pass over the block's running sums (each run's percentiles from its
    own stream, tick by tick), then every review those runs ask for. A test holds the two to the
    same answer.

    Args:
        scn, bg, plan, block: as for `reviews_pass`.
        deploys: the block's deploys (number, exogenous draws), in the block's order.
        where: the seed, and the rows of the block to answer for (releases without a latency
            profile of their own: `reviews_pass` takes those, unless `record` is given).
        record: if given, filled per row with the statuses of every look and review it took, by
            (run, the window it reads up to), and what decided, if anything did (a failed run, or
            a failed review the person does not wave through): a bad release's decisions, which a
            run with nothing served replays (`arrays.faulted`).

    Returns:
        Per row asked for, True if the deploy's row is the plan's.
    """
    seed, rows = where
    cfg, judge, W, stop = bg.cfg, bg.judge, scn.run.window_s, bg.stop
    out = np.zeros(len(rows), bool)
    k_max = min(math.floor((stop + TIE_S) / W + _EPS), block.acc.shape[1])
    cs = np.zeros((len(rows), k_max + 1, *block.acc.shape[2:]))
    block.acc[list(rows), :k_max].cumsum(axis=1, out=cs[:, 1:])
    last = np.array([min(_last_window(plan, block, j), k_max) for j in rows])
    people: dict[int, Humans] = {}
    looks = streams.RunStreams(seed, [deploys[j][0] for j in rows], streams.LOOKS)
    runs = np.zeros(len(rows), np.int64)  # each deploy's current run, numbered as the event engine does
    starts = np.full(len(rows), bg.start)
    spans = (max(cfg.interval_s, judge.lookback_s or 0.0), judge.lookback_s or cfg.interval_s)
    # A review is judged in one pass with the run after it, which it may stop: that run is
    # judged before its review's outcome is known, from its own stream, and dropped if stopped.
    pending: dict[int, float] = {}  # deploy → when its person reviews (the run before its current one)
    active = np.arange(len(rows))
    while len(active):
        firsts = starts[active] + cfg.initial_delay_s
        counts = np.floor((stop + TIE_S - firsts) / cfg.interval_s).astype(np.int64) + 1
        asked = np.array(list(pending), np.int64)
        looking, firsts, n_ticks = active[counts > 0], firsts[counts > 0], counts[counts > 0]
        both, V = np.concatenate([asked, looking]), len(asked)  # reviews, then runs
        if not len(both):
            out[active] = True  # the rollout stops the analysis before the runs' first looks
            break
        ticks = np.zeros((len(both), max(1, int(n_ticks.max(initial=0)))))
        ticks[:V, 0] = list(pending.values())
        ticks[V:] = firsts[:, None] + cfg.interval_s * np.arange(ticks.shape[1])[None, :]
        valid = np.zeros(ticks.shape, bool)
        valid[:V, 0] = True
        valid[V:] = np.arange(ticks.shape[1])[None, :] < n_ticks[:, None]
        lookbacks = np.repeat(spans, [V, len(looking)])[:, None]
        seen = _Seen(cs, both, ticks, valid, (lookbacks, W))
        readable = np.asarray(~(seen.k_to > last[both, None]).any(axis=1))  # else the event engine's
        on = both.tolist()
        of = [int(runs[a]) - 1 if x < V else int(runs[a]) for x, a in enumerate(on)]  # a review: its run's
        ok, failed = seen.judged(
            scn,
            judge,
            lambda x: looks.get(on[x], of[x]),  # noqa: B023  (called before the next round)
            ([deploys[rows[a]][1] for a in on], cfg.inconclusive_limit),
        )
        stopped = set()  # deploys whose review ends their analysis: the run after it never starts
        for x, a in enumerate(on[:V]):
            if not readable[x]:
                stopped.add(a)
                continue
            if failed[x, 0]:  # the person's call on a failed look needs its score: the event engine's code
                number, exo = deploys[rows[a]]
                verdict = _review_verdict(scn, bg, (block, rows[a]), exo, (seed, number, of[x]), pending[a])
                if verdict.failed:
                    waved = people[a].waves_through(verdict.score)
                    if record is not None:
                        call = "waved" if waved else "operator"
                        record[a].statuses[(of[x], int(seen.k_to[x, 0]))] = call
                        record[a].by = None if waved else "operator"
                    if not waved:
                        stopped.add(a)
        for a in active[counts <= 0].tolist():
            if a not in stopped:
                out[a] = True  # the rollout stops the analysis before the run's first look
        inconclusive = ~ok & ~failed & valid
        trigger = valid & (
            (np.cumsum(failed & valid, axis=1) > cfg.failure_limit)
            | (np.cumsum(inconclusive, axis=1) > cfg.inconclusive_limit)
        )
        decided, first = np.asarray(trigger.any(axis=1)), trigger.argmax(axis=1)
        calls: list[tuple[int, float]] = []  # deploy, and the inconclusive look its person is asked about
        for x, a in enumerate(on[V:], V):
            if not readable[x] or a in stopped:
                continue
            if not decided[x]:
                out[a] = True  # every look passes until the rollout stops the run
                continue
            t = float(ticks[x, first[x]])
            if record is not None:
                took = record.setdefault(a, Decisions())
                for i in range(int(first[x]) + 1):
                    status = "pass" if ok[x, i] else "fail" if failed[x, i] else "inconclusive"
                    took.statuses[(of[x], int(seen.k_to[x, i]))] = status
                if failed[x, first[x]] and t < stop - TIE_S:
                    took.by = "analysis"
            if failed[x, first[x]] or t >= stop - TIE_S:
                continue  # a decision, or a look at the very instant of the stop
            calls.append((a, t))
        new = [a for a, _ in calls if a not in people]  # their people streams, built together
        keys = [(deploys[rows[a]][0], streams.PEOPLE) for a in new]
        made = streams.streams_of(seed, keys)
        people.update((a, Humans(scn.humans, rng)) for a, rng in zip(new, made, strict=True))
        pending = {}
        for a, t in calls:
            review = t + people[a].delay("decision_s", deploys[rows[a]][1].traffic.hour_at(t))
            if review > stop + TIE_S:
                out[a] = True  # the rollout stops the analysis while the person is still deciding
            elif review < stop - TIE_S:
                pending[a] = review
        active = np.array(list(pending), np.int64)
        runs[active] += 2  # the review is run n + 1, the run after it n + 2
        starts[active] = list(pending.values())
    return out


def _run(seed: int, deploy: int, n: int | np.integer) -> np.random.Generator:
    return streams.run_stream(seed, deploy, streams.LOOKS, int(n))


def _review_verdict(
    scn: Scenario,
    bg: Background,
    where: tuple[Block, int],
    exo: Exogenous,
    key: tuple[int, int, int | np.integer],
    at: float,
) -> judging.Verdict:
    """A review's verdict, values and score included, through the event engine's own code
    (`where`: the block and the deploy's row in it; `key`: the seed, the deploy, the run)."""
    block, j = where
    seed, deploy, n = key
    judge = bg.judge
    tel = deploy_telemetry(scn, block, j, exo, (seed, deploy))
    k_from, k_to = look_windows([at], max(bg.cfg.interval_s, judge.lookback_s or 0.0), scn.run.window_s)
    s = tel.stats_many(
        k_from, k_to, judge.quantiles, judge.min_tail_samples, False, rng=_run(seed, deploy, n)
    )
    return judging.looks_from_stats(judge, s, 1).verdict(0)


class _Seen:
    """What looks at many deploys' ticks read: each tick's sums over its lookback, from the block's
    running sums (`cs`, rows `active`), as the telemetry sums them."""

    def __init__(
        self,
        cs: np.ndarray,
        active: np.ndarray,
        ticks: np.ndarray,
        valid: np.ndarray,
        span: tuple[np.ndarray, float],
    ) -> None:
        lookback_s, W = span  # `tape.look_windows`' arithmetic, element by element (a lookback per row):
        k_to = np.floor(ticks / W + _EPS).astype(np.int64)
        k_from = np.minimum(np.floor(np.maximum(ticks - lookback_s, 0.0) / W + _EPS).astype(np.int64), k_to)
        self.k_to, self.valid = np.where(valid, k_to, 0), valid
        top = cs.shape[1] - 1  # a tick past the sums reads nothing it is judged on (`readable`)
        rows = active[:, None]
        self.sums = (
            cs[rows, np.minimum(self.k_to, top)] - cs[rows, np.minimum(np.where(valid, k_from, 0), top)]
        )

    def judged(
        self,
        scn: Scenario,
        judge: GateJudge,
        stream: Callable[[int], np.random.Generator],
        releases: tuple[list[Exogenous], int | None],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per deploy and tick, whether the look passes and whether it fails (`judge.statuses`),
        each deploy's percentiles drawn from its run's stream (`stream(x)` for the x-th deploy,
        asked for only if it draws) in the telemetry's order: tick by tick, then quantile, then
        version. `releases`: the deploys' draws, and the run's inconclusive limit — given, a
        deploy draws only for its looks before the first where too few requests alone take the
        run past it (`_read`; the looks from there on come back as if no percentile could be
        judged, and only the first of them is read: inconclusive either way) — or None."""
        exos, limit = releases
        sums, valid = self.sums, self.valid
        nu, ns, err = sums[..., Telemetry.USER], sums[..., Telemetry.SYN], sums[..., Telemetry.ERR]
        n = nu + ns
        with np.errstate(divide="ignore", invalid="ignore"):
            figures = {"error_rate": np.where(n > 0, err / np.where(n > 0, n, 1.0), np.nan)}
            safe = np.where(nu > 0, nu, 1.0)
            on = sums[..., Telemetry.LATW_ON] / safe
            off = sums[..., Telemetry.LATW] / safe - on
        asked = [(q, metric) for q, metric in PERCENTILES if q in judge.quantiles]
        if asked:
            qs = np.array([q for q, _ in asked])[None, None, :, None]  # (1, 1, quantiles, 1)
            nq = np.broadcast_to(n[:, :, None, :], (*n.shape[:2], len(asked), 2))
            ok = (nu[:, :, None, :] > 0) & (nq * (1.0 - qs) >= judge.min_tail_samples)
            ok &= (valid if limit is None else valid & _read(judge, n, valid, limit))[:, :, None, None]
            k = np.maximum(1.0, np.ceil(qs * nq))
            u = np.full(ok.shape, np.nan)
            # Each deploy's draws are a run of the flat order (deploy, tick, quantile, version).
            ends = np.cumsum(ok.reshape(len(exos), -1).sum(axis=1)).tolist()
            u[ok] = sampling.beta_runs(stream, k[ok], (nq - k + 1)[ok], ends)
            for i, (_, metric) in enumerate(asked):
                sel = ok[:, :, i]
                values = np.full(n.shape, np.nan)
                if sel.any():
                    p_user = (u[:, :, i][sel] - ns[sel] / n[sel]) / (nu[sel] / n[sel])
                    values[sel] = pooled_ms(scn, p_user, (off[sel], on[sel]), (exos, np.nonzero(sel)[0]))
                figures[metric] = values
        return statuses(judge, n, figures)


def _read(judge: GateJudge, n: np.ndarray, valid: np.ndarray, limit: int) -> np.ndarray:
    """Per deploy and tick, whether the run's look there needs its percentiles: it comes before the
    first look where the run's looks with too few requests (inconclusive whatever the percentiles:
    `statuses`' `enough`) exceed its inconclusive limit. That look is inconclusive as it is, and the
    run decides there at the latest, so no look from it on is read."""
    least = max(1, judge.min_requests)
    short = n[..., 1] < least
    if judging.measurer(judge).needs_baseline:
        short |= n[..., 0] < least
    return np.asarray(np.cumsum(np.cumsum(short & valid, axis=1) > limit, axis=1) == 0)
