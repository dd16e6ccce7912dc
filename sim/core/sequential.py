"""An always-valid test of a canary's error rate against the baseline's: a mixture sequential
probability ratio test (mSPRT) on counts, which may be read after every window without inflating
its false alarms.

Counting errors as Poisson processes (as Lindon, Sanden and Shirikian do for canaries, KDD 2022),
the errors of one window split between the versions, given how many there were, as a binomial:
each error is the canary's with probability π = n₁θ / (n₁θ + n₀), where n₁, n₀ are the versions'
requests and θ the ratio of their error rates (1 when the canary is no worse). The likelihood
ratio of θ against 1 over windows w is

    LR(θ) = Π_w θ^{e₁w} · ((n₁w + n₀w) / (n₁w θ + n₀w))^{e₁w + e₀w},

a martingale under "no worse" whatever the traffic split does window to window. A mixture of such
ratios over θ (here a discrete one, `ratio_grid`) is a martingale too, so by Ville's inequality
the chance that it ever reaches 1/α is at most α: the test fails a canary when it does, and may be
looked at as often as one likes. Windows where one version served nothing carry no information
(every error is the other's under any θ) and are skipped.
"""

from __future__ import annotations

import math

import numpy as np

#: How many rate ratios the mixture spreads its weight over (evenly, on a log scale).
GRID_POINTS = 16


def ratio_grid(min_ratio: float, max_ratio: float, points: int = GRID_POINTS) -> np.ndarray:
    """The rate ratios θ the mixture weighs equally: log-spaced from `min_ratio` to `max_ratio`."""
    if min_ratio == max_ratio:
        return np.array([min_ratio])
    return np.geomspace(min_ratio, max_ratio, points)


def log_evidence(counts: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """log Λ — the log of the mixture likelihood ratio, the ratios weighed equally — after each
    window of `counts` (windows × 4: canary requests, canary errors, baseline requests, baseline
    errors; accumulated from the first window)."""
    n1, e1, n0, e0 = (np.asarray(counts[:, i], float) for i in range(4))
    both = (n1 > 0) & (n0 > 0)
    theta = np.asarray(ratios, float)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_window = np.where(
            both[:, None],
            e1[:, None] * np.log(theta)
            + (e1 + e0)[:, None] * (np.log(n1 + n0)[:, None] - np.log(n1[:, None] * theta + n0[:, None])),
            0.0,
        )
    log_lr = np.cumsum(per_window, axis=0)  # windows × ratios
    top = log_lr.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(log_lr - top).mean(axis=1))


def threshold(alpha: float) -> float:
    """The log evidence at which the test fails a canary: log(1/α)."""
    return -math.log(alpha)
