"""Shared set-up of the validation checks: scenarios patched from the defaults, runs of one strategy, and
batches of rows simulated in this process."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd

from ..config.scenario import Scenario, load_scenario
from ..engine.exogenous import draw_exogenous
from ..engine.rows import simulate_deploys
from ..engine.simulate import Simulation, simulate
from ..results.frame import to_frame

#: A world with nothing but the mechanism under test: no noisy neighbours, no surges, a flat day.
QUIET: dict[str, Any] = {
    "noise": {"episodes_per_hour": 0},
    "traffic": {"surges": {"per_day": 0}, "diurnal": {"amplitude": 0}},
}


#: The watch alone: no users' reports, no tickets, no follow-up past the horizon. For checks of one
#: mechanism's own timing or power, undisturbed by the slow channels that catch what it misses.
WATCH_ONLY: dict[str, Any] = {
    "reports": {"per_harmed_user": 0},
    "judges": {"slo": {"tickets": []}},
    "run": {"follow_s": 0},
}


def error_fault(severity: float) -> dict[str, Any]:
    """Every release bad, with an error-rate fault of exactly this added failure probability."""
    return {
        "bad_probability": 1.0,
        "faults": {
            "_replace": True,
            "error_rate": {"weight": 1, "severity": severity, "onset_s": 0, "smoke_catch": 0},
        },
    }


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts merge key by key; a dict with `_replace: true` replaces instead."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("_replace"):
            out[key] = merge(out[key], value)
        else:
            out[key] = (
                {k: v for k, v in value.items() if k != "_replace"} if isinstance(value, dict) else value
            )
    return out


def scenario(*patches: dict[str, Any], base: Scenario | None = None) -> Scenario:
    """The default scenario (or `base`) with the patches applied in order."""
    data = (base or load_scenario("default")).to_dict()
    for patch in patches:
        data = merge(data, patch)
    return load_scenario(data)


def runs(scn: Scenario, strategy: str, deploys: int, seed: int, record: bool = False) -> Iterator[Simulation]:
    """Deploys 0..deploys-1 of one strategy, each from its own seeded streams."""
    for i in range(deploys):
        yield simulate(scn, strategy, draw_exogenous(scn, seed, i), seed, i, record=record)


def batch(scn: Scenario, deploys: int, seed: int, strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows `sim.run_batch` gives for deploys 0..deploys-1 (each deploy's rows depend only on
    the seed and its number), simulated in this process: the checks start no workers."""
    names = list(strategies) if strategies else list(scn.strategies)
    return to_frame(simulate_deploys(scn, names, seed, 0, deploys))


def user_rate(scn: Scenario) -> float:
    """User requests per second in a flat-day world without surges."""
    return scn.traffic.rate_rps * (1.0 - scn.traffic.synthetic_share)
