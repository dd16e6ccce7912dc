"""Automated analysis as progressive-delivery controllers configure it: repeated measurements against limits.

The semantics follow Argo Rollouts' AnalysisRun: a measurement after the initial delay and then
every interval; the run fails once failures exceed failureLimit (default 0: the first failure
fails; -1: failures never fail it), errors once consecutive measurement errors exceed
consecutiveErrorLimit (default 4), turns inconclusive once inconclusive results exceed
inconclusiveLimit (default 0), which pauses the rollout for a human, and succeeds early once
consecutiveSuccessLimit measurements in a row pass (default 0: off). A run of several metrics
measures them side by side. This is the record; the loops that take the measurements are the
engine's (`sim.engine.strategies.analysis`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text


@dataclass(frozen=True)
class AnalysisConfig(Config):
    judge: str = text("baseline", doc="name of the judge (under judges:) each measurement uses")
    interval_s: float = num(60.0, 0.0, 86400.0, lo_open=True, unit="s", doc="time between measurements")
    count: int | None = num(None, 1, 1e6, doc="measurements to take; default: until the rollout ends")
    initial_delay_s: float = num(0.0, 0.0, 86400.0, unit="s", doc="wait before the first measurement")
    failure_limit: int = num(
        0,
        -1,
        1e6,
        doc="failed measurements tolerated; one more fails the run (-1: never, with a success limit)",
    )
    inconclusive_limit: int = num(
        0, 0, 1e6, doc="inconclusive measurements tolerated before a human is asked"
    )
    consecutive_error_limit: int = num(4, 0, 1e6, doc="measurement errors in a row tolerated")
    consecutive_success_limit: int = num(
        0,
        0,
        1e6,
        doc="passes in a row that end the run successfully (0: off); with a count, a run that never gets"
        " them ends inconclusive, or failed when failure_limit is -1",
    )
    last_must_pass: bool = section(
        lambda: False,
        doc="Kayenta's multi-interval canary (Spinnaker's canary stage): a marginal (inconclusive) look"
        " lets the run go on, a failing one fails it, and the last of its count must pass",
    )
    error_probability: float = num(0.0, 0.0, 1.0, doc="chance a measurement errors (metrics backend down)")
    pass_probability: float | None = num(
        None, 0.0, 1.0, doc="a check with no metric behind it (a job, a webhook) passing with this chance"
    )
    starting_step: int = num(0, 0, 10_000, doc="background analysis: the step index it starts at")
    also: tuple[AnalysisConfig, ...] = section(
        tuple,
        doc="further metrics of the same run, measured side by side; the run ends at the first metric"
        " that fails, errors or turns inconclusive, and succeeds once every metric has",
    )

    def validate(self) -> None:
        # Argo's own rules for a metric (utils/analysis/factory.go, ValidateMetric).
        csl, fl = self.consecutive_success_limit, self.failure_limit
        if fl < 0 and not csl:
            raise ConfigError(
                "-1 turns failures off, which needs consecutive_success_limit above 0", ("failure_limit",)
            )
        if self.count is not None and self.count < max(fl, 0) + csl:
            raise ConfigError(
                f"{self.count} is below failure_limit + consecutive_success_limit ({max(fl, 0)} + {csl})",
                ("count",),
            )
        if self.last_must_pass and self.count is None:
            raise ConfigError("a run whose last look must pass needs a count", ("last_must_pass",))
        for i, m in enumerate(self.also):
            if m.also:
                raise ConfigError("a metric listed under also cannot list more metrics", ("also", i, "also"))

    @property
    def metrics(self) -> tuple[AnalysisConfig, ...]:
        """Every metric of the run: this one first, then those under `also` (their own `also` empty)."""
        return (self, *self.also)

    def judges(self) -> tuple[str, ...]:
        """Names of the judges the run's metrics use (checks with a pass probability use none)."""
        return tuple(m.judge for m in self.metrics if m.pass_probability is None)
