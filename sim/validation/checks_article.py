"""The seed article's "how to choose" table as orderings with confidence intervals, from the default scenario.

"≫" and "≪" are read as: the larger mean's lower confidence bound is at least twice the smaller
mean's upper bound — a factor of two beyond sampling error. "≈" is read as: the interval of the
difference of means contains 0. Intervals are at 95% in the report. Rows come from a batch in which
every release is bad (blast radius and recovery only exist for bad releases) and from one in which
every release is good (cost).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from ..config.strategies import BlueGreenConfig
from .common import batch, runs, scenario
from .record import Record, mean_interval, pct, rate_interval, z_of

ARTICLE = "the seed article's 'How to choose' table (../shared/reference/deploy-strategies-article.txt)"


@lru_cache(maxsize=4)
def _bad_batch(deploys: int, seed: int) -> pd.DataFrame:
    return batch(scenario({"releases": {"bad_probability": 1.0}}), deploys=deploys, seed=seed)


def _exposure(df: pd.DataFrame, strategy: str) -> np.ndarray:
    """Share of traffic on the bad version when it was detected, for releases users met before detection."""
    part = df[(df["strategy"] == strategy) & df["detected"].astype(bool) & df["time_to_detect_s"].notna()]
    return part["exposure_at_detection"].to_numpy(float)


def _welch(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float]:
    """Interval of mean(a) − mean(b) at `level` (normal approximation, samples of hundreds); zero
    width when both samples are constant."""
    d = float(a.mean() - b.mean())
    if a.std() == 0 and b.std() == 0:
        return d, d
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return d - z_of(level) * se, d + z_of(level) * se


def _order_record(
    name: str,
    claim: str,
    small: np.ndarray,
    large: np.ndarray,
    *,
    unit: str,
    relation: str,
    level: float,
    note: str = "",
) -> Record:
    """`small` (simulated) against `large` (the reference) under the relation ≈, ≪ or ≤."""
    s_mean, s_lo, s_hi = mean_interval(small, level)
    l_mean, l_lo, l_hi = mean_interval(large, level)
    p = pct(level)
    if relation == "≈":
        d_lo, d_hi = _welch(small, large, level)
        ok, how = d_lo <= 0 <= d_hi, f"the {p} interval of the difference of means (Welch) contains 0"
    elif relation == "≪":
        ok, how = 2 * s_hi <= l_lo, f"2 × the smaller's {p} upper bound ≤ the larger's {p} lower bound"
    else:
        d_lo, _ = _welch(small, large, level)
        ok, how = (
            d_lo <= 0,
            f"the smaller is not significantly larger: the difference's {p} interval reaches ≤ 0",
        )
    return Record(
        name,
        claim,
        l_mean,
        ARTICLE + " — reference is the other strategy's simulated mean",
        s_mean,
        s_lo,
        s_hi,
        unit,
        bool(ok) and len(small) > 1 and len(large) > 1,
        how + f"; intervals are Student-t {p} CIs of per-deploy means",
        len(small),
        (f"reference {p} CI [{l_lo:.4g}, {l_hi:.4g}], n = {len(large)}. " + note).strip(),
        level=level,
    )


def check_blast_radius(pair: str, deploys: int = 400, seed: int = 871, level: float = 0.95) -> Record:
    """Exposure at detection: recreate ≈ blue-green ≫ canary ≥ progressive."""
    df = _bad_batch(deploys, seed)
    small, large, relation, claim = {
        "recreate~blue_green": ("blue_green", "recreate", "≈",
                                "blue-green's blast radius equals recreate's: everyone"),
        "blue_green>>canary": ("canary", "blue_green", "≪",
                               "a canary's blast radius is its slice, far below everyone"),
        "canary>=progressive": ("progressive", "canary", "≤",
                                "progressive's blast radius is at most the canary's"),
    }[pair]  # fmt: skip
    caught = df[~df["censored"].astype(bool)]  # a release never caught has only a lower bound
    faulty = caught.groupby("strategy")["faulty_requests"].mean()
    note = (
        f"mean faulty requests per caught bad release: {small} {faulty[small]:,.0f}, "
        f"{large} {faulty[large]:,.0f}"
    )
    return _order_record(
        f"article.blast_radius[{pair}]",
        claim,
        _exposure(df, small),
        _exposure(df, large),
        unit="share",
        relation=relation,
        level=level,
        note=note,
    )


def check_time_to_repair(deploys: int = 400, seed: int = 871, level: float = 0.95) -> Record:
    """Blue-green flips back in seconds while blue is warm; recreate must redeploy."""
    df = _bad_batch(deploys, seed)
    scn = scenario({"releases": {"bad_probability": 1.0}})
    blue_green = scn.strategies["blue_green"]
    assert isinstance(blue_green, BlueGreenConfig)
    keep = blue_green.scale_down_delay_s
    recreate = df[(df["strategy"] == "recreate")]["time_to_repair_s"].dropna().to_numpy(float)
    bg = df[df["strategy"] == "blue_green"].dropna(subset=["time_to_repair_s"])
    # Detection while blue is still up: at most `keep` seconds after the cutover (lead time).
    warm = bg[bg["time_to_detect_s"].notna() & (_detected_at(bg) < bg["lead_time_s"] + keep)]
    late = len(bg) - len(warm)
    return _order_record(
        "article.time_to_repair[blue_green<<recreate]",
        "blue-green repairs in seconds (a flip back to warm blue); recreate needs a redeploy",
        warm["time_to_repair_s"].to_numpy(float),
        recreate,
        unit="s",
        relation="≪",
        level=level,
        note=f"{late} of {len(bg)} blue-green detections came after blue was scaled down ({keep:g} s after "
        f"the cutover) and took a redeploy; all blue-green: mean {bg['time_to_repair_s'].mean():.1f} s",
    )


def _detected_at(part: pd.DataFrame) -> pd.Series:
    """Detection time from the deploy's start: lead time is the cutover, and detection follows the
    first faulty request, which for blue-green is the cutover."""
    return part["lead_time_s"] + part["time_to_detect_s"]


def check_no_human(deploys: int = 200, seed: int = 872, level: float = 0.95) -> Record:
    """Share of progressive rollouts in which a person had to decide during the ramp."""
    scn = scenario()
    needed, pages = 0, 0
    for run in runs(scn, "progressive", deploys, seed, record=True):
        kinds = {kind for _, kind, _ in run.deploy.events}
        needed += "review" in kinds
        pages += run.row["detected_by"] == "slo_alert"
    canary = sum(
        any(kind == "review" for _, kind, _ in run.deploy.events)
        for run in runs(scn, "canary", deploys, seed, record=True)
    )
    share, lo, hi = rate_interval(needed, deploys, level)
    return Record(
        "article.progressive_needs_no_human",
        "progressive delivery ramps, promotes and rolls back with no person deciding",
        0.0,
        ARTICLE,
        share,
        lo,
        hi,
        "%",
        needed == 0,
        "none: any human decision (a manual gate, an inconclusive analysis handed to an operator) "
        f"during a progressive ramp contradicts the claim; Wilson {pct(level)} CI shown",
        deploys,
        f"for comparison the manual canary needed a person in {canary} of {deploys} rollouts; "
        f"{pages} progressive releases escaped and were paged to the on-call after promotion",
        level=level,
    )


def check_blue_green_cost(deploys: int = 50, seed: int = 873) -> Record:
    """Instances running during blue-green's overlap, as a multiple of the steady fleet."""
    scn = scenario({"releases": {"bad_probability": 0.0}})
    spec = scn.strategies["blue_green"]
    assert isinstance(spec, BlueGreenConfig)
    n = scn.fleet.replicas
    multiples = []
    for run in runs(scn, "blue_green", deploys, seed):
        m = run.world.marks
        # Green starts at new_started_at; blue is terminated stop_s after the scale-down delay.
        assert m.full_at is not None and m.new_started_at is not None  # a good release goes all the way
        overlap = m.full_at + spec.scale_down_delay_s + scn.fleet.stop_s - m.new_started_at
        multiples.append((n + m.extra_instance_s / overlap) / n)
    mean, lo, hi = mean_interval(np.array(multiples))
    recreate = batch(scn, deploys=deploys, seed=seed, strategies=["recreate"])["extra_instance_hours"]
    return Record(
        "article.cost[blue_green≈2×fleet]",
        "blue-green runs double the infrastructure for the overlap",
        2.0,
        ARTICLE,
        mean,
        lo,
        hi,
        "× fleet",
        abs(lo - 2.0) <= 1e-6 and abs(hi - 2.0) <= 1e-6,
        "none beyond float rounding (1e-6): a good release's overlap is deterministic",
        len(multiples),
        f"recreate's extra instance-hours: mean {recreate.mean():.3g} (only one version ever runs)",
    )
