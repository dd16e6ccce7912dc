"""Parameter sweeps: every combination of a grid of `key.path=v1,v2,...`, a tidy table and Pareto
fronts — how step weights, pauses and judge thresholds get tuned before production.

Every combination runs with the same seed, so each sees the same releases, traffic and noise
(common random numbers): differences between combinations come from the parameters, not from luck.
The same seed also means a strategy whose config no grid axis touches would give the same rows in
every combination: it is simulated once per distinct setting of the axes that do touch it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..config.scenario import Scenario, load_scenario, parse_key_path
from ..core import yamlsafe
from ..core.errors import ConfigError
from ..results.report import compare, format_table
from ..results.summary import summarize
from .batch import Progress, Workers, executor, run_batch
from .folder import complete_manifest, new_manifest, write_atomic

#: Most combinations one sweep may have (each is a whole batch).
MAX_COMBINATIONS = 1000


@dataclass(frozen=True)
class Axis:
    """One --grid: a key path and the values it takes."""

    key: str
    values: tuple[str, ...]  # as written (YAML syntax each)

    @property
    def short(self) -> str:
        return self.key.rsplit(".", 1)[-1]


def split_values(text: str) -> list[str]:
    """'1,5,[1, 2],{a: 1}' → ['1', '5', '[1, 2]', '{a: 1}']: commas inside brackets or quotes stay."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def parse_grid(item: str) -> Axis:
    if "=" not in item:
        raise ConfigError(f"{item!r} is not key.path=v1,v2,...", ("--grid",))
    key, raw = (p.strip() for p in item.split("=", 1))
    parse_key_path(key)
    values = split_values(raw)
    if any(v == "" for v in values):
        raise ConfigError(f"{item!r} has an empty value", ("--grid",))
    return Axis(key, tuple(values))


def label(axes: Sequence[Axis], values: Sequence[Any]) -> str:
    """A combination in words: "weight=5, pause_s=600"."""
    return ", ".join(f"{a.short}={v}" for a, v in zip(axes, values, strict=True))


@dataclass(frozen=True)
class Point:
    """One combination: the grid values (as written) and the scenario they make."""

    values: tuple[str, ...]
    scenario: Scenario


def plan(
    ref: str | Scenario | dict, overrides: Sequence[str], axes: Sequence[Axis], strategies: Sequence[str]
) -> list[Point]:
    """Every combination, each validated before anything runs: a bad key or value fails the sweep
    at once, naming the --grid item, rather than after hours of runs."""
    if not axes:
        raise ConfigError("needs at least one --grid key.path=v1,v2,...", ("--grid",))
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"a key is swept twice: {', '.join(keys)}", ("--grid",))
    n = math.prod(len(a.values) for a in axes)  # Python ints: numpy's int64 product wraps, even to 0
    if n > MAX_COMBINATIONS:
        raise ConfigError(f"{n:,} combinations is over the limit of {MAX_COMBINATIONS:,}", ("--grid",))
    points = []
    for values in itertools.product(*(a.values for a in axes)):
        sets = [f"{a.key}={v}" for a, v in zip(axes, values, strict=True)]
        try:
            scn = load_scenario(ref, overrides=[*overrides, *sets])
        except ConfigError as err:
            # A bad grid value is reported at its key, not as a --set the user never typed.
            why = ConfigError(err.message, err.path) if err.source == "--set" else err
            raise ConfigError(f"with {', '.join(sets)}: {why}", ("--grid",)) from None
        points.append(Point(tuple(values), scn.only(list(strategies) or list(scn.strategies))))
    return points


def _cell(text: str) -> Any:
    """A grid value for a table column: the number or word it denotes, else the text."""
    try:
        value, _ = yamlsafe.parse(text, "--grid")
    except ConfigError:
        return text
    return value if isinstance(value, int | float | str | bool) else text


