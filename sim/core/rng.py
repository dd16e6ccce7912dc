"""Random streams: one root seed, a SeedSequence child per deploy, named sub-streams within it.

Deploy i always draws from SeedSequence(seed, spawn_key=(i, stream)), whatever runs before or
beside it — so rows do not depend on the number of workers, and every strategy of deploy i sees
the same release, traffic, noise and people (common random numbers).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.random.bit_generator import ISeedSequence, ISpawnableSeedSequence

# Sub-streams of a deploy. Exogenous ones (release, traffic, noise) are drawn once and shared by
# every strategy; the others (observation noise, people, controller dice) restart from the same
# state for each strategy.
RELEASE, TRAFFIC, NOISE, OBSERVE, PEOPLE, CONTROL = range(6)
# Drawn only for the deploys that need them, after the first horizon: traffic of the margin that
# finishes a repair in fine windows; the coarse traffic, noise and observation noise of the
# follow-up of a bad release nobody has caught; the users' reports (how many hurt users it takes).
MARGIN, FOLLOW, FOLLOW_NOISE, FOLLOW_OBSERVE, REPORTS = range(6, 11)
# Not a deploy's: the traffic of a block of deploys the array engine serves at once
# (`sim.engine.arrays`), keyed by the block's index in place of a deploy's.
ARRAYS = 11
# The percentiles of an analysis run's looks, or of a person's review: each run draws from a
# stream of its own, SeedSequence(seed, spawn_key=(deploy, LOOKS, n)) for the deploy's n-th run
# (FOLLOW_LOOKS in a follow-up), so a look's draws depend on the looks of its run before it, never
# on how far traffic was drawn when they were taken.
LOOKS, FOLLOW_LOOKS = 12, 13
# A bad release's row: when its first faulty request came and how many users met one (drawn from
# a stream of their own, so they never depend on how much the tape drew before the row was
# made); and the traffic the array engine serves a bad release along its plan.
METRICS, FAULTED = 14, 15


def stream(seed: int, deploy: int, which: int) -> np.random.Generator:
    """Sub-stream `which` of deploy `deploy`: numpy's SeedSequence child (seed, spawn_key=(deploy,
    which)), drawn by PCG64 (a deploy's own streams from words hashed a band of deploys at a time,
    `_band_words`: the same Generator, bit for bit)."""
    j = _BANDED.get(which)
    if j is None or seed < 0 or not 0 <= deploy <= _M32:  # numpy's refusals and long keys: its own way
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(deploy, which))))
    words = _band_words(seed, deploy // _BAND)[deploy % _BAND, j]
    # A bit generator takes any ISeedSequence (numpy/random/bit_generator.pyx); the stubs say SeedSequence.
    return np.random.Generator(
        np.random.PCG64(cast(np.random.SeedSequence, _Known(words, seed, (deploy, which))))
    )


class LazyStream:
    """A sub-stream built on first use. Most deploys never draw from some streams (people, controller
    dice), and building a Generator costs more than many a step. A SeedSequence child's draws do
    not depend on when its Generator is built, so the results are the same."""

    __slots__ = ("_gen", "_key")

    def __init__(self, seed: int, deploy: int, which: int, n: int | None = None) -> None:
        self._key = (seed, deploy, which, n)
        self._gen: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:  # only for names not found: the Generator's methods
        if name.startswith("_"):  # e.g. copy's probes before __init__ ran: no Generator behind them
            raise AttributeError(name)
        if self._gen is None:
            seed, deploy, which, n = self._key
            self._gen = stream(seed, deploy, which) if n is None else run_stream(seed, deploy, which, n)
        return getattr(self._gen, name)


def run_stream(seed: int, deploy: int, which: int, n: int) -> np.random.Generator:
    """The n-th run's stream of a deploy's look streams `which` (LOOKS or FOLLOW_LOOKS)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(deploy, which, n))))


def lazy(seed: int, deploy: int, which: int, n: int | None = None) -> np.random.Generator:
    """`stream(seed, deploy, which)` (with n: `run_stream`), built only when first drawn from."""
    return cast(np.random.Generator, LazyStream(seed, deploy, which, n))


