"""The scenario file reference (docs/scenarios.md), generated from the config records' own fields —
their types, defaults, ranges, units and one-line meanings — so the document cannot drift from the code."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, get_args, get_origin

import yaml

from ..core.dist import Dist
from ..core.schema import Config, to_plain
from .faults import FAULT_KINDS, SEVERITY, FaultSpec
from .judges import JudgeConfig
from .scenario import SCHEMA_VERSION, Scenario
from .strategies import StrategyConfig

#: Meanings of fields whose records carry no `doc` yet (the records are the better home for them).
EXTRA_DOCS: dict[tuple[str, str], str] = {
    ("Dist", "kind"): "the distribution's shape",
    ("JudgeConfig", "kind"): "which judge this is",
    ("StrategyConfig", "kind"): "which strategy this is",
    ("Scenario", "fleet"): "the replicas both versions run on",
    ("Scenario", "traffic"): "who sends requests, and when",
    ("Scenario", "releases"): "how often a release is bad, and with which fault",
    ("Scenario", "noise"): "noisy-neighbour episodes no release caused",
    ("Scenario", "routing"): "how traffic is split between the versions",
    ("Scenario", "judges"): "named judges the strategies and the safety net refer to",
    ("Scenario", "humans"): "the people in the loop: on-call and canary operators",
    ("Scenario", "strategies"): "named strategies to compare, each with its settings",
    ("Scenario", "run"): "batch settings",
    (
        "RoutingConfig",
        "mode",
    ): "router: exact weights (mesh, ingress); replicas: weight ≈ share of ready replicas",
    ("RoutingConfig", "sticky"): "true: users pinned to a version by a hash of their id; false: per request",
    ("RoutingConfig", "session_affinity"): (
        "Flagger's session affinity: the canary's responses set a cookie that sends the user back to it"
        " until the weight returns to 0; users without one are routed per request (router mode)"
    ),
    (
        "RoutingConfig",
        "synthetic",
    ): "health checks hit every ready replica alike (per_replica) or follow the weight",
    ("RoutingConfig", "canary_bias"): "how unrepresentative the canary slice is",
    ("TrafficConfig", "diurnal"): "the daily curve",
    ("TrafficConfig", "surges"): "regional traffic surges",
    ("TrafficConfig", "users"): "the user population",
    ("TrafficConfig", "segments"): "user segments (platforms, regions) and their shares of user requests",
    ("NoiseConfig", "targets"): "relative frequency of whom an episode hits",
    ("FleetConfig", "latency"): "latency of a user request, by its p50 and p99",
    ("FixedJudge", "max_p50_ms"): "fail above this median latency",
    ("FixedJudge", "max_p99_ms"): "fail above this p99 latency",
    (
        "BurnRateJudge",
        "windows",
    ): "alert window pairs; a pair pages when both windows burn faster than burn_rate",
    ("BurnWindow", "long_s"): "long window of the pair",
    ("BurnWindow", "short_s"): "short window of the pair (stops the page soon after the burn ends)",
    (
        "RecreateConfig",
        "silence_alerts",
    ): "planned downtime: pages are held until the alert windows have cleared",
    ("BlueGreenConfig", "auto_promote"): "cut over as soon as green passes (false: a person promotes)",
    ("BlueGreenConfig", "pre_promotion"): "analysis of green before the cutover (needs a count)",
    (
        "BlueGreenConfig",
        "post_promotion",
    ): "analysis after the cutover; failing it flips back (needs a count)",
    ("Step", "manual_gate"): "pause until a person promotes (Argo's indefinite pause)",
    ("Step", "analysis"): "an inline analysis the rollout waits for (needs a count)",
}


def _kind_of(cls: type) -> str:
    return next(k for k, c in {**JudgeConfig.kinds, **StrategyConfig.kinds}.items() if c is cls)


def _type(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return f"{_type(args[0])} or null"
    if origin is Literal:
        return " \\| ".join(map(str, get_args(hint)))
    if origin is tuple:
        return f"list of {_type(get_args(hint)[0])}"
    if origin is dict:
        return f"mapping of {_type(get_args(hint)[1])}"
    if hint is Dist:
        return "distribution"
    if isinstance(hint, type) and issubclass(hint, Config):
        return "section"
    return {float: "number", int: "whole number", bool: "true/false", str: "text"}.get(hint, str(hint))


def _allowed(f: dataclasses.Field) -> str:
    lo, hi, unit = f.metadata.get("lo"), f.metadata.get("hi"), f.metadata.get("unit", "")
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else f"{v:,}" if v < 10**6 else f"{float(v):.0e}"  # noqa: E731
    if lo is None and hi is None:
        text = ""
    elif hi is None or (isinstance(hi, float) and math.isinf(hi)):
        text = f"{'>' if f.metadata.get('lo_open') else '≥'} {fmt(lo)}"
    else:
        text = f"{fmt(lo)}..{fmt(hi)}" + (f" (not {fmt(lo)})" if f.metadata.get("lo_open") else "")
    return f"{text} {unit}".strip()


def _default(value: Any) -> str:
    plain = to_plain(value, compact=True)
    if (isinstance(plain, dict) and plain and isinstance(next(iter(plain.values())), dict)) or value == ():
        return "see below" if plain else "none"
    return (
        "`"
        + yaml.safe_dump(plain, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
        + "`"
    )


def _table(cls: type[Config], prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        extra = (EXTRA_DOCS.get((c.__name__, f.name)) for c in cls.__mro__)
        doc = f.metadata.get("doc") or next((d for d in extra if d), "")
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        default = "section" if isinstance(value, Config) and not isinstance(value, Dist) else _default(value)
        lines.append(f"| `{prefix}{f.name}` | {_type(hints[f.name])} | {default} | {_allowed(f)} | {doc} |")
    return lines


def _nested(cls: type[Config]) -> list[tuple[str, type[Config]]]:
    """(key suffix, record class) of the sections inside a record, in field order."""
    out = []
    for name, hint in typing.get_type_hints(cls).items():
        if name.startswith("_") or name == "kinds":
            continue
        origin = get_origin(hint)
        args = [a for a in get_args(hint) if a is not type(None)]
        inner = args[0] if origin in (typing.Union, types.UnionType, tuple) else hint
        suffix = f"{name}[]" if origin is tuple else name
        if isinstance(inner, type) and issubclass(inner, Config) and inner is not Dist:
            out.append((suffix, inner))
    return out


def _section(title: str, cls: type[Config], prefix: str, seen: dict[type, str]) -> list[str]:
    """A record's table, then its nested sections'; a record met before is referred back to."""
    lines = [f"### `{title}`", ""]
    if cls in seen:
        return [*lines, f"The same keys as `{seen[cls]}`.", ""]
    seen[cls] = title
    lines += [*_table(cls, prefix), ""]
    for suffix, inner in _nested(cls):
        lines += _section(f"{prefix}{suffix}", inner, f"{prefix}{suffix}.", seen)
    return lines


HEADER = f"""# Scenario files

