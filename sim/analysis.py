"""Automated analysis as progressive-delivery controllers run it: repeated measurements against limits.

The semantics follow Argo Rollouts' AnalysisRun (Flagger's checks map onto it): a measurement
after the initial delay and then every interval; the run fails once failures exceed failureLimit
(default 0: the first failure fails), errors once consecutive measurement errors exceed
consecutiveErrorLimit (default 4), and turns inconclusive once inconclusive results exceed
inconclusiveLimit (default 0), which pauses the rollout for a human.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .judges import GateJudge, Verdict
from .schema import Config, num, text

if TYPE_CHECKING:
    from .strategies.base import Deploy

Outcome = Literal["successful", "failed", "error", "inconclusive"]


@dataclass(frozen=True)
class AnalysisConfig(Config):
    judge: str = text("baseline", doc="name of the judge (under judges:) each measurement uses")
    interval_s: float = num(60.0, 0.0, 86400.0, lo_open=True, unit="s", doc="time between measurements")
    count: int | None = num(None, 1, 1e6, doc="measurements to take; default: until the rollout ends")
    initial_delay_s: float = num(0.0, 0.0, 86400.0, unit="s", doc="wait before the first measurement")
    failure_limit: int = num(0, 0, 1e6, doc="failed measurements tolerated; one more fails the run")
    inconclusive_limit: int = num(
        0, 0, 1e6, doc="inconclusive measurements tolerated before a human is asked"
    )
    consecutive_error_limit: int = num(4, 0, 1e6, doc="measurement errors in a row tolerated")
    error_probability: float = num(0.0, 0.0, 1.0, doc="chance a measurement errors (metrics backend down)")
    pass_probability: float | None = num(
        None, 0.0, 1.0, doc="a check with no metric behind it (a job, a webhook) passing with this chance"
    )
    starting_step: int = num(0, 0, 10_000, doc="background analysis: the step index it starts at")


def measure(d: Deploy, cfg: AnalysisConfig, t: float) -> Verdict:
    """One measurement at time t: a job check with a pass probability, or the judge over the last interval."""
    if cfg.pass_probability is not None:
        return Verdict("pass" if d.rng.random() < cfg.pass_probability else "fail", 0.0)
    judge = d.judge(cfg.judge)
    assert isinstance(judge, GateJudge)
    return judge.measure(d.world, t, judge.lookback_s or cfg.interval_s)


@dataclass
class _Tally:
    failures: int = 0
    inconclusive: int = 0
    errors_in_row: int = 0

    def record(self, cfg: AnalysisConfig, status: str) -> Outcome | None:
        """Count one measurement; the run's outcome once a limit is passed."""
        if status == "error":
            self.errors_in_row += 1
            return "error" if self.errors_in_row > cfg.consecutive_error_limit else None
        self.errors_in_row = 0
        if status == "fail":
            self.failures += 1
            return "failed" if self.failures > cfg.failure_limit else None
        if status == "inconclusive":
            self.inconclusive += 1
            return "inconclusive" if self.inconclusive > cfg.inconclusive_limit else None
        return None


def run_analysis(d: Deploy, cfg: AnalysisConfig, label: str) -> Generator[Any, Any, Outcome]:
    """Measure every interval until the count is reached or a limit is passed.

    Measurements whose data is already drawn (up to the next possible state change) are taken in
    one pass, each as of its own tick time, and the process then sleeps until the tick that
    decides the run — the same verdicts as ticking through them one by one, with a fraction of
    the events. This is an observer: it never changes the world until it returns an outcome.
    """
    env, world = d.env, d.world
    if cfg.initial_delay_s:
        yield env.timeout(cfg.initial_delay_s)
    tally = _Tally()
    tick = env.now
    taken = 0
    while cfg.count is None or taken < cfg.count:
        world.ensure(env.now)
        ready_until = max(world.materialized, env.now)
        outcome: Outcome | None = None
        while (cfg.count is None or taken < cfg.count) and tick <= ready_until + 1e-9:
            taken += 1
            if cfg.error_probability and d.rng.random() < cfg.error_probability:
                status = "error"
                d.log("measurement", f"{label}: error", at=tick)
            else:
                verdict = measure(d, cfg, tick)
                status = verdict.status
                d.log("measurement", f"{label}: {status}", verdict, at=tick)
            outcome = tally.record(cfg, status)
            if outcome is not None or (cfg.count is not None and taken >= cfg.count):
                break
            tick += cfg.interval_s
        last = (
            tick
            if (outcome is not None or (cfg.count is not None and taken >= cfg.count))
            else (tick - cfg.interval_s)
        )
        if last > env.now:
            yield env.timeout(last - env.now)
        if outcome is not None:
            return outcome
        if cfg.count is not None and taken >= cfg.count:
            break
        if tick > env.now and tick > ready_until:
            yield env.timeout(tick - env.now)  # nothing drawn yet for the next tick: wait for it
    return "successful"
