"""The app's knobs: which values of a scenario the sidebar offers, read from and written back to its data.

Pure functions on a scenario's plain data (`Scenario.to_dict(compact=True)`), no Streamlit. A knob
names the key paths it writes, the kind of control that edits it and its unit. Knobs only write
values; whether a value is allowed is for `sim.load_scenario` to say, so the app shows the same
message the CLI would. A value the knobs cannot represent (a lognormal noise factor, a rollout with
analysis steps) is simply not offered: the uploaded YAML keeps it as it is.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sim import ConfigError, errors

KeyPath = tuple[errors.PathPart, ...]
Kind = Literal["float", "int", "steps", "choice", "multi", "toggle"]

GROUPS = (
    "Run",
    "Traffic and fleet",
    "Releases and faults",
    "Noisy neighbours",
    "Rollout steps",
    "Judges",
    "People",
)

#: Prefix of every knob's widget key; `STRATEGIES_KEY` picks the strategies to compare.
PREFIX = "k."
STRATEGIES_KEY = "k.strategies"

WATCHABLE = ("error_rate", "p50", "p99", "saturation")
#: Judge kinds that watch other metrics: the sequential test weighs counts only (slow requests for latency).
WATCHABLE_BY_KIND = {"sequential": ("error_rate", "latency")}

#: Thresholds offered per judge kind: (field, label, step).
THRESHOLDS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "fixed": (
        ("max_error_rate", "max error rate (share of requests)", 0.001),
        ("max_p50_ms", "max p50, ms", 10.0),
        ("max_p99_ms", "max p99, ms", 10.0),
    ),
    "baseline": (
        ("max_error_ratio", "max error rate × baseline", 0.1),
        ("error_margin", "... plus this share", 0.001),
        ("max_latency_ratio", "max latency × baseline", 0.1),
    ),
    "mann_whitney": (
        ("confidence", "confidence level", 0.01),
        ("allowed_ratio", "allowed canary/baseline ratio", 0.05),
    ),
    "kayenta": (
        ("pass_score", "score that passes a look", 1.0),
        ("marginal_score", "score below which a look fails", 1.0),
    ),
    "two_proportion": (("alpha", "false-alarm chance per look", 0.01),),
    "sequential": (
        ("alpha", "false-alarm chance per rollout", 0.01),
        ("min_ratio", "smallest rate ratio weighed", 0.05),
    ),
}


@dataclass(frozen=True)
class Knob:
    key: str  # the widget's key
    label: str
    group: str
    paths: tuple[KeyPath, ...]  # every path the value is written to (the first is read)
    kind: Kind = "float"
    step: float | None = None
    options: tuple[str, ...] = ()
    pair: tuple[str, str] = ("weight", "pause_s")  # steps: the two fields of a "a:b" item
    alternating: bool = False  # steps: written as Argo's separate setWeight and pause steps
    help: str = ""
    absent: Any = None  # the value of a field a compact scenario leaves out (its default); None: always there


def get_in(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def set_in(data: Any, path: KeyPath, value: Any) -> Any:
    """A copy of `data` with `value` at `path` (containers along the path copied, the rest shared)."""
    if not path:
        return value
    out = copy.copy(data)
    # A compact scenario leaves defaults out (a whole section, at its defaults): what is missing along
    # a mapping's path is added.
    if isinstance(data, Mapping) and path[0] not in data:
        here: Any = None if len(path) == 1 else {}
    else:
        here = data[path[0]]
    out[path[0]] = set_in(here, path[1:], value)
    return out


def _key(path: KeyPath, suffix: str = "") -> str:
    return PREFIX + errors.format_path(path) + suffix


def _num(path: KeyPath, label: str, group: str, step: float | None = None, kind: Kind = "float") -> Knob:
    return Knob(_key(path), label, group, (path,), kind, step)


def _range(data: Mapping[str, Any], path: KeyPath, label: str, group: str, step: float) -> Iterator[Knob]:
    """A distribution given as a number (fixed) or [low, high] (uniform); other shapes are not offered."""
    value = get_in(data, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield _num(path, label, group, step)
    elif isinstance(value, list) and len(value) == 2:
        yield _num((*path, 0), f"{label}, from", group, step)
        yield _num((*path, 1), f"{label}, to", group, step)


def _lognormal(data: Mapping[str, Any], path: KeyPath, label: str) -> Iterator[Knob]:
    value = get_in(data, path)
    if isinstance(value, Mapping) and value.get("kind") == "lognormal":
        yield _num((*path, "median"), f"{label}: median, s", "People", 30.0)
        yield _num((*path, "p90"), f"{label}: 1 in 10 takes over, s", "People", 30.0)


def _gate_judges(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(n for n, j in data["judges"].items() if j.get("kind", n) != "burn_rate")


def _simple_progressive(steps: list[Mapping[str, Any]]) -> bool:
    """setWeight, pause, setWeight, pause ...: the shape the steps knob can show."""
    return (
        bool(steps)
        and len(steps) % 2 == 0
        and all(set(s) == {"weight"} for s in steps[0::2])
        and all(set(s) == {"pause_s"} for s in steps[1::2])
    )


def _strategy_knobs(data: Mapping[str, Any]) -> Iterator[Knob]:
    gates = _gate_judges(data)
    for name, spec in data["strategies"].items():
        kind, base = spec.get("kind", name), ("strategies", name)
        if kind == "canary":
            yield Knob(
                _key(base, ".steps"),
                f"{name}: steps (weight %:pause s)",
                "Rollout steps",
                ((*base, "steps"),),
                "steps",
            )
            yield Knob(
                _key(base, ".judge"), f"{name}: judge", "Judges", ((*base, "judge"),), "choice", options=gates
            )
        elif kind == "progressive":
            if _simple_progressive(spec.get("steps", [])):
                yield Knob(
                    _key(base, ".steps"),
                    f"{name}: steps (weight %:pause s)",
                    "Rollout steps",
                    ((*base, "steps"),),
                    "steps",
                    alternating=True,
                )
            routed = (spec.get("routing") or {}).get("mode") or data.get("routing", {}).get("mode", "router")
            if routed == "router":  # Argo scales the stable set dynamically only behind a router
                yield Knob(
                    _key(base, ".dynamic_stable_scale"),
                    f"{name}: shrink the stable set with its weight (dynamicStableScale)",
                    "Rollout steps",
                    ((*base, "dynamic_stable_scale"),),
                    "toggle",
                    help="cheaper; an abort boots the stable set back before traffic moves back",
                )
                yield Knob(
                    _key(base, ".load_test_rps"),
                    f"{name}: load test on the canary, req/s (Flagger's load-test webhook)",
                    "Rollout steps",
                    ((*base, "load_test_rps"),),
                    "float",
                    step=1.0,
                    help="synthetic requests the analyses judge until promotion; no user meets them",
                    absent=0.0,
                )
            analyses = spec.get("analyses", [])
            if (
                analyses
                and len({a.get("judge") for a in analyses}) == 1
                and not any(a.get("also") for a in analyses)
            ):
                paths = (
                    *((*base, "analyses", i, "judge") for i in range(len(analyses))),
                    (*base, "gate_judge"),
                )
                yield Knob(_key(base, ".judge"), f"{name}: judge", "Judges", paths, "choice", options=gates)
            if len(analyses) == 1:  # Argo's analysis run limits, on the strategy's one analysis
                limit = (*base, "analyses", 0, "consecutive_success_limit")
                yield Knob(
                    _key(limit),
                    f"{name}: end the analysis after this many passes in a row (0: never)",
                    "Judges",
                    (limit,),
                    "int",
                    step=1.0,
                    help="Argo's consecutiveSuccessLimit: a background analysis that ends leaves the rest of "
                    "the rollout unwatched",
                    absent=0,
                )
            if spec.get("checks") is not None:  # Flagger's canary analysis
                yield Knob(
                    _key(base, ".pre_rollout"),
                    f"{name}: smoke-test the release before it takes traffic (pre-rollout webhook)",
                    "Rollout steps",
                    ((*base, "pre_rollout"),),
                    "toggle",
                    help="a failing test counts toward the checks' threshold at every pass, at weight 0",
                )
        elif kind in ("flag", "canary_flag"):
            yield Knob(
                _key(base, ".ramp"),
                f"{name}: flag ramp (percent %:pause s)",
                "Rollout steps",
                ((*base, "ramp"),),
                "steps",
                pair=("percent", "pause_s"),
            )
            if "judge" in spec.get("analysis", {}):
                yield Knob(
                    _key(base, ".judge"),
                    f"{name}: judge",
                    "Judges",
                    ((*base, "analysis", "judge"),),
                    "choice",
                    options=gates,
                )


def knobs_for(data: Mapping[str, Any]) -> list[Knob]:
    """The knobs this scenario offers, in the order the sidebar shows them."""
    out = [
        _num(("run", "deploys"), "deploys per strategy", "Run", 100.0, "int"),
        _num(("run", "seed"), "seed", "Run", 1.0, "int"),
        _num(("traffic", "rate_rps"), "mean request rate, req/s", "Traffic and fleet", 50.0),
        _num(("fleet", "replicas"), "replicas", "Traffic and fleet", 1.0, "int"),
        _num(("fleet", "capacity_rps"), "capacity per replica, req/s", "Traffic and fleet", 10.0),
        _num(("releases", "bad_probability"), "chance a release is bad", "Releases and faults", 0.05),
    ]
    for field, label, step, default in (
        ("cold_latency_factor", "a fresh replica's latency × (1: none)", 0.1, 1.0),
        ("cold_s", "... falling to 1 over, s", 60.0, 600.0),
    ):
        out.append(
            Knob(
                _key(("fleet", field)),
                label,
                "Traffic and fleet",
                (("fleet", field),),
                "float",
                step,
                help="cold caches and pools: fresh canary replicas judged against a warm stable look slower",
                absent=default,
            )
        )
    routing = data.get("routing", {})
    if routing.get("mode", "router") == "router" and not routing.get("sticky"):
        out.append(
            Knob(
                _key(("routing", "session_affinity")),
                "session affinity (Flagger's cookie)",
                "Traffic and fleet",
                (("routing", "session_affinity"),),
                "toggle",
                help="a user the weight sends to the canary stays there: its traffic outgrows its weight",
            )
        )
    kinds = {s.get("kind", n) for n, s in data["strategies"].items()}
    if kinds & {"flag", "canary_flag"}:
        out.append(
            _num(
                ("releases", "flagged_share"), "chance a fault is behind the flag", "Releases and faults", 0.1
            )
        )
    for fault in data["releases"]["faults"]:
        out.append(
            _num(
                ("releases", "faults", fault, "weight"),
                f"weight of {fault} faults",
                "Releases and faults",
                0.05,
            )
        )
    out.append(_num(("noise", "episodes_per_hour"), "episodes per hour", "Noisy neighbours", 0.1))
    out += _range(data, ("noise", "latency_factor"), "latency ×", "Noisy neighbours", 0.1)
    out += _range(data, ("noise", "error_rate"), "added error rate", "Noisy neighbours", 0.001)
    out += _strategy_knobs(data)
    for name, judge in data["judges"].items():
        kind = judge.get("kind", name)
        if kind not in THRESHOLDS:
            continue
        base, shown = ("judges", name), name if kind == name else f"{name} ({kind})"
        out.append(
            Knob(
                _key(base, ".watch"),
                f"{shown}: watches",
                "Judges",
                ((*base, "watch"),),
                "multi",
                options=WATCHABLE_BY_KIND.get(kind, WATCHABLE),
            )
        )
        out += [_num((*base, f), f"{name}: {label}", "Judges", step) for f, label, step in THRESHOLDS[kind]]
    out += _lognormal(data, ("humans", "page_response_s"), "on-call answers a page")
    out += _lognormal(data, ("humans", "decision_s"), "operator decides a canary step")
    out.append(
        _num(
            ("humans", "wave_through"),
            "chance an operator waves a marginal regression through",
            "People",
            0.05,
        )
    )
    return out


def format_steps(steps: list[Mapping[str, Any]], knob: Knob) -> str:
    a, b = knob.pair
    if knob.alternating:
        items = [(steps[i]["weight"], steps[i + 1]["pause_s"]) for i in range(0, len(steps), 2)]
    else:
        items = [(s.get(a), s.get(b)) for s in steps]
    return ", ".join(f"{x:g}:{y:g}" for x, y in items if x is not None and y is not None)


_ITEM = re.compile(r"^\s*([0-9.eE+-]+)\s*:\s*([0-9.eE+-]+)\s*$")


def parse_steps(text: str, knob: Knob) -> list[dict[str, float]]:
    """ "1:600, 5:600" → the steps the knob's strategy takes; a ConfigError naming the item otherwise."""
    a, b = knob.pair
    out: list[dict[str, float]] = []
    items = [t for t in (text or "").split(",") if t.strip()]
    if not items:
        raise ConfigError(f"needs at least one {a}:{b} item, like 1:600, 5:600", knob.paths[0])
    for i, item in enumerate(items, 1):
        m = _ITEM.match(item)
        try:
            if m is None:
                raise ValueError(item)
            x, y = float(m.group(1)), float(m.group(2))
        except ValueError:
            raise ConfigError(
                f"item {i}, {item.strip()!r}, is not {a}:{b} like 5:600", knob.paths[0]
            ) from None
        out += [{a: x}, {b: y}] if knob.alternating else [{a: x, b: y}]
    return out


