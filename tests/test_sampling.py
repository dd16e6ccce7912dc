"""Small-array draws: number by number, exactly the values (and the stream) of numpy's array call."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core import sampling

# Both sides of each size threshold: drawn number by number, and by one array call.
shapes = st.sampled_from(
    [(1,), (2,), (4,), (1, 2), (3, 2), (4, 2), (2, 4), (5, 2), (9,), (7, 2), (12,), (16,), (20, 3), (40, 2)]
)
probability = st.sampled_from([0.0, 1.0, 0.001, 0.3, 0.5, 0.97])


@settings(max_examples=200, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_binomial_matches_numpy_and_leaves_the_stream_where_numpy_does(shape, seed, data):
    # Many a count is 0 (an empty slot or segment): those draw nothing, and are not drawn.
    counts = st.one_of(st.just(0), st.integers(0, 10**6))
    size = int(np.prod(shape))
    n = np.array(data.draw(st.lists(counts, min_size=size, max_size=size))).reshape(shape)
    form = data.draw(st.sampled_from(["scalar", "same", "last", "row"]))
    if form == "scalar":
        p = data.draw(probability)
    else:
        p_shape = {"same": shape, "last": shape[-1:], "row": (1, *shape[-1:])}[form]
        p = np.array([data.draw(probability) for _ in range(int(np.prod(p_shape)))]).reshape(p_shape)
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    got = sampling.binomial(ours, n, p)
    want = theirs.binomial(n, p)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)
    assert ours.random() == theirs.random()  # both streams moved on by the same draws


@settings(max_examples=100, deadline=None)
@given(size=st.sampled_from([1, 2, 5, 9, 14, 15, 16, 30]), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_beta_matches_numpy_and_leaves_the_stream_where_numpy_does(size, seed, data):
    # Both sides of the size threshold; given lists a list comes back, given arrays an array.
    a = data.draw(st.lists(st.floats(1.0, 1e6), min_size=size, max_size=size))
    b = data.draw(st.lists(st.floats(1.0, 1e6), min_size=size, max_size=size))
    theirs = np.random.default_rng(seed)
    want = theirs.beta(np.array(a), np.array(b))
    after = theirs.random()
    ours = np.random.default_rng(seed)
    got = sampling.beta(ours, a, b)
    assert isinstance(got, list) and got == want.tolist()
    assert ours.random() == after  # both streams moved on by the same draws
    shape = (size // 2, 2) if size % 2 == 0 else (size,)  # an array keeps its shape, drawn in C order
    ours = np.random.default_rng(seed)
    got = sampling.beta(ours, np.array(a).reshape(shape), np.array(b).reshape(shape))
    assert isinstance(got, np.ndarray) and np.array_equal(got, want.reshape(shape))
    assert ours.random() == after


@settings(max_examples=100, deadline=None)
@given(
    lengths=st.lists(st.sampled_from([0, 0, 1, 2, 5, 14, 15, 31]), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_beta_runs_draw_each_run_from_its_own_stream_as_beta_does(lengths, seed, data):
    """Runs of every size (both sides of the array call's threshold, and empty ones, which ask for
    no stream), each drawn from its own stream: `beta` run by run, laid end to end."""
    size = sum(lengths)
    a = np.array(data.draw(st.lists(st.floats(1.0, 1e6), min_size=size, max_size=size)))
    b = np.array(data.draw(st.lists(st.floats(1.0, 1e6), min_size=size, max_size=size)))
    ends = np.cumsum(lengths).tolist()
    asked = []

    def stream(i):
        asked.append(i)
        return np.random.default_rng([seed, i])

    got = sampling.beta_runs(stream, a, b, ends)
    starts = [0, *ends[:-1]]
    runs = enumerate(zip(starts, ends, strict=True))
    want = [np.random.default_rng([seed, i]).beta(a[lo:hi], b[lo:hi]) for i, (lo, hi) in runs]
    assert got.dtype == float and np.array_equal(got, np.concatenate(want))
    assert asked == [i for i, n in enumerate(lengths) if n]
