"""The advisor: the cheapest strategy that is safe enough, and what "safe enough" means by default.

This module owns the limits (what a team can live with), their sourced defaults, the reading of a
summary (`sim.summarize`) against them, the cheapest-first choice and the plain-words explanation.
The article's rule — pick the cheapest strategy whose blast radius and recovery time you can live
with — made concrete. What each word means here:

- **a limit** is an upper bound on one statistic of one metric, the statistic that metric is judged
  by: the *median* time to restore (DORA asks how long it *generally* takes to restore service, and
  a restricted mean grows with the follow-up when some bad releases are never restored), the *mean*
  downtime, error budget, blast radius and extra cost, and the *rate* of escaped defects and of
  false rollbacks. None is no limit.
- **meets** a limit: the whole 95% interval lies within it — the median's (order-statistic or
  Kaplan–Meier) interval for a median, the mean's for a mean, the Wilson interval for a rate — so
  more deploys would not overturn the verdict. **likely**: the point estimate is within the limit
  but its interval reaches past it (or has no upper end: a median whose interval the survival curve
  never closes) — more deploys would tell. **misses**: the point estimate is past the limit.
  **no data**: nothing to judge (no bad release hurt users, or more than half were never restored,
  so there is no median): it cannot be said to meet the limit.
- **cheapest**: the lowest mean extra instance-hours per deploy; equal costs go to the shorter mean
  lead time (people's time spent watching a rollout), then to the name.

The choice is the cheapest strategy that meets every limit. When none does, the cheapest whose
every limit is met or likely is named as a candidate that more deploys might confirm; when not even
that, the advice says which limit binds: for each limit, whether relaxing it alone would admit a
strategy, and to what value.

Whatever is limited, the advice reads every strategy's time to restore, downtime, escaped defects
and error budget per bad release (`SHOWN`), so a table of it never hides what a strategy does to
users.

**Default limits** (`Limits.defaults(scenario)`; each one can be changed or cleared):

- **planned downtime ≤ 0 s per deploy**: no planned outage unless you allow one — a team that can
  take the service down for a deploy says so by raising this limit.
- **error budget burned per bad release ≤ 20%** of the scenario's error budget (its SLO `slo.slo`
  over `slo.budget_days`). Source: the SRE Workbook, Appendix B, "Example Error Budget Policy": "If
  a single incident consumes more than 20% of error budget over four weeks, then the team must
  conduct a postmortem." The Workbook's SLO window is four weeks; the share applies here to the
  scenario's own budget period, as a team with a 30-day SLO would apply that policy to its budget.
- **escaped defects ≤ 25% of bad releases**: most bad releases must be stopped before they reach
  everyone — that is what a strategy beyond recreate is for (recreate and blue-green send every bad
  release, or nearly, to every user). At most one in four leaves room for faults no gate sees at a
  small slice (slow leaks, bugs confined to one segment) while a strategy that meets it with 95%
  confidence still stops a clear majority.
- **time to restore ≤ 1 hour (median)**: DORA's boundary between elite ("less than one hour") and
  high ("less than one day") performers, State of DevOps 2023 and 2024.
- **false rollbacks ≤ 10% of good releases**: a judgement, not a published figure — a gate that
  rolls back more than one good release in ten costs more deploys than it saves and teaches people
  to override it.
- blast radius (faulty requests or affected users per bad release) and extra cost: no limit — their
  right values depend on the service and the budget, not on a published figure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from ..config.judges import BurnRateJudge
from ..core.errors import ConfigError

if TYPE_CHECKING:
    from ..config.scenario import Scenario

Stat = Literal["mean", "median", "rate"]


@dataclass(frozen=True)
class Measure:
    """How one limit reads a summary: which metric, by which statistic, shown in which unit."""

    metric: str
    label: str
    stat: Stat
    unit: str
    scale: float  # from the summary's value to the unit shown
    short: str  # the unit in a table column's title


#: The limits the advisor knows, in the order its table shows them: safety first, then cost.
LIMITS: dict[str, Measure] = {
    "time_to_restore_s": Measure(
        metric="time_to_restore_s", label="time to restore", stat="median", unit="min", scale=1 / 60,
        short="min",
    ),
    "escaped_rate": Measure(
        metric="escaped_rate", label="escaped defects", stat="rate", unit="% of bad releases", scale=100.0,
        short="%",
    ),
    "error_budget_per_bad_release": Measure(
        metric="error_budget_per_bad_release", label="error budget per bad release", stat="mean",
        unit="% of the error budget", scale=100.0, short="%",
    ),
    "downtime_s": Measure(
        metric="downtime_s", label="downtime", stat="mean", unit="s per deploy", scale=1.0, short="s"
    ),
    "blast_radius": Measure(
        metric="faulty_requests", label="blast radius", stat="mean", unit="faulty requests per bad release",
        scale=1.0, short="faulty requests",
    ),
    "false_rollback_rate": Measure(
        metric="false_rollback_rate", label="false rollbacks", stat="rate", unit="% of good releases",
        scale=100.0, short="%",
    ),
    "extra_instance_hours": Measure(
        metric="extra_instance_hours", label="extra cost", stat="mean", unit="instance-hours per deploy",
        scale=1.0, short="instance-h",
    ),
}  # fmt: skip

#: Read for every strategy whether limited or not: what a strategy does to users.
SHOWN = ("time_to_restore_s", "escaped_rate", "error_budget_per_bad_release", "downtime_s")

#: Per-bad-release counts the blast-radius limit may be stated in, with their unit.
BLAST_METRICS = {
    "faulty_requests": "faulty requests per bad release",
    "affected_users": "affected users per bad release",
}

#: Limits that are shares of a population, so cannot exceed 1. (A bad release can burn more than the
#: whole error budget, so that share has no such ceiling.)
SHARES = ("escaped_rate", "false_rollback_rate")

#: The sourced defaults (see the module docstring), in the units of `Limits`.
DEFAULT_DOWNTIME_S = 0.0
DEFAULT_BUDGET_SHARE = 0.20  # SRE Workbook, Appendix B: one incident over 20% of the budget → postmortem
DEFAULT_ESCAPED_RATE = 0.25
DEFAULT_TIME_TO_RESTORE_S = 3600.0  # DORA: elite < 1 hour ≤ high
DEFAULT_FALSE_ROLLBACK_RATE = 0.10

MEETS, LIKELY, MISSES, NO_DATA = "meets", "likely", "misses", "no data"

_SLO = BurnRateJudge()


@dataclass(frozen=True)
class Limits:
    """What you can live with; None is no limit. Rates and the budget are shares (0.25 = 25%),
    times and downtime seconds. `slo` and `budget_days` are not limits: they name the error budget
    the budget limit is a share of (the scenario's SLO; `defaults` takes them from it).

    `Limits()` has no limit at all; `Limits.defaults(scenario)` has the sourced ones."""

    time_to_restore_s: float | None = None
    escaped_rate: float | None = None
    error_budget_per_bad_release: float | None = None
    downtime_s: float | None = None
    blast_radius: float | None = None
    false_rollback_rate: float | None = None
    extra_instance_hours: float | None = None
    blast_metric: str = "faulty_requests"
    slo: float = _SLO.slo
    budget_days: float = _SLO.budget_days

    @classmethod
    def defaults(cls, scenario: Scenario | None = None, **changes: float | str | None) -> Limits:
        """The sourced default limits (module docstring) against `scenario`'s SLO, with `changes`
        (a limit set to None is cleared)."""
        slo = scenario.slo if scenario is not None else _SLO
        base = cls(
            time_to_restore_s=DEFAULT_TIME_TO_RESTORE_S,
            escaped_rate=DEFAULT_ESCAPED_RATE,
            error_budget_per_bad_release=DEFAULT_BUDGET_SHARE,
            downtime_s=DEFAULT_DOWNTIME_S,
            false_rollback_rate=DEFAULT_FALSE_ROLLBACK_RATE,
            slo=slo.slo,
            budget_days=slo.budget_days,
        )
        given: dict[str, Any] = changes  # each checked against its field by __post_init__
        return dataclasses.replace(base, **given)

    def __post_init__(self) -> None:
        if self.blast_metric not in BLAST_METRICS:
            raise ConfigError(
                f"{self.blast_metric!r} is not one of {', '.join(BLAST_METRICS)}", ("blast_metric",)
            )
        for name in LIMITS:
            value = getattr(self, name)
            if value is not None and (math.isnan(value) or value < 0):
                raise ConfigError(f"{value} is not >= 0", (name,))
            if name in SHARES and value is not None and value > 1:
                raise ConfigError(f"{value} is not a share within 0..1", (name,))

    def measure(self, name: str) -> Measure:
        m = LIMITS[name]
        if name == "blast_radius":
            unit = BLAST_METRICS[self.blast_metric]
            return dataclasses.replace(m, metric=self.blast_metric, unit=unit, short=unit.split(" per ")[0])
        if name == "error_budget_per_bad_release":
            return dataclasses.replace(m, unit=f"% of the error budget ({self.budget_text()})")
        return m

    def metric(self, name: str) -> str:
        return self.measure(name).metric

    def budget_text(self) -> str:
        """The error budget the budget limit is a share of: "99.9% SLO over 30 days"."""
        return f"{self.slo * 100:g}% SLO over {self.budget_days:g} days"

    def given(self) -> dict[str, float]:
        return {n: v for n in LIMITS if (v := getattr(self, n)) is not None}


@dataclass(frozen=True)
class Check:
    """One strategy's reading of one metric: the point estimate (a mean, median or rate) and its 95%
    interval (`hi` is inf when the interval has no upper end). `bound` and `status` are None when
    the metric is shown but not limited."""

    strategy: str
    limit: str
    metric: str
    stat: Stat
    value: float
    lo: float
    hi: float
    n: int
    censored: int
    bound: float | None = None
    status: str | None = None


@dataclass(frozen=True)
class Advice:
    """The verdict: `choice` (None when no strategy meets every limit), the candidate that more
    deploys might confirm, the binding limits and the value each would need, every check against a
    limit and every reading the table shows."""

    choice: str | None
    candidate: str | None
    binding: tuple[str, ...]
    relax: dict[str, tuple[str, float]]  # limit → (strategy it would admit, value it would need)
    checks: tuple[Check, ...]  # the limited readings, with a status
    ranking: tuple[str, ...]  # strategies, cheapest first
    limits: Limits = Limits()
    message: str = ""
    readings: tuple[Check, ...] = ()  # every reading shown: SHOWN and the limited ones

    def table(self) -> pd.DataFrame:
        """Strategies down (cheapest first): the bad releases read and how many were never restored
        (left out of the per-bad-release means, which they would only raise), then one column per
        shown metric, "status: value [95% CI]" where limited, "value [95% CI]" where not."""
        rows: dict[str, dict[str, str]] = {s: {} for s in self.ranking}
        for c in self.readings:
            if c.limit == "time_to_restore_s":  # its censored count is the bad releases never restored
                escaped = next(
                    r for r in self.readings if r.strategy == c.strategy and r.limit == "escaped_rate"
                )
                never = f", {c.censored} never restored" if c.censored else ""
                rows[c.strategy]["bad releases"] = f"{escaped.n}{never}"
        for c in self.readings:
            scale = self.limits.measure(c.limit).scale
            if math.isnan(c.value):
                text = NO_DATA
            else:
                text = f"{_fmt(c.value * scale)} [{_fmt(c.lo * scale)}, {_fmt(c.hi * scale)}]"
                if c.status is not None:
                    text = f"{c.status}: {text}"
            rows[c.strategy][column_title(c.limit, self.limits)] = text
        return pd.DataFrame.from_dict(rows, orient="index")


def shown(limits: Limits) -> list[str]:
    """The limits a table of advice shows, in `LIMITS` order: `SHOWN` and every limit given."""
    given = limits.given()
    return [n for n in LIMITS if n in SHOWN or n in given]


def column_title(name: str, limits: Limits) -> str:
    """A table column: "time to restore, median ≤ 60 min" where limited, "downtime, mean (s)" where not."""
    m = limits.measure(name)
    what = m.label if m.stat == "rate" else f"{m.label}, {m.stat}"
    bound = getattr(limits, name)
    if bound is None:
        return f"{what} ({m.short})"
    return f"{what} ≤ {_fmt(bound * m.scale)} {m.short}"


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞"
    x = max(x, 0.0)  # a t-interval may dip below 0; none of these quantities can
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{1 if x >= 10 else 2}f}".rstrip("0").rstrip(".")


#: A summary's rows by (strategy, metric): looked up many times per advice, filtered once.
Rows = dict[tuple[str, str], dict[str, Any]]


def _index(summary: pd.DataFrame) -> Rows:
    return {
        (str(r["strategy"]), str(r["metric"])): {str(k): v for k, v in r.items()}
        for r in summary.to_dict("records")
    }


def _row(rows: Rows, strategy: str, metric: str) -> dict[str, Any]:
    if (strategy, metric) not in rows:
        raise ConfigError(f"the summary has no {metric!r} for {strategy!r}", ("summary",))
    return rows[strategy, metric]


def read(rows: Rows, strategy: str, name: str, limits: Limits) -> Check:
    """One strategy's reading of one limit's metric, by that limit's statistic."""
    m = limits.measure(name)
    row = _row(rows, strategy, m.metric)
    if m.stat == "median":
        value, lo, hi = float(row["p50"]), float(row["p50_lo"]), float(row["p50_hi"])
    else:  # a rate's summary row holds the rate as its mean and the Wilson interval as its ci95
        value, lo, hi = float(row["mean"]), float(row["ci95_lo"]), float(row["ci95_hi"])
    n, censored = int(row["n"]), int(row["censored"])
    # With two values or more an interval exists; a missing upper end is one the Kaplan–Meier curve
    # never closes (too many never restored), not a certainty. One value alone has no interval at
    # all: it is all there is to judge.
    if math.isnan(hi) and not math.isnan(value) and n >= 2:
        hi = math.inf
    bound = getattr(limits, name)
    return Check(
        strategy=strategy, limit=name, metric=m.metric, stat=m.stat, value=value, lo=lo, hi=hi, n=n,
        censored=censored, bound=bound, status=None if bound is None else status(value, lo, hi, bound),
    )  # fmt: skip


def status(value: float, lo: float, hi: float, bound: float) -> str:
    """meets (the interval's upper end is within the bound), likely (only the point estimate is),
    misses, no data."""
    if math.isnan(value):
        return NO_DATA
    if value > bound:
        return MISSES
    # A point from a single value, or from identical values, has no interval: its value is all there is.
    top = value if math.isnan(hi) else max(hi, value)
    return MEETS if top <= bound else LIKELY


def cost_order(summary: pd.DataFrame) -> list[str]:
    """Strategies from the cheapest: mean extra instance-hours, then mean lead time, then name."""
    return _cost_order(_index(summary), summary["strategy"])


def _cost_order(rows: Rows, strategies: Iterable[str]) -> list[str]:
    def key(s: str) -> tuple[float, float, str]:
        cost = float(_row(rows, s, "extra_instance_hours")["mean"])
        lead = float(_row(rows, s, "lead_time_s")["mean"])
        return (math.inf if math.isnan(cost) else cost, math.inf if math.isnan(lead) else lead, s)

    return sorted(dict.fromkeys(strategies), key=key)


def _needed(c: Check) -> float:
    """The least limit this reading would meet: its interval's upper end (or its value, alone)."""
    return c.value if math.isnan(c.hi) else max(c.hi, c.value)


def advise(summary: pd.DataFrame, limits: Limits | Mapping[str, float | str | None]) -> Advice:
    """Name the cheapest strategy of `summary` that meets `limits` (see the module docstring).
    A mapping is taken as `Limits(**mapping)`: only the limits it names."""
    if not isinstance(limits, Limits):
        limits = Limits(**dict(limits))  # type: ignore[arg-type]
    rows = _index(summary)
    ranking = _cost_order(rows, summary["strategy"])
    given = limits.given()
    readings = [read(rows, s, n, limits) for s in ranking for n in shown(limits)]
    checks = [c for c in readings if c.status is not None]
    by_strategy = {s: [c for c in checks if c.strategy == s] for s in ranking}
    choice = next((s for s in ranking if all(c.status == MEETS for c in by_strategy[s])), None)
    candidate = None
    if choice is None:
        candidate = next(
            (s for s in ranking if all(c.status in (MEETS, LIKELY) for c in by_strategy[s])), None
        )
    relax: dict[str, tuple[str, float]] = {}
    binding: tuple[str, ...] = ()
    if choice is None and candidate is None:
        for name in given:
            for s in ranking:  # cheapest first: the first it would admit is the one to name
                others = [c for c in by_strategy[s] if c.limit != name]
                own = next(c for c in by_strategy[s] if c.limit == name)
                # An interval without an upper end is met by no relaxed limit: it cannot be named.
                if all(c.status in (MEETS, LIKELY) for c in others) and math.isfinite(_needed(own)):
                    relax[name] = (s, _needed(own))
                    break
        if relax:
            binding = tuple(relax)
        else:  # every strategy misses two or more: the limits missed by the most strategies bind
            missed = {n: sum(c.status in (MISSES, NO_DATA) for c in checks if c.limit == n) for n in given}
            most = max(missed.values())
            binding = tuple(n for n, k in missed.items() if k == most)
    advice = Advice(
        choice=choice, candidate=candidate, binding=binding, relax=relax, checks=tuple(checks),
        ranking=tuple(ranking), limits=limits, readings=tuple(readings),
    )  # fmt: skip
    return dataclasses.replace(advice, message=explain(advice))


def value_text(name: str, value: float, limits: Limits | None = None) -> str:
    """A limit's value with its unit: "60 min", "25 % of bad releases", "20 % of the error budget
    (99.9% SLO over 30 days)"."""
    m = (limits or Limits()).measure(name)
    return f"{_fmt(value * m.scale)} {m.unit}"


def _what(name: str, limits: Limits) -> str:
    m = limits.measure(name)
    return m.label if m.stat == "rate" else f"{m.label} ({m.stat})"


def explain(advice: Advice) -> str:
    """The advice in a few plain sentences."""
    limits = advice.limits
    if not limits.given():
        return f"No limits given: the cheapest strategy is {advice.ranking[0]}."
    if advice.choice is not None:
        return (
            f"{advice.choice} is the cheapest strategy that meets every limit: each 95% confidence "
            "interval (of the median time to restore, of each mean and rate) lies within its limit."
        )
    if advice.candidate is not None:
        c = advice.candidate
        unsure = [x for x in advice.checks if x.strategy == c and x.status == LIKELY]
        reach = "; ".join(
            f"{_what(x.limit, limits)} "
            + (f"up to {value_text(x.limit, x.hi, limits)}" if math.isfinite(x.hi) else "with no upper end")
            for x in unsure
        )
        return (
            f"No strategy meets every limit with 95% confidence. {c} is the cheapest whose estimates "
            f"meet them, but its 95% intervals reach past them ({reach}): run more deploys to tell."
        )
    if advice.relax:
        parts = []
        for n, (s, v) in advice.relax.items():
            # Another of its limits met only by its estimate: it would be a candidate, not a sure choice.
            estimated = any(c.strategy == s and c.limit != n and c.status == LIKELY for c in advice.checks)
            parts.append(
                f"relax {_what(n, limits)} to {value_text(n, v, limits)} and {s} "
                + ("meets the others by its estimates" if estimated else "qualifies")
            )
        return "No strategy meets every limit. Binding: " + "; or ".join(parts) + "."
    names = ", ".join(_what(n, limits) for n in advice.binding)
    return (
        "No strategy meets every limit, and each misses two or more; the limit missed by the most "
        f"strategies: {names}."
    )
