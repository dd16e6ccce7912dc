"""Random streams: each (seed, deploy, stream) is numpy's SeedSequence child, built now or on first use."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core import rng

# Small numbers, and ones that take several 32-bit words (seeds past the pool's four words too).
ints = st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**140))


@settings(max_examples=100, deadline=None)
@given(ints, ints, st.integers(0, 2**40))
def test_a_stream_is_numpys_spawned_child(seed, deploy, which):
    child = np.random.SeedSequence(seed, spawn_key=(deploy, which))
    expected = np.random.Generator(np.random.PCG64(child)).integers(0, 2**63, 4).tolist()
    assert rng.stream(seed, deploy, which).integers(0, 2**63, 4).tolist() == expected


def test_streams_draw_what_numpys_children_draw():
    for seed, deploy, which in [(0, 0, 0), (1, 299, rng.OBSERVE), (2**32, 5, rng.CONTROL), (7, 2**33, 1)]:
        child = np.random.SeedSequence(seed, spawn_key=(deploy, which))
        expected = np.random.Generator(np.random.PCG64(child)).random(5).tolist()
        assert rng.stream(seed, deploy, which).random(5).tolist() == expected
        assert rng.lazy(seed, deploy, which).random(5).tolist() == expected


def test_a_negative_seed_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError, match="non-negative"):
        rng.stream(-1, 0, 0)


@settings(max_examples=60, deadline=None)
@given(
    ints,
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 15), st.integers(0, 2**32 - 1)),
        min_size=rng.MANY,
        max_size=3 * rng.MANY,
    ),
)
def test_streams_built_at_once_are_numpys_spawned_children(seed, keys):
    """`streams_of` hashes many keys' words at once; each Generator is the SeedSequence child's,
    state for state, whatever the seed's size (long seeds mix more words in first)."""
    for key, got in zip(keys, rng.streams_of(seed, keys), strict=True):
        child = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))
        assert got.bit_generator.state == child.bit_generator.state
        assert got.random(3).tolist() == child.random(3).tolist()


def test_streams_built_at_once_of_two_word_keys_and_of_few_keys():
    keys = [(i, rng.TRAFFIC) for i in range(200)]  # a block's exogenous streams, say
    for few in (keys[:3], keys):
        for key, got in zip(few, rng.streams_of(20261206, few), strict=True):
            assert got.bit_generator.state == rng.stream(20261206, *key).bit_generator.state


@settings(max_examples=60, deadline=None)
@given(
    ints,
    st.lists(st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32, 2**40)), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 29), st.integers(0, 40)), min_size=1, max_size=40),
    st.sampled_from([rng.LOOKS, rng.FOLLOW_LOOKS]),
)
def test_run_streams_are_numpys_spawned_children(seed, deploys, asks, which):
    """`RunStreams` hashes a band of runs of every deploy at once; each run's Generator is the
    SeedSequence child's, state for state, in whatever order runs are asked for (bands of runs
    past the first included, and deploys too large for the bulk hash)."""
    runs = rng.RunStreams(seed, deploys, which)
    for i, n in asks:
        i %= len(deploys)
        got, want = runs.get(i, n), rng.run_stream(seed, deploys[i], which, n)
        assert got.bit_generator.state == want.bit_generator.state
        assert got.random(2).tolist() == want.random(2).tolist()
