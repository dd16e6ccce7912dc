"""Prometheus range-query results in (the HTTP API's matrix JSON, or a CSV export), as checked series.

Every file is read whole or refused with one line naming it, the field and what is allowed
(`ConfigError`), after a size cap and within a sample cap, so hostile input costs bounded time and
memory. Counters (`*_total`, `*_count`, `*_bucket` by their `__name__` or CSV column) become
per-second rates the way `rate()` reads them: a drop is a counter reset, and the sample after it
is the whole increase. A query that already applied `rate()` has no `__name__` and is read as a
rate. Missing steps stay NaN on a regular grid; a file missing most of its steps is refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ConfigError

#: What a file may hold, and what the fits read it as.
KINDS = ("requests", "errors", "latency", "replicas")
MAX_BYTES = 64 * 2**20
MAX_SAMPLES = 5_000_000
MAX_SERIES = 1000
#: Refuse a series when more than this share of its steps is missing (a gap of a few steps is noted).
MAX_MISSING = 0.5
COUNTER_SUFFIXES = ("_total", "_count", "_bucket")
_NON_FINITE = {"nan", "+inf", "-inf", "inf"}


@dataclass(frozen=True)
class Series:
    """One series on a regular grid: per-second rates for counters, values as read for gauges."""

    name: str
    kind: str
    labels: tuple[tuple[str, str], ...]
    timestamps: np.ndarray  # unix seconds, every `step`
    values: np.ndarray  # NaN where a step is missing
    step: float
    source: str
    #: How far before its timestamp a sample's rate is centred: half a step for a counter read here
    #: (a rate covers the step before it), 0 for a series queried as a rate or a gauge.
    lag: float = 0.0

    @property
    def quantile(self) -> float:
        """The quantile a summary series holds (`quantile` label), NaN if not a number."""
        try:
            return float(dict(self.labels)["quantile"])
        except ValueError:
            return math.nan

    @property
    def le(self) -> float:
        """The upper bound of a histogram bucket (`le` label)."""
        return float(dict(self.labels)["le"])


@dataclass(frozen=True)
class Read:
    """Series read from the files, and what was noted on the way."""

    series: tuple[Series, ...]
    notes: tuple[str, ...] = field(default=())


def kind_of(name: str, source: str) -> str | None:
    """Which query a series holds, by its metric name, else by its file name."""
    for text in (name, Path(source).stem):
        low = text.lower()
        if "bucket" in low or "latency" in low or "duration" in low:
            return "latency"
        if "replica" in low:
            return "replicas"
        if "error" in low or "5xx" in low or "fail" in low:
            return "errors"
        if "request" in low:
            return "requests"
    return None


def read_files(paths: list[str], explicit: dict[str, str] | None = None) -> Read:
    """Read every file: a `kind` from `explicit` (file → kind) wins over the names."""
    explicit = explicit or {}
    out: list[Series] = []
    notes: list[str] = []
    for path in paths:
        got = read_file(path, explicit.get(path))
        out.extend(got.series)
        notes.extend(got.notes)
    steps = {s.step for s in out}
    if len(steps) > 1:
        by = {s.step: s.source for s in out}
        listed = ", ".join(f"{by[st]} every {st:g} s" for st in sorted(by))
        raise ConfigError(
            f"steps differ between files ({listed}); query every file with the same step",
            ("step",),
            source=", ".join(sorted({s.source for s in out})),
        )
    return Read(tuple(out), tuple(notes))


def read_file(path: str, kind: str | None = None) -> Read:
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}", ("--series",), source=path)
    raw = _bytes(path)
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        rows = _json_rows(raw, path)
    elif head[:1].isalpha() or head[:1] == b'"':
        rows = _csv_rows(raw, path)
    else:
        raise ConfigError(
            "unknown format; give the JSON of a Prometheus query_range, or a CSV with a timestamp column",
            source=path,
        )
    notes: list[str] = []
    series = []
    for row in rows:
        name, where = row[0], row[4]
        k = kind or kind_of(name, path)
        if k is None:
            raise ConfigError(
                f"cannot tell which query {name or 'this series'!r} holds; name the file or series after"
                " requests, errors, *_bucket or replicas, or pass --series KIND=FILE",
                (where,),
                source=path,
            )
        if k == "latency" and "quantile" in dict(row[1]) and "le" not in dict(row[1]):
            # A summary's quantile (`{quantile="0.99"}`): what `judge` reads when there are no buckets.
            k = "quantile"
            notes.append(f"{path}: {where}: a summary quantile: read by `judge`, not fitted")
        series.append(_grid(row, k, path, notes))
    return Read(tuple(series), tuple(notes))


def _bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err.__class__.__name__}", source=path) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"larger than {MAX_BYTES // 2**20} MB; query a shorter range or a wider step", source=path
        )
    if not raw.strip():
        raise ConfigError("is empty", source=path)
    return raw


Row = tuple[str, tuple[tuple[str, str], ...], list[Any], list[Any], str]


def _json_rows(raw: bytes, path: str) -> list[Row]:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ConfigError(f"not valid JSON ({str(err).splitlines()[0][:80]})", source=path) from None
    if not isinstance(doc, dict):
        raise ConfigError("must be a JSON object with status and data", source=path)
    if doc.get("status") != "success":
        why = str(doc.get("error", ""))[:120]
        raise ConfigError(
            f"is {doc.get('status')!r}, not 'success'{': ' + why if why else ''}", ("status",), source=path
        )
    data = doc.get("data")
    if not isinstance(data, dict):
        raise ConfigError("must be an object with resultType and result", ("data",), source=path)
    if data.get("resultType") != "matrix":
        raise ConfigError(
            f"is {data.get('resultType')!r}; a range query (query_range) returns 'matrix'",
            ("data", "resultType"),
            source=path,
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise ConfigError("must be a list of series", ("data", "result"), source=path)
    if not result:
        raise ConfigError("is an empty matrix: the query matched no series", ("data", "result"), source=path)
    if len(result) > MAX_SERIES:
        raise ConfigError(
            f"has {len(result)} series, more than {MAX_SERIES}", ("data", "result"), source=path
        )
    rows: list[Row] = []
    total = 0
    for i, item in enumerate(result):
        where = f"data.result[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
            raise ConfigError("must be an object with metric and values", (where,), source=path)
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(
                'values must be a non-empty list of [timestamp, "value"]', (where,), source=path
            )
        total += len(values)
        if total > MAX_SAMPLES:
            raise ConfigError(f"more than {MAX_SAMPLES} samples; query a wider step", (where,), source=path)
        labels = tuple(sorted((str(k), str(v)) for k, v in item["metric"].items() if k != "__name__"))
        name = str(item["metric"].get("__name__", ""))
        ts, vals = [], []
        for j, pair in enumerate(values):
            if not isinstance(pair, list) or len(pair) != 2:
                raise ConfigError('must be [timestamp, "value"]', (f"{where}.values[{j}]",), source=path)
            ts.append(pair[0])
            vals.append(pair[1])
        rows.append((name, labels, ts, vals, where))
    return rows


_COLUMN = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(?:\{(.*)\})?\s*$")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*,?')


def _column(head: str, path: str, i: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    m = _COLUMN.match(head)
    if not m or not (m.group(1) or m.group(2)):
        raise ConfigError(
            f'column {head[:60]!r} is not a series name like name{{label="v"}}',
            (f"column[{i}]",),
            source=path,
        )
    labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
    return m.group(1) or "", labels


def _csv_rows(raw: bytes, path: str) -> list[Row]:
    """Wide CSV: a `timestamp` column (unix seconds or ISO 8601), then one column per series."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", source=path) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        body = list(_capped(reader, path))
    except csv.Error as err:
        raise ConfigError(f"not valid CSV ({err})", source=path) from None
    if not header or header[0].strip().lower() not in ("timestamp", "time"):
        raise ConfigError(
            "unknown format: a CSV's first column must be 'timestamp' (then one column per series)",
            ("column[0]",),
            source=path,
        )
    if len(header) < 2:
        raise ConfigError("has a timestamp column but no series", ("column[1]",), source=path)
    if len(header) > MAX_SERIES:
        raise ConfigError(f"has more than {MAX_SERIES} columns", source=path)
    if not body:
        raise ConfigError("has a header but no rows", ("row[1]",), source=path)
    rows: list[Row] = []
    ts = [_csv_time(r[0] if r else "", path, n + 2) for n, r in enumerate(body)]
    for i, head in enumerate(header[1:], start=1):
        name, labels = _column(head, path, i)
        vals = [r[i] if i < len(r) else "" for r in body]
        keep = [(t, v) for t, v in zip(ts, vals, strict=True) if v.strip() != ""]
        if not keep:
            raise ConfigError("has no values", (f"column[{i}]",), source=path)
        rows.append((name, labels, [t for t, _ in keep], [v for _, v in keep], f"column[{i}]"))
    return rows


