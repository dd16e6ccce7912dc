"""Noisy neighbours: episodes of latency (and optionally error) inflation that no release caused.

An episode hits both versions (a shared node, a regional surge) or only the hosts of one version
(a canary scheduled onto a noisy node). Episodes are exogenous: drawn once per deploy, replayed by
a SimPy process into the world for every strategy alike.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from .config.noise import TARGETS, NoiseConfig

if TYPE_CHECKING:
    from .world import World


@dataclass(frozen=True)
class Episode:
    start: float
    end: float
    latency_factor: float
    error_rate: float
    target: str  # one of TARGETS

    def hits(self, version: int) -> bool:
        """Version 0 is stable, 1 is new."""
        return self.target == "both" or self.target == ("stable", "new")[version]


def draw_episodes(cfg: NoiseConfig, horizon_s: float, rng: np.random.Generator) -> tuple[Episode, ...]:
    if cfg.episodes_per_hour <= 0:
        return ()
    # Episodes already under way at t = 0 count too: look back one maximal episode length.
    look_back = min(cfg.duration_s.bounds()[1], 86400.0)
    span = horizon_s + look_back
    n = rng.poisson(cfg.episodes_per_hour * span / 3600.0)
    out = []
    for _ in range(n):
        start = float(rng.uniform(-look_back, horizon_s))
        end = start + float(cfg.duration_s.sample(rng))
        factor = float(cfg.latency_factor.sample(rng))
        err = float(cfg.error_rate.sample(rng))
        target = TARGETS[bisect.bisect_right(cfg.targets.cdf, rng.random())]
        if end > 0:
            out.append(Episode(max(start, 0.0), end, factor, err, target))
    return tuple(sorted(out, key=lambda e: e.start))


def noise_process(
    env: simpy.Environment, episodes: tuple[Episode, ...], world: World
) -> Generator[Any, Any, None]:
    """Replay the episodes: at each start or end, hand the world the set of episodes under way."""
    changes = sorted(
        [(e.start, 1, e) for e in episodes] + [(e.end, 0, e) for e in episodes], key=lambda c: (c[0], c[1])
    )
    active: list[Episode] = []
    for t, starting, ep in changes:
        if t > env.now:
            yield env.timeout(t - env.now)
        if starting:
            active.append(ep)
        else:
            active.remove(ep)
        world.set_noise(tuple(active))
