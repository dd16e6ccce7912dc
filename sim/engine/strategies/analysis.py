"""Automated analysis as progressive-delivery controllers run it: repeated measurements against limits.

The semantics follow Argo Rollouts' AnalysisRun (`assessMetricStatus` in analysis/analysis.go): a
measurement after the initial delay and then every interval; the run fails once failures exceed
failureLimit (default 0: the first failure fails; -1: never), errors once consecutive measurement
errors exceed consecutiveErrorLimit (default 4), turns inconclusive once inconclusive results exceed
inconclusiveLimit (default 0), which pauses the rollout for a human, and succeeds as soon as
consecutiveSuccessLimit measurements in a row pass (when set; a run that reaches its count without
them is inconclusive, or failed if failures are off). A run of several metrics measures them side
by side and ends at the first metric that fails, errors or turns inconclusive (Argo's
`IsTerminating`), its outcome the worst.

Flagger's analysis is different enough to get its own loop, `checks_loop`: one check per interval,
a pass lets the rollout advance, a failure holds it, and failures add up over the whole rollout.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from ...config.analysis import AnalysisConfig
from ...config.judges import GateJudge
from .. import judging
from ..judging import Looks, Verdict
from .base import Deploy, Gen, LookRun, PlannedLook

Outcome = Literal["successful", "failed", "error", "inconclusive"]


_PASS = Verdict("pass", 0.0)
_INCONCLUSIVE = Verdict("inconclusive", 0.0)
_FAIL = Verdict("fail", 0.0)
_FORCED = {"pass": _PASS, "inconclusive": _INCONCLUSIVE, "fail": _FAIL}
_SEVERITY: dict[Outcome, int] = {"successful": 0, "inconclusive": 1, "error": 2, "failed": 3}


def analyse(d: Deploy, cfg: AnalysisConfig, label: str) -> Gen:
    """Run an analysis; on failure or error, detect. Inconclusive: an operator decides, and an
    analysis meant to run for the whole rollout (no count) starts again once they let it pass."""
    while True:
        outcome: Outcome = yield from metrics_loop(d, cfg, label)
        if d.record:
            d.log("analysis", f"{label}: {outcome}")
        if outcome in ("failed", "error"):
            d.detect("analysis")
            return False
        if outcome != "inconclusive":
            return True
        if not (yield from d.review(cfg.judge, cfg.interval_s, "inconclusive analysis")):
            return False
        if cfg.count is not None:
            return True


def metrics_loop(d: Deploy, cfg: AnalysisConfig, label: str) -> Generator[Any, Any, Outcome]:
    """An analysis run; one of several metrics measures each in its own process (`analysis_loop`)."""
    if not cfg.also:
        return (yield from analysis_loop(d, cfg, label))
    pending = [
        d.background(analysis_loop(d, m, f"{label} #{i}"), observer=True) for i, m in enumerate(cfg.metrics)
    ]
    while pending:
        yield d.env.any_of(pending)
        done = [p for p in pending if p.triggered]
        pending = [p for p in pending if not p.triggered]
        worst: Outcome = max((p.value or "successful" for p in done), key=_SEVERITY.__getitem__)
        if worst != "successful":  # the run terminates: the other metrics take no more measurements
            for p in pending:
                p.interrupt("analysis run ended")
            return worst
    return "successful"


@dataclass
class CheckTally:
    """Flagger's failed-checks counter, one per rollout and shared by all its check steps, and the
    time of the controller's last pass (its passes come every interval, however long a step took)."""

    failed: int = 0
    tick: float | None = None

    def next_pass(self, env: simpy.Environment, interval_s: float) -> Callable[[], float]:
        """When the controller's next pass comes, asked at any time: its passes every interval from
        the last one (before the first, the pass under way)."""

        def at() -> float:
            if self.tick is None:
                return env.now
            return self.tick + interval_s * max(0, math.ceil((env.now - self.tick) / interval_s - 1e-9))

        return at


