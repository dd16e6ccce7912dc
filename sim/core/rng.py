"""Random streams: one root seed, a SeedSequence child per deploy, named sub-streams within it.

Deploy i always draws from SeedSequence(seed, spawn_key=(i, stream)), whatever runs before or
beside it — so rows do not depend on the number of workers, and every strategy of deploy i sees
the same release, traffic, noise and people (common random numbers).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

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


def stream(seed: int, deploy: int, which: int) -> np.random.Generator:
    """Sub-stream `which` of deploy `deploy`: numpy's SeedSequence child (seed, spawn_key=(deploy,
    which)), drawn by PCG64."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(deploy, which))))


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
