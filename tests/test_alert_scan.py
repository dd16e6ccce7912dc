"""The alert's scans with less overhead: each kept or merged computation held to the plain one."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.config.judges import BurnRateJudge
from sim.engine import alert as alert_module
from sim.engine import arrays
from sim.engine.arrays import alert as block_alert
from sim.engine.exogenous import user_requests_before
from sim.engine.rows import _covered, _draws, block_plans

DEFAULT = sim.load_scenario("default")

#: Short windows (10 s each): a page pair of 60 and 6 windows, a ticket pair of 360 and 60, so that
#: made-up blocks of a few dozen windows meet every branch (long windows reaching back, or not).
SHORT = BurnRateJudge(
    slo=0.999,
    windows=({"long_s": 600, "short_s": 60, "burn_rate": 14.4},),
    tickets=({"long_s": 3600, "short_s": 600, "burn_rate": 1},),
)


def _quiet_masks(
    scn: sim.Scenario,
    spans: tuple[np.ndarray, np.ndarray, int, float],
    svc: np.ndarray,
    first: np.ndarray,
    k_last: np.ndarray,
    start_hours: list[float],
) -> np.ndarray:
    """`block_alert._quiet` as it was: a mask of the block per bound, the sums over masked copies."""
    n, limit, longest, lowest = spans
    near = lowest * (1.0 - 1e-9)
    user, err = svc[:, :, 0], svc[:, :, 1]
    cols = np.arange(user.shape[1])
    hot = err > near * user
    quiet = ~(hot & (cols >= (first - longest)[:, None]) & (cols < k_last[:, None])).any(axis=1)
    longs, lims = n[0::2, 0], limit[0::2, 0]
    bounded = ~quiet & (k_last <= int(longs.min()))
    if bounded.any():
        errors = np.where(cols < k_last[:, None], err, 0.0).sum(axis=1)
        requests = np.where(cols < first[:, None], user, 0.0).sum(axis=1)
        hours = np.array(start_hours)[:, None]
        W = scn.run.window_s
        most = user_requests_before(
            scn.traffic, hours, np.maximum(longs - first[:, None], 0).astype(float) * W
        )
        least = user_requests_before(
            scn.traffic, hours, np.maximum(longs - k_last[:, None], 0).astype(float) * W
        )
        history = scn.fleet.error_rate
        cool = np.all(
            history * most + errors[:, None] < lims * (least + requests[:, None]) * (1.0 - 1e-9), axis=1
        )
        quiet |= bounded & cool
    return np.asarray(quiet)


def _evals(first: np.ndarray, k_last: np.ndarray) -> block_alert._Evals:
    evals = block_alert._Evals.__new__(block_alert._Evals)
    evals.first, evals.k_last = first.astype(np.int64), k_last.astype(np.int64)
    evals.last_k, evals.live = evals.k_last, np.ones(len(first), bool)
    return evals


def _both_ways(
    scn: sim.Scenario,
    spans: tuple[np.ndarray, np.ndarray, int, float],
    svc: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    hours: list[float],
) -> tuple[list[bool], list[bool]]:
    first, k_last = bounds
    got = block_alert._quiet(
        scn, spans, (svc[:, :, 0].copy(), svc[:, :, 1].copy()), _evals(first, k_last), hours
    )
    return got.tolist(), _quiet_masks(scn, spans, svc, first, k_last, hours).tolist()


@settings(max_examples=400, deadline=None)
@given(
    deploys=st.integers(1, 6),
    width=st.integers(1, 90),
    level=st.integers(0, 12),
    users=st.sampled_from([0, 50, 625, 1000]),
    tier=st.sampled_from(["page", "ticket"]),
    error_rate=st.sampled_from([0.0, 0.0005, 0.0009]),
    data=st.data(),
)
def test_a_blocks_quick_exits_are_the_masks_way(
    deploys: int, width: int, level: int, users: int, tier: str, error_rate: float, data: st.DataObject
) -> None:
    # Windows hover around the tier's lowest limit; each deploy's evaluations start anywhere from
    # before the block to past it and end before, inside or past it: the running counts and sums
    # must say what the masks said, deploy by deploy (quiet or not, by either exit).
    scn = sim.load_scenario(DEFAULT, overrides=[f"fleet.error_rate={error_rate}"])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    user = np.full((deploys, width), float(users))
    err = np.clip(level + rng.integers(-3, 4, (deploys, width)), 0, None).astype(float)
    svc = np.stack([user, err], axis=-1)
    first = np.array(data.draw(st.lists(st.integers(1, 100), min_size=deploys, max_size=deploys)))
    k_last = first + np.array(data.draw(st.lists(st.integers(0, 80), min_size=deploys, max_size=deploys)))
    hours = rng.uniform(0, 24, deploys).tolist()
    spans = alert_module.tier_spans(SHORT, scn.run.window_s, tier)
    assert spans is not None
    got, want = _both_ways(scn, spans, svc, (first, k_last), hours)
    assert got == want


#: An alert touchy enough that background failures come near its limits: a page of 10 minutes at a
#: quarter of the budget's rate, a ticket whose short window is 10 minutes at 0.3 of it.
TOUCHY = [
    "judges.slo.windows[0]={long_s: 600, short_s: 60, burn_rate: 0.25}",
    "judges.slo.tickets[0]={long_s: 259200, short_s: 600, burn_rate: 0.3}",
]


@pytest.mark.parametrize(
    ("scenario", "strategy", "overrides"),
    [
        ("default", "progressive", TOUCHY),
        ("default", "recreate", []),
        ("default", "blue_green", TOUCHY),
        ("noisy-cluster", "canary_baseline", TOUCHY),
    ],
)
def test_a_shipped_blocks_quick_exits_are_the_masks_way(
    scenario: str, strategy: str, overrides: list[str]
) -> None:
    # Two blocks of a shipped scenario, each tier, with the alert's own evaluations and with them
    # cut short: the same answers, and some of each kind (quiet, and left for the scan).
    scn = sim.load_scenario(scenario, overrides=overrides)
    judge, W = scn.slo, scn.run.window_s
    step = max(1, round(judge.eval_interval_s / W))
    kinds = set()
    for b in (0, 1):
        exos = _draws(scn, 5, range(b * arrays.BLOCK, (b + 1) * arrays.BLOCK))
        plans, members = block_plans(scn, strategy, _covered(exos, b), 5)
        each = plans if isinstance(plans, list) else [plans] * len(members)
        drawn = arrays.draw_block(scn, plans, members, 5, b)
        evals = block_alert._Evals(each, W, step, False, None)
        hours = [exo.traffic.start_hour for _, exo in members]
        for tier in ("page", "ticket"):
            spans = alert_module.tier_spans(judge, W, tier)
            if spans is None:
                continue
            for cut in (0, 2):
                k_last = evals.k_last if not cut else np.maximum(evals.first, evals.k_last // cut)
                got, want = _both_ways(scn, spans, drawn.svc, (evals.first, k_last), hours)
                assert got == want, (b, tier, cut)
                kinds |= set(got)
    assert kinds == {True, False}


@pytest.mark.parametrize(
    ("scenario", "overrides"), [("default", []), ("default", TOUCHY), ("noisy-cluster", TOUCHY)]
)
def test_a_blocks_alert_is_each_deploys_alert(scenario: str, overrides: list[str]) -> None:
    # The block's answers (quick exits at once, contiguous rows for the scans left) are those of
    # each deploy's own scan, inside silences or not, with some deploys caught.
    scn = sim.load_scenario(scenario, overrides=overrides)
    fired = 0
    for strategy in [s for s in scn.strategies if arrays.plannable(scn, s)][:3]:
        exos = _draws(scn, 7, range(arrays.BLOCK))
        plans, members = block_plans(scn, strategy, _covered(exos, 0), 7)
        each = plans if isinstance(plans, list) else [plans] * len(members)
        drawn = arrays.draw_block(scn, plans, members, 7, 0)
        for anywhere in (False, True):
            at_once = arrays.alerts_fire(
                scn, each, drawn, [(j, exo) for j, (_, exo) in enumerate(members)], anywhere=anywhere
            ).tolist()
            one_by_one = [
                arrays.alert_fires(scn, each[j], drawn, j, exo, anywhere=anywhere)
                for j, (_, exo) in enumerate(members)
            ]
            assert at_once == one_by_one, (strategy, anywhere)
            fired += sum(one_by_one)
    assert fired > 0


def _two_calls(
    n: np.ndarray, history: alert_module.History, k_first: int, k_last: int
) -> tuple[np.ndarray, np.ndarray]:
    longs = n[0::2, 0]
    return history(np.maximum(longs - k_first, 0).astype(float)), history(
        np.maximum(longs - k_last, 0).astype(float)
    )


@settings(max_examples=300, deadline=None)
@given(
    hour=st.floats(0, 24, allow_nan=False),
    window_s=st.sampled_from([1.0, 10.0, 60.0, 300.0]),
    k_first=st.integers(0, 40_000),
    ahead=st.integers(0, 40_000),
    tier=st.sampled_from(["page", "ticket"]),
    scenario=st.sampled_from(["default", "payments", "nightly-batch"]),
)
def test_the_held_history_in_one_call_is_two_calls(
    hour: float, window_s: float, k_first: int, ahead: int, tier: str, scenario: str
) -> None:
    # The most and the least history, worked out in one call of the curve, are the values of a call
    # each, bit for bit; and kept from t = 0, those of a call made afresh.
    scn = sim.load_scenario(scenario)
    spans = alert_module.tier_spans(scn.slo, window_s, tier)
    assert spans is not None
    history = alert_module.steady_past(scn, hour, window_s).requests
    assert callable(history)
    fresh = functools.partial(alert_module._history_requests, scn.traffic, hour, window_s)
    got = alert_module._held(spans[0], history, k_first, k_first + ahead)
    want = _two_calls(spans[0], fresh, k_first, k_first + ahead)
    assert [a.tobytes() for a in got] == [a.tobytes() for a in want]
    kept = alert_module._held_from_start(spans[0], history, k_first + ahead)
    assert [a.tobytes() for a in kept] == [
        a.tobytes() for a in _two_calls(spans[0], fresh, 0, k_first + ahead)
    ]
    assert not kept[0].flags.writeable and not kept[1].flags.writeable


def test_kept_pasts_and_bounds_are_those_asked_for() -> None:
    # A steady past is the same object for the same scenario, start hour and window length, and its
    # own for another of any of them, an equal scenario included; a held bound is its curve's and
    # its instant's; the long windows' limits are the spans' own.
    a, b = sim.load_scenario("default"), sim.load_scenario("default")
    busy = sim.load_scenario("default", overrides=["traffic.rate_rps=400", "fleet.error_rate=0.0002"])
    past = alert_module.steady_past(a, 9.5, 10.0)
    assert alert_module.steady_past(a, 9.5, 10.0) is past
    seconds = np.array([0.0, 10.0, 3600.0, 86400.0])
    for scn, hour, W in [(a, 9.5, 10.0), (b, 9.5, 10.0), (a, 9.25, 10.0), (a, 9.5, 300.0), (busy, 9.5, 10.0)]:
        got = alert_module.steady_past(scn, hour, W)
        assert (got is past) == (scn is a and hour == 9.5 and W == 10.0)
        assert got.error_ratio == scn.fleet.error_rate
        assert callable(got.requests)
        assert (
            got.requests(seconds / W).tobytes() == user_requests_before(scn.traffic, hour, seconds).tobytes()
        )
    spans = alert_module.tier_spans(a.slo, 10.0, "page")
    assert spans is not None
    n, limit = spans[0], spans[1]
    for hour, last_k in [(9.5, 100), (9.5, 2000), (3.0, 100)]:
        history = alert_module.steady_past(a, hour, 10.0).requests
        assert callable(history)
        kept = alert_module._held_from_start(n, history, last_k)
        assert [x.tobytes() for x in kept] == [x.tobytes() for x in _two_calls(n, history, 0, last_k)]
    assert alert_module._long_windows(n, limit) == (limit[0::2, 0].tolist(), int(n[0::2, 0].min()))
    other = alert_module.tier_spans(a.slo, 10.0, "ticket")
    assert other is not None
    assert alert_module._long_windows(other[0], other[1]) == (
        other[1][0::2, 0].tolist(),
        int(other[0][0::2, 0].min()),
    )


@settings(max_examples=200, deadline=None)
@given(
    level=st.integers(0, 20),
    wobble=st.lists(st.integers(-3, 3), min_size=1, max_size=120),
    history_error=st.sampled_from([0.0, 0.001, 0.02]),
    first=st.integers(1, 60),
    tier=st.sampled_from(["page", "ticket"]),
)
def test_the_span_sums_past_the_exits_answer_as_the_scan(
    level: int, wobble: list[int], history_error: float, first: int, tier: str
) -> None:
    # Straight to the span sums (what a block's deploys left open by its exits get): the answer of
    # `first_firing`, exits and all, windows hovering around the limits.
    n = len(wobble)
    user = np.full(n, 1000.0)
    err = np.clip(level + np.array(wobble, float), 0, None)
    service = alert_module.ServiceWindows(user, err, 10.0)
    past = alert_module.steady_past(DEFAULT, 10.0, 10.0)
    eval_ks = range(min(first, n), n + 1, 1)
    want = alert_module.first_firing(SHORT, service, eval_ks, past, tier)
    assert alert_module.first_firing_past_exits(SHORT, service, eval_ks, past, tier) == want


@pytest.mark.parametrize("k_last", [50, 90])
def test_the_bound_counts_the_window_before_the_last_instant(k_last: int) -> None:
    # Failures only in the window just before the last instant, enough to lift the ticket's long
    # window over the bound, and fewer: not quiet, then quiet, both ways (the block as wide as the
    # evaluations, and wider).
    scn = sim.load_scenario(DEFAULT, overrides=["fleet.error_rate=0"])
    spans = alert_module.tier_spans(SHORT, scn.run.window_s, "ticket")
    assert spans is not None
    for failures, quiet in [(1000.0, False), (1.0, True)]:
        user = np.full((2, 90), 1000.0)
        err = np.zeros((2, 90))
        err[:, k_last - 1] = failures
        svc = np.stack([user, err], axis=-1)
        bounds = (np.array([10, 10]), np.array([k_last, k_last]))
        got, want = _both_ways(scn, spans, svc, bounds, [9.0, 21.0])
        assert got == want == [quiet, quiet]