def checks_loop(
    d: Deploy, cfg: AnalysisConfig, tally: CheckTally, passes: int, label: str
) -> Generator[Any, Any, Outcome]:
    """Flagger's analysis loop until `passes` checks have passed.

    Every `interval_s` the controller runs one check: a pass lets the rollout advance, anything
    else — a failed metric, no data, a metrics backend error — counts as a failed check and holds
    the rollout where it is. Failed checks add up over the whole rollout; once they exceed
    `failure_limit` (threshold − 1), the controller rolls back at its next tick, because it tests
    the threshold before it runs the checks of a tick.
    """
    once = _one_check(cfg)
    passed = 0
    env = d.env
    while passed < passes:
        tally.tick = (env.now if tally.tick is None else tally.tick) + cfg.interval_s
        yield env.timeout(max(0.0, tally.tick - env.now))
        if (yield from analysis_loop(d, once, label)) == "successful":
            passed += 1
            continue
        tally.failed += 1
        if tally.failed > cfg.failure_limit:
            tally.tick += cfg.interval_s
            yield env.timeout(max(0.0, tally.tick - env.now))
            return "failed"
    return "successful"


def confirm_gate(
    d: Deploy, cfg: AnalysisConfig, tally: CheckTally, label: str
) -> Generator[Any, Any, Outcome]:
    """Flagger's confirm-traffic-increase or confirm-promotion webhook: the gate opens once a person
    approves, after their decision delay; until then the controller's passes go on every interval,
    each running the checks first, and a failed check counts toward the threshold as at any other
    pass (Flagger's scheduler.go runs `runAnalysis` before `runConfirmTrafficIncreaseHooks`). A
    canary with no traffic yet (confirm-rollout, or the gate of the first weight) is not checked."""
    env = d.env
    approved = env.now + d.humans.delay("decision_s", d.hour())
    if d.world.weight <= 0:
        yield env.timeout(max(0.0, approved - env.now))
        d.log("step", f"{label}: confirmed")
        return "successful"
    once = _one_check(cfg)
    while True:
        tally.tick = (env.now if tally.tick is None else tally.tick) + cfg.interval_s
        yield env.timeout(max(0.0, tally.tick - env.now))
        if (yield from analysis_loop(d, once, label)) != "successful":
            tally.failed += 1
            if tally.failed > cfg.failure_limit:  # the threshold is tested at the next pass
                tally.tick += cfg.interval_s
                yield env.timeout(max(0.0, tally.tick - env.now))
                return "failed"
        elif env.now >= approved - 1e-9:
            d.log("step", f"{label}: confirmed")
            return "successful"


def pre_rollout(d: Deploy, cfg: AnalysisConfig, tally: CheckTally) -> Generator[Any, Any, Outcome]:
    """Flagger's pre-rollout webhook: while the canary has no traffic, each pass runs the test first;
    a failure counts one failed check and holds the canary at 0%, and once the failed checks reach
    the threshold the next pass rolls back (scheduler.go: `runPreRolloutHooks` while the canary's
    weight is 0). The test is the release's smoke test: it catches a fault with its `smoke_catch`
    chance, the same at every pass (the release's own draw), and passes a good release."""
    env = d.env
    while d.world.release.caught_by_smoke_test:
        d.log("smoke test", "pre-rollout webhook failed")
        tally.failed += 1
        tally.tick = (env.now if tally.tick is None else tally.tick) + cfg.interval_s
        yield env.timeout(max(0.0, tally.tick - env.now))
        if tally.failed > cfg.failure_limit:
            return "failed"
    return "successful"


def _one_check(cfg: AnalysisConfig) -> AnalysisConfig:
    """One pass's check of Flagger's analysis: a single measurement, no limits of its own."""
    return dataclasses.replace(
        cfg,
        count=1,
        initial_delay_s=0.0,
        failure_limit=0,
        inconclusive_limit=0,
        consecutive_error_limit=0,
        consecutive_success_limit=0,
        last_must_pass=False,
    )


