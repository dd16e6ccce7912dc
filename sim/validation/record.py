"""One validation result: what was checked, against which published figure, with what tolerance and why."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from ..results.summary import mean_ci, wilson

#: Column order of the CSV and of the Markdown table.
FIELDS = (
    "check",
    "claim",
    "reference",
    "source",
    "simulated",
    "ci_lo",
    "ci_hi",
    "level",
    "unit",
    "passed",
    "tolerance",
    "n",
    "note",
)


@dataclass(frozen=True)
class Record:
    """A check's outcome. `simulated` is what the model produced, with its confidence interval at
    `level` (95% in the report); `tolerance` says how the accepted band around `reference` was derived."""

    check: str
    claim: str
    reference: float
    source: str
    simulated: float
    ci_lo: float
    ci_hi: float
    unit: str
    passed: bool
    tolerance: str
    n: int
    note: str = ""
    level: float = 0.95

    def row(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: float, unit: str = "") -> str:
    """A number as a person reads it: 4 significant figures, percentages for shares."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) < 1e-12:  # interval ends computed as 0 up to float rounding
        value = 0.0
    if unit == "%":
        return f"{value * 100:.3g}%"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        text = f"{value:.3e}"
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".strip() if unit and unit != "%" else text


def z_of(level: float) -> float:
    """Two-sided normal quantile of a confidence level (1.96 at 95%)."""
    return float(ndtri(0.5 + level / 2))


def pct(level: float) -> str:
    return f"{level * 100:g}%"


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its Student-t interval at `level`; a constant sample has a zero-width interval."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if len(v) < 2 or float(v.std()) == 0.0:
        return m, m, m
    lo, hi = mean_ci(v, level)
    return m, min(lo, m), max(hi, m)  # float rounding must not put the mean outside its interval


def rate_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """Share k/n and its Wilson interval at `level`."""
    lo, hi = wilson(k, n, level)
    share = k / n if n else math.nan
    return (share, min(lo, share), max(hi, share)) if n else (share, lo, hi)


def exact_record(what: tuple[str, str, str], bad: list[Any], total: int, tolerance: str) -> Record:
    """A check that every case of a table comes out exactly (`what`: the check's name, its claim,
    the table's source): the share of cases that match, with its Wilson interval, and the first
    few that do not."""
    check, claim, source = what
    share, lo, hi = rate_interval(total - len(bad), total)
    note = "; ".join(map(str, bad[:5])) or "all cases match"
    return Record(check, claim, 1.0, source, share, lo, hi, "%", not bad, tolerance, total, note)
