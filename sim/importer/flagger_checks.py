"""Flagger's checks as deploysim's: a Canary's built-in and custom metrics as one judge (any failing
metric fails the check), with the metric interval as the judge's look-back."""

from __future__ import annotations

from typing import Any

from ..config.judges import FixedJudge, Metric
from ..core.errors import PathPart
from .manifests import Manifest, duration_s, listing, mapping, number
from .mapping import Context, annotated_judge, clean, same_limits
from .queries import Shape, TooComplex, classify, lookback_s

Templates = dict[tuple[str, str], Manifest]
#: Fields of a Canary's analysis (pkg/apis/flagger/v1beta1/canary.go CanaryAnalysis).
ANALYSIS_FIELDS = (
    "interval",
    "iterations",
    "mirror",
    "mirrorWeight",
    "maxWeight",
    "stepWeight",
    "stepWeights",
    "stepWeightPromotion",
    "threshold",
    "primaryReadyThreshold",
    "canaryReadyThreshold",
    "alerts",
    "metrics",
    "webhooks",
    "match",
    "sessionAffinity",
)
_INTERVAL_S, _MIN_INTERVAL_S, _METRIC_INTERVAL = 60.0, 10.0, "1m"


class CheckReader:
    """Reads the analysis of one Canary."""

    def __init__(self, ctx: Context, c: Manifest, name: str, templates: Templates) -> None:
        self.ctx, self.c, self.name, self.templates = ctx, c, name, templates
        key = "analysis" if c.get("spec", "analysis") is not None else "canaryAnalysis"
        if c.get("spec", key) is None:
            raise c.error(("spec", "analysis"), "a Canary needs an analysis")
        if key == "canaryAnalysis":
            ctx.warn(c, ("spec", key), "deprecated name of spec.analysis; read as such")
        self.a: tuple[PathPart, ...] = ("spec", key)
        self.spec = mapping(c, self.a)
        ctx.check_keys(c, self.a, self.spec, ANALYSIS_FIELDS)

    def interval(self) -> float:
        raw = self.spec.get("interval")
        s = duration_s(self.c, (*self.a, "interval"), raw) if raw else _INTERVAL_S
        if s < _MIN_INTERVAL_S:
            self.ctx.warn(
                self.c, (*self.a, "interval"), "Flagger runs the analysis every 10 s at the most often"
            )
            s = _MIN_INTERVAL_S
        return s

    def judge(self) -> str | None:
        """One judge for all metric checks of a pass (any failing metric fails the check)."""
        ctx, c = self.ctx, self.c
        limits: dict[Metric, float] = {}
        windows: list[float] = []
        for i, metric in enumerate(listing(c, (*self.a, "metrics"))):
            path = (*self.a, "metrics", i)
            if not isinstance(metric, dict) or not metric.get("name"):
                raise c.error(path, "a metric needs a name")
            if not isinstance(metric["name"], str | int | float):  # names key sets and messages below
                raise c.error((*path, "name"), f"{metric['name']!r} is not a name")
            window = duration_s(c, (*path, "interval"), metric.get("interval") or _METRIC_INTERVAL)
            found = self.metric(path, metric, window)
            if found is None:
                continue
            key, lim, window = found
            limits[key] = min(lim, limits.get(key, lim))
            windows.append(window)
        if not limits:
            return None
        if len(set(windows)) > 1:
            ctx.warn(
                c,
                (*self.a, "metrics"),
                f"metric intervals differ ({', '.join(f'{w:g} s' for w in windows)}):"
                f" the simulation looks back {max(windows):g} s for all of them",
            )
        fields = {
            "error_rate": "max_error_rate",
            "p50": "max_p50_ms",
            "p99": "max_p99_ms",
            "saturation": "max_saturation",
        }
        limit_fields: dict[str, Any] = {fields[k]: v for k, v in limits.items()}
        judge = FixedJudge(
            watch=tuple(limits),
            min_requests=1,
            min_tail_samples=0.0,
            lookback_s=max(windows),
            **limit_fields,
        )
        annotated = annotated_judge(c)
        if annotated is not None and same_limits(annotated[1], judge):
            return ctx.add_judge(*annotated)
        return ctx.add_judge(f"{self.name}.analysis", judge)

    def metric(
        self, path: tuple[PathPart, ...], metric: dict[str, Any], window: float
    ) -> tuple[Metric, float, float] | None:
        ctx, c = self.ctx, self.c
        name = str(metric["name"])
        rng = mapping(c, (*path, "thresholdRange"))
        lo = number(c, (*path, "thresholdRange", "min"), rng["min"]) if rng.get("min") is not None else None
        hi = number(c, (*path, "thresholdRange", "max"), rng["max"]) if rng.get("max") is not None else None
        legacy = metric.get("threshold")
        if name == "request-success-rate" and not metric.get("templateRef") and not metric.get("query"):
            lo = (
                lo
                if lo is not None
                else (number(c, (*path, "threshold"), legacy) if legacy is not None else None)
            )
            if hi is not None:
                ctx.warn(
                    c, (*path, "thresholdRange", "max"), "an upper limit on the success rate is not simulated"
                )
            if lo is None:
                ctx.warn(c, path, "request-success-rate without a minimum never fails: skipped")
                return None
            return "error_rate", clean(1.0 - lo / 100.0), window
        if name == "request-duration" and not metric.get("templateRef") and not metric.get("query"):
            hi = (
                hi
                if hi is not None
                else (number(c, (*path, "threshold"), legacy) if legacy is not None else None)
            )
            if lo is not None:
                ctx.warn(
                    c, (*path, "thresholdRange", "min"), "a lower limit on the duration is not simulated"
                )
            if hi is None:
                ctx.warn(c, path, "request-duration without a maximum never fails: skipped")
                return None
            return "p99", hi, window
        query, where = self.custom_query(path, metric)
        if query is None:
            ctx.warn(
                c,
                path,
                f"{name!r} is neither a built-in metric nor has a templateRef or query:"
                " Flagger does not check it",
            )
            return None
        hi = (
            hi
            if hi is not None
            else (number(c, (*path, "threshold"), legacy) if legacy is not None else None)
        )
        try:
            shape = classify(query)
        except TooComplex as err:
            raise c.error(where, f"the query: {err}") from None
        found = _limit(shape, lo, hi) if shape is not None else None
        if found is None:
            ctx.warn(
                c,
                where,
                f"metric {name!r}: not read as an error ratio, success ratio or latency quantile"
                " with a matching threshold; assumed to pass",
            )
            return None
        return found[0], found[1], lookback_s(query, window) or window

    def custom_query(
        self, path: tuple[PathPart, ...], metric: dict[str, Any]
    ) -> tuple[str | None, tuple[PathPart, ...]]:
        if metric.get("query"):
            return str(metric["query"]), (*path, "query")
        if not metric.get("templateRef"):
            return None, path
        ref = mapping(self.c, (*path, "templateRef"))
        tpl = self.templates.get(("MetricTemplate", str(ref.get("name"))))
        if tpl is None:
            found = sorted(n for k, n in self.templates if k == "MetricTemplate")
            raise self.c.error(
                (*path, "templateRef", "name"),
                f"no MetricTemplate {ref.get('name')!r} in the files"
                f" given (found: {', '.join(found) or 'none'})",
            )
        kind = tpl.get("spec", "provider", "type", default="prometheus")
        if kind != "prometheus":
            self.ctx.warn(
                tpl, ("spec", "provider", "type"), f"a {kind} query is read the way a PromQL query would be"
            )
        return str(tpl.get("spec", "query", default="")), (*path, "templateRef")


def _limit(shape: Shape, lo: float | None, hi: float | None) -> tuple[Metric, float] | None:
    """A custom metric's thresholdRange as the judge's limit on the measure."""
    if shape.baseline:
        return None
    if shape.metric == "success_rate":
        return ("error_rate", clean(1.0 - lo / shape.scale)) if lo is not None else None
    return (shape.metric, clean(hi / shape.scale)) if hi is not None else None