# ---- many streams at once ----
#
# Building a Generator costs ~12 µs, most of it SeedSequence hashing its words one at a time. Where
# many streams of one seed are built at once (a block's deploys), the hashing runs over all their
# keys in array operations instead, and PCG64 is handed the words it would have drawn from each
# SeedSequence: the same Generators, bit for bit (a test compares them). numpy's algorithm
# (numpy/random/bit_generator.pyx): a pool of four 32-bit words mixed from the entropy, the seed's
# words padded to the pool's size when a spawn key follows, then the key's words; PCG64 reads four
# 64-bit words of `generate_state`.

_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _M32 = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF
#: Below this many streams, one SeedSequence each is cheaper than the array operations.
MANY = 24


class _Words(ISeedSequence):
    """A seed sequence whose state words are already known (a `SeedSequence`'s, worked out in bulk)."""

    __slots__ = ("_w",)

    def __init__(self, words: np.ndarray) -> None:
        self._w = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:  # PCG64 asks for exactly this
            raise ValueError("these words are PCG64's four 64-bit ones")
        return self._w


class _Known(_Words, ISpawnableSeedSequence):
    """`_Words` of SeedSequence(seed, spawn_key=key) that can spawn as that sequence does (a
    world's stream spawns an experiment's): the real sequence is built on the first spawn."""

    __slots__ = ("_key", "_seed", "_seq")

    def __init__(self, words: np.ndarray, seed: int, key: tuple[int, ...]) -> None:
        super().__init__(words)
        self._seed, self._key = seed, key
        self._seq: np.random.SeedSequence | None = None

    def spawn(self, n_children: int) -> list[Any]:  # SeedSequences (the stubs say Self)
        if self._seq is None:
            self._seq = np.random.SeedSequence(self._seed, spawn_key=self._key)
        return self._seq.spawn(n_children)


#: A deploy's own streams (`stream`) whose words are hashed for a band of deploys at once, and
#: their places in a band's words. Not ARRAYS or FAULTED: keyed by a block, each is asked for once.
_BANDED = {
    w: j
    for j, w in enumerate(
        (OBSERVE, PEOPLE, CONTROL, MARGIN, FOLLOW, FOLLOW_NOISE, FOLLOW_OBSERVE, REPORTS, METRICS)
    )
}
#: Deploys a band hashes at once: a block's (`arrays.BLOCK`), whose deploys a process runs together.
_BAND = 64


@functools.lru_cache(maxsize=64)
def _band_words(seed: int, band: int) -> np.ndarray:
    """(deploys, streams, 4) words: PCG64's of SeedSequence(seed, spawn_key=(deploy, which)) for
    the band's deploys and every `_BANDED` stream (about 90 µs, against 9 µs a stream built alone;
    a deploy asks for about three)."""
    deploys = np.arange(band * _BAND, (band + 1) * _BAND, dtype=np.int64)
    keys = np.empty((_BAND, len(_BANDED), 2), np.int64)
    keys[:, :, 0] = deploys[:, None]
    keys[:, :, 1] = np.array(list(_BANDED), np.int64)
    words = _pcg64_words(seed, keys.reshape(-1, 2)).reshape(_BAND, len(_BANDED), 4)
    words.flags.writeable = False
    return words


def _hashmix(value: int, hc: int) -> tuple[int, int]:
    value ^= hc
    hc = (hc * _MULT_A) & _M32
    value = (value * hc) & _M32
    return value ^ (value >> 16), hc


@functools.lru_cache(maxsize=64)
def _seed_pool(seed: int) -> tuple[tuple[int, ...], int]:
    """The pool once the seed's words are mixed in (padded to the pool's four: a spawn key follows),
    and the hash constant reached: what every key of the seed starts from."""
    run = []
    x = seed
    while True:
        run.append(x & _M32)
        x >>= 32
        if not x:
            break
    run += [0] * max(0, 4 - len(run))
    hc, pool = _INIT_A, []
    for i in range(4):
        v, hc = _hashmix(run[i], hc)
        pool.append(v)
    for src in range(4):
        for dst in range(4):
            if src != dst:
                h, hc = _hashmix(pool[src], hc)
                r = (_MIX_L * pool[dst] - _MIX_R * h) & _M32
                pool[dst] = r ^ (r >> 16)
    for src in range(4, len(run)):  # a seed of more than four words
        for dst in range(4):
            h, hc = _hashmix(run[src], hc)
            r = (_MIX_L * pool[dst] - _MIX_R * h) & _M32
            pool[dst] = r ^ (r >> 16)
    return tuple(pool), hc


