"""The engine-equivalence check (issue 17's gate for a new draw order): it passes the same engine on
another seed and fails an engine whose model differs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim import load_scenario, shipped_scenarios
from sim.results.summary import SUMMARY_METRICS
from sim.validation import equivalence
from sim.validation.common import scenario

BASELINE = Path(__file__).parent / "data" / "engine" / "v1-10k.csv"

DEPLOYS = 400  # per run: a few seconds; enough that each mean has a usable interval


@pytest.fixture(scope="module")
def old() -> pd.DataFrame:
    return equivalence.baseline(DEPLOYS, seed=1, scenarios=["default"])


def test_the_same_engine_on_another_seed_is_equivalent(old: pd.DataFrame) -> None:
    # Two independent runs of one engine: the family of checks is held to a 1% false-alarm rate
    # (Bonferroni over every check), so with these fixed seeds it passes unless the standard errors
    # read off the intervals are too small, i.e. unless the check itself is wrong.
    verdict = equivalence.compare(old, equivalence.baseline(DEPLOYS, seed=2, scenarios=["default"]))
    assert len(verdict.checks) > 100  # every strategy's metrics, means and medians
    assert verdict.ok, verdict.failures.to_string()


def test_an_engine_that_fails_more_requests_differs(old: pd.DataFrame) -> None:
    # Baseline failures five times as common: the error budget every deploy burns moves by far more
    # than its Monte Carlo error, so the check must see it.
    other = scenario({"fleet": {"error_rate": 0.001}})
    new = equivalence.summarize(equivalence.batch(other, DEPLOYS, 2))
    new.insert(0, "scenario", "default")
    verdict = equivalence.compare(old, new)
    assert not verdict.ok
    assert "error_budget_used" in set(verdict.failures["metric"])


def test_a_metric_only_one_engine_estimates_differs() -> None:
    nan = float("nan")
    row = {"scenario": "s", "strategy": "x", "metric": "m", "n": 500, "censored": 0, "mean": 1.0,
           "p50": nan, "ci95_lo": 0.9, "ci95_hi": 1.1, "p50_lo": nan, "p50_hi": nan}  # fmt: skip
    old = pd.DataFrame([row])
    new = pd.DataFrame([{**row, "mean": nan, "ci95_lo": nan, "ci95_hi": nan}])
    assert not equivalence.compare(old, new).ok
    assert equivalence.compare(old, old).ok


def test_the_stored_baseline_covers_every_shipped_scenario_and_strategy() -> None:
    # `make equivalence` compares against this file: a scenario or strategy added without remaking
    # it would go unchecked (and one removed would fail the comparison as missing).
    stored = pd.read_csv(BASELINE)
    for name in shipped_scenarios():
        part = stored[stored["scenario"] == name]
        assert set(part["strategy"]) == set(load_scenario(name).strategies), name
        rollbacks = part[part["metric"] == "rollback_rate"]
        assert (rollbacks["n"] == 10_000).all(), name  # every deploy summarised
        assert set(part["metric"]) >= set(SUMMARY_METRICS), name


def test_the_command_exits_1_on_a_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stored = pd.read_csv(BASELINE)
    assert equivalence.main([str(BASELINE), "--new", str(BASELINE)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("equivalent")
    moved = stored.copy()
    hit = (moved["scenario"] == "default") & (moved["strategy"] == "canary")
    hit &= moved["metric"] == "lead_time_s"
    width = moved.loc[hit, "ci95_hi"] - moved.loc[hit, "ci95_lo"]
    moved.loc[hit, ["mean", "ci95_lo", "ci95_hi"]] += 5 * width.to_numpy()[:, None]  # 5 interval widths
    moved.to_csv(tmp_path / "new.csv", index=False)
    assert equivalence.main([str(BASELINE), "--new", str(tmp_path / "new.csv")]) == 1
    assert "DIFFERS default / canary / lead_time_s (mean)" in capsys.readouterr().out
