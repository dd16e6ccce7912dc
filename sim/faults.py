"""Faulty releases: whether a release is bad, which fault it carries, how severe, and when it bites.

Each deploy draws its release once (exogenous, shared by every strategy). A fault acts only on user
requests served by the new version, and only once active: from the first user request the new
version serves plus the onset delay. Synthetic traffic never reaches application code, so no fault
touches it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from .config.faults import LATENCY_PROFILE, ReleasesConfig
from .config.fleet import PROFILE_NONE


@dataclass(frozen=True)
class Release:
    """One deploy's release, drawn before any strategy runs."""

    bad: bool
    kind: str | None = None
    severity: float = 0.0
    onset_s: float = 0.0
    segment: int | None = None  # index of the segment a segment_bug hits
    smoke_u: float = 1.0  # uniform draw; the smoke test catches the fault when smoke_u < smoke_catch
    smoke_catch: float = 0.0
    layer: str | None = None  # "flag": the fault lies behind the feature flag; "binary": anywhere else
    shadow_u: float = 1.0  # uniform draw for dark-launch shadow calls

    @property
    def caught_by_smoke_test(self) -> bool:
        return self.bad and self.smoke_u < self.smoke_catch

    @property
    def latency_profile(self) -> int:
        return LATENCY_PROFILE.get(self.kind, PROFILE_NONE) if self.bad else PROFILE_NONE

    @property
    def leak_per_s(self) -> float:
        return self.severity / 3600.0 if self.kind == "saturation_leak" else 0.0

    def failure_probability(self, n_segments: int) -> np.ndarray:
        """Per segment: chance the active fault fails a user request on the new version."""
        p = np.zeros(n_segments)
        if self.kind in ("error_rate", "crash"):
            p[:] = self.severity
        elif self.kind == "segment_bug":
            p[self.segment] = self.severity
        return p

    def touches(self, n_segments: int) -> np.ndarray:
        """Per segment: whether the segment's requests run the faulty code (True for all but segment bugs)."""
        hit = np.full(n_segments, self.bad)
        if self.kind == "segment_bug":
            hit[:] = False
            hit[self.segment] = True
        return hit


def draw_release(cfg: ReleasesConfig, segment_names: tuple[str, ...], rng: np.random.Generator) -> Release:
    u_bad, u_kind, u_smoke, u_layer, u_shadow = rng.random(5).tolist()
    kinds, cdf = cfg.kind_cdf
    if not kinds or u_bad >= cfg.bad_probability:
        return Release(bad=False, smoke_u=u_smoke, shadow_u=u_shadow)
    kind = kinds[bisect.bisect_right(cdf, u_kind)]
    spec = cfg.faults[kind]
    severity = float(spec.severity.sample(rng))
    onset = float(spec.onset_s.sample(rng))
    segment = segment_names.index(spec.segment) if spec.segment is not None else None
    layer = "flag" if u_layer < cfg.flagged_share else "binary"
    return Release(True, kind, severity, onset, segment, u_smoke, spec.smoke_catch, layer, u_shadow)
