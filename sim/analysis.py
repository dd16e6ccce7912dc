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


def measure(d: Deploy, cfg: AnalysisConfig) -> Verdict:
    """One measurement: a job check with a pass probability, or the named judge over the last interval."""
    if cfg.pass_probability is not None:
        return Verdict("pass" if d.rng.random() < cfg.pass_probability else "fail", 0.0)
    judge = d.judge(cfg.judge)
    assert isinstance(judge, GateJudge)
    lookback = judge.lookback_s or cfg.interval_s
    return judge.measure(d.world, d.env.now, lookback)


def run_analysis(d: Deploy, cfg: AnalysisConfig, label: str) -> Generator[Any, Any, Outcome]:
    env = d.env
    if cfg.initial_delay_s:
        yield env.timeout(cfg.initial_delay_s)
    failures = inconclusive = errors_in_row = taken = 0
    while cfg.count is None or taken < cfg.count:
        if taken:
            yield env.timeout(cfg.interval_s)
        taken += 1
        if cfg.error_probability and d.rng.random() < cfg.error_probability:
            errors_in_row += 1
            d.log("measurement", f"{label}: error ({errors_in_row} in a row)")
            if errors_in_row > cfg.consecutive_error_limit:
                return "error"
            continue
        errors_in_row = 0
        verdict = measure(d, cfg)
        d.log("measurement", f"{label}: {verdict.status}", verdict)
        if verdict.status == "fail":
            failures += 1
            if failures > cfg.failure_limit:
                return "failed"
        elif verdict.status == "inconclusive":
            inconclusive += 1
            if inconclusive > cfg.inconclusive_limit:
                return "inconclusive"
    return "successful"
