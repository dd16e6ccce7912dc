"""deploysim strategies out as Argo Rollouts or Flagger manifests that the importer reads back to the
same strategy.

Each export is checked by importing it again. Settings a manifest has no field for (who reviews at
a manual gate, a judge's minimum sample sizes) travel in `deploysim.io/*` annotations, which the
controllers ignore; whatever still differs after that is lossy, and comes back as a warning naming
what changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from ..config.judges import BaselineJudge, FixedJudge, GateJudge, JudgeConfig
from ..config.scenario import Scenario
from ..config.strategies import BlueGreenConfig, ProgressiveConfig, StrategyConfig
from ..core.errors import ConfigError
from ..core.schema import to_plain
from .mapping import JUDGE_ANNOTATION, SIM_ANNOTATION

__all__ = ["JUDGE_ANNOTATION", "export_manifest"]

FORMATS = ("argo", "flagger")
#: Strategy fields that may travel in the SIM_ANNOTATION when the manifest cannot carry them.
SIM_FIELDS = ("gate_judge", "scale_down_delay_s", "abort_scale_down_delay_s", "routing")
_CANARY_SEL = 'service="{{args.service-name}}",rollouts_pod_template_hash="{{args.latest-hash}}"'
_STABLE_SEL = 'service="{{args.service-name}}",rollouts_pod_template_hash="{{args.stable-hash}}"'


def k8s_name(text: str) -> str:
    """A DNS-1123 name: lower case letters, digits and dashes, at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "deploysim")[:63].rstrip("-")


def seconds(value: float) -> str:
    return f"{value:g}s" if float(value).is_integer() else f"{round(value * 1000):d}ms"


def judge_annotation(name: str, judge: JudgeConfig, error_probability: float = 0.0) -> str:
    data: dict[str, Any] = {"name": name, "config": to_plain(judge)}
    if error_probability:
        data["error_probability"] = error_probability
    return json.dumps(data, sort_keys=True)


# ---- queries a judge's metrics are exported as (the shapes queries.classify reads back) ----


def _ratio(sel: str, window: str) -> str:
    return (
        f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[{window}]))'
        f" / sum(rate(http_requests_total{{{sel}}}[{window}]))"
    )


def _quantile(q: float, sel: str, window: str) -> str:
    buckets = f"http_request_duration_seconds_bucket{{{sel}}}[{window}]"
    return f"histogram_quantile({q:g}, sum(rate({buckets})) by (le)) * 1000"


def _use(sel: str) -> str:
    return f"max(container_resource_utilization_ratio{{{sel}}})"


def judge_queries(judge: GateJudge, window_s: float) -> list[tuple[str, str, str]]:
    """(metric name, PromQL query, success condition) for each metric a judge watches."""
    w = seconds(window_s)
    out = []
    for metric in judge.watch:
        q = {"p50": 0.5, "p99": 0.99}.get(metric)
        if isinstance(judge, FixedJudge):
            if metric == "error_rate":
                out.append(
                    ("error-rate", _ratio(_CANARY_SEL, w), f"result[0] <= {judge.max_error_rate:.12g}")
                )
            elif q is not None:
                lim = judge.max_p50_ms if metric == "p50" else judge.max_p99_ms
                out.append((f"latency-{metric}", _quantile(q, _CANARY_SEL, w), f"result[0] <= {lim:.12g}"))
            else:
                out.append(("saturation", _use(_CANARY_SEL), f"result[0] <= {judge.max_saturation:.12g}"))
        elif isinstance(judge, BaselineJudge):
            if metric == "error_rate":
                query = (
                    f"({_ratio(_CANARY_SEL, w)}) - {judge.max_error_ratio:.12g} * ({_ratio(_STABLE_SEL, w)})"
                )
                out.append(("error-rate-vs-stable", query, f"result[0] <= {judge.error_margin:.12g}"))
            elif q is not None:
                query = f"{_quantile(q, _CANARY_SEL, w)} / {_quantile(q, _STABLE_SEL, w)}"
                query = query.replace(" * 1000", "")
                out.append(
                    (f"latency-{metric}-vs-stable", query, f"result[0] <= {judge.max_latency_ratio:.12g}")
                )
            else:
                query = f"{_use(_CANARY_SEL)} - {_use(_STABLE_SEL)}"
                out.append(("saturation-vs-stable", query, f"result[0] <= {judge.max_saturation_delta:.12g}"))
    return out


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
    from . import import_manifests  # the package imports this module
    from .manifests import parse_manifests

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
    from .export_argo import argo_docs
    from .export_flagger import flagger_docs

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


def sim_annotation(extra: dict[str, Any]) -> dict[str, str]:
    return {SIM_ANNOTATION: json.dumps(extra, sort_keys=True)} if extra else {}
