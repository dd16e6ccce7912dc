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


def _recorded(tmp: Path, rng_seed: int, canary_slow: float, canary_err: float) -> list[Path]:
    """An hour at a 60 s step of both versions as Prometheus counters: 6000 requests a step each,
    errors at 0.5% (the canary's at `canary_err`), lognormal latency (p50 50 ms, p99 ≈ 200 ms;
    the canary's scaled by `canary_slow`) in buckets 1.25× apart."""
    import numpy as np

    from sim.calibrate.export import COUNTER_START, T0, default_les, export_series

    rng = np.random.default_rng(rng_seed)
    n, per = 60, 6000
    les = default_les()
    sigma = np.log(200 / 50) / 2.326
    out = []
    req = np.full((n, 2), per, float)
    err = np.stack([rng.binomial(per, 0.005, n), rng.binomial(per, canary_err, n)], axis=1).astype(float)
    buckets = np.zeros((n, 2, len(les)))
    for side, scale in ((0, 1.0), (1, canary_slow)):
        lat = 0.050 * scale * np.exp(sigma * rng.standard_normal((n, per)))
        buckets[:, side] = (lat[:, :, None] <= les[None, None, :]).sum(axis=1)
    ts = T0 + 60.0 * np.arange(n + 1)
    labels = [{"version": "stable"}, {"version": "canary"}]

    def counter(x: np.ndarray) -> np.ndarray:
        return COUNTER_START + np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)])

    docs = {
        "http_requests_total": export_series("http_requests_total", labels, ts, counter(req)),
        "http_errors_total": export_series("http_errors_total", labels, ts, counter(err)),
    }
    b = counter(buckets).reshape(n + 1, -1)  # (version, le) pairs, version-major
    le_labels = [{**lab, "le": "+Inf" if np.isinf(le) else repr(float(le))} for lab in labels for le in les]
    docs["http_request_duration_seconds_bucket"] = export_series(
        "http_request_duration_seconds_bucket", le_labels, ts, b
    )
    for name, doc in docs.items():
        (tmp / f"{name}.json").write_text(json.dumps(doc))
        out.append(tmp / f"{name}.json")
    return out


