"""Which version serves a request: traffic weights, replica-approximated weights, sticky users, biased slices.

With a traffic router (service mesh, ingress) the weight is exact. Without one, the share of
traffic a version gets is its share of ready replicas, and the weight a rollout asks for is
approximated by replica counts the way Argo Rollouts does it for a basic canary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .schema import Config, num, section


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
    flip_s: float = num(
        2.0, 0.0, 3600.0, unit="s", doc="time for a router weight change to reach every proxy"
    )
    synthetic: Literal["per_replica", "weighted"] = "per_replica"
    canary_bias: CanaryBias = section(CanaryBias)

    def validate(self) -> None:
        from .errors import ConfigError

        for name, mult in self.canary_bias.segments.items():
            if not (0.0 <= mult <= 1e6) or math.isnan(mult):
                raise ConfigError(f"{mult:g} is not >= 0", ("canary_bias", "segments", name))


def argo_replica_split(spec_replicas: int, weight: int, max_surge: int) -> tuple[int, int]:
    """(canary, stable) replicas for a basic canary at `weight` percent, as Argo Rollouts picks them.

    Candidates are the floor and ceiling of replicas × weight, over spec.replicas and, when surge is
    allowed, spec.replicas + 1; the candidate whose actual weight is nearest the asked one wins, the
    first listed winning ties; a split exactly halfway between floor and ceiling takes the ceiling.
    For weights 1-99 neither side is left at zero unless there is a single replica and no surge —
    except in one corner Argo's code falls into and we reproduce: a tie whose ceiling is every
    replica, with no surge (2 replicas at 75%, 5 at 90%, 10 at 95%), gives the canary nothing.
    """
    if spec_replicas == 0:
        return 0, 0
    exact = spec_replicas * weight / 100.0
    ceil_c, floor_c = math.ceil(exact), math.floor(exact)
    zero_ok = weight in (0, 100) or (spec_replicas == 1 and max_surge == 0)

    def tied(total: int) -> bool:
        return math.modf(total * weight / 100.0)[0] == 0.5

    options: list[tuple[int, int]] = []
    if ceil_c < spec_replicas or zero_ok:
        options.append((ceil_c, spec_replicas))
    if not tied(spec_replicas) and (floor_c != 0 or zero_ok):
        options.append((floor_c, spec_replicas))
    if max_surge > 0:
        options.append((ceil_c, spec_replicas + 1))
        if not tied(spec_replicas + 1) and (floor_c != 0 or zero_ok):
            options.append((floor_c, spec_replicas + 1))
    if not options:  # Argo's own "should not get here": a tie whose ceiling would empty stable
        return 0, spec_replicas
    best = min(options, key=lambda o: abs(o[0] * 100.0 / o[1] - weight))
    return best[0], best[1] - best[0]


def canary_replicas_for_router(spec_replicas: int, weight: float) -> int:
    """With a traffic router the canary is scaled to its weight's share of spec.replicas (rounded up)."""
    return math.ceil(spec_replicas * weight / 100.0 - 1e-9)


def segment_shares(weight: float, bias: np.ndarray) -> np.ndarray:
    """Share of each segment's users routed to the new version when it holds `weight` (0-1) of traffic.

    Sticky routing hashes user ids into [0, 1) and sends the users below the share to the new
    version, so as the weight grows a user only ever moves from stable to new, never back.
    """
    if weight >= 1.0:
        return np.ones_like(bias)
    return np.minimum(1.0, weight * bias)


def synthetic_share(mode: str, weight: float, ready: Sequence[int]) -> float:
    """Share of synthetic traffic (health checks, bots) that reaches the new version.

    Probes hit every ready replica alike, so a one-replica canary beside ten stable replicas gets a
    ninth of the health checks while it may hold only 1% of user traffic.
    """
    if mode == "weighted":
        return weight
    total = sum(ready)
    return ready[1] / total if total > 0 else 0.0