def _capped(reader: Any, path: str) -> Any:
    for n, row in enumerate(reader):
        if n * max(len(row), 1) > MAX_SAMPLES:
            raise ConfigError(f"more than {MAX_SAMPLES} samples; export a wider step", source=path)
        yield row


def _csv_time(cell: str, path: str, line: int) -> float:
    cell = cell.strip()
    try:
        return float(cell)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(cell.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ConfigError(
            f"timestamp {cell[:40]!r} is neither unix seconds nor ISO 8601",
            ("timestamp",),
            source=path,
            line=line,
        ) from None


def _number(v: Any, path: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ConfigError(f"{str(v)[:40]!r} is not a number", (where,), source=path)
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"{str(v)[:40]!r} is not a number", (where,), source=path) from None


def _grid(row: Row, kind: str, path: str, notes: list[str]) -> Series:
    name, labels, ts_raw, vals_raw, where = row
    ts = np.array([_number(t, path, f"{where}.timestamp") for t in ts_raw])
    vals = np.array([_number(v, path, f"{where}.value") for v in vals_raw])
    if not np.isfinite(ts).all():
        raise ConfigError("timestamps must be finite", (where,), source=path)
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        bad = int(np.argmin(np.diff(ts) > 0)) + 1
        raise ConfigError(f"timestamps must increase (sample {bad})", (where,), source=path)
    if kind == "latency" and "le" not in dict(labels):
        raise ConfigError("a histogram bucket series needs an 'le' label", (where,), source=path)
    if kind == "latency":
        try:
            if math.isnan(float(dict(labels)["le"])):
                raise ValueError("NaN")
        except ValueError:
            raise ConfigError(
                f"le {dict(labels)['le'][:20]!r} is not a number", (where,), source=path
            ) from None
    finite = np.isfinite(vals)
    if not finite.all():
        notes.append(f"{path}: {where}: {int((~finite).sum())} NaN/Inf samples dropped")
        ts, vals = ts[finite], vals[finite]
    if len(ts) < 3:
        raise ConfigError(f"{len(ts)} finite samples; at least 3 are needed", (where,), source=path)
    step = float(np.median(np.diff(ts)))
    k = (ts - ts[0]) / step
    if np.abs(k - np.round(k)).max() > 0.01:
        raise ConfigError(f"samples are not on a regular {step:g} s step", (where,), source=path)
    k = np.round(k).astype(np.int64)
    n = int(k[-1]) + 1
    missing = n - len(ts)
    if missing > MAX_MISSING * n:
        raise ConfigError(
            f"{missing} of {n} steps are missing; at most {MAX_MISSING:.0%} may be", (where,), source=path
        )
    if missing:
        notes.append(f"{path}: {where}: {missing} of {n} steps missing (a gap): left out of every fit")
    counter = name.endswith(COUNTER_SUFFIXES)
    if counter:
        vals, resets = _rates(ts, vals)
        if resets:
            notes.append(
                f"{path}: {where}: {resets} counter resets read as rate() does (a drop restarts at 0)"
            )
    grid = np.full(n, np.nan)
    grid[k] = vals
    lag = step / 2 if counter else 0.0
    return Series(name or Path(path).stem, kind, labels, ts[0] + step * np.arange(n), grid, step, path, lag)


def _rates(ts: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-second increase into each sample from the one before (the first has none: NaN).

    As Prometheus's `rate()`: a value below the one before it is a counter reset, and the whole
    new value is the increase since."""
    inc = np.diff(vals)
    drop = inc < 0
    inc[drop] = vals[1:][drop]
    out = np.empty(len(vals))
    out[0] = math.nan
    out[1:] = inc / np.diff(ts)
    return out, int(drop.sum())
