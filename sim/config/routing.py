"""How traffic is split between the versions: router weights or replica counts, pinned users, biased slices.

The records of the scenario's `routing:` section, and the routing a strategy may bring with it
(`RouteOverride`, e.g. from an imported manifest). How a state routes traffic is the engine's
(`sim.engine.routing`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text


@dataclass(frozen=True)
class CanaryBias(Config):
    """How unrepresentative the canary slice is. A multiplier per user segment on the share of that
    segment's users the canary gets (1: representative; 0: the slice never sees the segment, e.g. a
    canary in one region or on one platform's ingress) until the release reaches 100%."""

    segments: dict[str, float] = section(dict, doc="segment name → multiplier on its canary share (>= 0)")


@dataclass(frozen=True)
class RoutingConfig(Config):
    mode: Literal["router", "replicas"] = "router"
    max_surge: int = num(1, 0, 10_000, doc="replicas mode: extra replicas a rollout may add (Argo maxSurge)")
    sticky: bool = False
    session_affinity: bool = False
    flip_s: float = num(
        2.0, 0.0, 3600.0, unit="s", doc="time for a router weight change to reach every proxy"
    )
    synthetic: Literal["per_replica", "weighted"] = "per_replica"
    canary_bias: CanaryBias = section(CanaryBias)

    def validate(self) -> None:
        if self.sticky and self.session_affinity:
            raise ConfigError(
                "sticky (users pinned by a hash) and session_affinity (a cookie set on the canary's"
                " responses) are two ways to pin users: set one",
                ("session_affinity",),
            )
        for name, mult in self.canary_bias.segments.items():
            if not (0.0 <= mult <= 1e6) or math.isnan(mult):
                raise ConfigError(f"{mult:g} is not >= 0", ("canary_bias", "segments", name))


@dataclass(frozen=True)
class RouteOverride(Config):
    """Routing a strategy brings with it where it differs from the scenario's: an imported manifest
    says whether there is a traffic router, whether users stick to a version, whom a header match
    sends to the canary. Unset fields keep the scenario's routing."""

    mode: Literal["router", "replicas"] | None = text(None, doc="router or replicas, not the scenario's")
    max_surge: int | None = num(None, 0, 10_000, doc="replicas mode: extra replicas a rollout may add")
    sticky: bool | None = text(None, doc="users pinned to a version (true) or routed per request (false)")
    session_affinity: bool | None = text(
        None, doc="Flagger's sessionAffinity: a user the weight sends to the canary stays there (a cookie)"
    )
    canary_bias: CanaryBias | None = text(None, doc="whom the canary slice sees (an A/B match)")

    def validate(self) -> None:
        if self.sticky and self.session_affinity:
            raise ConfigError(
                "sticky and session_affinity are two ways to pin users: set one", ("session_affinity",)
            )

    def apply(self, base: RoutingConfig) -> RoutingConfig:
        changes = {f.name: v for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None}
        # Pinning users one way replaces the scenario's other way, unless both are named (refused).
        for one, other in (("sticky", "session_affinity"), ("session_affinity", "sticky")):
            if changes.get(one) and other not in changes:
                changes[other] = False
        return dataclasses.replace(base, **changes) if changes else base
