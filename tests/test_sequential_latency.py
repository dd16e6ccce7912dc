"""The sequential judge's latency half: requests slower than a threshold drawn per window and version
(only when a judge asks), the mSPRT on them, its false alarms over many looks and its detections
against the Mann-Whitney judge of per-window percentiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

from sim.config.fleet import PROFILE_BODY, PROFILE_NONE, PROFILE_SHIFT, PROFILE_TAIL, Latency
from sim.config.scenario import Scenario, load_scenario
from sim.core import sequential
from sim.core.schema import to_plain
from sim.engine import fleet
from sim.engine.fleet import quantile_ms, share_slower, share_slower_mixed
from sim.engine.telemetry import Telemetry
from sim.results.summary import wilson
from sim.validation import checks_judges
from sim.validation.common import runs, scenario

ALPHA = 0.05
LAT = Latency(40.0, 250.0)
# The statistical checks of this file form one family of eleven Monte Carlo checks (one of sampled
# quantiles, four of binomial sums, five of false-alarm or detection shares, the validation check),
# each at 99.9% (Wilson at LEVEL is one-sided 99.9%; Z is two-sided 99.9%), so the family errs with
# probability under 1.1% (Bonferroni).
LEVEL = 0.998
Z = float(ndtri(0.9995))


# ---- the exceedance probability of a window's pooled distribution ----


def test_exceedance_without_a_profile_is_the_lognormal_scaled_by_the_multiplier():
    for mult in (0.7, 1.0, 1.6):
        got = share_slower_mixed(LAT, 250.0, np.array([mult]), np.array([0.0]), PROFILE_NONE, 1.0)
        assert got[0] == pytest.approx(share_slower(LAT, 250.0 / mult), rel=1e-9)
    # At the fleet's own p99 and the reference load, 1% exactly.
    assert share_slower_mixed(LAT, 250.0, np.ones(1), np.zeros(1), PROFILE_NONE, 1.0)[0] == pytest.approx(
        0.01
    )


@pytest.mark.parametrize("kind", [PROFILE_SHIFT, PROFILE_TAIL, PROFILE_BODY])
def test_exceedance_under_a_fault_profile_is_the_profiled_distribution(kind):
    got = share_slower_mixed(LAT, 300.0, np.zeros(1), np.ones(1), kind, 1.5)
    assert got[0] == pytest.approx(share_slower(LAT, 300.0, kind, 1.5), rel=1e-6)


def test_exceedance_of_a_half_faulty_window_is_the_share_of_its_quantiles_above():
    # The quantile function telemetry pools: Q(p)·off + Q_fault(p)·on. Its share above a threshold,
    # by sampling p uniformly: a binomial share, held to a two-sided 99.9% normal interval.
    off, on, limit, n = 0.7, 0.5, 260.0, 400_000
    p = np.random.default_rng(3).random(n)
    x = quantile_ms(LAT, p) * off + quantile_ms(LAT, p, PROFILE_TAIL, 2.0) * on
    want = float(share_slower_mixed(LAT, limit, np.array([off]), np.array([on]), PROFILE_TAIL, 2.0)[0])
    assert abs(float((x > limit).mean()) - want) <= Z * math.sqrt(want * (1 - want) / n)
    # A different profile gives a clearly different share: the check would see the wrong one.
    other = float(share_slower_mixed(LAT, limit, np.array([off]), np.array([on]), PROFILE_SHIFT, 2.0)[0])
    assert abs(other - want) > 10 * Z * math.sqrt(want * (1 - want) / n)


# ---- the per-window draw ----


def _telemetry(windows: int, seed: int, kind: int = PROFILE_TAIL) -> Telemetry:
    """Telemetry with traffic laid in by hand: 2,000 user requests per version and window, the
    multiplier varying from window to window, the new version's fault profile on in the second half."""
    tel = Telemetry(windows, LAT, kind, 2.0, np.random.default_rng(seed))
    mult = np.linspace(0.8, 1.6, windows)
    tel.acc[:, :, tel.USER] = 2000.0
    tel.acc[:, :, tel.SYN] = 300.0  # synthetic requests: never in the latency SLI
    tel.acc[:, :, tel.LATW] = 2000.0 * mult[:, None]
    tel.acc[windows // 2 :, 1, tel.LATW_ON] = 2000.0 * mult[windows // 2 :]
    return tel


def test_slow_counts_match_each_windows_exceedance_probability():
    tel = _telemetry(400, seed=11)
    got = tel.slow_counts(0, 400, 250.0)
    assert (got[:, 0] == 2000).all() and (got[:, 2] == 2000).all()  # user requests only
    mult = np.linspace(0.8, 1.6, 400)
    half = np.arange(400) >= 200
    p_stable = share_slower_mixed(LAT, 250.0, mult, np.zeros(400), PROFILE_TAIL, 2.0)
    p_new = share_slower_mixed(
        LAT, 250.0, np.where(half, 0.0, mult), np.where(half, mult, 0.0), PROFILE_TAIL, 2.0
    )
    for slow, p, sel in (
        (got[:, 3], p_stable, ~half),
        (got[:, 3], p_stable, half),
        (got[:, 1], p_new, ~half),
        (got[:, 1], p_new, half),
    ):
        # A sum of independent binomials: mean Σnp, variance Σnp(1 − p); two-sided 99.9%.
        mean, var = float((2000 * p[sel]).sum()), float((2000 * p[sel] * (1 - p[sel])).sum())
        assert abs(float(slow[sel].sum()) - mean) <= Z * math.sqrt(var), (slow[sel].sum(), mean)
    # The fault's profile reached the draw: the new version's faulty half is slower than the
    # stable's by far more than the binomials' noise.
    new, stable = float(got[half, 1].sum()), float(got[half, 3].sum())
    assert new - stable > 10 * math.sqrt(new + stable)


def test_slow_counts_are_drawn_once_per_window_in_window_order_and_only_when_asked():
    tel = _telemetry(60, seed=5)
    before = tel.rng.bit_generator.state
    tel.counts(0, 60)  # the error half's read draws nothing
    tel.stats(0, 60, ())
    assert tel.rng.bit_generator.state == before
    first = tel.slow_counts(0, 20, 250.0)
    again = tel.slow_counts(0, 20, 250.0)
    assert np.array_equal(first, again)
    after = tel.rng.bit_generator.state
    tel.slow_counts(5, 20, 250.0)  # windows already drawn: no draw
    assert tel.rng.bit_generator.state == after
    whole = tel.slow_counts(0, 60, 250.0)
    # Read in two stretches or at once, a window's count is the same: draws go in window order.
    at_once = _telemetry(60, seed=5).slow_counts(0, 60, 250.0)
    assert np.array_equal(whole, at_once)
    assert np.array_equal(whole[:20], first)
    # Windows served again after a rewind are drawn again; earlier ones are kept.
    tel.clear_from(40)
    tel.acc[40:] = _telemetry(60, seed=5).acc[40:]
    redrawn = tel.slow_counts(0, 60, 250.0)
    assert np.array_equal(redrawn[:40], whole[:40])
    assert not np.array_equal(redrawn[40:, 1], whole[40:, 1])


def _default_with(judge: dict) -> Scenario:
    plain = to_plain(load_scenario("default"))
    plain["judges"]["j"] = judge
    plain["strategies"]["progressive"]["analyses"][0]["judge"] = "j"
    return scenario(plain)


def test_a_run_whose_judges_never_ask_draws_no_slow_counts(monkeypatch):
    asked = []
    monkeypatch.setattr(Telemetry, "slow_counts", lambda self, *a: asked.append(a))
    scn = _default_with({"kind": "sequential"})
    rows = [run.row for run in runs(scn, "progressive", 3, 5)]
    assert len(rows) == 3 and asked == []


# ---- through the engine: false alarms over many looks, detections ----


def _ab(judge: dict, looks: int, rate: float = 1000.0, weight: int = 50, slower: float | None = None):
    analysis = {"judge": "ztest", "interval_s": 60.0, "initial_delay_s": 60.0, "count": looks}
    scn = checks_judges._ab_scenario(
        checks_judges.P0, rate, [{"weight": weight}, {"analysis": analysis}], judge=judge
    )
    if slower is None:
        return scn
    fault = {"weight": 1, "severity": slower, "onset_s": 0, "smoke_catch": 0}
    release = {"bad_probability": 1.0, "faults": {"_replace": True, "latency_shift": fault}}
    return scenario(to_plain(scn), {"releases": release})


def _detections(scn, deploys: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows = [run.row for run in runs(scn, "progressive", deploys, seed)]
    return np.array([bool(r["detected"]) for r in rows]), np.array(
        [r["time_to_detect_s"] for r in rows], float
    )


SEQ_LATENCY = {"kind": "sequential", "alpha": ALPHA, "watch": ["latency"]}
SEQ_BOTH = {"kind": "sequential", "alpha": ALPHA, "watch": ["error_rate", "latency"]}
# The fixed-horizon percentile test: Mann-Whitney on the per-window p99s, its interval's upper side
# erring with α, no effect size asked, read on every window so far at every look.
PEEKED_P99 = {
    "kind": "mann_whitney",
    "watch": ["p99"],
    "confidence": 1 - 2 * ALPHA,
    "allowed_ratio": 1.0,
    "tolerance": 0.0,
    "lookback_s": 7 * 86400.0,
}


# A single rate ratio close to 1: the SPRT whose crossings come nearest Ville's bound (about α here,
# where the default mixture from 1.25 stays far below it), so a test of the bound that can fail.
SEQ_TIGHT = {**SEQ_LATENCY, "min_ratio": 1.05, "max_ratio": 1.05}


@pytest.fixture(scope="module")
def good_releases() -> dict[str, np.ndarray]:
    judges = {"latency": SEQ_LATENCY, "tight": SEQ_TIGHT, "both": SEQ_BOTH, "p99": PEEKED_P99}
    return {
        name: _detections(_ab(judge, looks=30), deploys=300, seed=901)[0] for name, judge in judges.items()
    }


def test_a_good_release_peeked_at_30_times_is_failed_at_most_alpha_of_the_time(good_releases):
    # Mutation-checked: with the threshold halved (Λ ≥ 1/√α) the tight SPRT fails 15% and this fails.
    for name in ("latency", "tight", "both"):
        hits = good_releases[name]
        lo, _ = wilson(int(hits.sum()), len(hits), LEVEL)
        assert lo <= ALPHA, (name, hits.mean())  # Ville's bound: a share significantly above α fails
    # The percentile test read as often fails far more than α of the same good releases.
    lo, _ = wilson(int(good_releases["p99"].sum()), len(good_releases["p99"]), LEVEL)
    assert lo > 4 * ALPHA, good_releases["p99"].mean()


def test_a_release_half_as_slow_again_is_caught_where_per_window_percentiles_cannot_judge():
    # 100 requests a second, the canary at 10%: 100 requests a window, a p99 of them is noise
    # (`min_tail_samples`), while slow requests add up window after window.
    seq, seq_t = _detections(_ab(SEQ_LATENCY, 30, rate=100.0, weight=10, slower=1.5), 100, seed=902)
    mw, _ = _detections(_ab({"kind": "mann_whitney", "watch": ["p99"]}, 30, 100.0, 10, 1.5), 100, 902)
    lo, _ = wilson(int(seq.sum()), len(seq), LEVEL)
    assert lo >= 0.9, seq.mean()
    assert float(np.median(seq_t[seq])) <= 180.0  # within its first three looks
    assert mw.sum() == 0  # every look inconclusive: the judge never fails it


def test_a_slower_release_is_caught_as_fast_as_mann_whitney_where_both_can_judge():
    seq, seq_t = _detections(_ab(SEQ_LATENCY, 30, rate=300.0, weight=50, slower=1.2), 60, seed=903)
    mw, mw_t = _detections(_ab({"kind": "mann_whitney", "watch": ["p99"]}, 30, 300.0, 50, 1.2), 60, 903)
    assert seq.all() and mw.all()
    assert float(np.mean(seq_t)) <= float(np.mean(mw_t))


def test_the_validation_check_of_latency_looks_runs_and_holds():
    record = checks_judges.check_sequential_latency_looks(20, deploys=60, level=LEVEL)
    assert record.passed and record.simulated <= record.ci_hi
    assert "Mann-Whitney" in record.note


def test_without_the_multiplier_a_queueing_canary_would_pass(monkeypatch):
    """The mechanism, broken: slow counts drawn at the reference load whatever the window's
    multiplier. A canary on too few replicas queues (its p99 grows) and the judge must see it."""
    original = fleet.share_slower_mixed

    def at_reference_load(lat, limit, off, on, kind, severity):
        return original(lat, limit, np.ones_like(off), np.zeros_like(on), kind, severity)

    tel = _telemetry(40, seed=8, kind=PROFILE_NONE)
    tel.acc[:, 1, tel.LATW] *= 1.5  # the canary's requests queue: half as slow again
    counts = tel.slow_counts(0, 40, 250.0)
    ratios = sequential.ratio_grid(1.25, 20.0)
    assert sequential.log_evidence(counts, ratios)[-1] >= sequential.threshold(ALPHA)
    monkeypatch.setattr("sim.engine.telemetry.share_slower_mixed", at_reference_load)
    broken = _telemetry(40, seed=8, kind=PROFILE_NONE)
    broken.acc[:, 1, broken.LATW] *= 1.5
    assert sequential.log_evidence(broken.slow_counts(0, 40, 250.0), ratios)[-1] < sequential.threshold(ALPHA)
