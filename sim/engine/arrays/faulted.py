"""A block's bad releases along their strategy's plan for all deploys: served with their faults, their
looks judged over the arrays, the decisions of those their looks catch taken from a run with nothing
served, and their rows read from the arrays (the event engine makes any other over the same draws)."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ...config.scenario import Scenario
from ...core import rng as streams
from ..exogenous import Exogenous, Release
from ..metrics import deploy_row
from ..people import Humans
from ..routing import RoutingState
from ..serving import ServingFixed, Snapshot
from ..simulate import Simulation, simulate
from ..strategies.analysis import Tally
from ..strategies.base import PlannedLook
from ..tape import Fill, pieces, same_state
from ..user_reports import can_hurt, escalates_at
from ..world import serving_fixed
from .alert import alerts_fire
from .judge import look_statuses
from .outcome import Phase
from .plan import Pieces, Plan, segments_along
from .reviews import TIE_S, Background, Decisions, reviews_pass_block
from .serve import Arrays, Block, serve_apart

#: The looks a block's bad releases are served for before their first judging, and then the
#: growth of that stretch: most are caught, or leave, within a few looks of their fault's onset.
FIRST_TICKS, GROWTH = 16, 4

Drawn = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]


class Caught(NamedTuple):
    """A bad release its looks caught, worked out over arrays: its row, its decisions' run, and the
    traffic drawn for it, over which the event engine makes the same row (`fill`)."""

    row: dict[str, Any]
    run: Simulation
    drawn: tuple[Any, ...]  # its states, the detection's window, the end of the drawing, the draws

    def fill(self) -> Fill:
        """Its traffic as the event engine's tape takes it: the first drawing before the
        detection's window, the second from there."""
        return _both(self.drawn)


def _both(drawn: tuple[Any, ...]) -> Fill:
    """`Caught.fill` of these draws."""
    states, k, end, (first, again), ledger = drawn
    acc, util, svc, rem = (np.concatenate([a[:k], b[k:]]) for a, b in zip(first[:4], again[:4], strict=True))
    return Fill(states, tuple(t for t, _ in states), end, rem, ledger, acc, util, svc)


class _Abort(NamedTuple):
    """The run of a strategy whose looks fail at a tick, with nothing served (shared by every bad
    release its looks catch there whose faulty path reaches the same users)."""

    run: Simulation
    states: list[tuple[float, RoutingState]]  # its control plane's states
    detected: float
    recovered: float


#: Aborts by plan (held, so its id stays its own), then by (run, window of the failing tick,
#: failures before it, whom the faulty path reaches); a process meets few plans, and keeps the
#: latest `_PER_PLAN` aborts of each (a run with nothing served holds its world: ~0.2 MB).
_ABORTS: OrderedDict[int, tuple[Plan, dict[tuple[Any, ...], _Abort | None]]] = OrderedDict()
_KEEP, _PER_PLAN = 8, 256


