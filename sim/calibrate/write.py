"""The calibrated scenario as commented YAML: every fitted value with its source, fit and uncertainty."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..config.scenario import Scenario
from ..core.errors import ConfigError
from .fit import Fit, Kept, Result

#: Rounding of what is written: enough digits that the round trip loses nothing a fit knows.
DIGITS = 6


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{DIGITS}g}"


def _value(v: float | tuple[float, float]) -> str:
    return f"[{_num(v[0])}, {_num(v[1])}]" if isinstance(v, tuple) else _num(v)


def _comment(f: Fit) -> str:
    se = "n/a (one observation)" if not math.isfinite(f.se) else f"±{f.se:.3g}"
    centre = " (of the mean)" if isinstance(f.value, tuple) else ""
    return f"from {f.source}: {f.method}; SE {se}{centre}"


#: Sections and keys in the order they are written, with the clamps the scenario schema sets.
LIMITS = {
    "traffic.diurnal.amplitude": (0.0, 0.95),
    "traffic.diurnal.peak_hour": (0.0, 24.0),
    "traffic.surges.per_day": (0.0, 1000.0),
    "fleet.error_rate": (0.0, 0.5),
    "noise.episodes_per_hour": (0.0, 3600.0),
}


def scenario_yaml(results: Sequence[Result], name: str, data: Sequence[str], notes: Sequence[str]) -> str:
    """The scenario text (checked by loading it back): fitted values, then what kept its default."""
    tree: dict[str, dict[str, list[str]]] = {}
    kept = [r for r in results if isinstance(r, Kept)]
    for r in results:
        if not isinstance(r, Fit):
            continue
        value = r.value
        lo_hi = LIMITS.get(r.key)
        clamp = ""
        if lo_hi and not isinstance(value, tuple) and not lo_hi[0] <= value <= lo_hi[1]:
            value = min(max(value, lo_hi[0]), lo_hi[1])
            clamp = f"; clamped to the schema's [{lo_hi[0]:g}, {lo_hi[1]:g}] from {_num(r.value)}"  # type: ignore[arg-type]
        if r.key == "traffic.diurnal.peak_hour":
            value = float(value) % 24.0  # type: ignore[arg-type]
        parts = r.key.split(".")
        section, sub, leaf = parts[0], ".".join(parts[1:-1]), parts[-1]
        tree.setdefault(section, {}).setdefault(sub, []).append(
            f"{leaf}: {_value(value)}  # {_comment(r)}{clamp}"
        )
    lines = [
        f"# {name} — calibrated by `deploysim calibrate` from {', '.join(data)}.",
        "# Every value below was fitted from the data (its comment: source series, fit, uncertainty);",
        "# everything else is the default scenario's. Kept at the default:",
        *(f"#   {k.key}: {k.reason}" for k in kept),
        *(["#   nothing"] if not kept else []),
        "# Notes on the data:",
        *(f"#   {n}" for n in notes),
        *(["#   none"] if not notes else []),
        "schema_version: 1",
        f"name: {name}",
        "description: A scenario calibrated from a service's Prometheus data.",
    ]
    for section, subs in tree.items():
        lines.append(f"{section}:")
        opened: list[str] = []  # the mapping keys open under the section (a key is written once)
        for sub, leaves in subs.items():
            parts = sub.split(".") if sub else []
            same = 0
            while same < min(len(parts), len(opened)) and parts[same] == opened[same]:
                same += 1
            for depth in range(same, len(parts)):
                lines.append("  " * (depth + 1) + f"{parts[depth]}:")
            opened = parts
            lines += ["  " * (len(parts) + 1) + leaf for leaf in leaves]
    text = "\n".join(lines) + "\n"
    try:
        Scenario.from_yaml(text, source="the calibrated scenario")
    except ConfigError as err:
        raise ConfigError(f"the fitted values do not make a valid scenario: {err}") from None
    return text
