"""Random streams: one root seed, a SeedSequence child per deploy, named sub-streams within it.

Deploy i always draws from SeedSequence(seed, spawn_key=(i, stream)), whatever runs before or
beside it — so rows do not depend on the number of workers, and every strategy of deploy i sees
the same release, traffic, noise and people (common random numbers).
"""

from __future__ import annotations

import numpy as np

# Sub-streams of a deploy. Exogenous ones (release, traffic, noise) are drawn once and shared by
# every strategy; the others (observation noise, people, controller dice) restart from the same
# state for each strategy.
RELEASE, TRAFFIC, NOISE, OBSERVE, PEOPLE, CONTROL = range(6)


def stream(seed: int, deploy: int, which: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(deploy, which))))
