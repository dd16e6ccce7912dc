"""The DORA presets: each one's reference strategy lands in its 2024 tier, and each header's table holds.

Figures as `sim.calibrate.incidents.dora_figures` reads them off the rows: the change failure rate
(deploys whose bad release reached users) with a Wilson interval, the recovery time's Kaplan–Meier
median with its interval (statsmodels' log-log transformed, Brookmeyer–Crowley). The family is the
eight checks of the reference strategies (a rate and a median per preset), jointly at 99.8%:
Bonferroni gives each 1 − 0.002/8 = 99.975%. Each runs at the scenario's own seed and deploys.
"""

from __future__ import annotations

import functools
import re

import pandas as pd
import pytest

import sim
from sim.calibrate.incidents import DAY, HOUR, TIERS, dora_figures, rate_tier, restore_tier
from sim.config.scenario import resolve_path

pytestmark = pytest.mark.slow

PRESETS = {"elite": "progressive", "high": "canary", "medium": "blue_green", "low": "recreate"}
CHECKS = 2 * len(PRESETS)
LEVEL = 1 - 0.002 / CHECKS  # Bonferroni over the family, jointly 99.8%


@functools.cache
def rows(name: str, *overrides: str) -> pd.DataFrame:
    scn = sim.load_scenario(name, overrides=list(overrides))
    df = sim.run_batch(scn, deploys=scn.run.deploys, seed=scn.run.seed, jobs=2)
    assert df["error"].isna().all()
    return df


def figures(name: str, *overrides: str, level: float = LEVEL) -> pd.DataFrame:
    return dora_figures(rows(name, *overrides), level).set_index("strategy")


def lands(tier: str, fig: pd.Series) -> list[str]:
    """What keeps `fig` (one strategy's figures, intervals at LEVEL) out of `tier`; empty if it lands."""
    t = next(t for t in TIERS if t.name == tier)
    misses = []
    if not fig["rate_low"] <= t.change_failure_rate <= fig["rate_high"]:
        misses.append(f"rate {fig['rate_low']:.3f}–{fig['rate_high']:.3f} misses {t.change_failure_rate}")
    low, high = t.restore_s
    # Elite's band is under an hour; high's and medium's under a day but not elite's hour (else the
    # preset would be elite by its recovery); low's a week to a month.
    low = HOUR if tier in ("high", "medium") else low
    if not (low <= fig["restore_low_s"] and fig["restore_high_s"] < high):
        misses.append(
            f"median recovery {fig['restore_low_s'] / HOUR:.2f}–{fig['restore_high_s'] / HOUR:.2f} h "
            f"outside {low / HOUR:g}–{high / HOUR:g} h"
        )
    return misses


@pytest.mark.parametrize("tier", PRESETS)
def test_the_reference_strategy_lands_in_its_tier(tier):
    fig = figures(f"dora-{tier}").loc[PRESETS[tier]]
    assert not lands(tier, fig), lands(tier, fig)


def header_table(name: str) -> dict[str, tuple[float, str, str]]:
    """The header's measured lines: strategy → (rate %, median hours as written, tier words)."""
    text = resolve_path(name).read_text()
    found = re.findall(r"^#   (\w+) +([\d.]+)% / ([\d.]+) h(?: \([^)]*\))? +(.+)$", text, re.M)
    return {s: (float(r), h, words) for s, r, h, words in found}


@pytest.mark.parametrize("tier", PRESETS)
def test_each_header_states_the_figures_and_tiers_the_run_measures(tier):
    name = f"dora-{tier}"
    table = header_table(name)
    scn = sim.load_scenario(name)
    assert set(table) == set(scn.strategies), "a line per strategy"
    assert f"seed {scn.run.seed}, {scn.run.deploys:,} deploys" in resolve_path(name).read_text()
    fig = figures(name, level=0.95)
    for strategy, (rate, hours, words) in table.items():
        f = fig.loc[strategy]
        assert round(100 * f["change_failure_rate"], 1) == rate, strategy
        decimals = len(hours.partition(".")[2])
        assert round(f["restore_p50_s"] / HOUR, decimals) == float(hours), strategy
        by_rate, by_restore = f["rate_tier"], f["restore_tier"]
        if by_restore == by_rate or (by_restore == "high/medium" and by_rate in ("high", "medium")):
            assert words.startswith(by_rate), (strategy, words)
        else:
            assert words.startswith(f"{by_rate} rate, {by_restore} recovery"), (strategy, words)
    assert PRESETS[tier] in [s for s, (_, _, w) in table.items() if "reference strategy" in w]


def test_the_low_preset_leaves_its_tier_when_people_answer_within_hours():
    """The test can fail: the mechanism (users' reports, a backlog) is what sets low's recovery."""
    fig = figures("dora-low", "reports.response_s.median=3600", "reports.response_s.p90=14400")
    assert lands("low", fig.loc["recreate"])


def test_the_elite_preset_leaves_its_tier_with_four_times_the_bad_releases():
    fig = figures("dora-elite", "releases.bad_probability=0.2")
    assert lands("elite", fig.loc["progressive"])


def test_tiers_by_each_figure():
    assert [rate_tier(r) for r in (0.0, 0.04, 0.08, 0.14, 0.15, 0.3, 0.9)] == [
        "elite", "elite", "medium", "medium", "high", "low", "low",
    ]  # fmt: skip
    assert [restore_tier(s) for s in (60, HOUR, DAY - 1, DAY, 20 * DAY)] == [
        "elite", "high/medium", "high/medium", "low", "low",
    ]  # fmt: skip


def test_a_change_failure_is_a_bad_release_that_reached_users():
    df = rows("dora-medium")
    bg = df[df["strategy"] == "blue_green"]
    reached = bg["release_bad"] & (bg["time_to_restore_s"].notna() | bg["censored"])
    by_smoke = bg["release_bad"] & (bg["detected_by"] == "smoke_test")
    assert int(by_smoke.sum()) > 0, "the smoke test catches some before any user"
    fig = figures("dora-medium").loc["blue_green"]
    assert fig["change_failures"] == int(reached.sum()) == int(bg["release_bad"].sum() - by_smoke.sum())
