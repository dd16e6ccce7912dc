"""The traffic tape: states recorded as the control plane sets them, traffic drawn from them lazily.

A state change costs nothing but a snapshot on the tape. Traffic is drawn when someone reads it,
for every stretch since the last draw at once — each piece of a window under the snapshot in force
then (see `serving`) — and on to the next scheduled event that may change the state (a quiet wait
counts from the end of its promised calm, see `QuietTimeout`). If an observer's finding changes
the state sooner, the tape rewinds to the start of that window and draws it again. Reads see only
complete windows before now (a monitoring lag of at most one window), so nothing a decision was
based on is ever redrawn.

A tape may hold a fill instead (`Fill`: the array engine's draws for this deploy along its
strategy's plan). It then reveals the fill where it would have drawn, stretch for stretch, for as
long as the states recorded are the fill's; from the first window where they are not, it draws for
itself. The fill's ledger rows are handed over whole: only the users' reports read the ledger as a
run goes, and no deploy with a fill has a release that can hurt anyone (yet).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import simpy
from simpy.core import BoundClass
from simpy.events import NORMAL, EventPriority

from ..core import sampling
from .ledger import Ledger
from .serving import ServingFixed, Snapshot, Stretch, serve
from .telemetry import Stats, Telemetry

_EPS = 1e-9


def _share(dt: float, left: float) -> float:
    """A piece's share of the time left in its window, at most all of it. A window of 0.1 s is no
    binary fraction, so k·W and a piece's start can round to the same float: no time is left in
    the window, and the piece takes all of it (the limit of dt / left as left falls to 0)."""
    return 1.0 if left <= 0.0 else min(dt / left, 1.0)


def _window(t: float, window_s: float) -> int:
    """Index of the window time t falls in; a time a rounding error short of a window's start
    counts as in that window (0.3 s with 0.1 s windows is in window 3, not 2)."""
    return math.floor(t / window_s + _EPS)


def look_windows(
    ticks: list[float], lookback_s: float, window_s: float, upto: float = math.inf
) -> tuple[list[int], list[int]]:
    """The windows a look at each tick reads over its lookback (first, past the last): the
    arithmetic of `Tape.windows`, tick by tick, none past `upto` (how far traffic is drawn)."""
    k_from, k_to = [], []
    for t in ticks:
        b = _window(min(t, upto), window_s)
        k_to.append(b)
        k_from.append(min(_window(max(t - lookback_s, 0.0), window_s), b))
    return k_from, k_to


_schedule = simpy.Environment.schedule  # SimPy's own, called without a `super()` lookup per event


class DeployEnvironment(simpy.Environment):
    """SimPy's environment, plus its own record of what is scheduled: the events not yet processed,
    with the times they are due — what the tape looks ahead to (`Tape.next_change`).

    SimPy keeps its event queue to itself. Every event reaches it through the public `schedule`,
    which this extends (as desmod's `SimEnvironment` extends the environment with what its models
    share), and leaves it when processed (its `callbacks` become None), so the record reads nothing
    but public event attributes. Every deploy's SimPy run uses it."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        # SimPy binds its event shortcuts (`timeout`, `process`, `event`, ...) to the instance for
        # speed, but only those its class itself defines: a subclass binds them again here, or every
        # `env.timeout(...)` would build a bound method anew.
        for name, value in vars(simpy.Environment).items():
            if type(value) is BoundClass:
                setattr(self, name, getattr(self, name))
        self._pending: list[tuple[float, simpy.Event]] = []
        self._tidy_at = 64  # the record is pruned when it grows past this

    def schedule(self, event: simpy.Event, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        _schedule(self, event, priority, delay)
        self._pending.append((self.now + delay, event))
        if len(self._pending) > self._tidy_at:  # no one looked ahead for long: drop what is done
            self._tidy_at = 2 * len(self.scheduled()) + 64

    def scheduled(self) -> list[tuple[float, simpy.Event]]:
        """(time due, event) of every event scheduled and not yet processed, in no particular order
        (an event rescheduled by `run`'s stop may be listed twice, at the same time)."""
        self._pending = [p for p in self._pending if p[1].callbacks is not None]  # not `processed`
        return self._pending


class QuietTimeout(simpy.Timeout):
    """A wait after which its process changes no traffic for `quiet_for` seconds more (it starts
    replicas, or flips a router, which take that long). The tape draws on to that later instant
    instead of stopping at the wait's end; the process must keep the promise, or traffic already
    drawn would miss its change (a test checks every shipped scenario)."""

    def __init__(self, env: simpy.Environment, delay: float, quiet_for: float) -> None:
        super().__init__(env, delay)
        self.quiet_for = quiet_for


class Fill(NamedTuple):
    """Traffic the array engine (`sim.engine.arrays`) drew for one deploy along its strategy's plan:
    the tape hands it out in place of its own draws for as long as the deploy's state follows
    the plan, and draws for itself from the first stretch where it does not."""

    plan: list[tuple[float, Snapshot]]  # the states drawn under: (start, snapshot) in time order
    steps: tuple[float, ...]  # when the strategy's plan changes the state (the rest is exogenous)
    end: float  # how far it was drawn
    rem: np.ndarray  # (windows, S + 1): requests of each window left undrawn
    ledger: dict[str, np.ndarray]  # the ledger's rows of the stretch, column by column
    acc: np.ndarray  # the telemetry's arrays over the stretch (see `Telemetry`)
    util: np.ndarray
    svc: np.ndarray
    # The SLO alert fires at no instant over the fill's windows (worked out over the block): while
    # the deploy keeps the fill, the alert need not evaluate what it holds.
    alert_quiet: bool = False


def same_state(a: Snapshot, b: Snapshot) -> bool:
    """Whether two snapshots hold the same state (one made by another world is another object)."""
    if a is b:
        return True
    if a.users is None or b.users is None:
        if a.users is not b.users:
            return False
    elif not np.array_equal(a.users, b.users):
        return False
    return a.shadow == b.shadow and np.array_equal(a.packed, b.packed, equal_nan=True)


def _in_force(segs: list[tuple[float, Snapshot]], t0: float, t1: float) -> list[tuple[float, Snapshot]]:
    """The states of `segs` in force at some time in [t0, t1)."""
    starts = [s for s, _ in segs]
    return segs[max(0, bisect.bisect_right(starts, t0 + _EPS) - 1) : bisect.bisect_left(starts, t1 - _EPS)]


def pieces(
    segs: list[tuple[float, Snapshot]], t0: float, t1: float, window_s: float
) -> tuple[list[Snapshot], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Split [t0, t1) at window and state boundaries: the snapshots in force, per piece its
    window, start, end and snapshot index, and the pieces that share their window with another
    (a state change inside it), in time order."""
    W = window_s
    if segs[-1][0] <= t0 + _EPS:  # one state covers it all: the common case
        k0 = int(t0 // W + _EPS)
        k = np.arange(k0, math.ceil(t1 / W - _EPS))
        start = k * W
        start[0] = t0
        end = start + W
        end[0] = min((k0 + 1) * W, t1)
        end[-1] = t1
        return [segs[-1][1]], k, start, end, np.zeros(len(k), np.int64), []
    if len(segs) < _MANY_STATES:
        return _pieces_loop(segs, t0, t1, W)
    # Many states (a plan's whole run): the loop's arithmetic on arrays, element for element.
    seg_start = np.array([t for t, _ in segs])
    a = np.maximum(seg_start, t0)
    b = np.minimum(np.append(seg_start[1:], math.inf), t1)
    keep = np.flatnonzero(b > a + _EPS)
    a, b = a[keep], b[keep]
    ka = (np.floor_divide(a, W) + _EPS).astype(np.int64)
    kb = np.ceil(b / W - _EPS).astype(np.int64)
    lengths = kb - ka
    if not len(keep) or (lengths <= 0).any():  # a sliver of a state within rounding of a window's edge
        return _pieces_loop(segs, t0, t1, W)
    m = len(keep)
    snaps = [segs[i][1] for i in keep[::-1].tolist()]  # newest first, as the loop lists them
    ends = np.cumsum(lengths)
    firsts = ends - lengths
    k = np.arange(int(ends[-1])) - np.repeat(firsts - ka, lengths)
    start, end = k * W, (k + 1) * W
    start[firsts] = np.maximum(ka * W, a)
    end[ends - 1] = np.minimum(kb * W, b)
    # Where a state changes inside a window, the last piece before and the first after share it.
    inside = np.flatnonzero(ka[1:] == kb[:-1] - 1)
    shared = sorted({int(x) for i in (ends[inside] - 1).tolist() for x in (i, i + 1)})
    which = np.repeat(np.arange(m - 1, -1, -1), lengths)
    return snaps, k, start, end, which, shared


#: From this many states on, `pieces` works on arrays (fewer are quicker one by one).
_MANY_STATES = 8


def _pieces_loop(
    segs: list[tuple[float, Snapshot]], t0: float, t1: float, W: float
) -> tuple[list[Snapshot], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """`pieces` state by state."""
    # Each state's stretch [a, b) covers windows ka..kb-1; only its first piece starts late (at a)
    # and only its last may end early (at b).
    snaps: list[Snapshot] = []
    spans: list[tuple[int, float, float, int, int]] = []  # (snapshot, a, b, ka, kb), newest first
    for i in range(len(segs) - 1, -1, -1):  # newest first: old segments lie behind t0
        s_start = segs[i][0]
        a = max(s_start, t0)
        b = min(segs[i + 1][0] if i + 1 < len(segs) else math.inf, t1)
        if b > a + _EPS:
            spans.append((len(snaps), a, b, int(a // W + _EPS), math.ceil(b / W - _EPS)))
            snaps.append(segs[i][1])
        if s_start <= t0:
            break
    spans.reverse()
    k = np.concatenate([np.arange(ka, kb) for _, _, _, ka, kb in spans])
    start, end = k * W, (k + 1) * W
    lengths = [kb - ka for _, _, _, ka, kb in spans]
    last = list(itertools.accumulate(lengths, initial=-1))
    for j, (_, a, b, ka, kb) in enumerate(spans):  # a few states: element by element, not fancy indexing
        start[last[j] + 1] = max(ka * W, a)
        end[last[j + 1]] = min(kb * W, b)
    # Where a state changes inside a window, the last piece before and the first after share it.
    shared: set[int] = set()
    for j in range(len(spans) - 1):
        if spans[j + 1][3] == spans[j][4] - 1:  # the next stretch begins inside this one's last window
            shared.update((last[j + 1], last[j + 1] + 1))
    return snaps, k, start, end, np.repeat([j for j, *_ in spans], lengths), sorted(shared)


def expected_requests(
    segs: list[tuple[float, Snapshot]], rows: np.ndarray, looks: tuple[list[int], list[int]], window_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per interval of windows (`looks`: first windows, past the last ones), the requests each slot
    (stable, new) gets on average from windows' requests `rows` (windows × columns) under these
    states, each window's taken at its middle: what a plan's run guesses its looks' outcomes from
    (`sim.engine.arrays`)."""
    k_from, k_to = looks
    lo, hi = min(k_from), max(k_to)
    if hi <= lo:
        zero = np.zeros(len(k_to))
        return zero, zero
    starts = np.array([t for t, _ in segs])
    mids = (np.arange(lo, hi) + 0.5) * window_s
    state = np.searchsorted(starts, mids, side="right") - 1
    shares = np.array([snap.share for _, snap in segs])[state]  # (windows, columns)
    requests = rows[lo:hi]
    new = np.concatenate([[0.0], np.cumsum((requests * shares).sum(1))])
    total = np.concatenate([[0.0], np.cumsum(requests.sum(1))])
    a, b = np.asarray(k_from) - lo, np.asarray(k_to) - lo
    n_new, n_all = new[b] - new[a], total[b] - total[a]
    return n_all - n_new, n_new


def _users(snaps: list[Snapshot], which: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Each row's share of each segment's users on slot 1: its traffic's share, unless some state
    pins users otherwise (session affinity's cookie holders)."""
    if all(s.users is None for s in snaps):
        return share
    S = share.shape[-1]
    per_state = np.array([s.share[:S] if s.users is None else s.users for s in snaps])
    return per_state[which]


class ExogenousTimeout(simpy.Timeout):
    """A wait until a change no strategy decides (a noisy neighbour's episode beginning or ending).
    A tape holding a fill has it drawn already (the fill's states include it), so the tape draws on
    past it; any other tape stops there, as at any change."""


class Tape:
    def __init__(
        self,
        env: DeployEnvironment,
        counts: np.ndarray,
        serving: ServingFixed,
        telemetry: Telemetry,
        rng: np.random.Generator,
        *,
        window_s: float,
        horizon_s: float,
    ) -> None:
        # The window length and the horizon go by name: two floats side by side are easily swapped.
        self.env, self.rng = env, rng
        self.window_s, self.horizon_s = window_s, horizon_s
        self.rem = counts.copy()  # requests of each window not yet drawn: by segment, then synthetic
        self.serving = serving
        # Built on first use: a plan's run (most tapes of a batch) never draws, and nine columns of
        # zeros cost a third of its world's construction.
        self._ledger: Ledger | None = None
        self._ledger_shape = (len(counts) + 64, counts.shape[1] - 1)  # rows, user segments
        self.telemetry = telemetry
        self.materialized = 0.0
        self.reach_s = math.inf  # how far past a read one draw may go (a follow-up draws a day at a time)
        self.generation = 0
        self.rewind_listeners: list[Callable[[int], None]] = []
        self.observers: set[simpy.Process] = set()
        self._segments: list[tuple[float, Snapshot]] = []  # (start, state) in time order; the last is open
        self.plan_only = False  # a plan's run (`sim.engine.arrays`): states recorded, nothing served
        self._fill: Fill | None = None
        self.fill_left_at: float | None = None  # when the deploy left the fill's plan, if it did

    @property
    def ledger(self) -> Ledger:
        """The rows drawn so far (see `ledger`), sized to the windows the tape began with."""
        if self._ledger is None:
            self._ledger = Ledger(*self._ledger_shape)
        return self._ledger

    def prefill(self, fill: Fill) -> None:
        """Take the array engine's draws along the plan (see `Fill`); nothing is revealed to readers
        before it would have been drawn (reads still see what is drawn up to now, as before)."""
        self.rem = fill.rem.copy()
        self.ledger.append(**fill.ledger)
        tel, n = self.telemetry, len(fill.acc)
        tel.acc[:n], tel.util[:n], tel.svc[:n] = fill.acc, fill.util, fill.svc
        self._fill = fill

    @property
    def filled(self) -> bool:
        """Whether the tape still hands out a fill (the deploy has followed its plan so far)."""
        return self._fill is not None

    def rows_drawn(self) -> int:
        """How many ledger rows are drawn so far: a fill's rows past that are not revealed yet (its
        ledger is handed over whole, but the deploy may still leave its plan before them)."""
        L = self.ledger
        if self._fill is None:
            return L.n
        return int(np.searchsorted(L["t0"] + L["dt"], self.materialized + _EPS, side="right"))

    @property
    def alert_quiet(self) -> bool:
        """Whether the tape holds a fill over which the SLO alert fires at no instant."""
        return self._fill is not None and self._fill.alert_quiet

    @property
    def segments(self) -> list[tuple[float, Snapshot]]:
        """The states recorded so far: (start, snapshot) in time order."""
        return self._segments

    def _filled_under(self, t: float, snap: Snapshot) -> bool:
        fill = self._fill
        if fill is None or t > fill.end - _EPS:
            return False
        starts = [s for s, _ in fill.plan]
        return same_state(fill.plan[bisect.bisect_right(starts, t + _EPS) - 1][1], snap)

    def _follows_plan(self, fill: Fill, t0: float, t1: float) -> bool:
        """Whether the states recorded over [t0, t1] are the fill's, change for change."""
        mine, plan = _in_force(self._segments, t0, t1 + 2 * _EPS), _in_force(fill.plan, t0, t1 + 2 * _EPS)
        if len(mine) != len(plan):
            return False
        for i, ((a, x), (b, y)) in enumerate(zip(mine, plan, strict=True)):
            if (i and abs(a - b) > _EPS) or not same_state(x, y):
                return False
        return True

    def extend(self, counts: np.ndarray) -> None:
        """More windows after the last, with their requests (by segment, then synthetic)."""
        self.rem = np.concatenate([self.rem, counts])
        self.horizon_s = len(self.rem) * self.window_s

    def begin_at(self, t: float) -> None:
        """Draw nothing before t: the part of its window before t was served elsewhere (the phase
        this tape follows on from), so that window keeps only the requests of its remaining time."""
        k = _window(t, self.window_s)
        left = ((k + 1) * self.window_s - t) / self.window_s
        if 0.0 < left < 1.0 - _EPS:
            self.rem[k] = self.rng.binomial(self.rem[k], left)
        self.materialized = t

    def record(self, snap: Snapshot) -> None:
        """The state from now on. A change inside a stretch already drawn rewinds it first, unless
        the fill it came from was drawn under this very state from now on."""
        now = self.env.now
        if self.materialized > now + _EPS and not self._filled_under(now, snap):
            self._rewind(now)
        if self._segments and self._segments[-1][0] >= now - _EPS:
            self._segments[-1] = (self._segments[-1][0], snap)  # several changes at one instant
        else:
            self._segments.append((now, snap))

    # ---- drawing ----

    def ensure(self, t: float) -> None:
        """Have traffic drawn at least up to time t, and on to the next event that may change state."""
        if t <= self.materialized + _EPS:
            return
        self._draw(min(max(t, self.next_change()), self.horizon_s, t + self.reach_s), need=t)

    def next_change(self) -> float:
        """Time of the next scheduled event that may change the state.

        Observers (analysis loops, the alert, the on-call answering a page) only read; when one of
        them does set off a change, the stretch drawn past it is rewound. Skipping their ticks, and
        quiet waits, lets a whole step of a rollout be drawn at once.
        """
        best = math.inf
        waking: set[simpy.Event | None] | None = None  # what observers wait for: built on first need
        for t, event in self.env.scheduled():  # a handful
            if type(event) is QuietTimeout:
                best = min(best, t + event.quiet_for)
            elif type(event) is ExogenousTimeout and self._fill is not None:
                continue
            elif t < best:
                if waking is None:
                    # The one running now (an observer reading) waits for nothing yet: an event it
                    # was waiting for when interrupted is no wake-up of its any more.
                    running = self.env.active_process
                    waking = {p.target for p in self.observers if p is not running}
                if event not in waking:
                    best = t
        return best

    def finish(self, t: float) -> None:
        """End the tape exactly at t."""
        t = min(t, self.horizon_s)
        if self.materialized > t + _EPS:
            self._rewind(t)
        self._draw(t)

    def _rewind(self, t: float) -> None:
        if self._fill is not None:
            self.fill_left_at = t
        self._fill = None  # what it held from here on is gone: the tape draws for itself from now on
        k = int(t // self.window_s)
        if not self.plan_only:  # a plan's run has drawn nothing to take back
            L = self.ledger
            i = L.first_row_of_window(k)
            np.add.at(self.rem, L["k"][i:], L["taken"][i:])
            L.truncate(i)
            self.telemetry.clear_from(k)
        self.materialized = k * self.window_s
        self.generation += 1
        for listener in self.rewind_listeners:
            listener(k)

    def pieces(
        self, t0: float, t1: float
    ) -> tuple[list[Snapshot], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """`pieces` of [t0, t1) under the states recorded."""
        return pieces(self._segments, t0, t1, self.window_s)

    def _draw(self, t1: float, need: float | None = None) -> None:
        """Draw on to t1; with a fill held, only on to `need` (if given) where the plan's next step
        comes first: whether the deploy takes that step is not known yet."""
        t0 = self.materialized
        if t1 <= t0 + _EPS:
            return
        if self.plan_only:
            self.materialized = t1
            return
        fill = self._fill
        if fill is not None:
            # The array engine's draws stand in for the tape's while the states recorded so far are
            # the fill's, up to the plan's next step (the deploy may not take it) or the fill's end.
            # A step due now that the strategy has not taken yet (a reader woke first, at the same
            # instant): the fill is ours up to now, and what counts is the states before now.
            now = self.env.now
            due = any(abs(t - now) <= _EPS for t in fill.steps) and not (
                self._segments and self._segments[-1][0] >= now - _EPS
            )
            step = now if due else min((t for t in fill.steps if t > now + _EPS), default=t1)
            upto = min(t1, fill.end, step)
            if upto > t0 + _EPS and self._follows_plan(fill, t0, now - 3 * _EPS if due else min(now, upto)):
                self.materialized = t0 = upto
            elif upto > t0 + _EPS:
                self._rewind(t0)  # off the plan: what the fill holds from this window on is not ours
                t0 = self.materialized
            if self._fill is not None and need is not None and need <= t0 + _EPS:  # enough: keep the fill
                return
            if t1 <= t0 + _EPS:
                return
            if self._fill is not None:  # drawn on from here by the tape itself
                self._rewind(t0)
                t0 = self.materialized
        W = self.window_s
        snaps, k, start, end, which, shared = self.pieces(t0, t1)
        dt = end - start
        # A piece takes its window's remaining requests in proportion to the time left in the window,
        # each request independently; only a piece ending before its window does needs a draw, and
        # pieces sharing a window (a state change inside it) are taken in time order.
        rem = self.rem
        k0, k1 = int(k[0]), int(k[-1]) + 1
        if not shared:  # one piece per window: slices, and only the last may be cut
            taken = rem[k0:k1].copy()
            last = _share(t1 - float(start[-1]), k1 * W - float(start[-1]))
            if last < 1.0 - _EPS:
                taken[-1] = sampling.binomial(self.rng, taken[-1], last)
            rem[k0:k1] -= taken
        else:
            taken = rem[k]  # a copy (fancy indexing)
            i = len(k) - 1
            if shared[-1] != i:  # the last piece, alone in its window, may end before it (drawn first)
                f = _share(float(dt[i]), k1 * W - float(start[i]))
                if f < 1.0 - _EPS:
                    taken[i] = sampling.binomial(self.rng, taken[i], f)
            taken[shared] = 0  # for now: a shared window's takes come next, one piece after the other
            rem[k] -= taken  # (a window listed twice is written twice, alike)
            for i in shared:
                ki = int(k[i])
                f = _share(float(dt[i]), (ki + 1) * W - float(start[i]))
                taken[i] = rem[ki] if f >= 1.0 - _EPS else sampling.binomial(self.rng, rem[ki], f)
                rem[ki] -= taken[i]
        served = serve(self.rng, Stretch(snaps, which, k, start, dt, taken), self.serving)
        self.telemetry.add(served)
        self.ledger.append(
            t0=start,
            dt=dt,
            k=k,
            taken=taken,
            caused=served.caused,
            schema_failed=served.schema_failed,
            faulty=served.faulty,
            share=_users(snaps, which, served.share),
            down=served.down,
        )
        self.materialized = t1

    # ---- reads: complete windows before now, as monitoring would show them ----

    def windows(self, t_from: float, t_to: float) -> tuple[int, int]:
        # Observers may evaluate a tick ahead of the clock over traffic already drawn (see analysis).
        k_to = _window(min(t_to, max(self.env.now, self.materialized)), self.window_s)
        k_from = min(_window(max(t_from, 0.0), self.window_s), k_to)
        self.ensure(k_to * self.window_s)
        return k_from, k_to

    def stats(
        self, t_from: float, t_to: float, quantiles: tuple[float, ...] = (0.5, 0.99), min_tail: float = 0.0
    ) -> tuple[Stats, Stats]:
        """What monitoring shows for both slots over the complete windows in [t_from, t_to)."""
        k_from, k_to = self.windows(t_from, t_to)
        return self.telemetry.stats(k_from, k_to, quantiles, min_tail)

    def stats_many(
        self,
        ticks: list[float],
        lookback_s: float,
        quantiles: tuple[float, ...],
        min_tail: float,
        with_saturation: bool,
        *,
        rng: np.random.Generator,
    ) -> dict[str, tuple[list[float], list[float]]]:
        """`stats` as of many tick times (in time order) at once, each over its own lookback (all
        already drawn), the percentiles from `rng`."""
        k_from, k_to = self.look_windows(ticks, lookback_s)
        return self.telemetry.stats_many(k_from, k_to, quantiles, min_tail, with_saturation, rng=rng)

    def look_windows(self, ticks: list[float], lookback_s: float) -> tuple[list[int], list[int]]:
        """The windows `stats_many` reads for each tick (first, past the last), with them drawn."""
        k_from, k_to = look_windows(ticks, lookback_s, self.window_s, max(self.env.now, self.materialized))
        self.ensure(k_to[-1] * self.window_s)
        return k_from, k_to

    def expected_requests(self, k_from: list[int], k_to: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """`expected_requests` under the states recorded, of the tape's requests: only a tape that
        has drawn nothing (a plan's run) holds every window's."""
        return expected_requests(self._segments, self.rem, (k_from, k_to), self.window_s)

    def counts(self, t_from: float, t_to: float) -> np.ndarray:
        """Per complete window in [t_from, t_to), each version's requests and errors (`Telemetry.counts`)."""
        k_from, k_to = self.windows(t_from, t_to)
        return self.telemetry.counts(k_from, k_to)

    def slow_counts(self, t_from: float, t_to: float, threshold_ms: float) -> np.ndarray:
        """Per complete window in [t_from, t_to), each version's user requests and those slower than
        `threshold_ms` (`Telemetry.slow_counts`: drawn on first read)."""
        k_from, k_to = self.windows(t_from, t_to)
        return self.telemetry.slow_counts(k_from, k_to, threshold_ms)

    def series(self, slot: int, t_from: float, t_to: float) -> dict[str, np.ndarray]:
        """Per-window values of one slot over the complete windows in [t_from, t_to)."""
        k_from, k_to = self.windows(t_from, t_to)
        return self.telemetry.series(slot, k_from, k_to)