def caught_block(
    scn: Scenario,
    strategy: str,
    served: tuple[Plan, Background],
    bad: Sequence[tuple[int, Exogenous]],
    where: tuple[int, int],
) -> dict[int, Caught | Fill]:
    """The block's bad releases (`bad`: every one of the block, with its draws; `where`: the seed
    and the block), by deploy: those their strategy's one background analysis (`served`: the plan
    for all deploys and that analysis) rolls back before the SLO alert or their users can act, with
    their rows; every other one with the traffic drawn for it, over which the event engine makes its
    row (`simulate(..., fill=...)`).

    They are served along the plan's states, each with its fault biting from its onset (from the
    block's own stream, all in one call, a few looks at a time until each one's first analysis
    run has ended); every look is judged over them as the event engine judges it (each run's
    percentiles from the run's own stream). Where that run fails, the strategy's run with nothing
    served whose looks fail at that tick gives the deploy's decisions (detection, abort, the marks
    a row reads), and the windows from its detection until its faulty path closes are served again
    under that run's states. The row is the event engine's row over that traffic (a test holds the
    two to the same row, deploy by deploy). Rows never depend on which of the block's deploys a
    caller wants.

    Whether a release is caught here is read from its draws, so a release that is not must keep
    them: drawn afresh by the event engine it could be caught after all, and looks-caught rows
    would come out more often than they happen (measured: a tenth fewer escapes at the defaults)."""
    plan, bg = served
    seed, block = where
    if not bad or not plan.looks or any(look.review or look.expect is not None for look in plan.looks):
        return {}
    W = scn.run.window_s
    rng = streams.stream(seed, block, streams.FAULTED)
    counts = np.stack([exo.traffic.counts for _, exo in bad])
    fixed = [serving_fixed(scn, exo.release) for _, exo in bad]
    segs = [plan.segments_of(exo) for _, exo in bad]
    first = _Served.empty(counts, len(bad))
    ticks = [k for look in plan.looks for k in look.k_to]
    open_, ended, n_ticks, k_done = list(range(len(bad))), {}, FIRST_TICKS, 0
    reach = [0] * len(bad)  # the window each one's first drawing reaches
    while open_ and k_done < ticks[-1]:
        k_to = ticks[min(n_ticks, len(ticks)) - 1]
        cuts = [_cut(segs[j], k_done * W, k_to * W, W) for j in open_]
        first.serve(open_, cuts, _per_row([fixed[j] for j in open_], cuts), rng, W)
        k_done, n_ticks = k_to, n_ticks * GROWTH
        for j in open_:
            reach[j] = k_done
        looks = _upto(plan.looks, k_done)
        deploys = [bad[j] for j in open_]
        judged = look_statuses(scn, looks, first.block(open_, segs, W), deploys, seed, range(len(open_)))
        still = []
        for at, j in enumerate(open_):
            outcome = _first_run(bg, looks, judged, at)
            if outcome is None:
                still.append(j)
            else:
                ended[j] = outcome
        open_ = still
    caught_at = {j: out for j, out in ended.items() if out[0] == "failed"}
    aborts = {j: _abort(scn, strategy, plan, bad[j][1], (seed, key)) for j, (_, key) in caught_at.items()}
    # A first run that asks a person: its reviews and the runs after them, over the whole watch.
    asks = [j for j, out in ended.items() if out[0] == "inconclusive"]
    # Up to the last window a review may read (`reviews_pass_block`'s), each from where its own
    # drawing stopped: one whose first run ended while others' went on was drawn no further.
    last_k = min(max(ticks[-1], math.floor((bg.stop + TIE_S) / W + 1e-9)), counts.shape[1])
    behind = [j for j in asks if reach[j] < last_k]
    if behind:
        cuts = [_cut(segs[j], reach[j] * W, last_k * W, W) for j in behind]
        first.serve(behind, cuts, _per_row([fixed[j] for j in behind], cuts), rng, W)
        k_done = max(k_done, last_k)
        for j in behind:
            reach[j] = last_k
    if asks and bg.cfg.interval_s >= W:  # (else two ticks may read up to one window)
        took: dict[int, Decisions] = {}
        asked = [bad[j] for j in asks]
        reviews_pass_block(
            scn, bg, plan, first.block(asks, segs, W), asked, (seed, range(len(asks))), record=took
        )
        for at, j in enumerate(asks):
            if at in took and took[at].by is not None:
                aborts[j] = _replayed(scn, strategy, plan, bad[j][1], (seed, bad[j][0], took[at].statuses))
    picked = []
    for j, a in aborts.items():
        if a is None:
            continue
        along = segments_along(a.states, bad[j][1], a.run, plan.end)
        # (A release its looks catch as its faulty path closes, at a window's start, is served
        # again from that window too: the second drawing is never empty.)
        k_d = math.floor(a.detected / W + 1e-9)
        k_r = max(math.ceil(a.recovered / W - 1e-9), k_d + 1)
        if k_d <= reach[j] and k_r <= k_done and _same_before(along, segs[j], k_d * W):
            picked.append((j, a, along, k_d, k_r))
    # Every one keeps the traffic drawn for it, caught here or not (see above).
    out: dict[int, Caught | Fill] = {
        i: first.fill(j, (segs[j], plan.steps, reach[j] * W)) for j, (i, _) in enumerate(bad)
    }
    if not picked:
        return out
    # From each detection's window on, the states are its run's: served again under them.
    cuts = [_cut(along, k_d * W, k_r * W, W) for _, _, along, k_d, k_r in picked]
    js = [j for j, *_ in picked]
    again = serve_apart(cuts, _per_row([fixed[j] for j in js], cuts), counts[js], rng, W)
    svcs = [
        np.concatenate([first.svc[j, :k_d], again[2][at, k_d:]])
        for at, (j, _, _, k_d, _) in enumerate(picked)
    ]
    ledgers = [_ledger(first.ledger(j), again[4][at], k_d) for at, (j, _, _, k_d, _) in enumerate(picked)]
    fires = _alert_fires(scn, plan, svcs, [(bad[j][1], a) for j, a, *_ in picked])
    for at, (j, a, along, k_d, k_r) in enumerate(picked):
        i, exo = bad[j]
        drawn = (along, k_d, k_r * W, (first.arrays(j), tuple(a[at] for a in again[:4])), ledgers[at])
        # Only a release its first analysis run failed has drawn nothing from its people by then.
        people = (seed, i) if j in caught_at else None
        if fires[at] or _reported(scn, exo, a, ledgers[at], people=people):
            out[i] = _both(drawn)
            continue
        phase: Any = Phase(a.run.world.marks, exo.release, ledgers[at])
        row = deploy_row(scn, strategy, i, seed, [phase], last=a.run.deploy, end=plan.end)
        out[i] = Caught(row, a.run, drawn)
    return out


