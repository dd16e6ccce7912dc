"""Who sends requests and when: the daily curve, regional surges, users and segments, synthetic traffic.

The records of the scenario's `traffic:` section. Traffic itself is drawn by the engine
(`sim.engine.exogenous`), once per deploy, before any strategy runs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..core.dist import Dist, uniform
from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text


@dataclass(frozen=True)
class Segment(Config):
    """A slice of the user base (a platform, a region, internal staff) with its share of user traffic."""

    name: str = text("all", doc="segment name, referenced by segment-only faults and canary bias")
    share: float = num(1.0, 0.0, 1.0, lo_open=True, doc="share of user requests from this segment")


@dataclass(frozen=True)
class Diurnal(Config):
    amplitude: float = num(0.5, 0.0, 0.95, doc="daily swing: rate × (1 + amplitude·cos(2π(h − peak)/24))")
    peak_hour: float = num(15.0, 0.0, 24.0, unit="h", doc="local hour of the daily peak")


@dataclass(frozen=True)
class Surges(Config):
    per_day: float = num(1.0, 0.0, 1000.0, unit="1/day", doc="mean number of regional surges a day")
    factor: Dist = section(lambda: uniform(1.2, 1.6), doc="traffic multiplier during a surge")
    duration_s: Dist = section(lambda: uniform(300.0, 1800.0), doc="length of a surge, seconds")

    def validate(self) -> None:
        for name, lo, hi in (("factor", 1.0, math.inf), ("duration_s", 0.0, math.inf)):
            try:
                getattr(self, name).check_within(lo, hi)
            except ConfigError as err:
                raise err.at(name) from None


@dataclass(frozen=True)
class Users(Config):
    population: int = num(200_000, 1, 1e10, doc="distinct users who may send requests during a deploy")
    activity_shape: float = num(
        0.5,
        0.0,
        100.0,
        lo_open=True,
        doc="gamma shape of per-user request rates; below 1 a few heavy users send most requests",
    )


def _default_segments() -> tuple[Segment, ...]:
    return (Segment("web", 0.6), Segment("ios", 0.25), Segment("android", 0.15))


@dataclass(frozen=True)
class TrafficConfig(Config):
    rate_rps: float = num(300.0, 0.0, 1e7, lo_open=True, unit="req/s", doc="mean request rate, all traffic")
    synthetic_share: float = num(
        0.05, 0.0, 0.99, doc="share of requests that are health checks and bots (never reach app code)"
    )
    diurnal: Diurnal = section(Diurnal)
    surges: Surges = section(Surges)
    users: Users = section(Users)
    segments: tuple[Segment, ...] = section(_default_segments)
    deploy_hours: tuple[float, ...] = section(
        lambda: (9.0, 17.0), doc="[from, to): local hours in which deploys start (uniform)"
    )

    def validate(self) -> None:
        if not self.segments:
            raise ConfigError("needs at least one segment", ("segments",))
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ConfigError(f"segment names repeat: {names}", ("segments",))
        total = sum(s.share for s in self.segments)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"segment shares add up to {total:g}, not 1", ("segments",))
        h = self.deploy_hours
        if len(h) != 2 or not (0 <= h[0] < h[1] <= 24):
            raise ConfigError(f"{list(h)} is not [from, to) with 0 <= from < to <= 24", ("deploy_hours",))

    @functools.cached_property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)

    @functools.cached_property
    def shares(self) -> np.ndarray:
        """Each segment's share of user requests (read-only: one array serves every deploy)."""
        shares = np.array([s.share for s in self.segments])
        shares.flags.writeable = False
        return shares
