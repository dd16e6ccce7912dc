"""The fleet a version runs on: replicas, start-up, capacity, baseline errors and its latency's p50 and p99.

Latency is a lognormal fixed by its p50 and p99 (`Latency`); a fault reshapes it through one of the
profiles named here. How requests meet that distribution — the quantile function bent by a
profile, queueing and shedding — is the engine's (`sim.engine.fleet`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.schema import Config, num, section

Z95 = 1.6448536269514722


Z99 = 2.3263478740408408


#: Profiles a fault can put on the latency distribution (see `sim.engine.fleet.log_profile`).
PROFILE_NONE, PROFILE_SHIFT, PROFILE_TAIL, PROFILE_BODY = 0, 1, 2, 3


@dataclass(frozen=True)
class Latency(Config):
    p50_ms: float = num(40.0, 0.0, 1e6, lo_open=True, unit="ms", doc="median latency of a user request")
    p99_ms: float = num(250.0, 0.0, 1e6, lo_open=True, unit="ms", doc="99th percentile latency")

    def validate(self) -> None:
        if self.p99_ms <= self.p50_ms:
            raise ConfigError(f"p99_ms {self.p99_ms:g} must be above p50_ms {self.p50_ms:g}", ("p99_ms",))

    @property
    def sigma(self) -> float:
        return math.log(self.p99_ms / self.p50_ms) / Z99


@dataclass(frozen=True)
class FleetConfig(Config):
    replicas: int = num(10, 1, 10_000, doc="replicas of the stable version serving production")
    capacity_rps: float = num(
        100.0,
        0.0,
        1e7,
        lo_open=True,
        unit="req/s",
        doc="requests per second one replica serves at full use of its scarce resource",
    )
    workers: int = num(8, 1, 10_000, doc="requests one replica serves in parallel (shapes queueing delay)")
    error_rate: float = num(0.0002, 0.0, 0.5, doc="baseline share of user requests that fail, either version")
    latency: Latency = section(Latency, doc="latency of a user request at the fleet's mean utilisation")
    start_s: float = num(40.0, 0.0, 86400.0, unit="s", doc="schedule, pull and start a replica")
    warmup_s: float = num(30.0, 0.0, 86400.0, unit="s", doc="from start until ready for traffic")
    stop_s: float = num(15.0, 0.0, 86400.0, unit="s", doc="graceful termination of a replica")
    cold_latency_factor: float = num(
        1.0,
        1.0,
        100.0,
        doc="latency multiplier of a replica the moment it turns ready (cold caches, JIT, connection"
        " pools), falling linearly to 1 over cold_s; 1: replicas serve alike whatever their age",
    )
    cold_s: float = num(
        600.0, 0.0, 86400.0, lo_open=True, unit="s", doc="how long a ready replica stays cold"
    )

    @property
    def ready_s(self) -> float:
        return self.start_s + self.warmup_s

    @property
    def cold(self) -> bool:
        """Whether fresh replicas serve slower than old ones."""
        return self.cold_latency_factor > 1.0
