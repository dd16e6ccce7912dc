"""The array engine's plan: a strategy's run with every look passing and nothing served, what it
covers, and the pieces of windows a block is served in."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ...config.scenario import Scenario
from ...config.strategies import (
    BlueGreenConfig,
    CanaryConfig,
    CanaryFlagConfig,
    FlagConfig,
    ProgressiveConfig,
    RecreateConfig,
    StrategyConfig,
)
from .. import judging
from ..exogenous import Episode, Exogenous, Release
from ..routing import RoutingFixed, RoutingState, route
from ..serving import ServingFixed, Snapshot
from ..simulate import Simulation, simulate
from ..strategies.base import PlannedLook, Strategy
from ..tape import expected_requests, pieces
from ..world import background, leak_from, noise_changes, routing_fixed
from .paced import paced, paced_run
from .tail import tail_from

#: Deploys drawn together from one stream: a deploy's row depends on its block, never on how a
#: batch chunks the deploys (a chunk computes whole blocks).
BLOCK = 64

#: A block holds about 150 bytes per deploy and window (telemetry, ledger, requests left); longer
#: watches than this many windows (20 h of 10 s windows: about 70 MB a block) run in the event
#: engine, which holds one deploy's windows at a time.
MAX_WINDOWS = 7200

_EPS = 1e-9  # `tape`'s: instants this close count as one


class Pieces(NamedTuple):
    """[0, end) cut at windows and at state changes: the states in force, and per piece its state's
    index, its window, its start and its length; the pieces sharing a window (see `tape.pieces`)."""

    snaps: list[Snapshot]
    which: np.ndarray
    k: np.ndarray
    start: np.ndarray
    dt: np.ndarray
    shared: list[int]


def pieces_of(segments: list[tuple[float, Snapshot]], end: float, window_s: float) -> Pieces:
    """[0, end) under these states, cut as the tape cuts a stretch (`tape.pieces`)."""
    laid = _laid_out(segments, end, window_s)
    if laid is not None:
        return laid
    snaps, k, start, stop, which, shared = pieces(segments, 0.0, end, window_s)
    return Pieces(snaps, which, k, start, stop - start, shared)


def _laid_out(segments: list[tuple[float, Snapshot]], end: float, W: float) -> Pieces | None:
    """`tape.pieces` of [0, end) under two states or more, number for number, with a few numpy calls
    over the whole cut: each state's first and last windows worked out in plain floats (the tape's
    arithmetic, state by state), the windows between laid out at once. A plan of its own is cut
    anew for every deploy, and the tape's array calls per state cost more than their work there.
    None where the tape would cut otherwise: one state for all of it, or a state within a rounding
    error of nothing (the tape's loop then)."""
    if segments[-1][0] <= _EPS:  # (one state covers it all: the tape's own arithmetic)
        return None
    spans: list[tuple[int, float, float, int, int]] = []  # (state, a, b, ka, kb) in time order
    for i, (s, _) in enumerate(segments):
        a = max(s, 0.0)
        b = min(segments[i + 1][0], end) if i + 1 < len(segments) else end
        if b > a + _EPS:
            ka, kb = int(a // W + _EPS), math.ceil(b / W - _EPS)
            if kb <= ka:
                return None
            spans.append((i, a, b, ka, kb))
    if not spans:
        return None
    m = len(spans)
    lengths = [kb - ka for _, _, _, ka, kb in spans]
    firsts = [0, *itertools.accumulate(lengths[:-1])]
    k = np.arange(firsts[-1] + lengths[-1]) - np.repeat(
        [f - ka for f, (_, _, _, ka, _) in zip(firsts, spans, strict=True)], lengths
    )
    start, stop = k * W, (k + 1) * W
    shared: list[int] = []
    for j, (_, a, b, ka, kb) in enumerate(spans):
        f = firsts[j]
        start[f] = max(ka * W, a)
        stop[f + lengths[j] - 1] = min(kb * W, b)
        if j + 1 < m and spans[j + 1][3] == kb - 1:  # the next state begins inside this one's last window
            shared += [f + lengths[j] - 1, f + lengths[j]]
    return Pieces(
        [segments[i][1] for i, *_ in reversed(spans)],
        np.repeat(np.arange(m - 1, -1, -1), lengths),
        k,
        start,
        stop - start,
        sorted(set(shared)),
    )


@dataclass(frozen=True)
class Plan:
    """A strategy's run along which a block is served: its states, its looks, its pieces of windows."""

    run: Simulation  # the plan's own run: its world's marks and its deploy, as a row reads them
    segments: list[tuple[float, Snapshot]]  # (start, state) in time order
    states: list[tuple[float, RoutingState]]  # the control plane's states behind them
    looks: list[PlannedLook]  # every read its analyses make, in the order they make them
    end: float
    tail: int | None  # the first window of its lean stretch (`arrays.tail`), if it has one
    fixed: ServingFixed
    routing: RoutingFixed
    base_error: float  # the fleet's own failure probability (noisy neighbours add theirs)
    window_s: float

    @functools.cached_property
    def head(self) -> Pieces:
        """Its pieces before its lean stretch (all of them without one): cut on first use (`make_plan`
        cuts them at once unless the deploy is served along states of its own)."""
        return pieces_of(
            self.segments, self.end if self.tail is None else self.tail * self.window_s, self.window_s
        )

    @functools.cached_property
    def pieces(self) -> Pieces:
        """All its pieces, to the end: cut only for a deploy served in full past the lean stretch's
        start (a plan of each deploy's own is made anew for every deploy, and seldom needs them)."""
        return self.head if self.tail is None else pieces_of(self.segments, self.end, self.window_s)

    @property
    def steps(self) -> tuple[float, ...]:
        return tuple(t for t, _ in self.segments)

    def segments_of(self, exo: Exogenous) -> list[tuple[float, Snapshot]]:
        """The states a deploy meets while it follows the plan: the plan's, its noisy neighbours'
        episodes beginning and ending (what `world.noise_process` replays), and for a bad release
        its fault biting from its onset on (what `World._onset` sets off)."""
        if not exo.episodes and not exo.release.bad:
            return self.segments
        return segments_along(self.states, exo, self.run, self.end, quiet=self.segments)


def segments_along(
    states: list[tuple[float, RoutingState]],
    exo: Exogenous,
    run: Simulation,
    end: float,
    *,
    quiet: list[tuple[float, Snapshot]] | None = None,
) -> list[tuple[float, Snapshot]]:
    """What a deploy meets along these control-plane states (of `run`, a run with nothing served)
    before `end`: its noisy neighbours' episodes beginning and ending (what `world.noise_process`
    replays) and, for a bad release, its fault biting from its onset on (what `World._onset` sets
    off). `quiet`: the states the run met (its tape's, one for each of `states`), taken as they
    are where a good release meets no episode."""
    world = run.world
    routing = world.routing_fixed
    if exo.release.bad:
        started = (world.marks.new_started_at, routing.uses_flag)
        states, routing = _armed(states, exo.release, started, end, world.scn)
        quiet = None
    noise = [(t, a) for t, a in noise_changes(exo.episodes) if t < end]
    times = sorted({t for t, _ in states} | {t for t, _ in noise})
    return _met(states, noise, times, (routing, world.scn.fleet.error_rate), quiet=_aligned(states, quiet))


def _aligned(
    states: list[tuple[float, RoutingState]], quiet: list[tuple[float, Snapshot]] | None
) -> list[tuple[float, Snapshot]] | None:
    """A run's recorded states, if they are one for each of its control-plane states (a world records
    both at each change, merging changes at one instant alike), else None."""
    if quiet is None or len(quiet) != len(states) or quiet[0][0] != states[0][0]:
        return None
    return quiet


def windows_cut(
    plan: Plan, noise: list[tuple[float, tuple[Episode, ...]]], ks: list[int], window_s: float
) -> Pieces:
    """The pieces of windows `ks` (in order) of a good release along a plan's states, with its noisy
    neighbours (`noise`: `world.noise_changes` of its episodes), as one cut — what `tape.pieces`
    makes of each window, under the states `segments_along` gives (the one in force at the window's
    start, then each change inside it), window after window. A state may be listed more than once
    (`serve_apart` lists each once).

    Most such windows hold a change or two well inside them: their pieces are laid out here, number
    for number as `tape.pieces` lays them out; a window with changes within a rounding error of each
    other or of its edges is cut by `tape.pieces` itself."""
    W = window_s
    states, world = plan.states, plan.run.world
    fixed = (world.routing_fixed, world.scn.fleet.error_rate)
    quiet = _aligned(states, plan.segments)
    times = [t for t, _ in states]
    n_times = [t for t, _ in noise]
    snaps: list[Snapshot] = []
    which: list[int] = []
    k_all: list[int] = []
    start: list[float] = []
    end: list[float] = []
    shared: list[int] = []
    for k in ks:
        a, b = k * W, (k + 1) * W
        i, n = bisect.bisect_right(times, a) - 1, bisect.bisect_right(n_times, a) - 1
        inside = {
            *times[i + 1 : bisect.bisect_left(times, b)],
            *n_times[n + 1 : bisect.bisect_left(n_times, b)],
        }
        at = [max(times[i], n_times[n]) if n >= 0 else times[i], *sorted(inside)]
        segs = _met(states, noise, at, fixed, quiet=quiet, since=(i, n + 1))
        regular = all(
            int(x // W + _EPS) == k and math.ceil(y / W - _EPS) == k + 1 and y > x + _EPS
            for x, y in zip([a, *at[1:]], [*at[1:], b], strict=True)
        )
        m = len(segs)
        if not regular or m < 2:  # `tape.pieces`' own way (its rounding rules at the edges)
            snaps_k, k_arr, s_arr, e_arr, which_k, shared_k = pieces(segs, a, b, W)
            which += (which_k + len(snaps)).tolist()
            shared += [len(k_all) + x for x in shared_k]
            k_all += k_arr.tolist()
            start += s_arr.tolist()
            end += e_arr.tolist()
            snaps += snaps_k
            continue
        # `tape.pieces` of m states that each begin inside the window (the first at its start): a
        # piece each, the newest state listed first, every piece sharing the window.
        shared += range(len(k_all), len(k_all) + m)
        which += range(len(snaps) + m - 1, len(snaps) - 1, -1)
        k_all += [k] * m
        start += [max(a, x) for x in (a, *at[1:])]
        end += [min(b, y) for y in (*at[1:], b)]
        snaps += [snap for _, snap in reversed(segs)]
    start_arr = np.array(start)
    return Pieces(
        snaps,
        np.array(which, np.int64),
        np.array(k_all, np.int64),
        start_arr,
        np.array(end) - start_arr,
        shared,
    )


def _met(
    states: list[tuple[float, RoutingState]],
    noise: list[tuple[float, tuple[Episode, ...]]],
    times: list[float],
    fixed: tuple[RoutingFixed, float],
    *,
    quiet: list[tuple[float, Snapshot]] | None = None,
    since: tuple[int, int] = (0, 0),
) -> list[tuple[float, Snapshot]]:
    """The state a deploy meets at each of these instants (in time order): the control plane's
    state in force then, under the episodes in force then (`fixed`: its routing, the fleet's own
    failure probability).

    Args:
        quiet: the snapshots of `states` with no episode under way (the run's own, one a state),
            taken as they are where none is: routing them again gives the same.
        since: where to begin: the state in force at the first instant, and how many of the
            episodes' changes come at or before it.
    """
    routing, base_error = fixed
    out: list[tuple[float, Snapshot]] = []
    i, n = since
    active: tuple[Episode, ...] = noise[n - 1][1] if n else ()
    bg = None  # the background of the episodes under way, worked out once for all their instants
    last = len(states) - 1
    for t in times:
        while i < last and states[i + 1][0] <= t:
            i += 1
        while n < len(noise) and noise[n][0] <= t:
            active, bg = noise[n][1], None
            n += 1
        # One state per instant anything changes, as the tape records them (equal ones too).
        if quiet is not None and not active:
            out.append((t, quiet[i][1]))
            continue
        if bg is None:
            bg = background(active, base_error)
        out.append((t, route(routing, states[i][1], bg).snapshot))
    return out


def _armed(
    states: list[tuple[float, RoutingState]],
    release: Release,
    run: tuple[float | None, bool],
    end: float,
    scn: Scenario,
) -> tuple[list[tuple[float, RoutingState]], RoutingFixed]:
    """States for a bad release, and its routing (`run`: when the new binary started, and whether
    the release ships behind a flag): its fault bites `onset_s` after the faulty path first serves
    a user (a leaking binary leaks while it is up, from when it started)."""
    started, uses_flag = run
    routing = routing_fixed(scn, release, uses_flag)
    leaks = bool(release.leak_per_s)
    quiet = background((), scn.fleet.error_rate)

    def armed(state: RoutingState, on: bool) -> RoutingState:
        return state._replace(fault_active=on, leak_from=leak_from(state, leaks, started))

    reach = next((t for t, s in states if route(routing, armed(s, False), quiet).reach > 0), None)
    onset = math.inf if reach is None else reach + release.onset_s
    out = [(t, armed(s, t >= onset)) for t, s in states]
    if onset < end and all(t != onset for t, _ in out):
        at = max(i for i, (t, _) in enumerate(out) if t < onset)
        out.insert(at + 1, (onset, armed(out[at][1], True)))
    return out, routing


def _binary(spec: StrategyConfig) -> StrategyConfig:
    """How a strategy rolls the binary out (a canary-then-flag release: its progressive canary)."""
    return spec.binary if isinstance(spec, CanaryFlagConfig) else spec


def plannable(scn: Scenario, strategy: str) -> bool:
    """Whether a strategy's deploys follow a plan until their first decision: a progressive rollout,
    a blue-green cutover, a recreate, a manual canary or a flag ramp (after the binary went out
    whole or by a progressive canary); a breaking schema change only where no old binary serves
    when it lands, a sequence of deploys only without planned outages; looks and reviews all
    judged from aggregates; watched for at most `MAX_WINDOWS` windows."""
    spec = scn.strategies[strategy]
    if scn.run.horizon_s / scn.run.window_s > MAX_WINDOWS:
        return False
    if spec.routing_for(scn.routing).session_affinity:  # the split moves with the cookie: no plan holds
        return False
    # A breaking change run while the old binary still serves fails its requests: hardly a deploy
    # follows a plan then (the alert or a look calls it back), so serving a block would be waste.
    if scn.migration.kind == "breaking" and Strategy.implementation(spec).migrates_first:
        return False
    # A recreate's planned outage is silenced, and only the last one's silence is known to the
    # block: in a sequence of deploys the earlier outages page after their silence ends (the
    # on-call finds nothing burning), so every deploy would leave its plan.
    if isinstance(spec, RecreateConfig) and len(scn.migration.deploys) > 1:
        return False
    # Cold replicas slow each slot by its replicas' ages, a state change every window the arrays'
    # plans do not hold: the event engine serves them.
    if scn.fleet.cold:
        return False
    judges: list[str] = []
    binary = _binary(spec)
    if (
        isinstance(binary, ProgressiveConfig)
        and binary.checks is not None
        and (binary.pre_rollout or any(s.manual_gate for s in binary.steps))
    ) or (
        isinstance(binary, ProgressiveConfig)
        and any(s.header_route is not None or s.experiment is not None for s in binary.steps)
    ):
        # Flagger's confirm gates and pre-rollout test: the checks' pace, or the release's own test,
        # decides when traffic moves, not a plan for all deploys; header routes and Argo's
        # experiments (their own replicas, served on their own tape) are left to the event engine.
        return False
    if isinstance(binary, ProgressiveConfig) and (
        binary.load_test_rps > 0 or any(s.mirror_route is not None for s in binary.steps)
    ):
        # Shadow traffic (mirrored copies, a load test) is served only by the event engine's tape.
        return False
    if isinstance(binary, ProgressiveConfig):
        runs = [*binary.analyses, *(s.analysis for s in binary.steps if s.analysis is not None)]
        runs += [binary.checks] if binary.checks is not None else []
        judges += [binary.gate_judge] if any(step.manual_gate for step in binary.steps) else []
        runs += [spec.analysis] if isinstance(spec, CanaryFlagConfig) else []
    elif isinstance(spec, FlagConfig):
        runs = [spec.analysis]
    elif isinstance(spec, BlueGreenConfig):
        runs = [a for a in (spec.pre_promotion, spec.post_promotion) if a is not None]
        judges += [] if spec.auto_promote else [spec.gate_judge]
    elif isinstance(spec, RecreateConfig):
        runs = []
    elif isinstance(spec, CanaryConfig):
        runs, judges = [], [spec.judge]
    else:
        return False
    for cfg in (m for run in runs for m in run.metrics):
        if cfg.pass_probability is not None or cfg.error_probability:
            return False
        if cfg.consecutive_success_limit or cfg.failure_limit < 0 or cfg.last_must_pass:  # other endings
            return False
        judges.append(cfg.judge)
    return all(_aggregate(scn.judges[name]) for name in judges)


def _aggregate(judge: object) -> bool:
    return isinstance(judge, judging.GateJudge) and judging.measurer(judge).limits_from_aggregates


def personal(scn: Scenario, strategy: str) -> bool:
    """Whether a person's review sets the strategy's pace (a manual canary, a manual gate or
    promotion), or the deploy's own draws do (an expand-and-contract change's backfill): each
    deploy's plan is its own then, made with its own draws, and its reviews are looks of its plan;
    any other strategy's plan is one for all its deploys."""
    spec = _binary(scn.strategies[strategy])
    if isinstance(spec, CanaryConfig) or scn.migration.kind == "expand_contract":
        return True
    if isinstance(spec, ProgressiveConfig):
        return any(step.manual_gate for step in spec.steps)
    return isinstance(spec, BlueGreenConfig) and not spec.auto_promote


#: How many standard deviations of its (Poisson) count a look's mean requests must lie from its
#: judge's minimum for the look's outcome to count as settled, either way.
SETTLED = 3.0


def sparse(scn: Scenario, plan: Plan) -> bool:
    """Whether, at the scenario's mean rate, some look of a plan for all deploys would surely see
    too few requests to judge: its mean more than `SETTLED` standard deviations below its judge's
    minimum. A person is asked there, so hardly a deploy follows that plan; the deploys take plans
    of their own instead, each guessing from its own traffic which looks come out inconclusive.
    (A look that is a toss-up departs as many deploys from either; the one plan is cheaper.)"""
    cfg, W = scn.traffic, scn.run.window_s
    syn = cfg.synthetic_share
    mean = np.append(cfg.rate_rps * W * (1.0 - syn) * np.asarray(cfg.shares), cfg.rate_rps * W * syn)
    for look in plan.looks:
        rows = np.broadcast_to(mean, (max(look.k_to) + 1, len(mean)))
        stable, new = expected_requests(plan.segments, rows, (look.k_from, look.k_to), W)
        least = max(1, look.judge.min_requests)
        for n in (new, stable) if judging.measurer(look.judge).needs_baseline else (new,):
            if ((least - n) / np.sqrt(np.maximum(n, 1.0)) > SETTLED).any():
                return True
    return False


def covered(exo: Exogenous) -> bool:
    """Whether a deploy can follow the plan at all: a good release (noisy neighbours or not)."""
    return not exo.release.bad


def make_plan(
    scn: Scenario, strategy: str, exo: Exogenous, seed: int, deploy: int = 0, *, own: bool = False
) -> Plan | None:
    """The plan of a strategy, from a covered deploy's draws: the deploy's own (`own`: a person's
    pace, its own people's delays, looks its traffic would leave inconclusive taken so), or one for
    all deploys (any covered deploy's: it then does not depend on which); None if it does not run
    its whole horizon undisturbed."""
    looks: list[PlannedLook] = []
    quiet = dataclasses.replace(exo, episodes=())
    if own and not exo.release.bad and paced(scn, strategy):  # the same run, walked without SimPy
        run = paced_run(scn, strategy, quiet, (seed, deploy), looks)
    else:
        run = simulate(scn, strategy, quiet, seed, deploy, plan=looks, guess=own)
    horizon = scn.run.horizon_s
    world = run.world
    tape = world.tape
    if run.deploy.detected_by is not None or run.deploy.finished.triggered or tape.horizon_s != horizon:
        return None
    assert world.states is not None
    segments = list(tape.segments)
    W = scn.run.window_s
    plan = Plan(
        run=run,
        segments=segments,
        states=list(world.states),
        looks=looks,
        end=horizon,
        tail=tail_from(segments, looks, horizon, W),
        fixed=tape.serving,
        routing=world.routing_fixed,
        base_error=scn.fleet.error_rate,
        window_s=W,
    )
    # A deploy's own plan is cut along its noisy neighbours' states too (`Plan.segments_of`): its
    # plain pieces would go unread. Any other plan's are cut now, so a plan that cannot be cut is
    # none (`rows._plan`), as before.
    if not (own and exo.episodes):
        plan.head  # noqa: B018
    return plan
