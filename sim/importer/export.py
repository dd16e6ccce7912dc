"""deploysim strategies out as Argo Rollouts or Flagger manifests that the importer reads back to the
same strategy.

Each export is checked by importing it again. Settings a manifest has no field for (who reviews at
a manual gate, a judge's minimum sample sizes) travel in `deploysim.io/*` annotations, which the
controllers ignore; whatever still differs after that is lossy, and comes back as a warning naming
what changed.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from ..config.judges import JudgeConfig
from ..config.scenario import Scenario
from ..config.strategies import BlueGreenConfig, ProgressiveConfig, StrategyConfig
from ..core.errors import ConfigError
from ..core.schema import to_plain
from .export_argo import argo_docs
from .export_flagger import flagger_docs
from .load import import_manifests
from .manifests import parse_manifests

__all__ = ["FORMATS", "canonical", "export_manifest"]

FORMATS = ("argo", "flagger")
#: Strategy fields that may travel in the SIM_ANNOTATION when the manifest cannot carry them.
SIM_FIELDS = ("gate_judge", "scale_down_delay_s", "abort_scale_down_delay_s", "routing")


# ---- queries a judge's metrics are exported as (the shapes queries.classify reads back) ----


# ---- comparing a strategy with what its export reads back as ----


def canonical(cfg: StrategyConfig, judges: dict[str, JudgeConfig]) -> dict[str, Any]:
    """The strategy as plain data with every judge name replaced by the judge it names."""

    def swap(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            return {k: swap(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        if key in ("judge", "gate_judge") and isinstance(node, str) and node in judges:
            return to_plain(judges[node])
        return node

    return swap(to_plain(cfg))


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in a if a.get(k) != b.get(k)]


def export_manifest(scn: Scenario, strategy: str, fmt: str) -> tuple[str, list[str]]:
    """A manifest for one of the scenario's strategies, and warnings for whatever does not survive."""
    if fmt not in FORMATS:
        raise ConfigError(f"{fmt!r} is not one of: {', '.join(FORMATS)}", ("--format",))
    if strategy not in scn.strategies:
        raise ConfigError(
            f"{strategy!r} is not a strategy of this scenario: {', '.join(scn.strategies)}", ("--strategy",)
        )
    spec = scn.strategies[strategy]
    if not isinstance(spec, ProgressiveConfig | BlueGreenConfig):
        raise ConfigError(
            f"{strategy!r} is a {spec.kind} strategy; only progressive and blue_green ones have"
            " a controller manifest",
            ("--strategy",),
        )
    make = argo_docs if fmt == "argo" else flagger_docs
    want = canonical(spec, scn.judges)
    extra: dict[str, Any] = {}
    for _ in range(2):  # once plain, once more with the settings that did not survive as annotations
        docs, notes = make(scn, strategy, spec, extra)
        text = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=100)
        back = import_manifests([f"{strategy}.yaml"], scn, objects=parse_manifests(text, f"{strategy}.yaml"))
        got_cfg = next(iter(back.strategies.values()))
        got = canonical(got_cfg, {**scn.judges, **back.judges})
        diff = _differences(want, got)
        if extra or not [k for k in diff if k in SIM_FIELDS]:
            break
        extra = {k: to_plain(getattr(spec, k)) for k in diff if k in SIM_FIELDS}
    for k in diff:
        notes.append(
            f"{k}: does not survive the export: read back as {json.dumps(got.get(k))[:200]}"
            f" instead of {json.dumps(want.get(k))[:200]}"
        )
    header = "".join(
        f"# {line}\n"
        for line in [
            f"Exported by deploysim from scenario {scn.name!r}, strategy {strategy!r}.",
            "Replace the image, services and metric names with your own; deploysim.io/* annotations are read",
            "back by `deploysim import` and ignored by the controller.",
            *(f"warning: {n}" for n in notes),
        ]
    )
    return header + text, notes
