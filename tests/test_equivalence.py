"""The engine-equivalence check (issue 17's gate for a new draw order): it passes the same engine on
another seed and fails an engine whose model differs."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.validation import equivalence
from sim.validation.common import scenario

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