def measure_many(d: Deploy, cfg: AnalysisConfig, ticks: list[float], run: LookRun) -> Looks:
    """Measurements at many tick times of an analysis run: measurement errors (a metrics backend
    down), job checks with a pass probability, or the judge over each tick's last interval."""
    if not len(ticks):
        return Looks.of([])
    if d.plan is not None:  # a plan's run: which windows each look reads is what counts
        judge = d.judge(cfg.judge)
        assert isinstance(judge, GateJudge)
        k_from, k_to = d.world.tape.look_windows(ticks, judge.lookback_s or cfg.interval_s)
        if d.plan_statuses is not None:  # a deploy's run replayed: its looks came out so (else passed)
            d.plan.append(PlannedLook(judge, k_from, k_to, run.n))
            return Looks.of([_FORCED[d.plan_statuses.get((run.n, k), "pass")] for k in k_to])
        if not d.plan_guesses:  # one plan for all deploys: every look passes
            d.plan.append(PlannedLook(judge, k_from, k_to, run.n))
            return Looks.of([_PASS] * len(ticks))
        expect = _guess(judge, *d.world.tape.expected_requests(k_from, k_to))
        d.plan.append(PlannedLook(judge, k_from, k_to, run.n, expect=expect))
        return Looks.of([_PASS if status == "pass" else _INCONCLUSIVE for status in expect])
    errors = d.rng.random(len(ticks)) < cfg.error_probability if cfg.error_probability else None
    if cfg.pass_probability is not None:
        looks = Looks.of(
            [Verdict("pass" if u < cfg.pass_probability else "fail", 0.0) for u in d.rng.random(len(ticks))]
        )
    else:
        judge = d.judge(cfg.judge)
        assert isinstance(judge, GateJudge)
        looks = judging.measure_many(judge, d.world, ticks, judge.lookback_s or cfg.interval_s, run.rng)
    if errors is None:
        return looks
    failed = errors.tolist()
    return Looks(
        ["error" if e else status for e, status in zip(failed, looks.status, strict=True)],
        lambda i: Verdict("error") if failed[i] else looks.verdict(i),
    )


def _guess(judge: GateJudge, stable: np.ndarray, new: np.ndarray) -> tuple[str, ...]:
    """A plan's guess at looks with these requests expected by slot: inconclusive where too few
    requests would come to judge (`judging.looks_from_stats`' test on the averages), else a pass."""
    least = max(1, judge.min_requests)
    needs_baseline = judging.measurer(judge).needs_baseline
    out = []
    for n_stable, n_new in zip(stable.tolist(), new.tolist(), strict=True):
        enough = n_new >= least and (not needs_baseline or n_stable >= least)
        judged = enough and any(judge.judgeable(m, n_new) for m in judge.watch)
        out.append("pass" if judged else "inconclusive")
    return tuple(out)


def measure(d: Deploy, cfg: AnalysisConfig, t: float) -> Verdict:
    """One measurement at time t: a job check with a pass probability, or the judge over the last interval."""
    if cfg.pass_probability is not None:
        return Verdict("pass" if d.rng.random() < cfg.pass_probability else "fail", 0.0)
    judge = d.judge(cfg.judge)
    assert isinstance(judge, GateJudge)
    return judging.measure(judge, d.world, t, judge.lookback_s or cfg.interval_s)


