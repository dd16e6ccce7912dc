"""Noisy neighbours: episodes of latency (and optionally error) inflation that no release caused.

An episode hits both versions (a shared node, a regional surge) or only the hosts of one version
(a canary scheduled onto a noisy node). These are the records of the scenario's `noise:` section;
the engine draws each deploy's episodes from them (`sim.engine.exogenous.draw_episodes`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..core.dist import Dist, fixed, uniform
from ..core.errors import ConfigError
from ..core.schema import Config, num, section

TARGETS = ("both", "new", "stable")


@dataclass(frozen=True)
class NoiseTargets(Config):
    both: float = num(0.7, 0.0, 1e6, doc="relative frequency of episodes hitting both versions")
    new: float = num(0.2, 0.0, 1e6, doc="... hitting only the new version's hosts")
    stable: float = num(0.1, 0.0, 1e6, doc="... hitting only the stable version's hosts")

    @functools.cached_property
    def cdf(self) -> tuple[float, ...]:
        """Cumulative shares of the targets, in TARGETS order (drawn by bisection)."""
        w = np.array([self.both, self.new, self.stable])
        return tuple((np.cumsum(w) / w.sum()).tolist())


@dataclass(frozen=True)
class NoiseConfig(Config):
    episodes_per_hour: float = num(0.2, 0.0, 3600.0, unit="1/h", doc="mean rate of noisy-neighbour episodes")
    duration_s: Dist = section(lambda: uniform(120.0, 900.0), doc="episode length, seconds")
    latency_factor: Dist = section(lambda: uniform(1.5, 4.0), doc="latency multiplier during an episode")
    error_rate: Dist = section(lambda: fixed(0.0), doc="added failure probability during an episode")
    targets: NoiseTargets = section(NoiseTargets)

    def validate(self) -> None:
        for name, lo, hi in (
            ("duration_s", 0.0, math.inf),
            ("latency_factor", 1.0, math.inf),
            ("error_rate", 0.0, 1.0),
        ):
            try:
                getattr(self, name).check_within(lo, hi)
            except ConfigError as err:
                raise err.at(name) from None
        t = self.targets
        if self.episodes_per_hour > 0 and t.both + t.new + t.stable <= 0:
            raise ConfigError("at least one target needs a weight > 0", ("targets",))
