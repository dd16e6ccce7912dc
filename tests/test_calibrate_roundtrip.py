"""The round trip: a scenario's traffic and monitoring, simulated with the engine's own draws and written as
Prometheus query_range JSON, calibrate back to the scenario's values within their stated uncertainty.

One test per fitted value and scenario. Tolerances: a value with a standard error must lie within
z·SE of the truth, z the two-sided normal quantile at 99.8% Bonferroni-corrected over the family of
all such checks in this file (2 scenarios × 10 statistical values: z ≈ 3.89). Latency quantiles are
stated as the histogram bucket they fall in (histogram_quantile's interpolation error dominates any
sampling error): the true p50/p99 must lie in it. Each fixed seed makes every check deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

import sim
import sim.cli
from sim.calibrate import Fit, fit_all, monitor, read_files, write_monitored

STATISTICAL = (
    "traffic.rate_rps",
    "traffic.diurnal.amplitude",
    "traffic.diurnal.peak_hour",
    "traffic.surges.per_day",
    "traffic.surges.factor",
    "traffic.surges.duration_s",
    "fleet.error_rate",
    "noise.episodes_per_hour",
    "noise.latency_factor",
    "noise.duration_s",
)
SCENARIOS = {
    "default": [],
    "small-busy-noisy": [
        "traffic.rate_rps=80",
        "traffic.diurnal.amplitude=0.3",
        "traffic.diurnal.peak_hour=20.5",
        "traffic.surges.per_day=3",
        "traffic.surges.factor=[1.5, 2.5]",
        "traffic.surges.duration_s=[600, 2400]",
        "fleet.error_rate=0.003",
        "fleet.replicas=4",
        "fleet.latency.p50_ms=120",
        "fleet.latency.p99_ms=900",
        "noise.episodes_per_hour=0.5",
        "noise.latency_factor=[2, 5]",
        "noise.duration_s=[180, 600]",
    ],
}
FAMILY = len(SCENARIOS) * len(STATISTICAL)
Z = float(norm.ppf(1 - 0.002 / (2 * FAMILY)))
DAYS, STEP, SEED = 7, 60.0, 20261207


@pytest.fixture(scope="module", params=list(SCENARIOS))
def calibrated(request, tmp_path_factory):
    scn = sim.load_scenario("default", overrides=SCENARIOS[request.param])
    folder = tmp_path_factory.mktemp(request.param)
    m = monitor(scn, DAYS, STEP, np.random.default_rng(SEED))
    paths = [str(p) for p in write_monitored(m, Path(folder))]
    results, _ = fit_all(read_files(paths).series, sim.load_scenario("default"))
    return scn, {r.key: r for r in results if isinstance(r, Fit)}, m


def _truth(scn: sim.Scenario, key: str) -> float:
    value = scn
    for part in key.split("."):
        value = getattr(value, part)
    if hasattr(value, "bounds"):
        lo, hi = value.bounds()
        return (lo + hi) / 2  # the uniform's mean: what a range's fit states an SE for
    return float(value)


@pytest.mark.parametrize("key", STATISTICAL)
def test_each_fitted_value_is_the_scenarios_within_its_stated_uncertainty(calibrated, key):
    scn, fits, _ = calibrated
    fit = fits[key]
    truth = _truth(scn, key)
    assert abs(fit.centre - truth) <= Z * fit.se, (
        f"{key}: fitted {fit.centre:.5g} ± {fit.se:.3g}, truth {truth:.5g}"
    )


@pytest.mark.parametrize("key", ["fleet.latency.p50_ms", "fleet.latency.p99_ms"])
def test_latency_quantiles_lie_in_the_bucket_the_fit_states(calibrated, key):
    scn, fits, _ = calibrated
    fit = fits[key]
    truth = _truth(scn, key)
    # se is half the bucket's width and the value lies inside it: the bucket spans value ± 2·se at most.
    lo, hi = (float(x) for x in fit.method.split("bucket (")[1].split("]")[0].split(","))
    assert lo < truth <= hi, f"{key}: true {truth} outside the stated bucket ({lo}, {hi}]"
    assert lo < fit.centre <= hi


def test_the_fleet_size_is_the_replica_count(calibrated):
    scn, fits, _ = calibrated
    assert fits["fleet.replicas"].value == scn.fleet.replicas


def test_every_surge_and_episode_that_happened_is_found(calibrated):
    """Counts against what was drawn (not only the rate's distribution): nothing missed, nothing invented."""
    _, fits, m = calibrated
    span = DAYS * 86400.0
    surges = [s for s in m.surges if s[0] < span and s[1] > 0]
    assert round(fits["traffic.surges.per_day"].centre * DAYS) == pytest.approx(len(surges), abs=1)
    episodes = [e for e in m.episodes if e.start < span]
    assert round(fits["noise.episodes_per_hour"].centre * DAYS * 24) == pytest.approx(len(episodes), abs=1)


def test_the_written_scenario_loads_with_the_fitted_values(calibrated, tmp_path):
    scn, fits, m = calibrated
    paths = [str(p) for p in write_monitored(m, tmp_path)]
    out = tmp_path / "calibrated.yaml"
    assert sim.cli.main(["calibrate", *paths, "-o", str(out)]) == 0
    back = sim.load_scenario(out)
    assert back.traffic.rate_rps == pytest.approx(fits["traffic.rate_rps"].centre, rel=1e-5)
    assert back.fleet.replicas == scn.fleet.replicas
    text = out.read_text()
    assert "rate_rps:" in text and "SE ±" in text and "http_requests_total" in text


def test_episode_lengths_are_measured_to_a_fraction_of_a_step(calibrated):
    """Against the episodes drawn: their mean length (clipped to the data), to a quarter of a step. Counting
    a run's whole steps would err by up to a step at each edge; the fit reads how many of an edge step's
    requests the episode slowed."""
    _, fits, m = calibrated
    span = DAYS * 86400.0
    drawn = [min(e.end, span) - max(e.start, 0.0) for e in m.episodes if e.start < span]
    assert fits["noise.duration_s"].centre == pytest.approx(np.mean(drawn), abs=STEP / 4)
