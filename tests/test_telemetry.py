"""Monitoring reads: percentiles drawn as exact order statistics, pooled over windows and health checks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.fleet import Latency
from sim.engine.fleet import SYNTHETIC_LATENCY_MS, quantile_ms
from sim.engine.serving import Served
from sim.engine.telemetry import Telemetry

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


@st.composite
def _looks(draw):
    """A telemetry of random windows and a look at a few or many ticks: (telemetry, k_from, k_to)."""
    windows = draw(st.integers(1, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.integers(0, 3))
    tel = Telemetry(windows, LAT, kind, draw(st.floats(1.2, 4.0)), np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    busy = draw(st.floats(0.0, 1.0))  # windows of a version without traffic test the NaN cases
    user = np.where(rng.random((windows, 2)) < busy, rng.integers(0, 3000, (windows, 2)), 0)
    tel.acc[..., Telemetry.USER] = user
    tel.acc[..., Telemetry.SYN] = rng.integers(0, 200, (windows, 2))
    tel.acc[..., Telemetry.ERR] = rng.binomial(user, 0.01)
    tel.acc[..., Telemetry.LATW] = user * rng.uniform(0.5, 3.0, (windows, 2))
    tel.acc[..., Telemetry.LATW_ON] = tel.acc[..., Telemetry.LATW] * (rng.random((windows, 2)) < 0.5)
    tel.util[:] = rng.random((windows, 2))
    ticks = draw(st.integers(1, 12))
    # Ticks in time order: neither bound ever goes back, and an interval may be empty.
    k_to = sorted(draw(st.lists(st.integers(0, windows), min_size=ticks, max_size=ticks)))
    back = draw(st.lists(st.integers(0, 8), min_size=ticks, max_size=ticks))
    k_from = [max(0, b - d) for b, d in zip(k_to, back, strict=True)]
    for i in range(1, ticks):
        k_from[i] = min(max(k_from[i], k_from[i - 1]), k_to[i])
    return tel, k_from, k_to


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(np.array(a[key], float), np.array(b[key], float), equal_nan=True) for key in a
    )


@settings(max_examples=300, deadline=None)
@given(
    look=_looks(),
    quantiles=st.sampled_from([(), (0.5,), (0.99,), (0.5, 0.99)]),
    min_tail=st.sampled_from([0.0, 1.0, 10.0, 40.0]),
)
def test_a_look_worked_out_number_by_number_equals_the_array_way(look, quantiles, min_tail):
    # `stats_many` works out a look of a few ticks in plain Python and one of many with numpy: on
    # the same sums and the same stream, both must give every value bit for bit, take the same
    # draws and leave the stream at the same place.
    tel, k_from, k_to = look
    sums = tel._sums(k_from, k_to)
    state = tel.rng.bit_generator.state
    few = tel._few(sums, quantiles, min_tail, tel.rng)
    after_few = tel.rng.random()
    tel.rng.bit_generator.state = state
    many = tel._many(sums, quantiles, min_tail, tel.rng)
    assert _same(few, many)
    assert tel.rng.random() == after_few
    assert all(len(few[key][v]) == len(k_to) for key in few for v in (0, 1))


@settings(max_examples=200, deadline=None)
@given(look=_looks())
def test_the_sums_of_one_interval_are_those_of_the_first_of_many(look):
    # One interval is summed window after window; many by differences of running sums from the
    # first one's start. The first of many is thus the same sum, bit for bit.
    tel, k_from, k_to = look
    one = tel._sums(k_from[:1], k_to[:1])
    both = tel._sums([k_from[0], k_to[-1]], [k_to[0], k_to[-1]])
    assert np.array_equal(one[0], both[0])
    assert np.array_equal(one[0], tel.acc[k_from[0] : k_to[0]].sum(0))


def test_saturation_is_the_busiest_window_of_a_version_with_requests():
    tel = _telemetry(500, 0)
    tel.util[:, :] = [[0.2, 0.0], [0.7, 0.0], [0.4, 0.0], [0.0, 0.0]]
    out = tel.stats_many([0, 1, 3], [2, 3, 3], (), 0.0, True)
    stable, new = out["saturation"]
    # Window 0 alone has requests: the second look sees none, the third covers no window at all.
    assert stable[0] == 0.7 and np.isnan(stable[1]) and np.isnan(stable[2])
    assert all(np.isnan(new))


def test_a_runs_percentiles_do_not_depend_on_how_its_ticks_are_split_between_calls():
    # An analysis takes the ticks drawn so far in one call, so how its ticks fall into calls
    # depends on how far traffic happened to be drawn. Drawn tick by tick (quantile, then version,
    # within a tick) from the run's own stream, the looks come out the same however they are split:
    # both percentiles, stable and new, few ticks (plain Python) and many (numpy).
    T = 24
    tel = Telemetry(T, LAT, 0, 1.0, np.random.default_rng(0))
    rng = np.random.default_rng(5)
    user = rng.integers(200, 2000, size=(T, 2))
    z = np.zeros((T, 2))
    tel.add(
        Served(
            k=np.arange(T),
            user=user,
            syn=rng.integers(0, 50, size=(T, 2)),
            err=z,
            mult=rng.uniform(0.8, 1.5, size=(T, 2)),
            profile=None,
            schema_failed=0,
            util=z,
            svc_user=user.sum(1),
            svc_err=np.zeros(T),
            caused=np.zeros(T),
            faulty=np.zeros((T, 3)),
            share=np.zeros((T, 3)),
            down=np.zeros(T, bool),
        )
    )
    ticks = list(range(1, T))
    k_from, k_to = [k - 1 for k in ticks], ticks
    quantiles = (0.5, 0.99)
    whole = tel.stats_many(k_from, k_to, quantiles, 10.0, False, rng=np.random.default_rng(7))
    for cut in (1, 3, 11, 12, 20):  # calls of up to 10 ticks go number by number, longer ones in numpy
        run = np.random.default_rng(7)
        first = tel.stats_many(k_from[:cut], k_to[:cut], quantiles, 10.0, False, rng=run)
        rest = tel.stats_many(k_from[cut:], k_to[cut:], quantiles, 10.0, False, rng=run)
        for name in ("p50_ms", "p99_ms"):
            for v in (0, 1):
                split = list(first[name][v]) + list(rest[name][v])
                np.testing.assert_allclose(split, whole[name][v], rtol=1e-12, err_msg=f"{name} {v} {cut}")
