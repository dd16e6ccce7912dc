"""Shared helpers: small scenarios built by patching the defaults."""

from __future__ import annotations

from typing import Any

import pytest

import sim

# One deep-merge and one quiet world for the tests and the validation checks.
from sim.validation.common import QUIET, merge

__all__ = ["QUIET", "merge", "scenario"]


def scenario(patch: dict[str, Any] | None = None) -> sim.Scenario:
    """The default scenario with a patch applied (nested dicts merge; `_replace: true` replaces)."""
    return sim.load_scenario(merge(sim.Scenario().to_dict(), patch or {}))


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
