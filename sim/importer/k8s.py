"""Kubernetes helpers both exporters share: DNS-1123 names, durations, the annotations deploysim
reads back, and the Prometheus queries a judge's metrics are exported as (the shapes
`queries.classify` reads back)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..config.judges import BaselineJudge, FixedJudge, GateJudge, JudgeConfig
from ..core.schema import to_plain
from .mapping import SIM_ANNOTATION

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


def sim_annotation(extra: dict[str, Any]) -> dict[str, str]:
    return {SIM_ANNOTATION: json.dumps(extra, sort_keys=True)} if extra else {}
