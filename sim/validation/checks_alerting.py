"""Checks of the SLO burn-rate alert against the SRE Workbook: detection time and budget spent at firing."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..config.scenario import Scenario
from ..engine.metrics import NAN
from . import references as ref
from .common import QUIET, WATCH_ONLY, error_fault, runs, scenario, user_rate
from .record import Record, mean_interval, pct, rate_interval


def _burn_scenario(error_ratio: float, horizon_s: float) -> Scenario:
    """A blue-green cutover onto a release failing `error_ratio` of user requests, on a service with
    no baseline errors, whose on-call answers a page at once: the alert's own timing, undisturbed."""
    return scenario(
        QUIET,
        WATCH_ONLY,
        {
            "fleet": {"error_rate": 0.0},
            "releases": error_fault(error_ratio),
            "humans": {"page_response_s": 0},
            "strategies": {
                "_replace": True,
                "blue_green": {"kind": "blue_green", "smoke_test_s": 0, "scale_down_delay_s": horizon_s},
            },
            "run": {"horizon_s": horizon_s},
        },
    )


def _pairs(scn: Scenario) -> list[tuple[float, float, float]]:
    return [(w.long_s, w.short_s, w.burn_rate) for w in scn.slo.windows]


@lru_cache(maxsize=32)
def _burn_runs(error_ratio: float, deploys: int, seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Per deploy: seconds from the first faulty request to the page, and the budget share spent by
    then. Also the reference firing time (NaN if no pair can fire) and the evaluation interval."""
    probe = _burn_scenario(error_ratio, 3600.0)
    slo = probe.slo
    pair = ref.firing_pair(_pairs(probe), slo.slo, error_ratio)
    t_ref = ref.burn_rate_detection_s(slo.slo, error_ratio, *pair) if pair else math.nan
    longest = max(w.long_s for w in slo.windows)
    # Long enough to see the page, or to be sure none comes: a full long window past the onset.
    horizon = math.ceil(((t_ref if pair else longest) + 3 * slo.eval_interval_s + 600.0) / 600.0) * 600.0
    scn = _burn_scenario(error_ratio, horizon)
    budget = slo.budget * user_rate(scn) * slo.budget_days * 86400.0
    ttd, spent = [], []
    for run in runs(scn, "blue_green", deploys, seed):
        t_detect = run.world.marks.detected_at
        if t_detect is None:
            ttd.append(NAN)
            spent.append(NAN)
            continue
        L = run.world.ledger
        before = L["t0"] + L["dt"] <= t_detect + 1e-9
        ttd.append(run.row["time_to_detect_s"])
        spent.append(float(L["caused"][before].sum()) / budget)
    return np.array(ttd), np.array(spent), t_ref, slo.eval_interval_s


def check_burn_rate_detection(
    error_ratio: float, deploys: int = 60, seed: int = 801, level: float = 0.95
) -> Record:
    """Time from the first faulty request to the page, for a constant error ratio from cutover on."""
    ttd, _, t_ref, step = _burn_runs(error_ratio, deploys, seed)
    name = f"burn_rate.detection_time[error_ratio={error_ratio:g}]"
    if math.isnan(t_ref):
        fired = int(np.sum(~np.isnan(ttd)))
        share, lo, hi = rate_interval(fired, len(ttd), level)
        return Record(
            name,
            f"an error ratio of {error_ratio:.2%} is below every paging burn rate: no page",
            0.0,
            ref.WORKBOOK,
            share,
            lo,
            hi,
            "%",
            fired == 0,
            "none: the burn rates are thresholds on the windows' error ratios, which sit tens of "
            "binomial standard deviations below them, so any page is a model bug",
            len(ttd),
            "share of deploys paged",
            level=level,
        )
    mean, lo, hi = mean_interval(ttd, level)
    missing = int(np.sum(np.isnan(ttd)))
    return Record(
        name,
        f"an error ratio of {error_ratio:.2%} pages after (1 − SLO)/error ratio × window × burn rate",
        t_ref,
        ref.WORKBOOK,
        mean,
        lo,
        hi,
        "s",
        missing == 0 and hi >= t_ref and lo <= t_ref + step,
        f"the rule is evaluated every {step:g} s, so the page comes 0 to {step:g} s after the crossing: "
        f"pass when the {pct(level)} CI of the mean (Monte Carlo, binomial error counts) meets "
        f"[reference, reference + {step:g} s]",
        len(ttd),
        f"{missing} deploys never paged" if missing else "",
        level=level,
    )


def check_burn_rate_budget(
    error_ratio: float, deploys: int = 60, seed: int = 801, level: float = 0.95
) -> Record:
    """Share of the 30-day error budget spent when the page fires."""
    _, spent, t_ref, step = _burn_runs(error_ratio, deploys, seed)
    probe = _burn_scenario(error_ratio, 3600.0)
    slo = probe.slo
    long_s, burn = ref.firing_pair(_pairs(probe), slo.slo, error_ratio) or (math.nan, math.nan)
    expected = ref.budget_at_firing(long_s, burn, slo.budget_days)
    mean, lo, hi = mean_interval(spent, level)
    stretch = (t_ref + step) / t_ref  # budget grows linearly while the page waits for an evaluation
    return Record(
        f"burn_rate.budget_at_firing[error_ratio={error_ratio:g}]",
        f"the page fires when burn rate × window / period of the budget is spent ({burn:g} over "
        f"{long_s / 3600:g} h)",
        expected,
        ref.WORKBOOK,
        mean,
        lo,
        hi,
        "%",
        not np.isnan(spent).any() and hi >= expected and lo <= expected * stretch,
        f"spending is linear in time, so the {step:g} s evaluation lag adds up to {step:g}/{t_ref:.0f} of "
        f"the reference: pass when the {pct(level)} CI of the mean meets "
        "[reference, reference × (1 + lag/time)]",
        len(spent),
        level=level,
    )