@dataclass
class Tally:
    """An analysis run's counts of measurements against its limits."""

    failures: int = 0
    inconclusive: int = 0
    errors_in_row: int = 0
    passes_in_row: int = 0
    last: str = ""  # the last measurement's status

    def record(self, cfg: AnalysisConfig, status: str) -> Outcome | None:
        """Count one measurement; the run's outcome once a limit is passed (a failure, an error or an
        inconclusive result first; then enough passes in a row, as Argo assesses a metric). In a
        run whose last look must pass, an inconclusive (marginal) look only breaks the passes."""
        self.last = status
        if status == "inconclusive" and cfg.last_must_pass:
            self.passes_in_row = 0
            return None
        if status == "error":
            self.errors_in_row += 1
            self.passes_in_row = 0
            return "error" if self.errors_in_row > cfg.consecutive_error_limit else None
        self.errors_in_row = 0
        if status == "fail":
            self.failures += 1
            self.passes_in_row = 0
            return "failed" if 0 <= cfg.failure_limit < self.failures else None
        if status == "inconclusive":
            self.inconclusive += 1
            self.passes_in_row = 0
            return "inconclusive" if self.inconclusive > cfg.inconclusive_limit else None
        self.passes_in_row += 1
        limit = cfg.consecutive_success_limit
        return "successful" if limit and self.passes_in_row >= limit else None

    def at_count(self, cfg: AnalysisConfig) -> Outcome:
        """The outcome of a run that took its count of measurements without passing a limit: a
        success, unless its last look had to pass and did not (failed), or it waited for passes in
        a row that never came (inconclusive then, or failed when failures cannot fail it)."""
        if cfg.last_must_pass and self.last != "pass":
            return "failed"
        if not cfg.consecutive_success_limit:
            return "successful"
        return "inconclusive" if cfg.failure_limit >= 0 else "failed"


def analysis_loop(d: Deploy, cfg: AnalysisConfig, label: str) -> Generator[Any, Any, Outcome]:
    """Measure every interval until the count is reached or a limit is passed.

    Measurements whose data is already drawn (up to the next possible state change) are taken in
    one pass, each as of its own tick time, and the process then sleeps until the tick that
    decides the run — the same verdicts as ticking through them one by one, with a fraction of
    the events. A measurement is entered in the deploy's log only once the clock reaches its tick,
    so a run cut short (an abort elsewhere) leaves no trace of ticks that never came. This is an
    observer: it never changes the world until it returns an outcome.
    """
    env, world = d.env, d.world
    run = d.look_run()  # numbered as the run starts: the same in a plan's run and the deploy's
    if cfg.initial_delay_s:
        yield env.timeout(cfg.initial_delay_s)
    tally = Tally()
    tick = env.now
    taken = 0
    # Measurements taken ahead of the clock, kept for the log only: a look's values are worked out
    # only for a log that shows them.
    ahead: list[tuple[float, Looks, int]] = []

    def enter_due() -> None:
        while ahead and ahead[0][0] <= env.now + 1e-9:
            t, looks, i = ahead.pop(0)
            d.log("measurement", f"{label}: {looks.status[i]}", looks.verdict(i), at=t)

    try:
        while cfg.count is None or taken < cfg.count:
            world.ensure(env.now)
            ready_until = max(world.materialized, env.now)
            outcome: Outcome | None = None
            done = False
            n_ready = (
                int((ready_until + 1e-9 - tick) // cfg.interval_s) + 1 if tick <= ready_until + 1e-9 else 0
            )
            if cfg.count is not None:
                n_ready = min(n_ready, cfg.count - taken)
            ticks = [tick + cfg.interval_s * i for i in range(n_ready)]
            looks = measure_many(d, cfg, ticks, run)
            for i, (tick, status) in enumerate(zip(ticks, looks.status, strict=True)):
                taken += 1
                if d.record:
                    ahead.append((tick, looks, i))
                outcome = tally.record(cfg, status)
                done = outcome is not None or (cfg.count is not None and taken >= cfg.count)
                if done:
                    break
            if not done and n_ready:
                tick += cfg.interval_s
            last = tick if done else tick - cfg.interval_s
            if last > env.now:
                yield env.timeout(last - env.now)
            enter_due()
            if outcome is not None:
                return outcome
            if done:
                break
            if tick > env.now and tick > ready_until:
                yield env.timeout(tick - env.now)  # nothing drawn yet for the next tick: wait for it
    finally:
        enter_due()
    return tally.at_count(cfg)
