"""People in the loop: how fast the on-call answers a page, how fast an operator decides a canary step.

Both are slower outside business hours. An operator judging a canary may also wave through a
regression that looks marginal — the judgment a progressive-delivery controller takes away. These
are the records of the scenario's `humans:` section; the people themselves are the engine's
(`sim.engine.people`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.dist import Dist, lognormal
from ..core.errors import ConfigError
from ..core.schema import Config, num, section


@dataclass(frozen=True)
class HumansConfig(Config):
    page_response_s: Dist = section(
        lambda: lognormal(300.0, 900.0), doc="from a page to the on-call deciding to roll back, seconds"
    )
    ticket_response_s: Dist = section(
        lambda: lognormal(4 * 3600.0, 18 * 3600.0),
        doc="from a ticket (the slow-burn alert) to the rollback, seconds of working time",
    )
    decision_s: Dist = section(
        lambda: lognormal(120.0, 600.0),
        doc="from a canary step's end (or a manual gate) to the operator's call, seconds",
    )
    off_hours_factor: float = num(3.0, 1.0, 100.0, doc="delays are this many times longer off hours")
    business_hours: tuple[float, ...] = section(lambda: (9.0, 18.0), doc="[from, to) local hours")
    wave_through: float = num(0.3, 0.0, 1.0, doc="chance an operator lets a marginal regression pass")
    marginal_factor: float = num(1.5, 1.0, 100.0, doc="a failure below limit × this counts as marginal")

    def validate(self) -> None:
        h = self.business_hours
        if len(h) != 2 or not (0 <= h[0] < h[1] <= 24):
            raise ConfigError(f"{list(h)} is not [from, to) with 0 <= from < to <= 24", ("business_hours",))
        for name in ("page_response_s", "ticket_response_s", "decision_s"):
            try:
                getattr(self, name).check_within(0.0, math.inf, "s")
            except ConfigError as err:
                raise err.at(name) from None
