"""The whole-service safety net: SLO multiwindow, multi-burn-rate alerting as in the SRE Workbook.

The alert watches every user request of the service, whichever version served it. A pair of
windows fires when the error ratio over both the long and the short window exceeds
burn_rate × (1 − SLO). For a constant error ratio e arriving after clean traffic, the long window
alone fires after (1 − SLO) / e × window × burn_rate — the Workbook's detection time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from .errors import ConfigError
from .judges import JudgeConfig, _register
from .schema import Config, num, section

if TYPE_CHECKING:
    from .world import World


@dataclass(frozen=True)
class BurnWindow(Config):
    long_s: float = num(3600.0, 0.0, 90 * 86400.0, lo_open=True, unit="s")
    short_s: float = num(300.0, 0.0, 90 * 86400.0, lo_open=True, unit="s")
    burn_rate: float = num(14.4, 0.0, 1e6, lo_open=True, doc="budget spend rate that pages")

    def validate(self) -> None:
        if self.short_s > self.long_s:
            raise ConfigError(f"short_s {self.short_s:g} is longer than long_s {self.long_s:g}", ("short_s",))


def _workbook_pages() -> tuple[BurnWindow, ...]:
    # The SRE Workbook's paging pair: 2% of a 30-day budget in 1 h, 5% in 6 h.
    return (BurnWindow(3600.0, 300.0, 14.4), BurnWindow(21600.0, 1800.0, 6.0))


@_register("burn_rate")
@dataclass(frozen=True)
class BurnRateJudge(JudgeConfig):
    kind: str = "burn_rate"
    slo: float = num(0.999, 0.0, 1.0, lo_open=True, doc="availability objective over user requests")
    budget_days: float = num(30.0, 0.0, 3650.0, lo_open=True, unit="d", doc="error-budget period")
    windows: tuple[BurnWindow, ...] = section(_workbook_pages)
    eval_interval_s: float = num(60.0, 0.0, 86400.0, lo_open=True, unit="s", doc="rule evaluation interval")

    def validate(self) -> None:
        if self.slo >= 1.0:
            raise ConfigError(f"{self.slo:g} is not below 1 (an SLO of 100% has no budget)", ("slo",))
        if not self.windows:
            raise ConfigError("needs at least one window pair", ("windows",))

    @property
    def budget(self) -> float:
        return 1.0 - self.slo

    @functools.cached_property
    def spans_by_window(self) -> dict[float, Any]:
        """`_spans` of this judge by window length, filled on first use."""
        return {}


def first_firing(
    judge: BurnRateJudge,
    user: np.ndarray,
    err: np.ndarray,
    window_s: float,
    eval_ks: np.ndarray | range,
    history_rate: float,
    history_error: float,
) -> int | None:
    """First evaluation instant (a window index k: the alert looks at windows < k) at which it fires,
    given the service's user requests and failures per window and evaluation instants in time order.

    Before t = 0 the service is taken to have run steadily at `history_rate` user requests a window
    with error ratio `history_error`, so long windows are full from the first evaluation.
    """
    if len(eval_ks) == 0:
        return None
    n, limit, longest, lowest = _spans(judge, window_s)
    # A span of windows burns only if some part of it does: when no window (nor the history before
    # t = 0) comes near the lowest limit, no span reaches it — most scans end here, cheaply. The
    # margin keeps rounding in the span sums from ever deciding otherwise.
    near = lowest * (1.0 - 1e-9)
    lo_k, hi_k = max(0, int(eval_ks[0]) - longest), int(eval_ks[-1])
    if history_error < near and not np.count_nonzero(err[lo_k:hi_k] > near * user[lo_k:hi_k]):
        return None
    return _scan(n, limit, user, err, eval_ks, history_rate, history_error)


def _scan(
    n: np.ndarray,
    limit: np.ndarray,
    user: np.ndarray,
    err: np.ndarray,
    eval_ks: np.ndarray | range,
    history_rate: float,
    history_error: float,
) -> int | None:
    """`first_firing` the long way: every window of every pair at every evaluation instant."""
    eval_ks = np.asarray(eval_ks)
    hi_k = int(eval_ks[-1])
    cum_user, cum_err = np.zeros(hi_k + 1), np.zeros(hi_k + 1)  # running sums: [k] covers windows < k
    np.cumsum(user[:hi_k], out=cum_user[1:])
    np.cumsum(err[:hi_k], out=cum_err[1:])
    lo = eval_ks - n
    loc = np.maximum(lo, 0)
    before = loc - lo  # windows of the span that fall before t = 0
    req = cum_user[eval_ks] - cum_user[loc] + before * history_rate
    bad = cum_err[eval_ks] - cum_err[loc] + before * (history_rate * history_error)
    burning = (bad >= limit * req) & (req > 0)
    firing = np.logical_or.reduce(burning[0::2] & burning[1::2])  # a pair fires when both its windows burn
    first = int(firing.argmax())
    return int(eval_ks[first]) if firing[first] else None


_Spans = tuple[np.ndarray, np.ndarray, int, float]


def _spans(judge: BurnRateJudge, window_s: float) -> _Spans:
    """Every window (long and short of each pair) as a column: its length in windows, its limit;
    then the longest length and the lowest limit. Kept on the judge: a frozen config hashes field
    by field, which would cost more than the quick scan these serve."""
    cached = judge.spans_by_window.get(window_s)
    if cached is None:
        spans = np.array([[round(w.long_s / window_s), round(w.short_s / window_s)] for w in judge.windows])
        limit = np.repeat([w.burn_rate * judge.budget for w in judge.windows], 2)[:, None]
        n = np.maximum(1, spans.reshape(-1, 1))
        cached = judge.spans_by_window[window_s] = (n, limit, int(n.max()), float(limit.min()))
    return cached


class BurnRateAlert:
    """Evaluates the alert over traffic as it is drawn and calls on_fire when it fires, until on_fire
    accepts the page (a page inside a maintenance silence is refused and evaluation goes on).

    Traffic drawn ahead lets one scan cover a long quiet stretch and sleep until a firing it found.
    A state change rewinds the world; evaluations that saw redrawn windows are done again, and the
    process is woken to rescan, since a firing it was sleeping towards may no longer happen.
    """

    def __init__(
        self, env: simpy.Environment, world: World, judge: BurnRateJudge, on_fire: Callable[[], bool]
    ) -> None:
        self.env, self.world, self.judge, self.on_fire = env, world, judge, on_fire
        self.step = max(1, round(judge.eval_interval_s / world.window_s))
        self.next_k = self.step
        self.fired_at: float | None = None
        self.proc: simpy.Process | None = None
        self._sleeping = False
        world.rewind_listeners.append(self._rewound)

    def start(self) -> simpy.Process:
        self.proc = self.env.process(self._run())
        self.world.observers.add(self.proc)
        return self.proc

    def _rewound(self, k: int) -> None:
        # Evaluations at instants after window k looked at windows that were just redrawn.
        self.next_k = min(self.next_k, (k // self.step + 1) * self.step)
        if self._sleeping and self.proc is not None and self.proc.is_alive:
            self._sleeping = False
            self.proc.interrupt("rewound")

    def _run(self) -> Generator[Any, Any, None]:
        env, world, W = self.env, self.world, self.world.window_s
        history_rate = float(world.traffic.user[0].sum())
        history_error = world.scn.fleet.error_rate
        last_k = math.floor(world.horizon_s / W + 1e-9)
        while self.next_k <= last_k:
            world.ensure(env.now)
            done_k = math.floor(world.materialized / W + 1e-9)
            eval_ks = range(self.next_k, min(done_k, last_k) + 1, self.step)
            tel = world.telemetry
            hit = first_firing(self.judge, tel.svc_user, tel.svc_err, W, eval_ks, history_rate, history_error)
            wake = (
                hit * W
                if hit is not None
                else max(
                    world.materialized,
                    (int(eval_ks[-1]) + self.step) * W if len(eval_ks) else self.next_k * W,
                )
            )
            if hit is None and len(eval_ks):
                self.next_k = int(eval_ks[-1]) + self.step
            if hit is None and wake > world.horizon_s:
                return
            try:
                self._sleeping = True
                if wake > env.now:
                    yield env.timeout(wake - env.now)
                self._sleeping = False
            except simpy.Interrupt:
                continue  # redrawn: scan again from the first affected instant
            if hit is not None:
                if self.on_fire():
                    self.fired_at = env.now
                    return
                self.next_k = hit + self.step  # silenced: keep evaluating
