"""A block's looks judged at once (`arrays.judge.statuses`): every (deploy, tick) gets the status the
event engine's judging gives that look alone (`judging.looks_from_stats`)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine import judging
from sim.engine.arrays.judge import statuses

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
