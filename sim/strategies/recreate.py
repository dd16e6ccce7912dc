"""Recreate: stop the old version, start the new one; the service is down in between, and again to undo."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..world import NEW, STABLE
from .base import Deploy, Gen, Strategy, StrategyConfig


@dataclass(frozen=True)
class RecreateConfig(StrategyConfig):
    kind: str = "recreate"
    silence_alerts: bool = True  # planned downtime: pages are held until the short windows clear


class Recreate(Strategy):
    kind = "recreate"
    config = RecreateConfig
    switches_fleets = True
    migrates_first = False  # the schema changes while nothing runs: recreate escapes the overlap

    def rollout(self, d: Deploy) -> Gen:
        spec: RecreateConfig = self.spec  # type: ignore[assignment]
        if spec.silence_alerts:
            d.silenced_until = math.inf
        d.log("step", "stop every stable replica")
        yield from d.stop(STABLE)
        d.migrate()
        d.log("step", "start the new version")
        yield from d.start(NEW, d.fleet.replicas)
        if spec.silence_alerts:
            # The planned outage stays in each pair's short window for that window's length: hold
            # pages until the longest has cleared, or every recreate would page on its own outage.
            d.silenced_until = d.env.now + max(w.short_s for w in d.scn.slo.windows)

    def rollback(self, d: Deploy) -> Gen:
        # Only one version ever runs: the new one must go before the old one can come back.
        yield from d.stop(NEW)
        yield from d.scale_to(STABLE, d.fleet.replicas)
