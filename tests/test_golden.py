"""Every shipped scenario, run short, summarises exactly as its stored golden file says.

The runs are deterministic given the seed, so the comparison is exact up to the last bits of a
float (rel 1e-9): that slack absorbs summation order in another numpy build, never a model change.
A deliberate change of results is recorded with `pytest tests/test_golden.py --update-golden`,
and the diff of tests/golden/ shows what moved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.results.report import summary_json

GOLDEN = Path(__file__).resolve().parent / "golden"
#: A short run: few deploys, one hour per deploy.
DEPLOYS = 24
OVERRIDES = ["run.horizon_s=3600"]


def golden_summary(name: str) -> dict[str, Any]:
    scn = sim.load_scenario(name, overrides=OVERRIDES)
    df = sim.run_batch(scn, deploys=DEPLOYS)
    assert df["error"].isna().all(), df["error"].dropna().unique()
    return summary_json(sim.summarize(df), scn.name, DEPLOYS, scn.run.seed)


def differences(want: Any, got: Any, path: str = "") -> Iterator[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if key not in want or key not in got:
                yield f"{path}.{key}: only in {'golden' if key in want else 'this run'}"
            else:
                yield from differences(want[key], got[key], f"{path}.{key}")
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            yield from differences(w, g, f"{path}[{i}]")
    elif isinstance(want, float) and isinstance(got, float):
        if not math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12):
            yield f"{path}: golden {want!r}, this run {got!r}"
    elif want != got:
        yield f"{path}: golden {want!r}, this run {got!r}"


@pytest.mark.parametrize("name", sim.shipped_scenarios())
def test_summary_matches_its_golden_file(name, update_golden):
    got = golden_summary(name)
    path = GOLDEN / f"{name}.json"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file for {name}: run pytest tests/test_golden.py --update-golden"
    want = json.loads(path.read_text(encoding="utf-8"))
    diff = list(differences(want, got))
    assert not diff, f"{name} no longer matches {path.name}:\n" + "\n".join(diff[:20])


def test_every_golden_file_belongs_to_a_shipped_scenario():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sim.shipped_scenarios()


def test_the_comparison_notices_a_change():
    want = {"a": {"mean": 1.0, "ci95": [0.5, None]}, "n": 3}
    assert not list(differences(want, json.loads(json.dumps(want))))
    assert list(differences(want, {"a": {"mean": 1.0 + 1e-6, "ci95": [0.5, None]}, "n": 3}))
    assert list(differences(want, {"a": {"mean": 1.0, "ci95": [0.5, 0.7]}, "n": 3}))
    assert list(differences(want, {"a": {"mean": 1.0}, "n": 3}))
