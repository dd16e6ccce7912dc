"""Argo Rollouts' analysis as deploysim's: AnalysisTemplates and ClusterAnalysisTemplates, their metrics'
timing, limits and providers, merged into runs the way the controller merges them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..config.analysis import AnalysisConfig
from ..config.judges import GateJudge, KayentaJudge, MannWhitneyJudge
from ..core.errors import PathPart
from .manifests import Manifest, duration_s, integer, listing
from .mapping import JUDGE_ANNOTATION, Context, annotated_judge, argo_metric, same_limits

#: A count standing for "until the rollout ends" where the simulation needs the run to end.
FOREVER = 1_000_000
#: Argo retries a measurement after an error after this long when the metric has no interval
#: (analysis/analysis.go DefaultErrorRetryInterval).
RETRY_S = 10.0
#: Fields of an Argo metric (pkg/apis/rollouts/v1alpha1/analysis_types.go).
METRIC_FIELDS = (
    "name",
    "interval",
    "initialDelay",
    "count",
    "successCondition",
    "failureCondition",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "consecutiveSuccessLimit",
    "provider",
)

Templates = dict[tuple[str, str], Manifest]


def nominal_s(a: AnalysisConfig) -> float:
    """How long a run takes when every measurement comes on time: its longest metric."""
    return max(m.initial_delay_s + (max(m.count or 1, 1) - 1) * m.interval_s for m in a.metrics)


class AnalysisReader:
    """Reads the analysis blocks of one Rollout."""

    def __init__(self, ctx: Context, ro: Manifest, name: str, templates: Templates) -> None:
        self.ctx, self.ro, self.name, self.templates = ctx, ro, name, templates
        self.first_judge: str | None = None

    def analysis(self, path: tuple[PathPart, ...], block: Any, blocking: bool) -> list[AnalysisConfig]:
        """One AnalysisConfig per referenced template (its metrics side by side)."""
        ro = self.ro
        if not isinstance(block, dict):
            raise ro.error(path, f"expected a mapping with templates, got {block!r}")
        refs = block.get("templates") or []
        if not isinstance(refs, list):
            raise ro.error((*path, "templates"), f"expected a list, got {refs!r}")
        if block.get("templateName"):  # the deprecated single-template form
            refs = [*refs, {"templateName": block["templateName"]}]
        if not refs:
            raise ro.error((*path, "templates"), "names no AnalysisTemplate")
        runs = []
        for i, ref in enumerate(refs):
            if not isinstance(ref, dict) or not ref.get("templateName"):
                raise ro.error(
                    (*path, "templates", i) if path[-1] != "analyses" else (*path, i), "needs a templateName"
                )
            kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
            tpl = self.templates.get((kind, str(ref["templateName"])))
            if tpl is None:
                found = sorted(n for k, n in self.templates if k == kind)
                raise ro.error(
                    (*path, "templates", i, "templateName"),
                    f"no {kind} {ref['templateName']!r} in the files given"
                    f" (found: {', '.join(found) or 'none'})",
                )
            run = self.template(tpl, blocking)
            if run is not None:
                runs.append(run)
        return runs

    def template(self, tpl: Manifest, blocking: bool) -> AnalysisConfig | None:
        """A template's metrics as one run; a template `deploysim export` wrote for one judge, whose
        metrics still agree with it, becomes that judge again."""
        ctx = self.ctx
        dry = {str(d.get("metricName")) for d in listing(tpl, ("spec", "dryRun")) if isinstance(d, dict)}
        found: list[tuple[str, AnalysisConfig, GateJudge | None]] = []
        for i, metric in enumerate(listing(tpl, ("spec", "metrics"))):
            path: tuple[PathPart, ...] = ("spec", "metrics", i)
            if not isinstance(metric, dict) or not metric.get("name"):
                raise tpl.error(path, "a metric needs a name")
            if not isinstance(metric["name"], str | int | float):  # names key sets and messages below
                raise tpl.error((*path, "name"), f"{metric['name']!r} is not a name")
            if metric["name"] in dry or "*" in dry:
                ctx.warn(
                    tpl,
                    path,
                    f"metric {metric['name']!r} runs in dryRun mode: it cannot fail the rollout, skipped",
                )
                continue
            found.append((str(metric["name"]), *self.metric(tpl, path, metric, blocking)))
        if not found:
            ctx.warn(tpl, ("spec", "metrics"), "no metric that can fail the rollout: the analysis is skipped")
            return None
        annotated = annotated_judge(tpl)
        if annotated is not None and _agrees(annotated[1], [f[1] for f in found], [f[2] for f in found]):
            name = ctx.add_judge(*annotated)
            err_p = float(json.loads(tpl.annotation(JUDGE_ANNOTATION) or "{}").get("error_probability", 0.0))
            self.first_judge = self.first_judge or name
            return dataclasses.replace(found[0][1], judge=name, error_probability=err_p)
        named = []
        for metric_name, cfg, judge in found:
            if judge is not None:
                cfg = dataclasses.replace(cfg, judge=ctx.add_judge(f"{self.name}.{metric_name}", judge))
                self.first_judge = self.first_judge or cfg.judge
            named.append(cfg)
        return dataclasses.replace(named[0], also=tuple(named[1:]))

    def metric(
        self, tpl: Manifest, path: tuple[PathPart, ...], metric: dict[str, Any], blocking: bool
    ) -> tuple[AnalysisConfig, GateJudge | None]:
        ctx = self.ctx
        interval = (
            duration_s(tpl, (*path, "interval"), metric["interval"]) if metric.get("interval") else None
        )
        count = integer(tpl, (*path, "count"), metric.get("count") or 0)
        count_or_none: int | None = count if count > 0 else (1 if interval is None else None)
        if count_or_none is None and blocking:
            ctx.warn(
                tpl,
                (*path, "count"),
                "no count: the metric measures until it fails, and the rollout waits"
                " on it until then (or until a person promotes): simulated as measuring to the horizon",
            )
            count_or_none = FOREVER
        failure_limit = integer(tpl, (*path, "failureLimit"), metric.get("failureLimit", 0), -1)
        success_limit = integer(
            tpl, (*path, "consecutiveSuccessLimit"), metric.get("consecutiveSuccessLimit", 0)
        )
        if failure_limit < 0 and not success_limit:
            ctx.warn(tpl, (*path, "failureLimit"), "negative: failures never fail the metric")
            failure_limit = FOREVER
        p, judge = argo_metric(ctx, tpl, path, metric)
        ctx.check_keys(tpl, path, metric, METRIC_FIELDS)
        cel = metric.get("consecutiveErrorLimit", 4)
        cfg = AnalysisConfig(
            judge=ctx.gate,
            interval_s=interval if interval else RETRY_S,
            count=count_or_none,
            initial_delay_s=duration_s(tpl, (*path, "initialDelay"), metric["initialDelay"])
            if metric.get("initialDelay")
            else 0.0,
            failure_limit=failure_limit,
            inconclusive_limit=integer(tpl, (*path, "inconclusiveLimit"), metric.get("inconclusiveLimit", 0)),
            consecutive_error_limit=integer(tpl, (*path, "consecutiveErrorLimit"), cel),
            consecutive_success_limit=success_limit,
            pass_probability=p,
        )
        return cfg, judge

    def blocking_run(self, path: tuple[PathPart, ...], block: Any) -> AnalysisConfig | None:
        """The templates of a blocking analysis merged into one run (their metrics side by side)."""
        members = [m for run in self.analysis(path, block, blocking=True) for m in run.metrics]
        members = [dataclasses.replace(m, also=()) for m in members]
        return dataclasses.replace(members[0], also=tuple(members[1:])) if members else None


def _agrees(judge: GateJudge, members: list[AnalysisConfig], judges: list[GateJudge | None]) -> bool:
    """Whether the metrics of a template are exactly one judge's metrics, measured in step."""
    if any(j is None for j in judges) or any(m.pass_probability is not None for m in members):
        return False
    if isinstance(
        judge, MannWhitneyJudge | KayentaJudge
    ):  # a Kayenta metric: its canary config holds the rest
        return len(judges) == 1 and isinstance(judges[0], MannWhitneyJudge | KayentaJudge)
    timing = {
        (
            m.interval_s,
            m.count,
            m.initial_delay_s,
            m.failure_limit,
            m.inconclusive_limit,
            m.consecutive_error_limit,
            m.consecutive_success_limit,
        )
        for m in members
    }
    if len(timing) != 1 or sorted(w for j in judges for w in j.watch) != sorted(judge.watch):  # type: ignore[union-attr]
        return False
    return all(same_limits(dataclasses.replace(judge, watch=j.watch), j) for j in judges if j is not None)
