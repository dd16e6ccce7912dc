"""A per-request model of a progressive canary in vectorised numpy: `reference.py`'s model, drawn as arrays.

The same plan and controller as `reference.reference_canary` (setWeight steps, pauses, an
error-rate baseline check every interval, the rollout followed to the horizon), and the same three
variates per request: an exponential inter-arrival time, a routing coin and a failure coin. Only
the loop over requests is gone: each interval's requests are drawn as arrays, so its cost still
grows with the request rate — it is the fair per-request baseline for `make bench`, where a SimPy
event per request mostly measures the interpreter.

Memory is bounded by one interval's requests (≈ 3 × 8 bytes × rate × interval).
"""

from __future__ import annotations

import numpy as np


class Arrivals:
    """A Poisson process drawn as exponential inter-arrival times, handed out one span at a time."""

    def __init__(self, rng: np.random.Generator, rate_rps: float) -> None:
        self.rng, self.rate = rng, rate_rps
        self.last = 0.0  # time of the last arrival drawn
        self.pending = np.empty(0)  # arrivals drawn past the last span handed out

    def until(self, t: float) -> np.ndarray:
        """Arrival times in [previous t, t), in order."""
        parts = [self.pending]
        while self.last < t:
            # Enough gaps to reach t most of the time in one call, plus a margin for the Poisson spread.
            need = self.rate * (t - self.last)
            gaps = self.rng.exponential(1.0 / self.rate, int(need + 4 * need**0.5 + 16))
            times = np.cumsum(gaps)
            times += self.last
            self.last = float(times[-1])
            parts.append(times)
        times = np.concatenate(parts) if len(parts) > 1 else parts[0]
        cut = int(np.searchsorted(times, t))
        self.pending = times[cut:]
        return times[:cut]


def reference_numpy(
    rate_rps: float,
    plan: list[tuple[float, float]],
    interval_s: float = 60.0,
    base_error: float = 0.001,
    canary_error: float = 0.001,
    seed: int = 0,
    horizon_s: float | None = None,
) -> dict[str, float]:
    """Simulate one rollout request by request, an interval's requests per numpy call. plan:
    (weight %, pause s) steps; horizon_s: how long to follow it (default: until the plan ends).
    Returns `reference_canary`'s counts, and each version's requests and failures."""
    rng = np.random.Generator(np.random.PCG64(seed))
    arrivals = Arrivals(rng, rate_rps)
    total = {"n": [0, 0], "err": [0, 0]}
    now = 0.0

    def serve(until: float, weight: float) -> tuple[list[int], list[int]]:
        """The requests of [now, until) under one weight: each routed and failed by its own coin."""
        n = len(arrivals.until(until))
        new = rng.random(n) < weight
        failed = rng.random(n) < np.where(new, canary_error, base_error)
        n_new, err_new = int(np.count_nonzero(new)), int(np.count_nonzero(failed & new))
        counts, errors = [n - n_new, n_new], [int(np.count_nonzero(failed)) - err_new, err_new]
        for v in (0, 1):
            total["n"][v] += counts[v]
            total["err"][v] += errors[v]
        return counts, errors

    aborted, weight = 0.0, 1.0
    for step_weight, pause in plan:
        w = step_weight / 100.0
        for _ in range(int(pause // interval_s)):
            (n0, n1), (e0, e1) = serve(now + interval_s, w)
            now += interval_s
            if n1 and n0 and e1 / n1 > 2 * e0 / n0 + 0.01:
                aborted, weight = now, 0.0  # rolled back
                break
        if aborted:
            break
    if horizon_s is not None:
        while now < horizon_s:  # the rest of the hour in interval-long arrays: memory stays bounded
            serve(min(now + interval_s, horizon_s), weight)
            now = min(now + interval_s, horizon_s)
    return {
        "requests": float(sum(total["n"])),
        "sim_time_s": now,
        "aborted_at": aborted,
        "requests_new": float(total["n"][1]),
        "errors_stable": float(total["err"][0]),
        "errors_new": float(total["err"][1]),
    }
