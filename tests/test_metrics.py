"""Per-deploy metrics: the fast paths give the numbers and draws of the general computation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.metrics import Audience, _banded, _unbanded


class Recorder:
    """Stands in for a Generator: records every binomial that would draw (numpy answers n = 0 or
    p = 0 with 0 and leaves the stream be), exactly, element by element, and answers n // 2."""

    def __init__(self) -> None:
        self.n: list[int] = []
        self.p: list[float] = []

    def binomial(self, n: np.ndarray | int, p: np.ndarray | float) -> np.ndarray:
        ns, ps = np.broadcast_arrays(np.asarray(n), np.asarray(p))
        drawn = (ns > 0) & (ps > 0)
        self.n += ns[drawn].tolist()
        self.p += ps[drawn].tolist()
        return np.asarray(n) // 2


@st.composite
def ledgers(draw):
    rows = draw(st.integers(0, 300))  # past 8 and 128 rows numpy's sums stop adding in order
    segments = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    faulty = gen.integers(0, 50, (rows, segments)) * (gen.random((rows, segments)) < 0.6)
    faulty[:, gen.random(segments) < 0.3] = 0  # some segments never meet the fault
    users = gen.uniform(1.0, 1e6, segments)
    return faulty.astype(np.int64), users, draw(st.sampled_from([0.3, 0.5, 2.0]))


@settings(max_examples=200, deadline=None)
@given(ledgers())
def test_unbanded_asks_for_the_same_draws_as_one_band_per_segment(case):
    faulty, users, k = case
    general, fast = Recorder(), Recorder()
    assert _unbanded(faulty, Audience.of(users, k), fast) == _banded(faulty, None, users, k, general)
    # Exact equality of every probability: a last-bit difference would rarely change a draw.
    assert fast.n == general.n
    assert fast.p == general.p


@settings(max_examples=50, deadline=None)
@given(ledgers(), st.integers(0, 2**32 - 1))
def test_unbanded_draws_what_the_bands_draw(case, seed):
    faulty, users, k = case
    fast, general = np.random.default_rng(seed), np.random.default_rng(seed)
    assert _unbanded(faulty, Audience.of(users, k), fast) == _banded(faulty, None, users, k, general)
    assert fast.bit_generator.state == general.bit_generator.state


def test_unbanded_counts_every_user_of_a_segment_hit_often():
    faulty = np.array([[0, 10**7], [0, 10**7]])
    users = np.array([10.0, 20.0])
    # A million faulty requests per user of segment 1 (a miss has odds of 1e-12): all 20 of its
    # users met one, nobody else did.
    assert _unbanded(faulty, Audience.of(users, 2.0), np.random.default_rng(0)) == 20.0
