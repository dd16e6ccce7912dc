"""Who sends requests and when: the daily curve, regional surges, users and segments, synthetic traffic.

Traffic is exogenous: it is drawn once per deploy, for the whole horizon, before any strategy runs,
so every strategy in a deploy meets exactly the same requests (common random numbers).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .config.traffic import TrafficConfig


@dataclass(frozen=True)
class TrafficDraw:
    """One deploy's requests, per time window (exogenous: the same for every strategy)."""

    window_s: float
    start_hour: float  # local time of day at t = 0
    counts: np.ndarray  # (windows, segments + 1): user requests by segment, then synthetic requests
    user_rate: np.ndarray  # (windows,) expected user requests per second
    surges: tuple[tuple[float, float, float], ...]  # (start_s, end_s, factor)

    @property
    def user(self) -> np.ndarray:
        return self.counts[:, :-1]

    @property
    def synthetic(self) -> np.ndarray:
        return self.counts[:, -1]

    @property
    def windows(self) -> int:
        return len(self.counts)

    def hour_at(self, t: float) -> float:
        return (self.start_hour + t / 3600.0) % 24.0


def rate_profile(cfg: TrafficConfig, start_hour: float, t_mid: np.ndarray) -> np.ndarray:
    """Expected total request rate (req/s) at times t_mid without surges: the daily curve."""
    return _daily_curve(cfg, start_hour, t_mid / 3600.0)


def _daily_curve(cfg: TrafficConfig, start_hour: float, t_hours: np.ndarray) -> np.ndarray:
    hours = (start_hour + t_hours) % 24.0
    return cfg.rate_rps * (
        1.0 + cfg.diurnal.amplitude * np.cos(2 * np.pi * (hours - cfg.diurnal.peak_hour) / 24)
    )


@functools.lru_cache(maxsize=64)
def _window_mids(n: int, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mid-times of n windows, in seconds and in hours: the same for every deploy of a scenario."""
    t_mid = (np.arange(n) + 0.5) * window_s
    t_hours = t_mid / 3600.0
    t_mid.flags.writeable = t_hours.flags.writeable = False
    return t_mid, t_hours


def request_means(
    user_rate: np.ndarray, shares: np.ndarray, synthetic_rps: float, window_s: float
) -> np.ndarray:
    """Mean requests per window (windows, segments + 1): users by segment, then synthetic.

    Built segment by segment (a window-long row each), which numpy does far faster than window by
    window; the result is the transposed view, and numpy draws from it in row-major order whatever
    its memory layout."""
    lam = np.empty((len(shares) + 1, len(user_rate)))
    np.multiply(shares[:, None], user_rate, out=lam[:-1])
    lam[:-1] *= window_s
    lam[-1] = synthetic_rps * window_s
    return lam.T


def draw_traffic(
    cfg: TrafficConfig, window_s: float, horizon_s: float, rng: np.random.Generator
) -> TrafficDraw:
    lo, hi = cfg.deploy_hours
    start_hour = float(rng.uniform(lo, hi))
    return draw_span(cfg, window_s, 0, math.ceil(horizon_s / window_s), start_hour, rng)


def draw_span(
    cfg: TrafficConfig, window_s: float, k0: int, k1: int, start_hour: float, rng: np.random.Generator
) -> TrafficDraw:
    """Windows k0..k1-1 of a deploy that started at `start_hour` (the rows for earlier windows are
    zero and never served): the traffic a deploy meets after the part drawn up front."""
    t_mid, t_hours = _window_mids(k1, window_s)
    rate = _daily_curve(cfg, start_hour, t_hours)
    surges = []
    s = cfg.surges
    t0, horizon_s = k0 * window_s, k1 * window_s
    # Surges already under way at t0 count too: look back one maximal surge length.
    look_back = min(s.duration_s.bounds()[1], 86400.0)
    span = horizon_s - t0 + look_back
    for _ in range(rng.poisson(s.per_day * span / 86400.0)):
        start = float(rng.uniform(t0 - look_back, horizon_s))
        end = start + float(s.duration_s.sample(rng))
        factor = float(s.factor.sample(rng))
        surges.append((start, end, factor))
    if surges:  # most deploys meet none, and a product with ones changes nothing
        surge_mult = np.ones(k1)
        for start, end, factor in surges:
            surge_mult[(t_mid >= start) & (t_mid < end)] *= factor
        rate = rate * surge_mult
    user_rate = rate * (1.0 - cfg.synthetic_share)
    # Health checks and bots arrive at a steady rate: probes do not follow the daily curve.
    lam = request_means(user_rate[k0:], cfg.shares, cfg.rate_rps * cfg.synthetic_share, window_s)
    counts = rng.poisson(lam)
    if k0:
        counts = np.concatenate([np.zeros((k0, counts.shape[1]), counts.dtype), counts])
    return TrafficDraw(window_s, start_hour, counts, user_rate, tuple(surges))


def user_requests_before(cfg: TrafficConfig, start_hour: float, seconds: np.ndarray) -> np.ndarray:
    """Expected user requests in the `seconds` before t = 0, on the daily curve (no surges): the
    steady history an alert's long window reaches back into."""
    a, day = cfg.diurnal.amplitude, 86400.0
    phase = 2 * np.pi * (start_hour - cfg.diurnal.peak_hour) / 24.0
    # ∫ (1 + A cos(θ0 + 2πt/day)) dt over [-s, 0] = s + A·day/2π·(sin θ0 − sin(θ0 − 2πs/day))
    wave = a * day / (2 * np.pi) * (np.sin(phase) - np.sin(phase - 2 * np.pi * seconds / day))
    return cfg.rate_rps * (1.0 - cfg.synthetic_share) * (seconds + wave)


def hit_probability(requests_per_user: np.ndarray, shape: float) -> np.ndarray:
    """Chance that a user of a group meets at least one of the group's requests.

    Per-user rates are gamma distributed with the given shape, so the number of requests one user
    sends is Poisson with a gamma mean; its zero-probability is the gamma Laplace transform
    (1 + r/k)^(-k), where r is the group's mean requests per user.
    """
    r = np.asarray(requests_per_user, dtype=float)
    return 1.0 - np.power(1.0 + r / shape, -shape)
