"""Families of kinds — judges, strategies — each kind a config record and the code that runs it.

A family is the one place its kinds are registered, in the style of SimPy's `events.py` (a small
kernel, a generic base for a family): the config floor registers each kind's record
(`@STRATEGIES.record("canary")`), the engine the implementation that runs it
(`@STRATEGIES.implementation("canary")`). The config never looks at implementations, so parsing
`kind: canary` loads no simulation code.

A family lists its kinds in a stated order — the order error messages and the generated scenario
reference (docs/scenarios.md) name them in — whatever order their modules happen to be imported
in. A kind registered beyond the stated ones (an extension) comes after them, in the order
registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class Kinds(Mapping[str, type]):
    """A family's kinds as a mapping: kind → its config record, in the stated order; and
    `implementation_of(kind)` → what runs it, once the engine has registered it."""

    def __init__(self, family: str, order: Sequence[str]) -> None:
        self.family = family
        self.order = tuple(order)
        self._records: dict[str, type] = {}
        self._implementations: dict[str, Any] = {}

    def record(self, kind: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: `cls` is the config record of `kind`."""

        def register(cls: type[T]) -> type[T]:
            if kind in self._records and self._records[kind] is not cls:
                raise ValueError(f"{self.family} kind {kind!r} already has a record: {self._records[kind]}")
            self._records[kind] = cls
            self._records = dict(sorted(self._records.items(), key=lambda kv: self._rank(kv[0])))
            return cls

        return register

    def implementation(self, kind: str) -> Callable[[T], T]:
        """Decorator: `impl` (a class or an object) is what runs `kind` in the engine."""

        def register(impl: T) -> T:
            if kind in self._implementations and self._implementations[kind] is not impl:
                raise ValueError(f"{self.family} kind {kind!r} already has an implementation")
            self._implementations[kind] = impl
            return impl

        return register

    def implementation_of(self, kind: str) -> Any:
        """What runs `kind` (a KeyError names the family when the engine has none for it)."""
        try:
            return self._implementations[kind]
        except KeyError:
            raise KeyError(f"no implementation of the {self.family} kind {kind!r}") from None

    def implemented(self) -> tuple[str, ...]:
        """The kinds that have an implementation, in the stated order."""
        return tuple(sorted(self._implementations, key=self._rank))

    def _rank(self, kind: str) -> tuple[int, int]:
        if kind in self.order:
            return (0, self.order.index(kind))
        return (1, list(self._records).index(kind) if kind in self._records else len(self._records))

    # ---- the mapping of records ----

    def __getitem__(self, kind: str) -> type:
        return self._records[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"Kinds({self.family!r}: {', '.join(self._records)})"
