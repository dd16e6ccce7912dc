"""How big and how long a canary must be: detection power and sample size of a two-proportion z-test.

The `two_proportion` judge compares the canary's error rate with the baseline's by a one-sided
pooled z-test at level α. Before simulating anything, the normal approximation says how likely one
look is to catch a given regression with n₁ canary and n₀ baseline requests, and how many requests
(hence, at a given weight and request rate, how many minutes) a look needs for a wanted power. The
formulas (`sim.core.two_proportion`) are the ones the validation's references use
(`sim.validation.references`), so the simulator is checked against exactly what this module hands
to users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.optimize import brentq

from ..core.two_proportion import independent_looks_false_alarm, two_proportion_power, z_test_rejection_rate

__all__ = [
    "any_look_fails",
    "bake_time_s",
    "look_requests",
    "requests_for_power",
    "two_proportion_power",
    "z_test_rejection_rate",
]

#: The largest canary sample `requests_for_power` searches (a regression too small to see below it
#: is reported as needing infinitely many requests).
MAX_REQUESTS = 1e12


def look_requests(rate_rps: float, weight: float, seconds: float) -> tuple[float, float]:
    """(canary, baseline) requests one look sees: `weight` (0-1) of `rate_rps` for `seconds`."""
    if not 0.0 < weight < 1.0:
        raise ValueError(f"weight {weight!r} must be strictly between 0 and 1")
    return rate_rps * weight * seconds, rate_rps * (1.0 - weight) * seconds


def requests_for_power(
    p0: float, p1: float, power: float = 0.8, alpha: float = 0.05, baseline_per_canary: float = 1.0
) -> float:
    """Canary requests n₁ one look needs so the z-test catches p₁ > p₀ with probability `power`,
    the baseline arm having `baseline_per_canary` × n₁ requests (19 for a 5% canary). Found by
    solving `two_proportion_power` = power, so the two always agree; `inf` if even MAX_REQUESTS
    is not enough (p₁ ≤ p₀ can never be detected)."""
    if not 0.0 < alpha < power < 1.0:
        raise ValueError(f"need 0 < alpha ({alpha}) < power ({power}) < 1")
    k = baseline_per_canary

    def gap(n1: float) -> float:
        return two_proportion_power(p0, p1, k * n1, n1, alpha) - power

    if p1 <= p0 or gap(MAX_REQUESTS) < 0:
        return math.inf
    lo = 1.0
    if gap(lo) >= 0:
        return lo
    return float(brentq(gap, lo, MAX_REQUESTS, xtol=1e-6, rtol=1e-10))


def bake_time_s(
    p0: float, p1: float, rate_rps: float, weight: float, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Seconds a canary at `weight` (0-1) of `rate_rps` user requests must be judged in one look to
    catch p₁ > p₀ with the given power."""
    k = (1.0 - weight) / weight
    return requests_for_power(p0, p1, power, alpha, k) / (rate_rps * weight)


def any_look_fails(per_look: Sequence[float] | float, looks: int = 1, failure_limit: int = 0) -> float:
    """Chance that more than `failure_limit` of independent looks fail, look k failing with
    per_look[k] (or the same chance `looks` times): 1 − (1 − α)^K for false alarms of a good
    release, 1 − (1 − power)^K for the detection of a bad one."""
    chances = [float(per_look)] * looks if isinstance(per_look, int | float) else [float(p) for p in per_look]
    return independent_looks_false_alarm(chances, failure_limit)
