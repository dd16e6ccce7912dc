"""The lean stretch's capacity check: read off the busiest row, it answers as working out every
row's utilisation does (the per-row form, `tail._load` and `tail._util`, stays the reference)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.arrays import tail
from sim.engine.routing import Plain, snapshot


def _per_row(snap, counts, window_s):  # the reference: every row's utilisation, then the largest
    user, syn = tail._load(snap, counts)
    return bool(tail._util(snap, user, syn, window_s).max(initial=0.0) <= 1.0)


@st.composite
def cases(draw: st.DrawFn):
    """A plain state sending users and probes each wholly to one slot, capacities that a row's load
    meets exactly, misses by one request or exceeds, and 0 (a slot with no fleet)."""
    S = draw(st.integers(1, 4))
    user_new, syn_new = draw(st.booleans()), draw(st.booleans())
    share = (*([float(user_new)] * S), float(syn_new))
    window_s = draw(st.sampled_from([1.0, 10.0, 60.0, 0.1]))
    shape = draw(st.sampled_from([(0, S + 1), (5, S + 1), (3, 7, S + 1), (1, 1, S + 1), (2, 0, S + 1)]))
    counts = np.array(
        draw(st.lists(st.integers(0, 400), min_size=math.prod(shape), max_size=math.prod(shape)))
    )
    counts = counts.reshape(shape).astype(np.int64)
    busiest = int(np.add.reduce(counts, axis=-1).max(initial=0))
    cap = tuple(
        draw(
            st.sampled_from(
                [0.0, busiest / window_s, (busiest - 1) / window_s, (busiest + 1) / window_s, 1e9]
            )
        )
        for _ in range(2)
    )
    plain = Plain(False, share, cap, (1.0, 1.0), (0.001, 0.001), (0.0, 0.0), (0.0, 0.0), False, math.nan)
    return snapshot(plain), counts, window_s


@settings(max_examples=500, deadline=None)
@given(cases())
def test_the_busiest_row_answers_as_every_row_does(case):
    snap, counts, window_s = case
    assert tail.fits(snap, counts, window_s) == _per_row(snap, counts, window_s)


def test_a_row_over_capacity_does_not_fit():
    """Not a check that passes by always answering one way: one row one request over its slot's
    capacity fails it, the same rows at capacity pass."""
    plain = Plain(
        False, (1.0, 1.0, 1.0), (0.0, 10.0), (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0), False, math.nan
    )
    snap = snapshot(plain)
    counts = np.full((4, 6, 3), 20, np.int64)  # 60 requests a 10 s window: 6 req/s
    counts[2, 3] = (40, 40, 21)  # 101 requests: 10.1 req/s
    assert not tail.fits(snap, counts, 10.0)
    counts[2, 3] = (40, 40, 20)
    assert tail.fits(snap, counts, 10.0)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 5),
    st.sampled_from([(), (4,), (3, 7), (2, 0)]),
    st.sampled_from([np.int64, np.int32, np.float64]),
    st.integers(0, 2**32 - 1),
)
def test_user_requests_are_the_user_columns_reduced(S, lead, dtype, seed):
    """`tail.user_requests` sums a row's user columns (all but the last) as `np.add.reduce` does: the
    same values and dtype, whatever the leading shape, the number of segments or the counts' type
    (only int64 counts are added column by column: a float's sum depends on the order)."""
    gen = np.random.default_rng(seed)
    counts = (gen.poisson(gen.choice([0.5, 3000.0, 1e12]), (*lead, S + 1))).astype(dtype)
    if dtype is np.float64:
        counts = counts * gen.random(counts.shape)
    want = np.add.reduce(counts[..., :S], axis=-1)
    got = tail.user_requests(counts)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