<!-- Generated by `deploysim schema` from the config records in sim/; do not edit by hand.
     tests/test_docs.py fails when this file and the code disagree. -->

A scenario is one YAML file (`scenarios/*.yaml`) describing a service, its traffic, its releases and
the strategies to compare. This is the reference of schema version **{SCHEMA_VERSION}**
(`schema_version: {SCHEMA_VERSION}`; a file with another version is rejected, so an old file never
silently means something new).

- **Defaults fill in**: a file gives only what differs from the defaults below. A section given as a
  mapping of named items (`judges`, `strategies`, `releases.faults`, `traffic.segments`) replaces
  the default items as a whole.
- **Everything is validated on load**: types, ranges and cross-references (a strategy's judge must
  exist, a segment bug's segment must be a segment). An error names the file, the key path and the
  line: `scenarios/x.yaml: strategies.progressive.steps[2].weight: 140 is not within 0..100 (line 31)`.
- **Unknown keys are rejected** with a "did you mean" hint.
- **Any value can be overridden** from the command line: `--set strategies.canary.steps[0].weight=2`
  (the value is YAML). `deploysim validate FILE` checks a file without running it.
- `scenarios/default.yaml` states every default with a comment; the other shipped scenarios show
  one lesson each.

## Distributions

A field of type *distribution* takes a number (fixed), `[low, high]` (uniform) or a mapping:

"""


def schema_reference() -> str:
    """The whole reference as Markdown."""
    lines = [HEADER.rstrip(), ""]
    lines += [*_table(Dist, ""), ""]
    lines += ["## Sections", ""]
    lines += [*_table(Scenario, ""), ""]
    seen: dict[type, str] = {}
    for suffix, cls in _nested(Scenario):
        if suffix not in ("judges", "strategies"):
            lines += _section(suffix, cls, f"{suffix}.", seen)
    lines += ["### `releases.faults.<kind>`", "", "Fault kinds and what the severity means:", ""]
    lines += [f"- `{k}`: {SEVERITY[k][0]}" for k in FAULT_KINDS] + [""]
    lines += [*_table(FaultSpec, "releases.faults.<kind>."), ""]
    for group, kinds, what in (
        ("judges", JudgeConfig.kinds, "judge"),
        ("strategies", StrategyConfig.kinds, "strategy"),
    ):
        lines += [
            f"## `{group}.<name>`",
            "",
            f"Each {what} has a name of your choosing and a `kind`"
            f" (by default its name): {', '.join(f'`{k}`' for k in kinds)}.",
            "",
        ]
        for kind, cls in kinds.items():
            lines += _section(f"{group}.<name>  (kind: {kind})", cls, f"{group}.<name>.", seen)
    return "\n".join(lines).rstrip() + "\n"
