"""Draws from a numpy Generator at the sizes the model makes them: tiny arrays element by element.

A Generator method called with arrays pays several microseconds of set-up (broadcasting, argument
checks) before its first variate; called with plain numbers it pays a fraction of one. Both run the
same sampler on the same bit generator, element after element in C order, so drawing a tiny array
number by number gives exactly the values one array call would — and the stream moves on alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

#: Up to this many elements (for binomials: with n > 0) a Python loop of scalar draws is faster than
#: one array call (measured; a beta variate's array call costs more to set up than a binomial's).
SMALL_BINOMIAL = 10
#: Past this many elements a binomial takes the array call unlooked: counting the empty ones costs more.
LISTED_BINOMIAL = 64
SMALL_BETA = 14

_Reals = TypeVar("_Reals", list[float], np.ndarray)


def binomial(rng: np.random.Generator, n: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    """`rng.binomial(n, p)` for an integer array n and p a number, an array shaped like n, or one
    value per element of n's last axis (shaped so, or with leading axes of length 1)."""
    size = n.size
    if size > LISTED_BINOMIAL:
        return rng.binomial(n, p)
    ns = n.ravel().tolist()
    # An element with n = 0 or p = 0 is 0 before numpy touches the stream: it is skipped, so only
    # the others count towards the loop's cost (many a row has one slot, or segment, empty).
    if size > SMALL_BINOMIAL and size - ns.count(0) > SMALL_BINOMIAL:
        return rng.binomial(n, p)
    draw = rng.binomial
    if isinstance(p, np.ndarray):
        ps = p.ravel().tolist()
        if p.shape != n.shape:  # one value per element of the last axis, repeated along the others
            if n.ndim == 0 or p.ndim > n.ndim or p.shape[-1:] != n.shape[-1:] or p.size != n.shape[-1]:
                return rng.binomial(n, p)
            ps *= size // max(1, len(ps))
        out = [draw(x, q) if x and q else 0 for x, q in zip(ns, ps, strict=True)]
    else:
        q = float(p)
        out = [draw(x, q) if x else 0 for x in ns] if q else [0] * size
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


def beta_runs(
    stream: Callable[[int], np.random.Generator], a: np.ndarray, b: np.ndarray, ends: Sequence[int]
) -> np.ndarray:
    """`beta` over consecutive runs of a and b (run i ends before `ends[i]`), each from its own
    stream (`stream(i)`, asked for only by runs that draw), laid end to end: many deploys' runs of
    a few draws each, without an array per run."""
    out: list[float] = []
    lo = 0
    for i, hi in enumerate(ends):
        if hi > lo:
            draw = stream(i).beta
            if hi - lo > SMALL_BETA:
                out += draw(a[lo:hi], b[lo:hi]).tolist()
            else:
                out += map(draw, a[lo:hi].tolist(), b[lo:hi].tolist())
        lo = hi
    return np.array(out, float)
