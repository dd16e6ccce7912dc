"""`deploysim judge`: a deploy simulated by the engine, its per-version monitoring exported as
query_range JSON, and the same judge and analysis run replayed over it give the engine's own looks.

The counts a look reads are exactly the engine's (one exported sample per engine window), so error
judges must agree look by look — statuses, the values read and the outcome — with no tolerance.
Percentiles are not compared: the engine draws them per look, the replay reads them off a histogram.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.calibrate.export import write_versions
from tests.conftest import QUIET, scenario

ROOT = Path(__file__).resolve().parent.parent
ERRORS = {"_replace": True, "error_rate": {"weight": 1, "severity": 0.03, "smoke_catch": 0}}


def _scn(bad: float, **analysis: Any) -> sim.Scenario:
    run = {
        "judge": "baseline",
        "interval_s": 60.0,
        "initial_delay_s": 60.0,
        "inconclusive_limit": 50,
        **analysis,
    }
    return scenario(
        {
            **QUIET,
            "releases": {"bad_probability": bad, "faults": ERRORS},
            "judges": {"baseline": {"watch": ["error_rate"]}},
            "strategies": {"progressive": {"analyses": [run]}},
        }
    )


def _engine_looks(s: Any) -> tuple[float, list[tuple[float, str]], str | None]:
    """The run's start (its first look less the initial delay), its looks (time, status) and
    outcome, from the deploy's log."""
    ev = s.deploy.events
    looks = [(t, d.split(": ")[1]) for t, kind, d in ev if kind == "measurement"]
    outcome = next((d.split(": ")[1] for _, kind, d in ev if kind == "analysis"), None)
    return looks[0][0] - 60.0, looks, outcome


def _judge(files: list[Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", "judge", *map(str, files), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def _replay(tmp: Path, scn: sim.Scenario, deploy: int, *extra: str) -> tuple[Any, list[dict[str, Any]]]:
    s = sim.run_deploy(scn, "progressive", deploy=deploy)
    start, looks, _ = _engine_looks(s)
    (tmp / "scn.yaml").write_text(scn.to_yaml())
    files = write_versions(s, tmp)
    count = ["--count", str(len(looks))] if not any(a == "--count" for a in extra) else []
    r = _judge(
        files,
        "--judge",
        "baseline",
        "--scenario",
        str(tmp / "scn.yaml"),
        "--start",
        str(start),
        "--json",
        *count,
        *extra,
    )
    assert r.returncode == 0, r.stderr
    return s, [json.loads(line) for line in r.stdout.splitlines()]


def test_a_bad_release_is_failed_look_by_look_as_the_engine_did(tmp_path: Path) -> None:
    scn = _scn(1.0, failure_limit=2)
    s, out = _replay(tmp_path, scn, 0)
    _, looks, outcome = _engine_looks(s)
    assert outcome == "failed" and sum(st == "fail" for _, st in looks) == 3  # the limit let two through
    replayed = [(o["t"], o["verdict"]) for o in out[:-1]]
    assert replayed == looks
    assert out[-1] == {"outcome": "failed", "looks": len(looks)}
    # The values read are the engine's: the log shows the canary's error rate and its limit.
    logged = [d for _, kind, d in s.deploy.events if kind == "measurement"]
    for o, line in zip(out[:-1], logged, strict=True):
        if o["values"]:
            v, lim = o["values"]["error_rate"]
            assert f"error_rate={v:.4g} (limit {lim:.4g})" in line


def test_the_failure_limit_changes_the_outcome_as_in_the_engine(tmp_path: Path) -> None:
    # The same recorded data replayed with no failures tolerated fails at the first failed look.
    scn = _scn(1.0, failure_limit=2)
    _, out = _replay(tmp_path, scn, 0, "--failure-limit", "0", "--count", "20")
    first_fail = next(i for i, o in enumerate(out[:-1]) if o["verdict"] == "fail")
    assert out[-1] == {"outcome": "failed", "looks": first_fail + 1}
    # ... as the engine's own run with that limit did, over the same traffic.
    s0 = sim.run_deploy(_scn(1.0, failure_limit=0), "progressive", deploy=0)
    _, looks0, outcome0 = _engine_looks(s0)
    assert outcome0 == "failed" and [st for _, st in looks0] == [o["verdict"] for o in out[:-1]]


def test_consecutive_successes_end_a_good_releases_run_as_in_the_engine(tmp_path: Path) -> None:
    scn = _scn(0.0, count=6, consecutive_success_limit=3)
    s, out = _replay(tmp_path, scn, 1)
    _, looks, outcome = _engine_looks(s)
    # The first look reads the interval before the canary's first weight: too few requests.
    assert outcome == "successful" and [st for _, st in looks] == ["inconclusive", "pass", "pass", "pass"]
    assert [o["verdict"] for o in out[:-1]] == [st for _, st in looks]
    assert out[-1] == {"outcome": "successful", "looks": 4}


def test_a_good_release_passes_every_look_the_engine_took(tmp_path: Path) -> None:
    scn = _scn(0.0)
    s, out = _replay(tmp_path, scn, 2)
    _, looks, _ = _engine_looks(s)
    assert len(looks) >= 10 and [o["verdict"] for o in out[:-1]] == [st for _, st in looks]
    assert {o["verdict"] for o in out[:-1]} <= {"pass", "inconclusive"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--judge", "nope"], "--judge"),
        (["--judge", "slo"], "not one that gates"),
        (["--judge", "baseline", "--canary-label", "version"], "--canary-label"),
        (["--judge", "baseline", "--canary-label", "track=canary"], "no requests series of the canary"),
        (["--judge", "baseline", "--failure-limit", "-1"], "consecutive_success_limit"),
        (["--judge", "baseline", "--start", "-5"], "--start"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    s = sim.run_deploy(_scn(0.0), "progressive", deploy=2)
    files = write_versions(s, tmp_path)
    r = _judge(files, *args)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and says in r.stderr


def test_garbled_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "http_requests_total.json"
    bad.write_text('{"status":"success","data":{"resultType":"matrix","result":[]}}')
    r = _judge([bad], "--judge", "baseline")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
