"""People in the loop: how fast the on-call answers a page, how fast an operator decides a canary step.

Both are slower outside business hours. An operator judging a canary may also wave through a
regression that looks marginal — the judgment a progressive-delivery controller takes away. Their
settings are `sim.config.humans.HumansConfig`; here they act, drawing from the deploy's people stream.
"""

from __future__ import annotations

import numpy as np

from ..config.humans import HumansConfig
from ..core.dist import Dist


class Humans:
    """The people of one deploy: draws come from their own stream, shared by every strategy."""

    def __init__(self, cfg: HumansConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng

    def off_hours(self, hour: float) -> bool:
        lo, hi = self.cfg.business_hours
        return not (lo <= hour < hi)

    def delay(self, which: str, hour: float) -> float:
        base = float(getattr(self.cfg, which).sample(self.rng))
        return base * (self.cfg.off_hours_factor if self.off_hours(hour) else 1.0)

    def working(self, dist: Dist, hour: float) -> float:
        """Seconds until work of a drawn length is done by someone who works business hours only,
        starting at local hour `hour` (a ticket, an escalated user report)."""
        return working_delay(hour, float(dist.sample(self.rng)), self.cfg.business_hours)

    def waves_through(self, score: float) -> bool:
        """Whether the operator lets a failed check pass: only when the miss looks marginal."""
        u = float(self.rng.random())  # drawn every time, so the stream does not depend on the score
        return score < self.cfg.marginal_factor and u < self.cfg.wave_through


def working_delay(hour: float, work_s: float, business_hours: tuple[float, ...]) -> float:
    """Wall-clock seconds from local hour `hour` until `work_s` seconds of business hours have passed."""
    lo, hi = business_hours
    waited, left, h = 0.0, work_s, hour % 24.0
    while True:
        if lo <= h < hi:
            room = (hi - h) * 3600.0
            if left <= room:
                return waited + left
            waited, left, h = waited + room, left - room, hi
        else:
            gap = ((lo - h) % 24.0) * 3600.0
            waited, h = waited + gap, lo