def read(knob: Knob, data: Mapping[str, Any]) -> Any:
    """The control's value from the scenario's data."""
    if knob.kind == "toggle":  # a switch left at its default is not in a compact scenario
        try:
            return bool(get_in(data, knob.paths[0]))
        except KeyError:
            return False
    try:
        value = get_in(data, knob.paths[0])
    except KeyError:
        if knob.absent is None:
            raise
        return knob.absent
    if knob.kind == "steps":
        return format_steps(value, knob)
    if knob.kind == "int":
        return int(value)
    if knob.kind == "float":
        return float(value)
    if knob.kind == "multi":
        return list(value)
    return value


def write(data: Mapping[str, Any], knob: Knob, value: Any) -> Any:
    """The scenario's data with the control's value written (ConfigError if steps do not parse)."""
    if knob.kind == "steps":
        value = parse_steps(value, knob)
    for path in knob.paths:
        data = set_in(data, path, value)
    return data


def apply(data: Mapping[str, Any], knobs: list[Knob], values: Mapping[str, Any]) -> Any:
    """The scenario's data with every knob whose key is in `values` written."""
    for knob in knobs:
        if knob.key in values:
            data = write(data, knob, values[knob.key])
    return data


def changed(data: Mapping[str, Any], knobs: list[Knob], values: Mapping[str, Any]) -> list[str]:
    """Labels of the knobs whose value differs from the scenario's (what "reset" would undo)."""
    return [k.label for k in knobs if k.key in values and values[k.key] != read(k, data)]
