"""Monitoring reads: percentiles drawn as exact order statistics, pooled over windows and health checks."""

from __future__ import annotations

import numpy as np

from sim.fleet import SYNTHETIC_LATENCY_MS, Latency, quantile_ms
from sim.serving import Served
from sim.telemetry import Telemetry

LAT = Latency(p50_ms=40, p99_ms=250)


def _telemetry(user: int, syn: int, mult: float = 1.0, seed: int = 0) -> Telemetry:
    tel = Telemetry(4, LAT, 0, 1.0, np.random.default_rng(seed))
    z = np.zeros((1, 2))
    tel.add(
        Served(
            k=np.array([0]),
            user=np.array([[user, 0]]),
            syn=np.array([[syn, 0]]),
            err=z,
            mult=np.full((1, 2), mult),
            profile=np.array([[False, False]]),
            schema_failed=0,
            util=z,
            svc_user=np.array([user]),
            svc_err=np.array([0]),
            caused=np.array([0]),
            faulty=np.zeros((1, 3)),
            share=np.zeros((1, 3)),
            down=np.array([False]),
        )
    )
    return tel


def _sample_quantile(rng, n_user, n_syn, q):
    z = rng.standard_normal(n_user)
    x = np.concatenate([LAT.p50_ms * np.exp(LAT.sigma * z), np.full(n_syn, SYNTHETIC_LATENCY_MS)])
    k = int(np.ceil(q * len(x)))
    return np.partition(x, k - 1)[k - 1]  # the k-th smallest, as the model defines the q-quantile


def test_pooled_p99_has_the_distribution_of_a_sample_p99():
    # The model's p99 of n requests is one Beta-distributed order statistic mapped through Q; compare
    # its mean over many draws with the mean of literal sample p99s of n lognormal latencies.
    n, reps = 400, 3000
    tel = _telemetry(n, 0)
    model = np.array([tel.stats(0, 1, (0.99,))[0].p99_ms for _ in range(reps)])
    rng = np.random.default_rng(5)
    literal = np.array([_sample_quantile(rng, n, 0, 0.99) for _ in range(reps)])
    se = np.sqrt(model.var() / reps + literal.var() / reps)
    assert abs(model.mean() - literal.mean()) < 4 * se  # 4 SE of the difference of two means
    assert abs(np.median(model) - quantile_ms(LAT, np.array(0.99))) < 0.15 * 250  # centred on the true p99


def test_synthetic_requests_pull_percentiles_down():
    n_user, n_syn, reps = 300, 150, 3000
    tel = _telemetry(n_user, n_syn, seed=1)
    model = np.array([tel.stats(0, 1, (0.5,))[0].p50_ms for _ in range(reps)])
    rng = np.random.default_rng(6)
    literal = np.array([_sample_quantile(rng, n_user, n_syn, 0.5) for _ in range(reps)])
    se = np.sqrt(model.var() / reps + literal.var() / reps)
    assert abs(model.mean() - literal.mean()) < 4 * se
    assert model.mean() < 40  # a third of the requests are instant health checks


def test_percentiles_are_skipped_without_enough_tail():
    tel = _telemetry(500, 0)
    _, new = tel.stats(0, 1, (0.5, 0.99), min_tail=10)
    stable, _ = tel.stats(0, 1, (0.5, 0.99), min_tail=10)
    assert np.isnan(stable.p99_ms)  # 500 requests put only 5 beyond the p99
    assert not np.isnan(stable.p50_ms)
    assert new.requests == 0 and np.isnan(new.error_rate)


def test_multipliers_scale_percentiles():
    n = 5000
    base = np.mean([_telemetry(n, 0, 1.0, s).stats(0, 1, (0.5,))[0].p50_ms for s in range(200)])
    slow = np.mean([_telemetry(n, 0, 2.0, s).stats(0, 1, (0.5,))[0].p50_ms for s in range(200)])
    assert abs(slow / base - 2.0) < 1e-9  # same seeds: the same order statistic, scaled
