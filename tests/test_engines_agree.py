"""The array engine against the event engine on the same deploys: every shipped scenario, every
strategy, its headline metrics agree within Monte Carlo error.

The identity tests (`test_arrays.py`, `test_faulted.py`) hold a row read from arrays to the event
engine's row over the same traffic; they cannot see a bias in *which* traffic a row is read from (a
release drawn again after the block's draws were read to choose its path gets a second chance, as
one once did). This check can: both engines run the same deploys (the same exogenous draws: release,
fault, start hour, noise), each with traffic of its own, so a deploy's two rows differ only by
traffic and, if the engines agree, their difference is symmetric about zero. For each (scenario,
strategy, metric) the mean paired difference over the deploys where both rows have the metric is
held to its Student-t limit (n − 1 degrees of freedom) at the Bonferroni level for the whole family
at a 1% false-alarm rate: the tolerance is the Monte Carlo interval of the paired mean, and a
correct engine fails one seed in a hundred.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
from sim.config.scenario import shipped_scenarios
from sim.engine.rows import _draws, simulate_deploys
from sim.engine.simulate import simulate

#: Deploys per scenario: enough for a gross bias to show (the selection bias this guards against
#: moved the share of releases its looks caught by 24 points where the catch was a toss-up).
DEPLOYS, SEED = 256, 17
METRICS = [
    "detected",
    "rolled_back",
    "escaped",
    "time_to_detect_s",
    "time_to_restore_s",
    "failed_requests",
    "affected_users",
    "exposure_at_detection",
    "downtime_s",
    "error_budget_used",
    "extra_instance_hours",
    "lead_time_s",
]


def _paired(name: str) -> pd.DataFrame:
    scn = sim.load_scenario(name)
    strategies = list(scn.strategies)
    arrays = pd.DataFrame(simulate_deploys(scn, strategies, SEED, 0, DEPLOYS))
    exos = _draws(scn, SEED, range(DEPLOYS))
    event = pd.DataFrame(
        [simulate(scn, s, exos[i], SEED, i).row for i in range(DEPLOYS) for s in strategies]  # type: ignore[arg-type]
    )
    assert arrays["error"].isna().all() and event["error"].isna().all()
    out = []
    for s in strategies:
        a = arrays[arrays["strategy"] == s].set_index("deploy").sort_index()
        e = event[event["strategy"] == s].set_index("deploy").sort_index()
        for m in METRICS:
            x, y = a[m].astype(float).to_numpy(), e[m].astype(float).to_numpy()
            both = np.isfinite(x) & np.isfinite(y)
            d = x[both] - y[both]
            sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
            mean = float(d.mean()) if len(d) else 0.0
            # Equal rows give t = 0; a shift with no spread at all is a difference beyond any error.
            if sd == 0.0:
                t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
            else:
                t = mean / (sd / math.sqrt(len(d)))
            out.append({"scenario": name, "strategy": s, "metric": m, "n": len(d), "t": t})
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def checks() -> pd.DataFrame:
    return pd.concat([_paired(name) for name in shipped_scenarios()], ignore_index=True)


def test_the_array_engine_agrees_with_the_event_engine_scenario_by_scenario(checks: pd.DataFrame) -> None:
    judged = checks[checks["n"] >= 10]  # fewer pairs: too few to tell
    p = 2 * stats.t.sf(judged["t"].abs(), judged["n"] - 1)
    worst = judged.iloc[int(np.argmin(p))]
    assert p.min() >= 0.01 / len(judged), (float(p.min()), 0.01 / len(judged), worst.to_dict())
    # The check has something to compare: in every scenario some rows come from arrays and differ
    # from the event engine's (where both engines run a deploy alike, its rows are equal).
    differs = checks.assign(moved=checks["t"] != 0).groupby("scenario")["moved"].sum()
    assert (differs >= 2).all(), differs.to_dict()