class _Served:
    """The block's bad releases served so far, window by window (windows not served yet: zeros)."""

    def __init__(self, held: Arrays, n: int) -> None:
        self.held = held
        self.acc, self.util, self.svc, self.rem = held
        self.ledgers: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]

    @classmethod
    def empty(cls, counts: np.ndarray, n: int) -> _Served:
        return cls(Arrays.empty(counts), n)

    def serve(
        self, rows: list[int], cuts: list[Pieces], fixed: ServingFixed, rng: np.random.Generator, W: float
    ) -> None:
        """A stretch served for deploys `rows` along their pieces, into their rows (the stretches of
        one deploy never meet)."""
        drawn = serve_apart(cuts, fixed, None, rng, W, into=(self.held, rows))
        for at, j in enumerate(rows):
            self.ledgers[j].append(drawn[4][at])

    def block(self, rows: list[int], segs: list[list[tuple[float, Snapshot]]], window_s: float) -> Block:
        """Deploys `rows` as a block, for judging their looks."""
        return Block(
            self.acc[rows],
            self.util[rows],
            self.svc[rows],
            self.rem[rows],
            [],
            [segs[j] for j in rows],
            [None] * len(rows),
            window_s,
        )

    def ledger(self, j: int) -> dict[str, np.ndarray]:
        """Deploy j's ledger rows drawn so far, in time order."""
        parts = self.ledgers[j]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def fill(self, j: int, drawn: tuple[list[tuple[float, Snapshot]], tuple[float, ...], float]) -> Fill:
        """Deploy j's drawing for the event engine (`drawn`: the states it was served under, the
        plan's steps among them, and how far it reaches)."""
        states, steps, end = drawn
        return Fill(states, steps, end, self.rem[j], self.ledger(j), self.acc[j], self.util[j], self.svc[j])

    def arrays(self, j: int) -> tuple[np.ndarray, ...]:
        """Deploy j's telemetry, service figures and requests left, window by window."""
        return self.acc[j], self.util[j], self.svc[j], self.rem[j]


def _upto(looks: list[PlannedLook], k: int) -> list[PlannedLook]:
    """The looks that read no window from k on (a look's ticks in time order)."""
    out = []
    for look in looks:
        n = sum(1 for x in look.k_to if x <= k)
        if n:
            out.append(look._replace(k_from=look.k_from[:n], k_to=look.k_to[:n]))
        if n < len(look.k_to):
            break
    return out


