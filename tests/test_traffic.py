"""Traffic: the daily curve, Poisson counts, segments, synthetic traffic, distinct users."""

from __future__ import annotations

import numpy as np

from sim.config.traffic import TrafficConfig
from sim.engine.exogenous import draw_traffic, hit_probability, rate_profile, request_means


def test_daily_curve_averages_to_the_mean_rate():
    cfg = TrafficConfig(rate_rps=300.0)
    t = np.arange(0, 86400, 10.0) + 5.0
    # The cosine integrates to zero over a day, so the mean is exact up to the grid's rounding.
    assert abs(rate_profile(cfg, 0.0, t).mean() - 300.0) < 1e-6
    peak = rate_profile(cfg, 0.0, np.array([15 * 3600.0]))[0]
    assert abs(peak - 300.0 * 1.5) < 1e-9


def test_counts_are_poisson_around_the_profile():
    cfg = TrafficConfig(rate_rps=200.0, surges={"per_day": 0})
    draw = draw_traffic(cfg, 10.0, 7200.0, np.random.default_rng(3))
    expected = draw.user_rate.sum() * 10.0
    total = draw.user.sum()
    # A sum of Poisson counts is Poisson: 4 standard deviations leave a 6e-5 chance of a false alarm.
    assert abs(total - expected) < 4 * np.sqrt(expected)
    shares = draw.user.sum(0) / total
    for share, seg in zip(shares, cfg.segments, strict=True):
        sd = np.sqrt(seg.share * (1 - seg.share) / total)  # binomial share of the total
        assert abs(share - seg.share) < 4 * sd
    syn_expected = 200.0 * cfg.synthetic_share * 10.0 * draw.windows
    assert abs(draw.synthetic.sum() - syn_expected) < 4 * np.sqrt(syn_expected)


def test_synthetic_traffic_does_not_follow_the_daily_curve():
    cfg = TrafficConfig(rate_rps=1000.0, synthetic_share=0.2, surges={"per_day": 0})
    draw = draw_traffic(cfg, 60.0, 86400.0, np.random.default_rng(0))
    # Health checks are steady: their per-window counts are Poisson around one constant.
    syn = draw.synthetic
    assert syn.var() / syn.mean() < 1.2  # a Poisson's dispersion index is 1; the curve would make it ~100
    assert draw.user.sum(1).var() / draw.user.sum(1).mean() > 50


def test_surges_raise_the_rate_while_they_last():
    cfg = TrafficConfig(rate_rps=100.0, surges={"per_day": 200, "factor": 2.0, "duration_s": 600})
    draw = draw_traffic(cfg, 10.0, 3 * 3600.0, np.random.default_rng(1))
    assert draw.surges
    t_mid = (np.arange(draw.windows) + 0.5) * 10.0
    base = rate_profile(cfg, draw.start_hour, t_mid) * (1 - cfg.synthetic_share)
    ratio = draw.user_rate / base
    inside = np.zeros(draw.windows, int)
    for start, end, _ in draw.surges:
        inside += (t_mid >= start) & (t_mid < end)
    assert np.allclose(ratio, 2.0**inside)


def test_request_means_are_the_plain_product_and_drawn_row_by_row():
    gen = np.random.default_rng(4)
    user_rate, shares = gen.uniform(0.0, 500.0, 97), np.array([0.55, 0.3, 0.15])
    lam = request_means(user_rate, shares, 7.5, 10.0)
    # The straightforward window-by-window product, bit for bit.
    reference = np.empty((97, 4))
    reference[:, :-1] = user_rate[:, None] * shares[None, :] * 10.0
    reference[:, -1] = 7.5 * 10.0
    assert lam.shape == (97, 4) and np.array_equal(lam, reference)
    # The same draws as from a row-major array, whatever the layout.
    a, b = np.random.default_rng(9).poisson(lam), np.random.default_rng(9).poisson(reference)
    assert np.array_equal(a, b)


def test_distinct_users_formula_matches_monte_carlo():
    rng = np.random.default_rng(11)
    shape, users, per_user = 0.5, 200_000, 0.8
    rates = rng.gamma(shape, per_user / shape, users)
    hit = (rng.poisson(rates) > 0).mean()
    expected = hit_probability(np.array(per_user), shape)
    # Binomial standard error of the simulated share over 200,000 users; 4 SE.
    assert abs(hit - expected) < 4 * np.sqrt(expected * (1 - expected) / users)
