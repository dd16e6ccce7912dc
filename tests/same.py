"""Bit-for-bit equality for tests that hold a fast path to the code it replaced."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def same(a: Any, b: Any) -> bool:
    """Equal and of one type, arrays bit for bit with their dtype and shape (so −0.0 is not 0.0),
    tuples element by element; NaN the same as NaN."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, tuple) and isinstance(b, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))