def _first_run(
    bg: Background,
    looks: list[PlannedLook],
    judged: list[tuple[PlannedLook, np.ndarray, np.ndarray]],
    at: int,
) -> tuple[str, tuple[int, int, int]] | None:
    """How the background analysis's first run of deploy `at` ends over these looks (its outcome,
    and the run, window and failures of its last tick), or None: not yet."""
    tally = Tally()
    for look, ok, failed in judged:
        for k, passes, fails in zip(look.k_to, ok[at].tolist(), failed[at].tolist(), strict=True):
            outcome = tally.record(bg.cfg, "pass" if passes else "fail" if fails else "inconclusive")
            if outcome is not None:
                return outcome, (look.run, k, tally.failures)
    return None


def _abort(
    scn: Scenario,
    strategy: str,
    plan: Plan,
    exo: Exogenous,
    key: tuple[int, tuple[int, int, int]],
) -> _Abort | None:
    """The strategy's run, nothing served, whose first analysis run fails at a tick (`key`: the
    seed, then the run, the window the tick reads up to and the failures by then), for a bad
    release like `exo`'s (whom its faulty path reaches); None: it is no rollback by the looks that
    closes the faulty path by the plan's end. Made once per plan and key."""
    held = _ABORTS.get(id(plan))
    if held is None or held[0] is not plan:
        held = _ABORTS[id(plan)] = (plan, {})
        while len(_ABORTS) > _KEEP:
            _ABORTS.popitem(last=False)
    r = exo.release
    full = (*key, r.kind, r.segment, r.layer)
    made = held[1]
    if full not in made:
        made[full] = _aborted(scn, strategy, plan, exo, key)
        while len(made) > _PER_PLAN:
            del made[next(iter(made))]
    return made[full]


def _aborted(
    scn: Scenario, strategy: str, plan: Plan, exo: Exogenous, key: tuple[int, tuple[int, int, int]]
) -> _Abort | None:
    seed, (run_n, k, failures) = key
    # The failures that end the run, the last at that tick: where the others fell changes nothing.
    ticks = [x for look in plan.looks if look.run == run_n for x in look.k_to]
    last = ticks.index(k)
    statuses = {(run_n, x): "fail" for x in ticks[max(0, last - failures + 1) : last + 1]}
    # The plan's own draws, with a release like this one (whom its faulty path reaches: all that
    # routing reads of it) whose fault never bites here: each deploy's onset, noise and leak are
    # its own (`segments_along`). The run draws nothing (no person, no dice), so it is the same
    # for every deploy, and whichever deploy first needs it.
    r = exo.release
    like = Release(True, r.kind, segment=r.segment, layer=r.layer, onset_s=math.inf)
    base = plan.run.exo
    looks: list[PlannedLook] = []
    quiet = dataclasses.replace(base, episodes=(), release=like)
    run = simulate(scn, strategy, quiet, seed, plan.run.exo.deploy, plan=looks, statuses=statuses)
    m = run.world.marks
    if run.deploy.detected_by != "analysis" or any(look.review for look in looks):
        return None
    if m.detected_at is None or m.recovered_at is None or m.recovered_at > plan.end:
        return None
    assert run.world.states is not None
    return _Abort(run, list(run.world.states), m.detected_at, m.recovered_at)


def _replayed(
    scn: Scenario, strategy: str, plan: Plan, exo: Exogenous, key: tuple[int, int, dict[tuple[int, int], str]]
) -> _Abort | None:
    """`_aborted` for a deploy whose decisions a person took part in (`key`: the seed, the deploy
    and the statuses of its looks and reviews): the run draws the person's delays as the deploy's."""
    seed, deploy, statuses = key
    quiet = dataclasses.replace(exo, episodes=(), release=dataclasses.replace(exo.release, onset_s=math.inf))
    looks: list[PlannedLook] = []
    run = simulate(scn, strategy, quiet, seed, deploy, plan=looks, statuses=statuses)
    m = run.world.marks
    if run.deploy.detected_by not in ("analysis", "operator"):
        return None
    if m.detected_at is None or m.recovered_at is None or m.recovered_at > plan.end:
        return None
    assert run.world.states is not None
    return _Abort(run, list(run.world.states), m.detected_at, m.recovered_at)


