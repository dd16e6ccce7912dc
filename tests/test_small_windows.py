"""The smallest allowed traffic window (run.window_s 0.1 s, no binary fraction) runs every strategy:
it used to fail 3 of 4 strategies on every deploy (ZeroDivisionError in the tape, NaN load)."""

from __future__ import annotations

import warnings

import pytest

import sim
from sim.config.scenario import RunConfig
from sim.core.schema import field_docs

SMALLEST = 0.1


def test_the_smallest_allowed_window_is_the_one_tested():
    import dataclasses

    (field,) = [f for f in dataclasses.fields(RunConfig) if f.name == "window_s"]
    assert field.metadata["lo"] == SMALLEST
    assert "window" in field_docs(RunConfig)["window_s"][1]


@pytest.mark.parametrize("window_s", [SMALLEST, 0.15, 0.2, 0.3])
def test_every_strategy_runs_at_small_windows_without_an_error_row(window_s):
    # An hour watched keeps 36,000 windows per deploy quick; the follow-up is off for the same reason.
    scn = sim.load_scenario(
        "default",
        [f"run.window_s={window_s}", "run.horizon_s=3600", "run.follow_s=0", "run.follow_window_s=1"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0/0 in the serving model would show here as NaN load
        rows = sim.run_batch(scn, deploys=3, seed=11, jobs=1)
    assert len(rows) == 3 * len(scn.strategies)
    assert set(rows["strategy"]) == set(scn.strategies)
    errors = rows["error"].fillna("")
    assert (errors == "").all(), errors[errors != ""].tolist()
