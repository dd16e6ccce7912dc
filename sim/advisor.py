"""The advisor: the cheapest strategy whose blast radius, recovery, cost and false rollbacks are acceptable.

The article's rule — pick the cheapest strategy whose blast radius and recovery time are acceptable —
made concrete on a summary (`sim.summarize`). What each word means here:

- **a limit** is an upper bound on a strategy's *mean* per-deploy value of one metric: blast radius
  (faulty requests, or affected users, per bad release), time to recover (s, per detected bad
  release), extra cost (instance-hours per deploy) and false rollbacks (share of good releases).
  A limit left as None is no limit.
- **meets** a limit: the whole 95% confidence interval of the mean lies within it (its upper bound
  ≤ the limit), so more deploys would not overturn the verdict. **likely**: the mean is within the
  limit but the interval reaches past it — more deploys would tell. **misses**: the mean is past the
  limit. **no data**: nothing to judge (say, no bad release was detected, so there is no recovery
  time): it cannot be said to meet the limit.
- **cheapest**: the lowest mean extra instance-hours per deploy; equal costs go to the shorter mean
  lead time (people's time spent watching a rollout), then to the name.

The choice is the cheapest strategy that meets every limit. When none does, the cheapest whose
every limit is met or likely is named as a candidate that more deploys might confirm; when not even
that, the advice says which limit binds: for each limit, whether relaxing it alone would admit a
strategy, and to what value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from .errors import ConfigError

#: The limits the advisor knows: name → (summary metric, label, unit shown, scale from the metric).
LIMITS: dict[str, tuple[str, str, str, float]] = {
    "blast_radius": ("faulty_requests", "blast radius", "faulty requests per bad release", 1.0),
    "time_to_restore_s": ("time_to_restore_s", "time to restore", "s", 1.0),
    "extra_instance_hours": ("extra_instance_hours", "extra cost", "instance-hours per deploy", 1.0),
    "false_rollback_rate": ("false_rollback_rate", "false rollbacks", "% of good releases", 100.0),
}

#: Per-bad-release counts the blast-radius limit may be stated in, with their unit.
BLAST_METRICS = {
    "faulty_requests": "faulty requests per bad release",
    "affected_users": "affected users per bad release",
}

MEETS, LIKELY, MISSES, NO_DATA = "meets", "likely", "misses", "no data"


@dataclass(frozen=True)
class Limits:
    """What you can live with; None is no limit. false_rollback_rate is a share (0.05 = 5%)."""

    blast_radius: float | None = None
    time_to_restore_s: float | None = None
    extra_instance_hours: float | None = None
    false_rollback_rate: float | None = None
    blast_metric: str = "faulty_requests"

    def __post_init__(self) -> None:
        if self.blast_metric not in BLAST_METRICS:
            raise ConfigError(
                f"{self.blast_metric!r} is not one of {', '.join(BLAST_METRICS)}", ("blast_metric",)
            )
        for name in LIMITS:
            value = getattr(self, name)
            if value is not None and (math.isnan(value) or value < 0):
                raise ConfigError(f"{value} is not >= 0", (name,))
        if self.false_rollback_rate is not None and self.false_rollback_rate > 1:
            raise ConfigError(
                f"{self.false_rollback_rate} is not a share within 0..1", ("false_rollback_rate",)
            )

    def metric(self, name: str) -> str:
        return self.blast_metric if name == "blast_radius" else LIMITS[name][0]

    def given(self) -> dict[str, float]:
        return {n: v for n in LIMITS if (v := getattr(self, n)) is not None}


@dataclass(frozen=True)
class Check:
    """One strategy against one limit."""

    strategy: str
    limit: str
    metric: str
    mean: float
    ci95_lo: float
    ci95_hi: float
    bound: float
    status: str


@dataclass(frozen=True)
class Advice:
    """The verdict: `choice` (None when no strategy meets every limit), the candidate that more
    deploys might confirm, the binding limits and the value each would need, and every check."""

    choice: str | None
    candidate: str | None
    binding: tuple[str, ...]
    relax: dict[str, tuple[str, float]]  # limit → (strategy it would admit, value it would need)
    checks: tuple[Check, ...]
    ranking: tuple[str, ...]  # strategies, cheapest first
    limits: Limits = Limits()
    message: str = ""

    def table(self) -> pd.DataFrame:
        """Strategies down (cheapest first), one column per limit: "status: mean [95% CI]"."""
        rows: dict[str, dict[str, str]] = {s: {} for s in self.ranking}
        for c in self.checks:
            scale = LIMITS[c.limit][3]
            title = f"{LIMITS[c.limit][1]} ≤ {value_text(c.limit, c.bound, self.limits.blast_metric)}"
            rows[c.strategy][title] = (
                NO_DATA
                if math.isnan(c.mean)
                else f"{c.status}: {_fmt(c.mean * scale)} "
                f"[{_fmt(c.ci95_lo * scale)}, {_fmt(c.ci95_hi * scale)}]"
            )
        return pd.DataFrame.from_dict(rows, orient="index")


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "–"
    x = max(x, 0.0)  # a t-interval may dip below 0; none of these quantities can
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.{1 if x >= 10 else 2}f}".rstrip("0").rstrip(".")


def _row(summary: pd.DataFrame, strategy: str, metric: str) -> tuple[float, float, float]:
    r = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)]
    if r.empty:
        raise ConfigError(f"the summary has no {metric!r} for {strategy!r}", ("summary",))
    row = r.iloc[0]
    return float(row["mean"]), float(row["ci95_lo"]), float(row["ci95_hi"])


def status(mean: float, lo: float, hi: float, bound: float) -> str:
    """meets (the interval's upper end is within the bound), likely (only the mean is), misses, no data."""
    if math.isnan(mean):
        return NO_DATA
    if mean > bound:
        return MISSES
    # A mean from a single value, or from identical values, has no interval: its value is all there is.
    top = mean if math.isnan(hi) else max(hi, mean)
    return MEETS if top <= bound else LIKELY


def cost_order(summary: pd.DataFrame) -> list[str]:
    """Strategies from the cheapest: mean extra instance-hours, then mean lead time, then name."""

    def key(s: str) -> tuple[float, float, str]:
        cost, lead = _row(summary, s, "extra_instance_hours")[0], _row(summary, s, "lead_time_s")[0]
        return (math.inf if math.isnan(cost) else cost, math.inf if math.isnan(lead) else lead, s)

    return sorted(dict.fromkeys(summary["strategy"]), key=key)


def advise(summary: pd.DataFrame, limits: Limits | Mapping[str, float | None]) -> Advice:
    """Name the cheapest strategy of `summary` that meets `limits` (see the module docstring)."""
    if not isinstance(limits, Limits):
        limits = Limits(**dict(limits))
    ranking = cost_order(summary)
    given = limits.given()
    checks: list[Check] = []
    for s in ranking:
        for name, bound in given.items():
            metric = limits.metric(name)
            mean, lo, hi = _row(summary, s, metric)
            checks.append(Check(s, name, metric, mean, lo, hi, bound, status(mean, lo, hi, bound)))
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
                if all(c.status in (MEETS, LIKELY) for c in others) and not math.isnan(own.mean):
                    relax[name] = (s, max(own.ci95_hi, own.mean) if not math.isnan(own.ci95_hi) else own.mean)
                    break
        if relax:
            binding = tuple(relax)
        else:  # every strategy misses two or more: the limits missed by the most strategies bind
            missed = {n: sum(c.status in (MISSES, NO_DATA) for c in checks if c.limit == n) for n in given}
            most = max(missed.values())
            binding = tuple(n for n, k in missed.items() if k == most)
    advice = Advice(choice, candidate, binding, relax, tuple(checks), tuple(ranking), limits)
    return dataclasses.replace(advice, message=explain(advice))


def value_text(name: str, value: float, blast_metric: str = "faulty_requests") -> str:
    """A limit's value with its unit: "300 s", "5 % of good releases", "1,000 faulty requests per ..."."""
    _, _, unit, scale = LIMITS[name]
    if name == "blast_radius":
        unit = BLAST_METRICS[blast_metric]
    return f"{_fmt(value * scale)} {unit}"


def explain(advice: Advice) -> str:
    """The advice in a few plain sentences."""
    limits = advice.limits
    if not limits.given():
        return f"No limits given: the cheapest strategy is {advice.ranking[0]}."
    if advice.choice is not None:
        return (
            f"{advice.choice} is the cheapest strategy that meets every limit "
            "(each 95% confidence interval lies within its limit)."
        )
    if advice.candidate is not None:
        c = advice.candidate
        unsure = [x for x in advice.checks if x.strategy == c and x.status == LIKELY]
        reach = "; ".join(
            f"{LIMITS[x.limit][1]} up to {value_text(x.limit, x.ci95_hi, limits.blast_metric)}"
            for x in unsure
        )
        return (
            f"No strategy meets every limit with 95% confidence. {c} is the cheapest that meets them on "
            f"average, but its 95% intervals reach past them ({reach}): run more deploys to tell."
        )
    if advice.relax:
        parts = []
        for n, (s, v) in advice.relax.items():
            # Another of its limits met only on average: it would be a candidate, not a sure choice.
            unsure = any(c.strategy == s and c.limit != n and c.status == LIKELY for c in advice.checks)
            parts.append(
                f"relax {LIMITS[n][1]} to {value_text(n, v, limits.blast_metric)} and {s} "
                + ("meets the others on average" if unsure else "qualifies")
            )
        return "No strategy meets every limit. Binding: " + "; or ".join(parts) + "."
    names = ", ".join(LIMITS[n][1] for n in advice.binding)
    return (
        "No strategy meets every limit, and each misses two or more; the limit missed by the most "
        f"strategies: {names}."
    )