def touches(axis: Axis, strategy: str, scn: Scenario) -> bool:
    """Whether the value of `axis` can change `strategy`'s rows in `scn` (one combination).

    A key under `strategies.<name>` belongs to that strategy alone; one under `judges.<j>` to the
    strategies whose config uses judge j — and to every strategy when j is the safety net, which
    watches them all; anything else (fleet, traffic, releases, run, people, ...) to every strategy.
    """
    path = parse_key_path(axis.key)
    if len(path) >= 2 and path[0] == "strategies":
        return path[1] == strategy
    if len(path) >= 2 and path[0] == "judges":
        judge = path[1]
        return judge == scn.safety_net or judge in scn.strategies[strategy].judges_used()
    return True


Setting = tuple[tuple[int, str], ...]  # (axis index, value) of each axis touching a strategy


def settings(points: Sequence[Point], axes: Sequence[Axis]) -> list[dict[str, Setting]]:
    """Per combination, per strategy: the values of the axes that touch it there. Two combinations
    that give a strategy the same setting give it the same rows (same seed, same config)."""
    return [
        {
            s: tuple(
                (i, value)
                for i, (axis, value) in enumerate(zip(axes, p.values, strict=True))
                if touches(axis, s, p.scenario)
            )
            for s in p.scenario.strategies
        }
        for p in points
    ]


def reuse_notes(points: Sequence[Point], axes: Sequence[Axis]) -> list[str]:
    """What the sweep simulates once and reuses, in words: one line per kind of reuse."""
    per_point = settings(points, axes)
    n = len(points)
    names = list(dict.fromkeys(s for p in points for s in p.scenario.strategies))
    distinct = {s: {k[s] for k in per_point if s in k} for s in names}
    untouched = [s for s in names if distinct[s] == {()}]
    notes = []
    if untouched and n > 1:
        them = "it" if len(untouched) == 1 else "them"
        notes.append(
            f"{', '.join(untouched)}: no grid axis touches {them}; "
            f"simulated once and reused for all {n} combinations"
        )
    for s in names:
        if s not in untouched and len(distinct[s]) < n:
            keys = list(dict.fromkeys(axes[i].key for setting in distinct[s] for i, _ in setting))
            verb = "touches" if len(keys) == 1 else "touch"
            notes.append(
                f"{s}: only {', '.join(keys)} {verb} it; simulated {len(distinct[s])} times "
                f"and reused across the {n} combinations"
            )
    return notes


