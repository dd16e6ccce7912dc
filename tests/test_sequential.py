"""The always-valid sequential judge: its evidence, its false alarms over any number of looks, its
config, and what it does to the default scenario's progressive rollout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

import sim
from sim.config.judges import JudgeConfig, SequentialJudge
from sim.core import sequential
from sim.core.errors import ConfigError
from sim.results.summary import wilson
from sim.validation import checks_judges
from sim.validation.common import scenario

ALPHA = 0.05
# A family of one-sided checks on Monte Carlo shares below: each at 99.9%, so the family of the
# five statistical checks in this file errs with probability under 0.5% (Bonferroni).
LEVEL = 0.998


def test_evidence_is_the_mixture_of_the_likelihood_ratios_worked_by_hand():
    # Two windows: (canary requests, errors, baseline requests, errors).
    counts = np.array([[100, 3, 300, 2], [200, 5, 200, 1]], float)
    ratios = np.array([1.5, 4.0])

    def lr(theta: float, rows: np.ndarray) -> float:
        out = 1.0
        for n1, e1, n0, e0 in rows:
            pi0, pi1 = n1 / (n1 + n0), n1 * theta / (n1 * theta + n0)
            out *= (pi1 / pi0) ** e1 * ((1 - pi1) / (1 - pi0)) ** e0
        return out

    got = sequential.log_evidence(counts, ratios)
    for k in (1, 2):
        want = math.log(np.mean([lr(t, counts[:k]) for t in ratios]))
        assert got[k - 1] == pytest.approx(want, rel=1e-12)


def test_a_window_one_version_did_not_serve_carries_no_evidence():
    counts = np.array([[0, 0, 500, 9], [100, 4, 0, 0], [100, 4, 100, 1]], float)
    ratios = sequential.ratio_grid(1.25, 20.0)
    got = sequential.log_evidence(counts, ratios)
    assert got[0] == got[1] == 0.0
    assert got[2] == pytest.approx(float(sequential.log_evidence(counts[2:], ratios)[0]))


def _peeking(p0: float, p1: float, runs: int, windows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of `runs` good or bad canaries read after every window (100 requests a second,
    10 s windows, the canary's share stepping up from 5% to 50%): whether the sequential test ever
    fails it, and whether a one-sided z-test at α on the same accumulating data ever does."""
    rng = np.random.default_rng(seed)
    share = np.repeat([0.05, 0.1, 0.25, 0.5], windows // 4)
    requests = rng.poisson(1000, (runs, windows))
    n1 = rng.binomial(requests, share)
    n0 = requests - n1
    e1, e0 = rng.binomial(n1, p1), rng.binomial(n0, p0)
    ratios = sequential.ratio_grid(1.25, 20.0)
    seq = np.array(
        [
            (
                sequential.log_evidence(np.stack([n1[r], e1[r], n0[r], e0[r]], 1), ratios) >= -math.log(ALPHA)
            ).any()
            for r in range(runs)
        ]
    )
    c1, x1, c0, x0 = (a.cumsum(1) for a in (n1, e1, n0, e0))
    pooled = (x1 + x0) / (c1 + c0)
    var = pooled * (1 - pooled) * (1 / np.maximum(c1, 1) + 1 / np.maximum(c0, 1))
    z = np.where(
        var > 0, (x1 / np.maximum(c1, 1) - x0 / np.maximum(c0, 1)) / np.sqrt(np.where(var > 0, var, 1)), 0
    )
    return seq, (z > ndtri(1 - ALPHA)).any(1)


def test_a_good_canary_read_after_every_window_is_failed_at_most_alpha_of_the_time():
    seq, z = _peeking(0.01, 0.01, runs=1500, windows=120, seed=7)
    lo, _ = wilson(int(seq.sum()), len(seq), LEVEL)
    assert lo <= ALPHA  # Ville's bound: a share significantly above α fails
    z_lo, _ = wilson(int(z.sum()), len(z), LEVEL)
    assert z_lo > 2 * ALPHA  # the fixed-horizon test read as often inflates (Armitage)


def test_a_canary_failing_twice_as_often_is_caught():
    seq, _ = _peeking(0.01, 0.02, runs=300, windows=120, seed=8)
    _, hi = wilson(int(seq.sum()), len(seq), LEVEL)
    lo, _ = wilson(int(seq.sum()), len(seq), LEVEL)
    assert lo >= 0.9, (seq.mean(), hi)  # 120 windows hold ~1,200 canary errors' worth of evidence


def test_sequential_judge_is_registered_and_validated():
    assert JudgeConfig.kinds["sequential"] is SequentialJudge
    scn = scenario({"judges": {"s": {"kind": "sequential", "alpha": 0.01, "min_ratio": 1.5}}})
    assert isinstance(scn.judges["s"], SequentialJudge)
    with pytest.raises(ConfigError, match=r"judges\.s\.watch\[0\]: 'p99' is not one of: error_rate, latency"):
        scenario({"judges": {"s": {"kind": "sequential", "watch": ["p99"]}}})
    with pytest.raises(ConfigError, match=r"judges\.s\.watch: a sequential judge tests counts"):
        scenario({"judges": {"s": {"kind": "sequential", "watch": ["latency", "latency"]}}})
    with pytest.raises(ConfigError, match=r"judges\.s\.latency_threshold_ms: only the latency half reads it"):
        scenario({"judges": {"s": {"kind": "sequential", "latency_threshold_ms": 300}}})
    both = scenario({"judges": {"s": {"kind": "sequential", "watch": ["error_rate", "latency"]}}})
    assert both.judges["s"].watch == ("error_rate", "latency")
    with pytest.raises(ConfigError, match=r"judges\.s\.lookback_s: a sequential judge reads everything"):
        scenario({"judges": {"s": {"kind": "sequential", "lookback_s": 300}}})
    with pytest.raises(ConfigError, match=r"judges\.s\.max_ratio: 1\.1 is below min_ratio 2"):
        scenario({"judges": {"s": {"kind": "sequential", "min_ratio": 2, "max_ratio": 1.1}}})


def _with_judge(judge: str) -> sim.Scenario:
    base = sim.load_scenario("default")
    return sim.load_scenario(
        base, overrides=[f"judges.j={judge}", "strategies.progressive.analyses[0].judge=j"]
    )


@pytest.fixture(scope="module")
def default_rows() -> dict[str, object]:
    out = {}
    for name, judge in (
        ("z", "{kind: two_proportion, alpha: 0.05}"),
        ("seq", "{kind: sequential, alpha: 0.05}"),
    ):
        out[name] = sim.run_batch(_with_judge(judge), deploys=300, seed=5, strategies=["progressive"], jobs=1)
    return out


def test_on_the_default_rollout_peeking_every_minute_is_safe_only_for_the_sequential_judge(default_rows):
    """The default's progressive rollout looks every minute for three hours: a z-test at 5% a look
    rolls back nearly every good release, the sequential judge at 5% a rollout at most 5%."""
    shares = {}
    for name, rows in default_rows.items():
        good = rows[~rows.release_bad]
        shares[name] = wilson(int(good.false_rollback.sum()), len(good), LEVEL)
    assert shares["seq"][0] <= ALPHA
    assert shares["z"][0] > 0.5


def test_on_the_default_rollout_the_sequential_judge_stops_error_faults_at_its_first_looks(default_rows):
    rows = default_rows["seq"]
    errors = rows[rows.release_bad & rows.fault_kind.isin(["error_rate", "crash", "segment_bug"])]
    assert len(errors) >= 20
    assert (errors.detected_by == "analysis").all()
    # The analysis first looks a minute after the canary starts; most error faults fall at once.
    assert float(errors.time_to_detect_s.median()) <= 120.0


def test_the_validation_check_of_sequential_looks_runs_and_holds():
    record = checks_judges.check_sequential_looks(20, deploys=60, level=LEVEL)
    assert record.passed and record.simulated <= record.ci_hi
    assert "fails" in record.note
