"""Frozen, self-validating config records, and the builder that fills them from plain data.

The pattern is Ciw's: define (a frozen dataclass per section, each field with its range and unit) →
fill defaults → validate → build. Records validate on construction, so a config made in Python is
held to the same rules as one read from YAML; the builder only adds the key path to the message.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, get_args, get_origin

from .errors import ConfigError, PathPart


def num(
    default: float | int | None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    unit: str = "",
    doc: str = "",
    lo_open: bool = False,
) -> Any:
    """A numeric field with an allowed range, a unit and a one-line meaning."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "unit": unit, "doc": doc}
    return dataclasses.field(default=default, metadata=meta)


def text(default: str | None, *, doc: str = "") -> Any:
    return dataclasses.field(default=default, metadata={"doc": doc})


def section(factory: Any, *, doc: str = "") -> Any:
    """A nested record (or tuple/dict of records) filled from its own defaults."""
    return dataclasses.field(default_factory=factory, metadata={"doc": doc})


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    # A plain dict, not functools.cache: type checkers cannot tell that a dataclass's type is hashable.
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _bound(value: float | None) -> str:
    return "" if value is None else _fmt(value)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config record: checks types and ranges on construction, then `validate()`."""

    #: Field names that may be omitted from dumps because they only repeat the key they sit under.
    _dump_skip: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                coerced = _coerce(hints[f.name], value, ())
            except ConfigError as err:
                raise err.at(f.name) from None
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
            _check_finite(f, coerced, (f.name,))
            _check_range(f, coerced)
        self.validate()

    def validate(self) -> None:
        """Cross-field rules; raise ConfigError with the offending field's path."""

    @classmethod
    def variant(cls, data: Mapping[str, Any], key: str | None) -> type[Config]:
        """The concrete record class for `data` (polymorphic sections override this)."""
        return cls

    @classmethod
    def coerce_input(cls, value: Any, path: tuple[PathPart, ...]) -> Any:
        """Accept a shorthand form (e.g. a bare number for a distribution) before building."""
        return value


def _range_text(f: dataclasses.Field) -> str:
    """A field's allowed range as the messages say it ("within 0..1 s", ">= 0"), or ""."""
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    lo_open = f.metadata.get("lo_open", False)
    if lo is not None and hi is not None:
        rng = f"within {_bound(lo)}..{_bound(hi)}" + (f" (excluding {_bound(lo)})" if lo_open else "")
    elif lo is not None:
        rng = f"{'>' if lo_open else '>='} {_bound(lo)}"
    elif hi is not None:
        rng = f"<= {_bound(hi)}"
    else:
        return ""
    unit = f.metadata.get("unit")
    return f"{rng}{' ' + unit if unit else ''}"


def _check_finite(f: dataclasses.Field, value: Any, path: tuple[PathPart, ...]) -> None:
    """NaN and ±inf are refused in every number of a record, and in its lists and mappings of numbers:
    no field means "unbounded" by inf, and NaN compares false with every limit, so a range check alone
    lets it through to the model (nested records check their own fields)."""
    if isinstance(value, float) and not math.isfinite(value):
        rng = _range_text(f)
        raise ConfigError(f"{_fmt(value)} is not a finite number{' ' + rng if rng else ''}", path)
    if isinstance(value, tuple):
        for i, item in enumerate(value):
            _check_finite(f, item, (*path, i))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(f, item, (*path, key))


def _check_range(f: dataclasses.Field, value: Any) -> None:
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if (lo is None and hi is None) or value is None or isinstance(value, bool):
        return
    if not isinstance(value, int | float):
        return
    lo_open = f.metadata.get("lo_open", False)
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and value > hi
    if math.isnan(value) or too_low or too_high:
        raise ConfigError(f"{_fmt(value)} is not {_range_text(f)}", (f.name,))


