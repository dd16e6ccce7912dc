"""Shared helpers: small scenarios built by patching the defaults."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import sim


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("_replace"):
            out[key] = merge(out[key], value)
        else:
            plain = isinstance(value, dict)
            out[key] = {k: v for k, v in value.items() if k != "_replace"} if plain else value
    return out


def scenario(patch: dict[str, Any] | None = None) -> sim.Scenario:
    """The default scenario with a patch applied (nested dicts merge; `_replace: true` replaces)."""
    return sim.load_scenario(merge(sim.Scenario().to_dict(), patch or {}))


QUIET = {
    # No noise, no surges, no daily swing: the cleanest world to check mechanics in.
    "noise": {"episodes_per_hour": 0},
    "traffic": {"surges": {"per_day": 0}, "diurnal": {"amplitude": 0}},
}


@pytest.fixture
def quiet() -> sim.Scenario:
    return scenario(QUIET)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/*.json from the current code (review the diff before committing)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
