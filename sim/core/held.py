"""Caches keyed by a live object: by its id, holding the object so that the id stays its own."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

V = TypeVar("V")


def held_for(cache: OrderedDict[int, tuple[Any, V]], owner: object, keep: int, fresh: type[V]) -> V:
    """The entry of `owner` in `cache` (made with `fresh()` on first ask), the cache keeping the last
    `keep` owners. An entry holds its owner, so a new object under a freed one's id gets its own."""
    held = cache.get(id(owner))
    if held is None or held[0] is not owner:
        held = cache[id(owner)] = (owner, fresh())
        while len(cache) > keep:
            cache.popitem(last=False)
    return held[1]