def run(
    points: Sequence[Point],
    axes: Sequence[Axis],
    deploys: int,
    seed: int,
    *,
    jobs: int = 1,
    cluster: Any = None,
    pool: Workers | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run every combination; the tidy summary: grid columns, then `summarize`'s columns. pool: an open
    `batch.executor(...)` to run on (jobs and cluster are then unused).

    A strategy is simulated only for a setting of its touching axes not seen in an earlier
    combination; otherwise its summary is that combination's (the same rows, so the same numbers).
    """
    per_point = settings(points, axes)
    seen: set[tuple[str, Setting]] = set()
    todo: list[list[str]] = []  # per combination, the strategies it simulates
    for p, setting in zip(points, per_point, strict=True):
        fresh = [s for s in p.scenario.strategies if (s, setting[s]) not in seen]
        seen.update((s, setting[s]) for s in fresh)
        todo.append(fresh)
    done: dict[tuple[str, Setting], pd.DataFrame] = {}
    total = deploys * sum(1 for t in todo if t)
    parts, offset = [], 0
    # One set of workers for the whole sweep.
    with nullcontext(pool) if pool is not None else executor(jobs, cluster) as workers:
        for point, setting, fresh in zip(points, per_point, todo, strict=True):
            if fresh:
                tick = (
                    None
                    if progress is None
                    else (lambda n, _total, offset=offset: progress(offset + n, total))
                )
                rows = run_batch(
                    point.scenario, deploys, seed, strategies=fresh, jobs=jobs, progress=tick, pool=workers
                )
                summary = summarize(rows)
                for s in fresh:
                    done[s, setting[s]] = summary[summary["strategy"] == s]
                offset += deploys
            summary = pd.concat([done[s, setting[s]] for s in point.scenario.strategies], ignore_index=True)
            for axis, value in zip(axes, point.values, strict=True):
                summary.insert(list(summary.columns).index("strategy"), axis.key, _cell(value))
            parts.append(summary)
    return pd.concat(parts, ignore_index=True)


def wide(tidy: pd.DataFrame, axes: Sequence[Axis], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (combination, strategy) with the means of `metrics` and a label of the combination."""
    keys = [a.key for a in axes]
    table = tidy[tidy["metric"].isin(metrics)].pivot_table(
        index=[*keys, "strategy"], columns="metric", values="mean", sort=False, dropna=False
    )
    table = table.reset_index()
    table["label"] = [label(axes, [row[a.key] for a in axes]) for _, row in table.iterrows()]
    return table


def judge_swept(axes: Sequence[Axis]) -> bool:
    return any(a.key.startswith("judges.") for a in axes)


def chart(tidy: pd.DataFrame, axes: Sequence[Axis]) -> Any:
    """The sweep's Pareto chart: lead time vs blast radius, and false rollbacks vs escaped defects when
    a judge's threshold is among the swept keys."""
    from ..results import plots  # matplotlib is imported only when a chart is drawn

    panels = [plots.LEAD_VS_BLAST] + ([plots.ROLLBACKS_VS_ESCAPES] if judge_swept(axes) else [])
    metrics = sorted({m for p in panels for m in p[:2]})
    return plots.pareto(wide(tidy, axes, metrics), panels)


#: What the sweep table prints per combination and strategy: what tuning trades.
SWEEP_METRICS = ("faulty_requests", "time_to_detect_s", "lead_time_s", "false_rollback_rate", "escaped_rate")


def format_sweep(tidy: pd.DataFrame, axes: Sequence[Axis], follow_s: float | None = None) -> str:
    """The sweep as comparison tables, a group of columns per combination; a strategy whose numbers
    are the same in every combination (no axis touches it, or none that matters) is shown once."""
    keys = [a.key for a in axes]
    combos = [(label(axes, combo), part.drop(columns=keys)) for combo, part in tidy.groupby(keys, sort=False)]
    names = list(dict.fromkeys(tidy["strategy"]))

    def of(part: pd.DataFrame, s: str) -> pd.DataFrame:
        return part[part["strategy"] == s].reset_index(drop=True)

    same = [
        s
        for s in names
        if len(combos) > 1 and all(of(part, s).equals(of(combos[0][1], s)) for _, part in combos[1:])
    ]
    runs = (
        [(f"all {len(combos)} combinations", combos[0][1][combos[0][1]["strategy"].isin(same)])]
        if same
        else []
    )
    runs += [
        (name, part[~part["strategy"].isin(same)])
        for name, part in combos
        if not set(part["strategy"]) <= set(same)
    ]
    return format_table(compare(runs, SWEEP_METRICS, follow_s))


def sweep_manifest(
    base: Scenario, axes: Sequence[Axis], deploys: int, seed: int, command: Sequence[str]
) -> dict[str, Any]:
    """A sweep's manifest before its first combination: the common fields and the grid."""
    return new_manifest("sweep", base, deploys, seed, command, grid={a.key: list(a.values) for a in axes})


def save(path: Path, tidy: pd.DataFrame, axes: Sequence[Axis], meta: dict[str, Any]) -> None:
    """sweep.csv (the tidy table) and pareto.png, then the manifest marked complete."""
    write_atomic(path / "sweep.csv", tidy.to_csv(index=False))
    fig = chart(tidy, axes)
    write_atomic(path / "pareto.png", lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    complete_manifest(path, meta, files=["sweep.csv", "pareto.png"])
