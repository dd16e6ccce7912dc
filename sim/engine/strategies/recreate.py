"""Recreate: stop the old version, start the new one; the service is down in between, and again to undo."""

from __future__ import annotations

import math

from ...config.strategies import STRATEGIES, RecreateConfig
from ..world import NEW, STABLE
from .base import Deploy, Gen, Strategy


@STRATEGIES.implementation("recreate")
class Recreate(Strategy[RecreateConfig]):
    switches_fleets = True
    migrates_first = False  # the schema changes while nothing runs: recreate escapes the overlap

    def rollout(self, d: Deploy) -> Gen:
        spec = self.spec
        if spec.silence_alerts:
            d.silenced_until = math.inf
        d.log("step", "stop every stable replica")
        yield from d.stop(STABLE)
        d.migrate()
        d.log("step", "start the new version")
        yield from d.start(NEW, d.fleet.replicas)
        if spec.silence_alerts:
            # A maintenance silence covers the planned outage and lets the shortest short window
            # clear of it, so the fastest pair cannot page on the outage itself. Longer pairs' short
            # windows still hold it, but their long windows, diluted by an hour or more of healthy
            # traffic, do not burn on a minute's outage; a broken build pages once the silence ends.
            hold = spec.hold_after_s
            d.silenced_until = d.env.now + (
                min(w.short_s for w in d.scn.slo.windows) if hold is None else hold
            )

    def rollback(self, d: Deploy) -> Gen:
        # Only one version ever runs: the new one must go before the old one can come back.
        yield from d.stop(NEW)
        yield from d.scale_to(STABLE, d.fleet.replicas)
