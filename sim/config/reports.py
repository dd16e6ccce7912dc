"""Users who tell support: how many of those a bad release hurts report it, and how fast it is undone.

The records of the scenario's `reports:` section. The channel itself — users hurt at random as
they meet faulty requests, reports arriving as a Poisson process, the escalation — is the
engine's (`sim.engine.user_reports`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.dist import Dist, lognormal
from ..core.errors import ConfigError
from ..core.schema import Config, num, section


@dataclass(frozen=True)
class ReportsConfig(Config):
    per_harmed_user: float = num(
        0.04,
        0.0,
        1.0,
        doc="share of users a bad release hurts who tell support (about 1 in 27 customers with a "
        "problem reports it: TARP, as widely quoted); 0 turns the channel off",
    )
    escalate_after: int = num(
        5, 1, 1_000_000, doc="reports support collects before it escalates to engineering"
    )
    slow_ms: float = num(
        1000.0,
        0.0,
        1e7,
        lo_open=True,
        unit="ms",
        doc="a request the release makes slower than this hurts its user (Nielsen's 1 s limit for an "
        "uninterrupted flow of thought)",
    )
    response_s: Dist = section(
        lambda: lognormal(7200.0, 28800.0),
        doc="from escalation to the rollback, seconds of working time (business hours only)",
    )

    def validate(self) -> None:
        try:
            self.response_s.check_within(0.0, math.inf, "s")
        except ConfigError as err:
            raise err.at("response_s") from None
