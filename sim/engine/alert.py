"""The whole-service safety net at work: SLO multiwindow, multi-burn-rate alerting as in the SRE Workbook.

The alert watches every user request of the service, whichever version served it. A pair of
windows fires when the error ratio over both the long and the short window exceeds
burn_rate × (1 − SLO). For a constant error ratio e arriving after clean traffic, the long window
alone fires after (1 − SLO) / e × window × burn_rate — the Workbook's detection time.

The alert's settings are a judge's record (`sim.config.judges.BurnRateJudge`); `BurnRateAlert`,
the process that evaluates them, is that kind's implementation in the judges' family.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
import simpy

from ..config.judges import JUDGES, BurnRateJudge
from ..config.traffic import TrafficConfig
from .exogenous import user_requests_before
from .watcher import Watcher

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from .world import World


#: Expected user requests in the given numbers of windows before t = 0 (the steady history).
History = Callable[[np.ndarray], np.ndarray]


class ServiceWindows(NamedTuple):
    """The whole service's user requests and failures, per window of `window_s` seconds: what the
    alert evaluates (every user request, whichever version served it)."""

    user: np.ndarray
    err: np.ndarray
    window_s: float


class SteadyPast(NamedTuple):
    """The service before t = 0, taken to have run steadily: its expected user requests in so many
    windows before t = 0 (a number: that many a window), and its error ratio. Long windows are full
    of it from the first evaluation."""

    requests: float | History
    error_ratio: float


def first_firing(
    judge: BurnRateJudge,
    service: ServiceWindows,
    eval_ks: np.ndarray | range,
    past: SteadyPast,
    tier: str = "page",
    held: tuple[np.ndarray, np.ndarray] | None = None,
) -> int | None:
    """First evaluation instant (a window index k: the alert looks at windows < k) at which a pair of
    the tier fires, given the service's user requests and failures per window, evaluation instants
    in time order, and the steady service before them.

    `held`, when given, is the most and the least history each pair's long window can hold at any
    instant the caller asks about (an alert works them out once, rather than per scan).
    """
    got = _fired(judge, service, eval_ks, past, tier, held)
    if got is None:
        return None
    ks, firing = got
    first = int(firing.argmax())
    return int(ks[first]) if firing[first] else None


def first_firing_past_exits(
    judge: BurnRateJudge,
    service: ServiceWindows,
    eval_ks: np.ndarray | range,
    past: SteadyPast,
    tier: str,
) -> int | None:
    """`first_firing` for a caller that has taken its quick exits already and found them closed
    (`arrays.alert`, for a block's deploys at once): straight to the span sums. An exit never
    changes the answer, only what it costs, so the answer is `first_firing`'s."""
    spans = tier_spans(judge, service.window_s, tier)
    if spans is None or not len(eval_ks):
        return None
    return _scan(spans[0], spans[1], service, eval_ks, past)


def firings(
    judge: BurnRateJudge,
    service: ServiceWindows,
    eval_ks: range,
    past: SteadyPast,
    tier: str,
    held: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[int]:
    """Every evaluation instant of `eval_ks` at which a pair of the tier fires, in time order: what
    `first_firing` finds, and the instants after it (an alert keeps them for its next scans)."""
    got = _fired(judge, service, eval_ks, past, tier, held)
    if got is None:
        return []
    ks, firing = got
    return cast(list[int], ks[firing].tolist())


def _fired(
    judge: BurnRateJudge,
    service: ServiceWindows,
    eval_ks: np.ndarray | range,
    past: SteadyPast,
    tier: str,
    held: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """`first_firing`'s work: None when a quick exit shows that no instant fires, else the instants
    and whether each fires (the long way, `_firing`)."""
    if len(eval_ks) == 0:
        return None
    spans = tier_spans(judge, service.window_s, tier)
    if spans is None:
        return None
    n, limit, longest, lowest = spans
    history_error = past.error_ratio
    # A span of windows burns only if some part of it does: when no window (nor the history before
    # t = 0) comes near the lowest limit, no span reaches it — most scans end here, cheaply. The
    # margin keeps rounding in the span sums from ever deciding otherwise.
    near = lowest * (1.0 - 1e-9)
    k_first, k_last = int(eval_ks[0]), int(eval_ks[-1])
    if history_error >= near:
        return _firing(n, limit, service, eval_ks, past)
    # A ticket's windows (burn rate 1) see some window near its limit in almost every scan, while
    # its three-day window holds days of history: for it, the long-window bound is the quick exit.
    ks = (k_first, k_last)
    ticket_held = held if tier == "ticket" else None
    if ticket_held is not None and _no_long_window_burns(n, limit, service, ks, ticket_held, history_error):
        return None
    lo_k = max(0, k_first - longest)
    if not np.count_nonzero(service.err[lo_k:k_last] > near * service.user[lo_k:k_last]):
        return None
    if ticket_held is None:  # (else the bound was asked above, and would answer the same)
        held = held or _held(n, _curve(past.requests), k_first, k_last)
        if _no_long_window_burns(n, limit, service, ks, held, history_error):
            return None
    return _firing(n, limit, service, eval_ks, past)


def _curve(requests: float | History) -> History:
    """The steady past's requests as a function of windows before t = 0 (a number: that many a window)."""
    return requests if callable(requests) else functools.partial(np.multiply, float(requests))


def _held(n: np.ndarray, history: History, k_first: int, k_last: int) -> tuple[np.ndarray, np.ndarray]:
    """The most and the least history each pair's long window holds at instants k_first..k_last
    (it holds less and less of it as they go on)."""
    longs = n[0::2, 0]
    # One call of the curve for both bounds: a call costs more than its few values (numpy's
    # functions work value by value, so each value is the one a call of its own gives).
    both = history(np.maximum(np.concatenate([longs - k_first, longs - k_last]), 0).astype(float))
    return both[: len(longs)], both[len(longs) :]


#: `_held` from t = 0 to an instant, by the history curve (`steady_past` hands the same one to the alerts
#: of a deploy's strategies), the spans and the instant; held, so that their ids stay their own.
_HELD: OrderedDict[tuple[int, int, int], tuple[History, np.ndarray, tuple[np.ndarray, np.ndarray]]] = (
    OrderedDict()
)


def _held_from_start(n: np.ndarray, history: History, last_k: int) -> tuple[np.ndarray, np.ndarray]:
    """`_held(n, history, 0, last_k)`, kept: every alert of a deploy asks for the same (read-only)."""
    key = (id(history), id(n), last_k)
    got = _HELD.get(key)
    if got is None or got[0] is not history or got[1] is not n:
        most, least = _held(n, history, 0, last_k)
        most.setflags(write=False)
        least.setflags(write=False)
        got = _HELD[key] = (history, n, (most, least))
        if len(_HELD) > _KEEP_PASTS:
            _HELD.popitem(last=False)
    return got[2]


def _no_long_window_burns(
    n: np.ndarray,
    limit: np.ndarray,
    service: ServiceWindows,
    ks: tuple[int, int],
    held: tuple[np.ndarray, np.ndarray],
    history_error: float,
) -> bool:
    """Whether no pair's long window can burn at any instant in ks = (first, last) while it still
    reaches back before t = 0: even every failure drawn so far, with the most history it can
    hold, falls short of its limit over the least traffic it can hold. A ticket's three-day window
    holds days of healthy history, so this settles most of its scans without the span sums."""
    lims, shortest = _long_windows(n, limit)
    k_first, k_last = ks
    if k_last > shortest:
        return False  # some long window lies wholly after t = 0 by then: no such bound
    errors, requests = (
        float(np.add.reduce(service.err[:k_last])),
        float(np.add.reduce(service.user[:k_first])),
    )
    most, least = held
    # A pair or three, number by number: numpy's float arithmetic, without its cost per call.
    return all(
        history_error * m + errors < lim * (s + requests) * (1.0 - 1e-9)
        for m, s, lim in zip(most.tolist(), least.tolist(), lims, strict=True)
    )


#: Each tier's long windows' limits as numbers, and the shortest long window, by the spans' arrays
#: (held, so that their ids stay their own): the bound asks for them at nearly every scan.
_LONGS: dict[int, tuple[np.ndarray, np.ndarray, tuple[list[float], int]]] = {}
_KEEP = 16


def _long_windows(n: np.ndarray, limit: np.ndarray) -> tuple[list[float], int]:
    """The limits of the pairs' long windows, and the shortest long window (in windows)."""
    held = _LONGS.get(id(n))
    if held is None or held[0] is not n or held[1] is not limit:
        held = _LONGS[id(n)] = (n, limit, (limit[0::2, 0].tolist(), int(n[0::2, 0].min())))
        if len(_LONGS) > _KEEP:
            del _LONGS[next(iter(_LONGS))]
    return held[2]


def _scan(
    n: np.ndarray, limit: np.ndarray, service: ServiceWindows, eval_ks: np.ndarray | range, past: SteadyPast
) -> int | None:
    """`first_firing` the long way: every window of every pair at every evaluation instant."""
    ks, firing = _firing(n, limit, service, eval_ks, past)
    first = int(firing.argmax())
    return int(ks[first]) if firing[first] else None


def _firing(
    n: np.ndarray,
    limit: np.ndarray,
    service: ServiceWindows,
    eval_ks: np.ndarray | range,
    past: SteadyPast,
) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation instants (as an array) and whether a pair fires at each, every window of every
    pair summed at every instant. An instant's answer reads only the windows before it."""
    user, err = service.user, service.err
    hist, history_error = _curve(past.requests), past.error_ratio
    # (np.asarray would step through a range number by number)
    eval_ks = np.arange(eval_ks.start, eval_ks.stop, eval_ks.step) if type(eval_ks) is range else eval_ks
    hi_k = int(eval_ks[-1])
    cum_user, cum_err = np.zeros(hi_k + 1), np.zeros(hi_k + 1)  # running sums: [k] covers windows < k
    np.cumsum(user[:hi_k], out=cum_user[1:])
    np.cumsum(err[:hi_k], out=cum_err[1:])
    lo = eval_ks - n
    loc = np.maximum(lo, 0)
    before = loc - lo  # windows of the span that fall before t = 0
    past_req = hist(before.astype(float))
    req = cum_user[eval_ks] - cum_user[loc] + past_req
    bad = cum_err[eval_ks] - cum_err[loc] + past_req * history_error
    burning = (bad >= limit * req) & (req > 0)
    firing = np.logical_or.reduce(burning[0::2] & burning[1::2])  # a pair fires when both its windows burn
    return eval_ks, firing


_Spans = tuple[np.ndarray, np.ndarray, int, float]


def tier_spans(judge: BurnRateJudge, window_s: float, tier: str = "page") -> _Spans | None:
    """Every window (long and short of each pair of the tier) as a column: its length in windows,
    its limit; then the longest length and the lowest limit (None: the tier has no pairs). Kept
    on the judge: a frozen config hashes field by field, which would cost more than the quick
    scan these serve."""
    key = (tier, window_s)
    if key not in judge.spans_by_window:
        pairs = judge.pairs(tier)
        if not pairs:
            judge.spans_by_window[key] = None
        else:
            spans = np.array([[round(w.long_s / window_s), round(w.short_s / window_s)] for w in pairs])
            limit = np.repeat([w.burn_rate * judge.budget for w in pairs], 2)[:, None]
            n = np.maximum(1, spans.reshape(-1, 1))
            judge.spans_by_window[key] = (n, limit, int(n.max()), float(limit.min()))
    return judge.spans_by_window[key]


@JUDGES.implementation("burn_rate")
class BurnRateAlert(Watcher):
    """Evaluates the alert's tiers over traffic as it is drawn and calls a tier's handler when it
    fires. A tier whose handler accepts is done (a ticket opened, a page answered), the others go on
    (a page can still come after a ticket); a firing inside a maintenance silence is refused and
    evaluation goes on past it.

    Traffic drawn ahead lets one scan cover a long quiet stretch and sleep until a firing it found.
    A state change rewinds the world; evaluations that saw redrawn windows are done again.
    """

    def __init__(
        self,
        env: simpy.Environment,
        world: World,
        judge: BurnRateJudge,
        on_fire: dict[str, Callable[[], bool]],
        silenced: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(env, world)
        self.judge = judge
        # When the deploy's maintenance silence ends: a firing before then is refused, with nothing
        # else done, so a scan need not stop at one (recreate's planned outage burns at every
        # instant of its silence, and each refused firing would cost a scan of its own).
        self.silenced = silenced
        self.handlers = {t: f for t, f in on_fire.items() if judge.pairs(t)}
        self.on_fire = dict(self.handlers)
        self.step = max(1, round(judge.eval_interval_s / world.window_s))
        # The first evaluation from now on (a later phase starts its alert mid-way), per tier.
        self.next_k = dict.fromkeys(self.on_fire, self._first_k())
        self.past = steady_past(world.scn, world.traffic.start_hour, world.window_s)
        self.history: History = cast(History, self.past.requests)
        tel = world.telemetry
        self.service = ServiceWindows(tel.svc_user, tel.svc_err, world.window_s)
        self._held: dict[str, tuple[float, tuple[np.ndarray, np.ndarray]]] = {}
        self._hit: tuple[str, int] | None = None
        self._scanned: dict[str, Scanned] = {}

    def _first_k(self) -> int:
        return max(self.step, math.ceil(self.env.now / self.world.window_s / self.step - 1e-9) * self.step)

    def rearm(self, tier: str) -> None:
        """A tier whose firing was acknowledged (nothing to roll back when someone looked) evaluates
        again from now on, and fires again while its windows still burn."""
        if tier in self.on_fire or tier not in self.handlers:
            return
        self.on_fire = {t: f for t, f in self.handlers.items() if t in self.on_fire or t == tier}
        self.next_k = {t: self.next_k.get(t, self._first_k()) for t in self.on_fire}
        if self.proc is None or not self.proc.is_alive:
            self.fired_at = None
            self.start()
        else:
            self.wake()

    def rewound(self, k: int) -> None:
        # Evaluations at instants after window k looked at windows that were just redrawn.
        for tier, next_k in self.next_k.items():
            self.next_k[tier] = min(next_k, (k // self.step + 1) * self.step)

    def held(self, tier: str) -> tuple[np.ndarray, np.ndarray]:
        """The most history a long window of the tier holds (at t = 0) and the least (at the last
        instant traffic is drawn for), for as long as that stays the last."""
        limit_s = self.world.limit_s
        cached = self._held.get(tier)
        if cached is None or cached[0] != limit_s:
            spans = tier_spans(self.judge, self.world.window_s, tier)
            assert spans is not None
            last_k = math.floor(limit_s / self.world.window_s + 1e-9)
            cached = self._held[tier] = (limit_s, _held_from_start(spans[0], self.history, last_k))
        return cached[1]

    def scan(self) -> tuple[float | None, float | None]:
        world, W = self.world, self.world.window_s
        last_k = math.floor(world.limit_s / W + 1e-9)
        done_k = math.floor(world.materialized / W + 1e-9)
        tel = world.telemetry
        if self.service.user is not tel.svc_user:  # the telemetry grew (extended): new arrays
            self.service = ServiceWindows(tel.svc_user, tel.svc_err, W)
        service = self.service
        self._hit, waits = None, []
        quiet = world.tape.alert_quiet
        skip_to = self._unsilenced_k()
        for tier, next_k in self.next_k.items():
            next_k = self.next_k[tier] = max(next_k, skip_to)
            if next_k > last_k:
                continue
            if quiet:  # the instants up to done_k read only the fill's windows, where no tier fires
                self.next_k[tier] = max(next_k, (done_k // self.step + 1) * self.step)
                waits.append(max(world.materialized, self.next_k[tier] * W))
                continue
            eval_ks = range(next_k, min(done_k, last_k) + 1, self.step)
            if eval_ks:  # (none: nothing drawn past the last instant evaluated, or all refused)
                hit = self._first_firing(tier, service, eval_ks)
                if hit is not None:
                    if self._hit is None or hit < self._hit[1]:
                        self._hit = (tier, hit)
                    continue
                self.next_k[tier] = int(eval_ks[-1]) + self.step
            waits.append(max(world.materialized, self.next_k[tier] * W))
        if self._hit is not None:
            return self._hit[1] * W, None
        wake = min(waits, default=math.inf)
        return None, (None if wake > world.limit_s else wake)

    def _first_firing(self, tier: str, service: ServiceWindows, eval_ks: range) -> int | None:
        """`first_firing` over `eval_ks`, answered from the tier's earlier scans where it can."""
        kept = self._scanned.get(tier)
        if kept is None:
            kept = self._scanned[tier] = Scanned()
        # (the held history is asked for only when the kept answers do not settle the scan)
        return kept.first(
            service, eval_ks, lambda ks: firings(self.judge, service, ks, self.past, tier, self.held(tier))
        )

    def _unsilenced_k(self) -> int:
        """The first evaluation instant whose firing the deploy's silence, as it stands, would not
        refuse (0: none refused). An open-ended silence (a recreate's outage under way) skips
        only the instants due by now (`_refused_by_now`): when it ends is not known yet. A finite
        one only ever moves later (each is set from the clock), and an instant within a
        microsecond of its end is evaluated as before."""
        until = -math.inf if self.silenced is None else self.silenced()
        now_k = self._refused_by_now(until) if until > self.env.now else 0
        if not (0.0 < until < math.inf):
            return now_k
        k = math.floor((until - 1e-6) / self.world.window_s)
        return max(now_k, (k // self.step) * self.step)

    def _refused_by_now(self, until: float) -> int:
        """The first evaluation instant after now while a silence holds now (0: none holds). A firing
        the scan finds at an instant due by now is acted on at once, at now, where the silence
        refuses it with nothing else done — the watcher scans on from the next instant without
        yielding — so those instants are skipped: a recreate's outage burns from its first
        instant, and each refused page there cost the span sums and a scan of its own."""
        now, W = self.env.now, self.world.window_s
        if not now < until:
            return 0
        # The instant as the watcher compares it (`k * W > now`), from a step or two below now.
        k = max(0, (math.floor(now / W) // self.step - 1) * self.step)
        while k * W <= now:
            k += self.step
        return k

    def fire(self, at: float) -> bool:
        assert self._hit is not None
        tier, k = self._hit
        if self.on_fire[tier]():
            del self.on_fire[tier], self.next_k[tier]
        else:
            self.next_k[tier] = k + self.step  # silenced: keep evaluating
        return not self.on_fire


class _Kept(NamedTuple):
    """Evaluation instants lo..hi (on a step), worked out over the windows user and err (those before
    hi, copied), and the ones among them at which the tier fires."""

    lo: int
    hi: int
    fires: list[int]
    user: np.ndarray
    err: np.ndarray


class Scanned:
    """A tier's answers from earlier scans, kept for the scans that ask about the same instants again:
    a page refused in a recreate's open-ended silence, or a tier outrun by another's firing, scans
    the same instants at its next wake-up. An instant's answer reads only the windows before it, so
    it holds for as long as those windows are the ones it was worked out over (compared, not
    trusted: a rewind redraws them, most often the same up to where the state changed)."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: _Kept | None = None

    def first(
        self, service: ServiceWindows, eval_ks: range, fires_in: Callable[[range], list[int]]
    ) -> int | None:
        """The first instant of `eval_ks` at which the tier fires (None: none), where `fires_in(ks)`
        gives every instant of ks at which it fires over `service` as it stands."""
        if not len(eval_ks):
            return None
        step, last = eval_ks.step, eval_ks[-1]
        start, kept = eval_ks.start, self._kept
        # (a scan that goes on where the kept instants end extends them: a rescan may reach back to both)
        if kept is not None and kept.lo <= start <= kept.hi + step:
            good = min(kept.hi, _same_for(kept, service))  # instants up to here read unchanged windows
            if start - step <= good:
                upto = start + (min(good, last) - start) // step * step  # the last such instant
                hit = next((k for k in kept.fires if start <= k <= upto), None)
                if hit is not None:
                    return hit
                if upto == last:
                    return None
                start = upto + step
                kept = kept._replace(hi=upto, fires=[k for k in kept.fires if k <= upto])
            else:
                kept = None
        else:
            kept = None
        fires = fires_in(range(start, eval_ks.stop, step))
        lo, every = (kept.lo, kept.fires + fires) if kept is not None else (start, fires)
        # Only where the tier fires is an instant asked about again (its next scan starts after a
        # refused or outrun firing, not after the last instant): elsewhere keeping costs more than it saves.
        if every:
            self._kept = _Kept(lo, last, every, service.user[:last].copy(), service.err[:last].copy())
        else:
            self._kept = None
        return fires[0] if fires else None


def _same_for(kept: _Kept, service: ServiceWindows) -> int:
    """The last instant whose windows (those before it) are still the ones `kept` was worked out
    over: the first window that differs, or the end of the copy."""
    h = min(len(kept.user), len(service.user))
    if not h:
        return 0
    moved = (kept.user[:h] != service.user[:h]) | (kept.err[:h] != service.err[:h])
    first = int(moved.argmax())
    return first if moved[first] else h


#: `steady_past` by scenario, start hour and window length (held, so that the scenario's id stays its
#: own; a scenario is frozen): a deploy's strategies and its block's alerts ask for the same one, and
#: one curve object lets `_held_from_start` keep what it works out across them.
_PASTS: OrderedDict[tuple[int, float, float], tuple[Scenario, SteadyPast]] = OrderedDict()
_KEEP_PASTS = 64


def steady_past(scn: Scenario, start_hour: float, window_s: float) -> SteadyPast:
    """The service before t = 0 as the alert sees it: steady traffic at its baseline error ratio."""
    key = (id(scn), start_hour, window_s)
    got = _PASTS.get(key)
    if got is None or got[0] is not scn:
        history = functools.partial(_history_requests, scn.traffic, start_hour, window_s)
        got = _PASTS[key] = (scn, SteadyPast(history, scn.fleet.error_rate))
        if len(_PASTS) > _KEEP_PASTS:
            _PASTS.popitem(last=False)
    return got[1]


def fires_by(
    judge: BurnRateJudge, service: ServiceWindows, past: SteadyPast, span: tuple[float, int]
) -> bool:
    """Whether any tier of the alert, evaluated from t = 0 on, fires at an instant no earlier than
    `span`'s time (s) and no later than its last instant (a window index)."""
    W = service.window_s
    step = max(1, round(judge.eval_interval_s / W))
    after, last_k = span
    if math.isinf(after):  # silenced to the end
        return False
    first = step if after <= 0 else max(step, math.ceil(after / W / step - 1e-9) * step)
    eval_ks = range(first, last_k + 1, step)
    return any(
        judge.pairs(tier) and first_firing(judge, service, eval_ks, past, tier) is not None
        for tier in ("page", "ticket")
    )


def _history_requests(
    cfg: TrafficConfig, start_hour: float, window_s: float, before: np.ndarray
) -> np.ndarray:
    return user_requests_before(cfg, start_hour, before * window_s)