def _pcg64_words(seed: int, keys: np.ndarray) -> np.ndarray:
    """(N, 4) uint64: the words PCG64 reads of SeedSequence(seed, spawn_key=key) for each row of
    `keys` (N, L), every entry below 2**32 (one word each)."""
    pool0, hc = _seed_pool(seed)
    n, length = keys.shape
    k = keys.astype(np.uint64)
    m32, s16 = np.uint64(_M32), np.uint64(16)
    mix_l, mix_r = np.uint64(_MIX_L), np.uint64(_MIX_R)
    pool = [np.full(n, v, np.uint64) for v in pool0]
    for src in range(length):
        col = k[:, src]
        for dst in range(4):
            v = col ^ np.uint64(hc)
            hc = (hc * _MULT_A) & _M32
            v *= np.uint64(hc)
            v &= m32
            v ^= v >> s16
            r = mix_l * pool[dst]
            r -= mix_r * v
            r &= m32
            r ^= r >> s16
            pool[dst] = r
    hb = _INIT_B
    out = np.empty((n, 8), np.uint64)
    for i in range(8):
        v = pool[i % 4] ^ np.uint64(hb)
        hb = (hb * _MULT_B) & _M32
        v *= np.uint64(hb)
        v &= m32
        v ^= v >> s16
        out[:, i] = v
    return (out[:, 1::2] << np.uint64(32)) | out[:, 0::2]


def streams_of(seed: int, keys: Sequence[tuple[int, ...]]) -> list[np.random.Generator]:
    """`np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))` for
    each key (all of one length): `stream` and `run_stream` for many deploys at once."""
    if len(keys) < MANY or max((max(k) for k in keys), default=0) > _M32:
        return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=k))) for k in keys]
    words = _pcg64_words(seed, np.array(keys, np.int64))
    # A bit generator takes any ISeedSequence (numpy/random/bit_generator.pyx); the stubs say SeedSequence.
    return [np.random.Generator(np.random.PCG64(cast(np.random.SeedSequence, _Words(w)))) for w in words]


class RunStreams:
    """The run streams `run_stream(seed, deploy, which, n)` of many deploys, n from 0 up, built on
    first ask from words hashed in bulk, a band of runs for all the deploys at a time: a block's
    analysis runs and reviews ask for a few runs of each of its deploys, round after round, too few
    at once for `streams_of` to hash them together. The same Generators, bit for bit (a test)."""

    __slots__ = ("_band", "_deploys", "_seed", "_which", "_words")

    def __init__(self, seed: int, deploys: Sequence[int], which: int, *, band: int = 16) -> None:
        self._seed, self._deploys, self._which, self._band = seed, list(deploys), which, band
        self._words: dict[int, np.ndarray] = {}  # band → (deploys, band, 4) words

    def get(self, i: int, n: int) -> np.random.Generator:
        """Run n's stream of the i-th deploy."""
        deploy, band = self._deploys[i], n // self._band
        if self._seed < 0 or max(deploy, n + self._band) > _M32:  # numpy's refusal; words past one each
            return run_stream(self._seed, deploy, self._which, n)
        words = self._words.get(band)
        if words is None:
            keys = np.empty((len(self._deploys), self._band, 3), np.int64)
            fit = [d if d <= _M32 else 0 for d in self._deploys]  # those are never asked for here
            keys[:, :, 0] = np.array(fit, np.int64)[:, None]
            keys[:, :, 1] = self._which
            keys[:, :, 2] = np.arange(band * self._band, (band + 1) * self._band)
            words = _pcg64_words(self._seed, keys.reshape(-1, 3)).reshape(-1, self._band, 4)
            self._words[band] = words
        seq = cast(np.random.SeedSequence, _Words(words[i, n % self._band]))  # as in `streams_of`
        return np.random.Generator(np.random.PCG64(seq))
