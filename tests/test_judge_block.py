"""A block's looks judged at once (`arrays.judge.statuses`): every (deploy, tick) gets the status the
event engine's judging gives that look alone (`judging.looks_from_stats`); and a plan's looks drawn
only until a deploy leaves the plan say what looks drawn in full say."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine import arrays, judging
from sim.engine.arrays import judge as judge_module
from sim.engine.arrays.judge import statuses
from sim.engine.rows import _covered, _draws, block_plans

_JUDGES = sim.load_scenario("default").judges
WATCH = ("error_rate", "p50", "p99", "saturation")
judges = st.one_of(
    st.builds(
        lambda watch, margin, ratio: dataclasses.replace(
            _JUDGES["baseline"], watch=watch, error_margin=margin, max_latency_ratio=ratio
        ),
        st.lists(st.sampled_from(WATCH), min_size=1, max_size=4, unique=True).map(tuple),
        st.sampled_from([0.0, 0.01]),
        st.sampled_from([1.0, 1.5]),
    ),
    st.builds(
        lambda watch, p99: dataclasses.replace(_JUDGES["fixed"], watch=watch, max_p99_ms=p99),
        st.lists(st.sampled_from(WATCH), min_size=1, max_size=4, unique=True).map(tuple),
        st.sampled_from([250.0, 500.0]),
    ),
)
#: Request counts on both sides of a judge's minimum (100) and of a p99's tail (1,000 requests).
counts = st.sampled_from([0.0, 1.0, 99.0, 100.0, 101.0, 999.0, 1000.0, 4000.0])
#: Figures at, near and across the limits, zeros and missing values among them.
values = st.sampled_from([float("nan"), 0.0, 0.005, 0.01, 0.02, 0.03, 100.0, 250.0, 375.0, 500.0, 600.0])


@settings(max_examples=300, deadline=None)
@given(judge=judges, shape=st.tuples(st.integers(1, 4), st.integers(1, 5)), data=st.data())
def test_a_blocks_statuses_are_each_looks_own(judge, shape, data):
    D, T = shape
    n = np.array(data.draw(st.lists(counts, min_size=D * T * 2, max_size=D * T * 2))).reshape(D, T, 2)
    names = ["error_rate", "p50_ms", "p99_ms", "saturation"]
    figures = {
        name: np.array(data.draw(st.lists(values, min_size=D * T * 2, max_size=D * T * 2))).reshape(D, T, 2)
        for name in names
    }
    ok, failed = statuses(judge, n, figures)
    for d in range(D):
        s = {name: (x[d, :, 0].tolist(), x[d, :, 1].tolist()) for name, x in figures.items()}
        s["requests"] = (n[d, :, 0].tolist(), n[d, :, 1].tolist())
        want = judging.looks_from_stats(judge, s, T).status
        got = [
            "pass" if o else "fail" if f else "inconclusive" for o, f in zip(ok[d], failed[d], strict=True)
        ]
        assert got == want, d


HOUR = ["run.horizon_s=3600"]
#: At 100 req/s a 1% step's looks see about the judge's minimum of requests: many come out
#: inconclusive for want of them, and the deploy leaves its plan there.
ASKS = ["traffic.rate_rps=100", "fleet.capacity_rps=33.34", "traffic.users.population=66666", *HOUR]
#: A small service: plans of each deploy's own that expect some looks to come out inconclusive.
LOW = ["traffic.rate_rps=30", "fleet.capacity_rps=10", "traffic.users.population=20000", *HOUR]


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [
        ("progressive", ASKS),
        ("progressive", LOW),
        ("progressive", [*LOW, "judges.baseline.max_latency_ratio=1.15"]),
        ("progressive", ["strategies.progressive.steps[1]={manual_gate: true}", *ASKS]),
        ("canary", ASKS),
        ("canary", ["judges.fixed.max_p99_ms=250", *HOUR]),
    ],
    ids=["asks", "low", "low-strict", "gate", "canary", "canary-strict"],
)
def test_a_plans_looks_drawn_until_they_leave_it_pass_as_looks_drawn_in_full(
    strategy: str, overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four blocks: whether each deploy's looks all come out as its plan takes them is the same
    whether its percentiles are drawn or, where too few requests take it off its plan at some
    look, not (and some deploys draw nothing)."""
    scn = sim.load_scenario("default", overrides=overrides)
    seed, cut = 3, 0
    real = judge_module._off

    def counted(look: Any, n: np.ndarray) -> np.ndarray:
        nonlocal cut
        off = real(look, n)
        cut += int(np.count_nonzero(off))
        return off

    monkeypatch.setattr(judge_module, "_off", counted)
    for b in range(4):
        exos = _draws(scn, seed, range(b * arrays.BLOCK, (b + 1) * arrays.BLOCK))
        plans, members = block_plans(scn, strategy, _covered(exos, b), seed)
        drawn = arrays.draw_block(scn, plans, members, seed, b)
        if isinstance(plans, list):  # plans of each deploy's own: those alike judged together
            picked = [(j, i, exo) for j, (i, exo) in enumerate(members)]
            fast = arrays.plans_looks_pass(scn, plans, drawn, picked, seed)
            full = [
                bool(
                    judge_module._passed(judge_module.look_statuses(scn, p.looks, drawn, [m], seed, [j]), 1)[
                        0
                    ]
                )
                for j, (p, m) in enumerate(zip(plans, members, strict=True))
            ]
        else:
            rows = range(len(members))
            fast = arrays.looks_pass(scn, plans, drawn, members, seed, rows).tolist()
            judged = judge_module.look_statuses(scn, plans.looks, drawn, members, seed, rows)
            full = judge_module._passed(judged, len(members)).tolist()
        assert fast == full, b
    assert cut > 0 or strategy == "canary"  # a canary's looks are reviews: only a failure departs


@settings(max_examples=300, deadline=None)
@given(judge=judges, shape=st.tuples(st.integers(1, 4), st.integers(1, 5)), data=st.data())
def test_a_look_takes_a_deploy_off_its_plan_only_where_no_figure_could_keep_it_on(judge, shape, data):
    """`_off` (a deploy whose percentiles are then not drawn) only where, whatever the figures, a
    tick the plan takes as a pass does not pass; never for a review."""
    D, T = shape
    n = np.array(data.draw(st.lists(counts, min_size=D * T * 2, max_size=D * T * 2))).reshape(D, T, 2)
    expect = data.draw(
        st.one_of(st.none(), st.lists(st.sampled_from(["pass", "inconclusive"]), min_size=T, max_size=T))
    )
    review = data.draw(st.booleans())
    look = judge_module.StackedLook(
        judge,
        np.zeros((D, T), int),
        np.ones((D, T), int),
        0,
        review,
        None if expect is None else tuple(expect),
    )
    off = judge_module._off(look, n)
    assert not (review and off.any())
    want = np.array([status == "pass" for status in expect or ["pass"] * T])
    for _ in range(3):  # any figures: those the looks could see at their best included
        best = data.draw(st.sampled_from([0.0, 1e-9, float("nan")]))
        names = ["error_rate", "p50_ms", "p99_ms", "saturation"]
        figures = {name: np.full((D, T, 2), best) for name in names}
        ok, _ = statuses(judge, n, figures)
        assert not (ok | ~want).all(axis=1)[off].any()
