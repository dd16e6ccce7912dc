"""Draws from a numpy Generator at the sizes the model makes them: tiny arrays element by element.

A Generator method called with arrays pays several microseconds of set-up (broadcasting, argument
checks) before its first variate; called with plain numbers it pays a fraction of one. Both run the
same sampler on the same bit generator, element after element in C order, so drawing a tiny array
number by number gives exactly the values one array call would — and the stream moves on alike.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

#: Up to this many elements a Python loop of scalar draws is faster than one array call (measured;
#: a beta variate's array call costs more to set up than a binomial's).
SMALL_BINOMIAL = 10
SMALL_BETA = 14

_Reals = TypeVar("_Reals", list[float], np.ndarray)


def binomial(rng: np.random.Generator, n: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    """`rng.binomial(n, p)` for an integer array n and p a number, an array shaped like n, or one
    value per element of n's last axis."""
    if n.size > SMALL_BINOMIAL:
        return rng.binomial(n, p)
    draw = rng.binomial
    if isinstance(p, np.ndarray):
        ps = p.ravel().tolist()
        if p.shape != n.shape:  # one value per element of the last axis, repeated along the others
            if p.shape != n.shape[-1:]:
                return rng.binomial(n, p)
            ps *= n.size // max(1, len(ps))
        out = [draw(x, q) for x, q in zip(n.ravel().tolist(), ps, strict=True)]
    else:
        q = float(p)
        out = [draw(x, q) for x in n.ravel().tolist()]
    return np.array(out, np.int64).reshape(n.shape)


def beta(rng: np.random.Generator, a: _Reals, b: _Reals) -> _Reals:
    """`rng.beta(a, b)` for two arrays of one shape (an array back) or two lists of one length (a list)."""
    draw = rng.beta
    if isinstance(a, np.ndarray):
        if a.size > SMALL_BETA:
            return draw(a, b)
        out = [draw(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)]
        return np.array(out).reshape(a.shape)
    if len(a) > SMALL_BETA:
        return draw(np.array(a), np.array(b)).tolist()
    return [draw(x, y) for x, y in zip(a, b, strict=True)]
