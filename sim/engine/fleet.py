"""How a fleet serves: the latency distribution bent by a fault's profile, queueing, shedding.

Latency is a lognormal fixed by its p50 and p99 (`sim.config.fleet.Latency`), reshaped by faults
through a profile g(z) on the normal-score axis: ln Q(p) = ln p50 + σ·z(p) + g(z(p)). Profiles keep
Q monotone, so order statistics drawn from Beta variates map through Q exactly. This is pure math
on the config's numbers (numpy and scipy only); serving, telemetry and the users' reports use it
here, and the workshop's latency helper (`sim.workshop.latency`) from above.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import ndtr, ndtri

from ..config.fleet import PROFILE_NONE, PROFILE_SHIFT, PROFILE_TAIL, Z95, Z99, Latency

#: Utilisation at which queueing delay is capped: beyond it the resource sheds load instead.
UTIL_CAP = 0.98

#: Latency of a synthetic request (health check): answered without touching application code.
SYNTHETIC_LATENCY_MS = 1.0


def log_profile(z: np.ndarray, kind: int, severity: float, sigma: float) -> np.ndarray:
    """g(z): how a fault bends ln-latency at normal score z.

    shift: the whole distribution × severity. tail: quantiles above p95 stretched, reaching × severity
    at p99 (median untouched). body: the median × severity, fading to nothing at p99 (p99 untouched);
    capped so the median cannot pass the unchanged p99, which keeps Q increasing.
    """
    if kind == PROFILE_NONE:
        return np.zeros_like(z)
    ln_s = math.log(severity)
    if kind == PROFILE_SHIFT:
        return np.full_like(z, ln_s)
    if kind == PROFILE_TAIL:
        return ln_s * np.clip((z - Z95) / (Z99 - Z95), 0.0, 1.0)
    # Q increases when d(ln Q)/dz = σ - ln_s / Z99 > 0.
    ln_s = min(ln_s, 0.999 * sigma * Z99)
    return ln_s * np.clip(1.0 - z / Z99, 0.0, 1.0)


def quantile_ms(lat: Latency, p: np.ndarray, kind: int = PROFILE_NONE, severity: float = 1.0) -> np.ndarray:
    """Latency quantile function (ms) of user requests at probability p, with a fault profile."""
    z = ndtri(np.minimum(np.maximum(p, 1e-12), 1 - 1e-12))
    ln = lat.sigma * z
    if kind != PROFILE_NONE:  # (no profile adds zero: skipping it changes nothing)
        ln = ln + log_profile(z, kind, severity, lat.sigma)
    return lat.p50_ms * np.exp(ln)


@functools.lru_cache(maxsize=4096)
def share_slower(lat: Latency, limit_ms: float, kind: int = PROFILE_NONE, severity: float = 1.0) -> float:
    """Share of user requests slower than limit_ms (no queueing or noise): 1 − F(limit) of the
    profiled lognormal, whose normal score at the limit is found by bisection (ln Q rises with z)."""
    return _share_slower(lat.p50_ms, lat.sigma, limit_ms, kind, severity)


@functools.lru_cache(maxsize=4096)
def _share_slower(p50_ms: float, sigma: float, limit_ms: float, kind: int, severity: float) -> float:
    """`share_slower` by the numbers it reads, kept: up to a hundred steps of bisection in Python, asked
    again for a release by its reports' watcher, by `can_hurt` and by a follow-up, and for the
    fleet alone by every release."""
    target = math.log(limit_ms / p50_ms)
    lo, hi = -40.0, 40.0
    for _ in range(100):
        z = 0.5 * (lo + hi)
        step = (z, hi) if sigma * z + _log_profile_at(z, kind, severity, sigma) < target else (lo, z)
        if step == (lo, hi):  # the bracket holds still (about sixty steps in): so would every step left
            break
        lo, hi = step
    return float(ndtr(-0.5 * (lo + hi)))


def share_slower_mixed(
    lat: Latency, limit_ms: float, off: np.ndarray, on: np.ndarray, kind: int, severity: float
) -> np.ndarray:
    """Per element, the share of user requests slower than limit_ms when their quantile function is
    Q(p)·off + Q_fault(p)·on — a window's distribution as telemetry pools it (`off` the mean
    multiplier of requests outside the fault's profile, `on` of those inside; queueing × noise).
    Closed form without the profile; else the normal score at the limit by bisection, all elements
    at once (both terms rise with z)."""
    off, on = np.asarray(off, float), np.asarray(on, float)
    target = math.log(limit_ms / lat.p50_ms)
    sigma = lat.sigma
    with np.errstate(divide="ignore"):
        z = (target - np.log(off)) / sigma  # on = 0: ln(p50·off·e^{σz}) = ln limit
    bent = on > 0
    if bent.any():
        o, b = off[bent], on[bent]
        lo, hi = np.full(o.shape, -40.0), np.full(o.shape, 40.0)
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            below = sigma * mid + np.log(o + np.exp(log_profile(mid, kind, severity, sigma)) * b) < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        z[bent] = 0.5 * (lo + hi)
    return ndtr(-z)


def _log_profile_at(z: float, kind: int, severity: float, sigma: float) -> float:
    """`log_profile` at one normal score, in plain arithmetic."""
    if kind == PROFILE_NONE:
        return 0.0
    ln_s = math.log(severity)
    if kind == PROFILE_SHIFT:
        return ln_s
    if kind == PROFILE_TAIL:
        return ln_s * min(max((z - Z95) / (Z99 - Z95), 0.0), 1.0)
    ln_s = min(ln_s, 0.999 * sigma * Z99)
    return ln_s * min(max(1.0 - z / Z99, 0.0), 1.0)


def queueing_factor(util: np.ndarray, ref_util: float, workers: int) -> np.ndarray:
    """Latency multiplier from utilisation, relative to the utilisation the latency was measured at.

    A replica serves on several parallel workers, so queueing stays negligible until the resource
    is nearly full and then climbs steeply: the waiting term of a c-server queue behaves like
    ρ^c / (1 - ρ) (the shape of Erlang C). Capped at UTIL_CAP, past which the resource sheds load
    (errors) instead of queueing without bound.
    """
    u = np.minimum(util, UTIL_CAP)
    r = min(ref_util, UTIL_CAP)
    q = u**workers  # in place from here: the same arithmetic, without a new array per step
    q /= 1.0 - u
    q += 1.0
    q /= 1.0 + r**workers / (1.0 - r)
    return q


def shed_probability(util: np.ndarray) -> np.ndarray:
    """Share of requests rejected when demand exceeds the scarce resource (utilisation above 1)."""
    return np.where(util > 1.0, 1.0 - 1.0 / np.maximum(util, 1.0), 0.0)


def cold_multiplier(ready_at: np.ndarray, t: float, factor: float, cold_s: float) -> float:
    """Mean latency multiplier at time t of replicas that turned ready at `ready_at`: each starts at
    `factor` and falls linearly to 1 over `cold_s` (caches, JIT and connection pools fill as it
    serves). Traffic spreads evenly over ready replicas, so a slot's requests meet the mean. No
    replica: 1 (nothing served there to slow)."""
    if not len(ready_at):
        return 1.0
    left = np.clip(1.0 - (t - np.asarray(ready_at, float)) / cold_s, 0.0, 1.0)
    return float(1.0 + (factor - 1.0) * left.mean())