def _per_row(fixed: list[ServingFixed], cuts: Sequence[Pieces]) -> ServingFixed:
    """Deploys' serving parameters as one, row by row of their cuts in turn."""
    sizes = [len(c.k) for c in cuts]
    f0 = fixed[0]
    return ServingFixed(
        np.repeat(np.stack([f.fault_p for f in fixed]), sizes, axis=0),
        np.repeat(np.stack([f.fault_touch for f in fixed]), sizes, axis=0),
        np.repeat(np.array([f.leak_per_s for f in fixed], float), sizes),
        np.repeat(np.array([f.has_profile for f in fixed], bool), sizes),
        f0.ref_util,
        f0.workers,
    )


def _cut(states: list[tuple[float, Snapshot]], t0: float, t1: float, window_s: float) -> Pieces:
    """The pieces of [t0, t1) under these states."""
    snaps, k, start, stop, which, shared = pieces(states, t0, t1, window_s)
    return Pieces(snaps, which, k, start, stop - start, shared)


def _same_before(mine: list[tuple[float, Snapshot]], served: list[tuple[float, Snapshot]], t: float) -> bool:
    """Whether two lists of states agree on [0, t): the same instants, the same states."""
    a = [(s, x) for s, x in mine if s < t - 1e-9]
    b = [(s, x) for s, x in served if s < t - 1e-9]
    return len(a) == len(b) and all(
        abs(s - r) <= 1e-9 and same_state(x, y) for (s, x), (r, y) in zip(a, b, strict=True)
    )


def _ledger(one: dict[str, np.ndarray], two: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """One deploy's ledger rows of its first drawing before window k, and of its second."""
    keep = int(np.searchsorted(one["k"], k))
    return {name: np.concatenate([one[name][:keep], two[name]]) for name in one}


def _alert_fires(
    scn: Scenario, plan: Plan, svcs: list[np.ndarray], deploys: list[tuple[Exogenous, _Abort]]
) -> list[bool]:
    """Per deploy, whether the SLO alert fires no later than its looks' detection (after it, the
    alert finds the release caught and changes nothing); `svcs`: each one's service figures."""
    if scn.safety_net is None or not svcs:
        return [False] * len(svcs)
    W = scn.run.window_s
    svc = np.stack(svcs)
    empty = np.zeros(0)
    block = Block(empty, empty, svc, empty, [], [], [], W)
    at = [(x, exo) for x, (exo, _) in enumerate(deploys)]
    until = [a.detected for _, a in deploys]
    return [bool(f) for f in alerts_fire(scn, [plan] * len(svcs), block, at, until=until)]


def _reported(
    scn: Scenario,
    exo: Exogenous,
    a: _Abort,
    ledger: dict[str, np.ndarray],
    *,
    people: tuple[int, int] | None = None,
) -> bool:
    """Whether the users' reports act no later than the looks' detection: reach support by then,
    or — given `people` (the seed and the deploy, for a release none of whose people has drawn
    anything before its reports reach support) — have engineering answer them by then.

    Support escalating the reports draws engineering's response from the deploy's people stream;
    when nothing else has drawn from it first, that draw is its first, and a response that comes
    after the detection changes nothing the row reads (the release is rolled back already)."""
    if not can_hurt(scn, exo.release):
        return False
    # The rows the reports may reach their threshold in: those begun by the detection.
    n = int(np.searchsorted(ledger["t0"], a.detected + TIE_S, side="right"))
    upto = {name: col[:n] for name, col in ledger.items()}
    at = escalates_at(scn, exo.release, _Ledger(upto), exo.report_threshold(scn))
    if at is None or at > a.detected + TIE_S:
        return False
    if people is None or at >= a.detected - TIE_S:  # (escalated at the detection's instant: a tie)
        return True
    seed, deploy = people
    humans = Humans(scn.humans, streams.stream(seed, deploy, streams.PEOPLE))
    answered = at + humans.working(scn.reports.response_s, exo.traffic.hour_at(at))
    return answered <= a.detected + TIE_S


class _Ledger:
    """A ledger drawn whole, as the users' reports read it (`user_reports.harm`)."""

    def __init__(self, ledger: dict[str, np.ndarray]) -> None:
        self.ledger = ledger
