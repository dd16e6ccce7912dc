"""What a latency fault does to the whole distribution users feel: its mean against its median and tail.

The fleet's latency model (`sim.engine.fleet.quantile_ms`: a lognormal fixed by p50 and p99, bent
by a fault's profile) gives every quantile; the mean is its integral over all of them, ∫₀¹ Q(p) dp,
computed on the normal-score axis where the profiles are defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import trapezoid
from scipy.special import ndtr

from ..config.faults import FAULT_KINDS, LATENCY_PROFILE
from ..config.fleet import PROFILE_NONE, Latency
from ..engine import fleet

#: Normal scores the mean is integrated over: beyond ±9 lies less than 1e-18 of the probability.
_Z = np.linspace(-9.0, 9.0, 36_001)
_PDF = np.exp(-0.5 * _Z * _Z) / np.sqrt(2.0 * np.pi)


def describe(
    latency: Latency,
    fault: str | None = None,
    severity: float = 1.0,
    quantiles: Sequence[float] = (0.5, 0.9, 0.99),
) -> dict[str, float]:
    """{"mean_ms", "p50_ms", "p90_ms", "p99_ms", ...} of user requests served by a version whose
    release carries `fault` (a fault kind; None or a kind that does not touch latency: unchanged)."""
    if fault is not None and fault not in FAULT_KINDS:
        raise ValueError(f"{fault!r} is not a fault kind: {', '.join(FAULT_KINDS)}")
    profile = LATENCY_PROFILE.get(fault or "", PROFILE_NONE)
    q = fleet.quantile_ms(latency, ndtr(_Z), profile, severity)
    out = {"mean_ms": float(trapezoid(q * _PDF, _Z))}
    for p in quantiles:
        out[f"p{100 * p:g}_ms"] = float(fleet.quantile_ms(latency, np.array([p]), profile, severity)[0])
    return out
