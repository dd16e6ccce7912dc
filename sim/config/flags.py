"""Feature flags: a release's risky path shipped dark, then switched on for cohorts, with a kill switch.

A flag decides, at run time and per user, whether a code path inside the binary runs. Bucketing is
sticky (a hash of the user id against the flag's percentage), so a user who got the feature keeps
it as the percentage grows. Turning the flag off takes a propagation delay — no redeploy, no router
change. Shadow calls can exercise the dark path before any user sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.schema import Config, num


@dataclass(frozen=True)
class FlagsConfig(Config):
    propagation_s: float = num(
        5.0, 0.0, 3600.0, unit="s", doc="kill switch: time for a flag change to reach every process"
    )
    shadow_s: float = num(
        600.0,
        0.0,
        7 * 86400.0,
        unit="s",
        doc="dark launch: shadow calls exercise the flagged path this long before release",
    )
    shadow_catch: float = num(0.3, 0.0, 1.0, doc="chance the shadow calls catch a fault in the flagged path")
    internal_share: float = num(
        0.01, 0.0, 1.0, doc="share of users who are internal accounts (the first cohort)"
    )
