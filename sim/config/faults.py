"""Faulty releases: how often a release is bad, which fault it carries, how severe, and when it bites.

The records of the scenario's `releases:` section. Each deploy's release is drawn from them by the
engine (`sim.engine.exogenous.draw_release`), once, and shared by every strategy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from ..core.dist import Dist, fixed, loguniform, uniform
from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text, unknown_key
from .fleet import PROFILE_BODY, PROFILE_SHIFT, PROFILE_TAIL

FaultKind = Literal[
    "error_rate", "tail_latency", "latency_shift", "median_latency", "saturation_leak", "crash", "segment_bug"
]


FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


#: What the severity of each fault kind means, with its allowed range.
SEVERITY: dict[str, tuple[str, float, float]] = {
    "error_rate": ("added failure probability of a user request", 0.0, 1.0),
    "tail_latency": ("p99 multiplier; the median is unchanged", 1.0, math.inf),
    "latency_shift": ("multiplier of every latency quantile", 1.0, math.inf),
    "median_latency": ("median multiplier; the p99 is unchanged", 1.0, math.inf),
    "saturation_leak": (
        "growth of the scarce resource's use per hour, as a share of capacity",
        0.0,
        math.inf,
    ),
    "crash": ("failure probability of a user request (the build is broken)", 0.0, 1.0),
    "segment_bug": ("failure probability of a request from the affected segment", 0.0, 1.0),
}


LATENCY_PROFILE = {
    "latency_shift": PROFILE_SHIFT,
    "tail_latency": PROFILE_TAIL,
    "median_latency": PROFILE_BODY,
}


@dataclass(frozen=True)
class FaultSpec(Config):
    weight: float = num(1.0, 0.0, 1e6, doc="relative frequency of this fault among bad releases")
    severity: Dist = section(lambda: fixed(0.05), doc="severity; its meaning depends on the fault kind")
    onset_s: Dist = section(lambda: fixed(0.0), doc="delay from first user traffic until the fault bites")
    smoke_catch: float = num(0.3, 0.0, 1.0, doc="chance a pre-traffic smoke test catches this fault")
    segment: str | None = text(None, doc="segment_bug only: the segment whose requests fail")

    def validate(self) -> None:
        try:
            self.onset_s.check_within(0.0, math.inf, "s")
        except ConfigError as err:
            raise err.at("onset_s") from None


def _default_faults() -> dict[str, FaultSpec]:
    return {
        "error_rate": FaultSpec(0.30, loguniform(0.005, 0.10), fixed(0.0), 0.3),
        "tail_latency": FaultSpec(0.15, uniform(1.5, 4.0), fixed(0.0), 0.05),
        "latency_shift": FaultSpec(0.10, uniform(1.2, 2.0), fixed(0.0), 0.2),
        "median_latency": FaultSpec(0.05, uniform(1.3, 2.0), fixed(0.0), 0.1),
        "saturation_leak": FaultSpec(0.10, uniform(0.2, 1.0), fixed(0.0), 0.02),
        "crash": FaultSpec(0.10, uniform(0.5, 1.0), fixed(0.0), 0.9),
        "segment_bug": FaultSpec(0.20, uniform(0.05, 0.5), fixed(0.0), 0.1, "android"),
    }


@dataclass(frozen=True)
class ReleasesConfig(Config):
    bad_probability: float = num(0.2, 0.0, 1.0, doc="chance that a release carries a fault")
    flagged_share: float = num(
        0.7, 0.0, 1.0, doc="chance a fault lies in the code path behind the release's feature flag"
    )
    faults: dict[str, FaultSpec] = section(_default_faults, doc="the fault mix, by fault kind")

    def validate(self) -> None:
        for kind, spec in self.faults.items():
            if kind not in FAULT_KINDS:
                raise unknown_key(kind, list(FAULT_KINDS), ("faults",))
            _meaning, lo, hi = SEVERITY[kind]
            try:
                spec.severity.check_within(lo, hi)
            except ConfigError as err:
                raise err.at("faults", kind, "severity") from None
            if kind == "segment_bug" and spec.segment is None:
                raise ConfigError("a segment_bug needs the segment it hits", ("faults", kind, "segment"))
            if kind != "segment_bug" and spec.segment is not None:
                raise ConfigError("only a segment_bug takes a segment", ("faults", kind, "segment"))
        if self.bad_probability > 0 and sum(s.weight for s in self.faults.values()) <= 0:
            raise ConfigError("bad releases need at least one fault with weight > 0", ("faults",))

    @functools.cached_property
    def kind_cdf(self) -> tuple[tuple[str, ...], tuple[float, ...]]:
        """The fault kinds a bad release may carry, and their cumulative shares (drawn by bisection)."""
        kinds = tuple(k for k, s in self.faults.items() if s.weight > 0)
        weights = np.array([self.faults[k].weight for k in kinds])
        return kinds, tuple((np.cumsum(weights) / weights.sum()).tolist())
