"""Reading manifests into strategies: every Rollout and Canary of some files, for a scenario's service,
with the judges they need and what could not be mapped exactly (the importer's front door, re-exported
by `sim.importer`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.judges import JudgeConfig
from ..config.scenario import Scenario, load_scenario
from ..config.strategies import StrategyConfig
from ..core.errors import ConfigError
from .argo import import_rollout
from .flagger import import_canary
from .manifests import STRATEGY_KINDS, Manifest, ManifestWarning, integer, read_manifests
from .mapping import Context

TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate", "MetricTemplate")

__all__ = ["Imported", "ManifestWarning", "add_rollouts", "import_manifests", "scenario_from_manifests"]


@dataclass
class Imported:
    """Strategies read from manifests, the judges they need, and what could not be mapped exactly."""

    strategies: dict[str, StrategyConfig]
    judges: dict[str, JudgeConfig]
    warnings: list[ManifestWarning]


def _strategies(objs: list[Manifest], paths: Sequence[str | Path]) -> list[Manifest]:
    found = [m for m in objs if m.kind in STRATEGY_KINDS]
    if not found:
        kinds = sorted({m.kind for m in objs})
        raise ConfigError(
            f"no Rollout or Canary to import (found: {', '.join(kinds) or 'no objects'})",
            source=", ".join(str(p) for p in paths),
        )
    return found


def _import(
    objs: list[Manifest], paths: Sequence[str | Path], scn: Scenario, taken: set[str], options: dict[str, Any]
) -> Imported:
    ctx = Context(scn, **options)
    for m in objs:
        for note in m.notes:
            if note not in ctx.warnings:
                ctx.warnings.append(note)
    templates: dict[tuple[str, str], Manifest] = {}
    for m in objs:
        if m.kind in TEMPLATE_KINDS:
            if (m.kind, m.name) in templates:
                ctx.warn(
                    m,
                    ("metadata", "name"),
                    f"another {m.kind} of this name was given earlier: this one is used",
                )
            templates[(m.kind, m.name)] = m
    strategies: dict[str, StrategyConfig] = {}
    for m in _strategies(objs, paths):
        name, n = m.name, 1
        while name in taken or name in strategies:
            n += 1
            name = f"{m.name}-{n}"
        if name != m.name:
            ctx.warn(m, ("metadata", "name"), f"the name is taken: imported as strategy {name!r}")
        if m.kind == "Rollout":
            strategies[name] = import_rollout(ctx, m, name, templates)
        else:
            strategies[name] = import_canary(ctx, m, name, templates)
    return Imported(strategies, ctx.judges, ctx.warnings)


def import_manifests(
    paths: Sequence[str | Path],
    scenario: Scenario | str | Path | None = None,
    match_share: float = 0.05,
    default_pass_probability: float = 1.0,
    objects: list[Manifest] | None = None,
) -> Imported:
    """Every Rollout and Canary in the files as a strategy for `scenario`'s service (default: the
    built-in default scenario).

    match_share: share of users a Flagger A/B header or cookie match selects when it names none of
    the scenario's segments. default_pass_probability: chance a check whose outcome cannot be read
    from the manifest (a web call, an unknown script, an unrecognised query) passes. objects:
    manifests already read (then `paths` only names their sources).
    """
    scn = load_scenario(scenario) if scenario is not None else Scenario()
    opts = {
        "match_share": _share(match_share, "match_share"),
        "default_pass_probability": _share(default_pass_probability, "default_pass_probability"),
    }
    return _import(read_manifests(paths) if objects is None else objects, paths, scn, set(), opts)


def add_rollouts(
    scn: Scenario, paths: Sequence[str | Path], **options: Any
) -> tuple[Scenario, list[ManifestWarning]]:
    """The scenario with the manifests' strategies added beside its own (what `run --rollout` runs)."""
    imported = _import(read_manifests(paths), paths, scn, set(scn.strategies), _options(options))
    out = dataclasses.replace(
        scn, strategies={**scn.strategies, **imported.strategies}, judges={**scn.judges, **imported.judges}
    )
    return out, imported.warnings


def scenario_from_manifests(
    paths: Sequence[str | Path], base: Scenario | str | Path | None = None, **options: Any
) -> tuple[Scenario, list[ManifestWarning]]:
    """A scenario whose strategies are the manifests' ones, on `base`'s service, traffic and faults
    (default: the built-in defaults). A Rollout's spec.replicas sets the fleet size; capacity per
    replica is scaled so the fleet serves the same load as before."""
    scn = load_scenario(base) if base is not None else Scenario()
    objs = read_manifests(paths)
    rollouts = [m for m in _strategies(objs, paths) if m.kind == "Rollout"]
    extra: list[ManifestWarning] = []
    if rollouts:
        sizes = [integer(m, ("spec", "replicas"), m.get("spec", "replicas", default=1), 0) for m in rollouts]
        replicas = max(1, sizes[0])
        if len(set(sizes)) > 1:
            extra.append(
                rollouts[0].warning(
                    ("spec", "replicas"),
                    f"Rollouts differ in replicas ({sizes}):"
                    f" the fleet has {replicas}, the others' counts are scaled to it",
                )
            )
        total = scn.fleet.capacity_rps * scn.fleet.replicas
        fleet = dataclasses.replace(scn.fleet, replicas=replicas, capacity_rps=total / replicas)
        scn = dataclasses.replace(scn, fleet=fleet)
    imported = _import(objs, paths, scn, set(), _options(options))
    first = next(iter(imported.strategies))
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", first).strip("-.") or "imported"
    described = ", ".join(str(p) for p in paths)
    out = dataclasses.replace(
        scn,
        name=name,
        description=f"Imported from {described} by deploysim import.",
        strategies=imported.strategies,
        judges={**scn.judges, **imported.judges},
    )
    return out, extra + imported.warnings


def _share(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{value!r} is not within 0..1", (name,))
    return float(value)


def _options(options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"match_share", "default_pass_probability"}
    for key in options:
        if key not in allowed:
            raise TypeError(f"unknown option {key!r} (allowed: {', '.join(sorted(allowed))})")
    return {k: _share(v, k) for k, v in options.items()}
