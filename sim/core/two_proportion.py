"""The two-proportion z-test's power and its false alarms over several looks, in closed form.

Shared by the workshop's canary power calculator (`sim.workshop.power`) and the validation's
published references (`sim.validation.references`), so the simulator is checked against exactly
what the workshop hands to users. Pure formulas (numpy and scipy), none of the model's code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr, ndtri


def two_proportion_power(p0: float, p1: float, n0: float, n1: float, alpha: float) -> float:
    """Chance the one-sided pooled z-test at level alpha flags p1 > p0 with n0 and n1 requests."""
    z_a = float(ndtri(1.0 - alpha))
    pbar = (n0 * p0 + n1 * p1) / (n0 + n1)
    null_sd = math.sqrt(pbar * (1 - pbar) * (1 / n0 + 1 / n1))
    alt_sd = math.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    return float(ndtr((p1 - p0 - z_a * null_sd) / alt_sd))


def z_test_rejection_rate(
    p0: float, p1: float, mean_n0: float, mean_n1: float, alpha: float, *, draws: int, seed: int
) -> tuple[float, float]:
    """Exact-model rejection rate of the z-test when arm sizes are Poisson and failures binomial, by
    direct sampling (not through the simulator), with its standard error. The gap between this and
    `two_proportion_power` is the normal approximation's own error."""
    rng = np.random.default_rng(seed)
    n0, n1 = rng.poisson(mean_n0, draws), rng.poisson(mean_n1, draws)
    x0, x1 = rng.binomial(n0, p0), rng.binomial(n1, p1)
    n0, n1 = np.maximum(n0, 1), np.maximum(n1, 1)
    pooled = (x0 + x1) / (n0 + n1)
    var = pooled * (1 - pooled) * (1 / n0 + 1 / n1)
    z = np.where(var > 0, (x1 / n1 - x0 / n0) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    rate = float(np.mean(z > ndtri(1.0 - alpha)))
    return rate, math.sqrt(max(rate * (1 - rate), 1.0 / draws) / draws)


def independent_looks_false_alarm(alphas: Sequence[float], failure_limit: int = 0) -> float:
    """Chance that more than failure_limit of independent looks (look k false-alarms with alphas[k])
    raise a false alarm: the Poisson-binomial tail (1 − (1 − α)^K for equal α and no tolerance)."""
    dist = np.array([1.0])
    for a in alphas:
        dist = np.append(dist * (1 - a), 0.0) + np.append(0.0, dist * a)
    return float(dist[failure_limit + 1 :].sum())