def _verdicts(files: list[Path], *args: str) -> tuple[list[dict[str, Any]], str]:
    r = _judge(files, *args, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return rows[:-1], rows[-1]["outcome"]


# Margins: a step's p99 of 6000 lognormal draws has a relative sd of about 3% (the order
# statistic's, σ·√(q(1−q)/n)/φ(z_q) ≈ 0.6·0.0013/0.027), a look's of 6000–12000 less; the baseline
# judge's limit is 1.5× and the slow canary is 2×: each side of the limit is over 10 sd away.
JUDGES_ALL = ("fixed", "baseline", "mann_whitney", "kayenta", "two_proportion", "sequential")
_ONE_STEP = ("--count", "10", "--initial-delay", "60")
#: Mann-Whitney compares per-step values: a lookback of 5 steps (its min_windows is 3).
_RUN = {j: _ONE_STEP for j in JUDGES_ALL} | {
    "mann_whitney": ("--count", "5", "--interval", "300", "--initial-delay", "300"),
    "kayenta": ("--count", "5", "--interval", "600", "--initial-delay", "600"),  # ten 60 s points a look
}
#: The two-proportion test fails a look of a good canary with its α (z > 1.645: 5%): of 10 looks,
#: at most 3 by the binomial's 99.8% quantile, so a failure limit of 3 must let the run succeed.
_FALSE_FAILS = {"two_proportion": ("--failure-limit", "3")}


@pytest.mark.parametrize("judge", JUDGES_ALL)
def test_every_judge_passes_a_recorded_good_canary(tmp_path: Path, judge: str) -> None:
    files = _recorded(tmp_path, 5, 1.0, 0.005)
    # The first look is an interval in (a look at the data's start would read nothing before it).
    looks, outcome = _verdicts(files, "--judge", judge, *_RUN[judge], *_FALSE_FAILS.get(judge, ()))
    assert outcome == "successful" and len(looks) == int(_RUN[judge][1])
    if judge not in _FALSE_FAILS:
        assert {o["verdict"] for o in looks} == {"pass"}


@pytest.mark.parametrize(
    ("judge", "slow", "err"),
    [
        ("baseline", 2.0, 0.005),  # p99 2× the baseline's: over its 1.5× limit
        ("fixed", 3.0, 0.005),  # p99 ≈ 600 ms: over 500 ms
        ("mann_whitney", 2.0, 0.005),
        ("kayenta", 2.0, 0.005),
        ("two_proportion", 1.0, 0.02),
        ("sequential", 1.0, 0.02),
    ],
)
def test_every_judge_fails_a_recorded_bad_canary(tmp_path: Path, judge: str, slow: float, err: float) -> None:
    files = _recorded(tmp_path, 6, slow, err)
    looks, outcome = _verdicts(files, "--judge", judge, *_RUN[judge])
    assert outcome == "failed" and looks[-1]["verdict"] == "fail"


def test_a_looks_p99_is_histogram_quantile_of_the_summed_buckets(tmp_path: Path) -> None:
    import numpy as np

    from sim.calibrate.histogram import bucket_quantile

    files = _recorded(tmp_path, 7, 2.0, 0.005)
    looks, _ = _verdicts(
        files, "--judge", "fixed", "--count", "6", "--failure-limit", "6", "--inconclusive-limit", "1"
    )
    doc = json.loads((tmp_path / "http_request_duration_seconds_bucket.json").read_text())
    canary = [r for r in doc["data"]["result"] if r["metric"]["version"] == "canary"]
    les = np.array([float(r["metric"]["le"]) for r in canary])
    # The look at 120 s reads the step ending at 120 s less the one ending at 60 s.
    cum = np.array([float(r["values"][2][1]) - float(r["values"][1][1]) for r in canary])
    assert looks[2]["t"] == 120.0
    assert looks[2]["values"]["p99"][0] == pytest.approx(bucket_quantile(0.99, les, cum) * 1000, rel=1e-12)


def test_a_summary_quantile_and_a_csv_are_read_per_version(tmp_path: Path) -> None:
    # A wide CSV with per-version columns, latency as a summary's p99 (seconds): the canary's is 2×.
    import csv

    head = ["timestamp"]
    for name in ("http_requests_total", "http_errors_total"):
        head += [f'{name}{{version="stable"}}', f'{name}{{version="canary"}}']
    head += [f'http_request_duration_seconds{{version="{v}",quantile="0.99"}}' for v in ("stable", "canary")]
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        for i in range(12):
            w.writerow([1767571200 + 60 * i, 1000 * i, 1000 * i, 5 * i, 5 * i, 0.2, 0.4])
    looks, outcome = _verdicts([path], "--judge", "baseline", "--initial-delay", "60", "--count", "3")
    assert outcome == "failed" and looks[0]["values"]["p99"] == [pytest.approx(400.0), pytest.approx(300.0)]
    assert looks[0]["canary"] == {"requests": 1000, "errors": 5}


def test_a_run_the_data_ends_before_is_undecided(tmp_path: Path) -> None:
    files = _recorded(tmp_path, 8, 1.0, 0.005)
    looks, outcome = _verdicts(files, "--judge", "fixed", "--initial-delay", "60")
    assert outcome == "undecided" and len(looks) == 60 and looks[-1]["t"] == 3600.0


def test_a_missing_error_series_is_noted(tmp_path: Path) -> None:
    files = [f for f in _recorded(tmp_path, 10, 1.0, 0.005) if "errors" not in f.name]
    r = _judge(files, "--judge", "fixed", "--initial-delay", "60", "--count", "2")
    assert r.returncode == 0 and "no errors series of the canary" in r.stderr