def _type_name(hint: Any) -> str:
    names = {float: "a number", int: "a whole number", bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    origin = get_origin(hint)
    if origin is tuple:
        return "a list"
    if origin in (dict, Mapping):
        return "a mapping"
    if isinstance(hint, type) and issubclass(hint, Config):
        return "a mapping"
    return str(hint)


def _coerce(hint: Any, value: Any, path: tuple[PathPart, ...]) -> Any:
    """Convert plain data (YAML scalars, lists, dicts) to the hinted type, or raise ConfigError."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            if type(None) in get_args(hint):
                return None
            raise ConfigError("must be given", path)
        return _coerce(args[0], value, path)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{_fmt(value)} is not one of: {', '.join(map(str, allowed))}", path)
        return value
    if origin is tuple:
        item_hint = get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"expected a list, got {_fmt(value)}", path)
        return tuple(_coerce(item_hint, v, (*path, i)) for i, v in enumerate(value))
    if origin in (dict, Mapping):
        item_hint = get_args(hint)[1]
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a mapping, got {_fmt(value)}", path)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"key {_fmt(k)} must be a string", path)
            out[k] = _coerce(item_hint, v, (*path, k))
        return out
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, hint):
            return value
        key = path[-1] if path and isinstance(path[-1], str) else None
        return build(hint, value, path, key=key)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {_fmt(value)}", path)
        return value if isinstance(value, float) else float(value)
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected a whole number, got {_fmt(value)}", path)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_fmt(value)}", path)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_fmt(value)}", path)
        return value
    return value


def build(cls: type[Config], data: Any, path: tuple[PathPart, ...] = (), *, key: str | None = None) -> Config:
    """Fill `cls` from plain data: reject unknown keys (with a hint), coerce types, validate."""
    if data is None:
        data = {}
    data = cls.coerce_input(data, path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping, got {_fmt(data)}", path)
    if not isinstance(data.get("kind", ""), str):
        # A kind names a registered variant; checked here so no `variant` lookup meets a list or a dict.
        raise ConfigError(f"expected a name, got {_fmt(data['kind'])}", (*path, "kind"))
    try:
        target = cls.variant(data, key)
    except ConfigError as err:
        raise err.at(*path) from None
    known = {f.name: f for f in dataclasses.fields(target)}
    for k in data:
        if k not in known:
            raise unknown_key(k, known, path)
    hints = _hints(target)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, (*path, name))
    try:
        return target(**kwargs)
    except ConfigError as err:
        raise err.at(*path) from None


def pick_kind(kinds: Mapping[str, type[Config]], data: Mapping[str, Any], key: str | None) -> type[Config]:
    """The record class a polymorphic section's `kind` (or, failing that, its key) names."""
    kind = data.get("kind", key)
    if kind not in kinds:
        allowed = ", ".join(kinds)
        if "kind" not in data:
            raise ConfigError(f"needs a kind, one of: {allowed}", ("kind",))
        raise ConfigError(f"{kind!r} is not one of: {allowed}", ("kind",))
    return kinds[kind]


def unknown_key(key: Any, allowed: Mapping[str, Any] | list[str], path: tuple[PathPart, ...]) -> ConfigError:
    names = sorted(allowed)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown key {str(key)!r}{hint} (allowed: {', '.join(names)})", (*path, str(key)))


def to_plain(obj: Any, compact: bool = False) -> Any:
    """A record as plain data (dicts, lists, scalars) that `build` reads back to an equal record.

    compact: leave out unset (None) fields and use a record's short form where it has one
    (a distribution as a number or [low, high]) — what a person would write. A None that overrides
    another default (`safety_net: null`) is kept: left out, it would read back as that default.
    """
    if isinstance(obj, Config):
        if compact and hasattr(obj, "short_form"):
            short = obj.short_form()
            if short is not None:
                return short
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            overrides = f.default is not None and f.default is not dataclasses.MISSING
            if compact and ((value is None and not overrides) or (value is False and f.default is False)):
                continue
            out[f.name] = to_plain(value, compact)
        return out
    if isinstance(obj, Mapping):
        return {k: to_plain(v, compact) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_plain(v, compact) for v in obj]
    return obj


def field_docs(cls: type[Config]) -> dict[str, tuple[str, str]]:
    """name → (unit, meaning) for a record's fields, for generated docs and app help texts."""
    return {f.name: (f.metadata.get("unit", ""), f.metadata.get("doc", "")) for f in dataclasses.fields(cls)}
