"""Argo Rollouts to deploysim: a Rollout's canary or blueGreen strategy, with its AnalysisTemplates.

Defaults are the controller's, as documented and coded upstream (argoproj/argo-rollouts):
- utils/defaults/defaults.go: replicas 1, maxSurge "25%", scaleDownDelaySeconds 30 (blue-green, and
  canary with trafficRouting; none for a basic canary), abortScaleDownDelaySeconds 30 (0: never
  scale down), autoPromotionEnabled true, consecutiveErrorLimit 4.
- pkg/apis/rollouts/v1alpha1/analysis_types.go: failureLimit 0, inconclusiveLimit 0; count omitted
  with no interval means one measurement, with an interval it runs until the rollout ends.
- docs/features/analysis.md: an inline analysis step blocks until its AnalysisRun completes and
  aborts the rollout when it fails; background analysis starts at `startingStep`; the templates of
  one block are merged into one AnalysisRun, which ends at the first failed metric
  (utils/analysis `IsTerminating`); an inconclusive run pauses the rollout for a person.
- docs/features/canary.md: `pause: {}` waits for `kubectl argo rollouts promote`; a pause duration
  without unit is seconds; setCanaryScale needs trafficRouting.
- docs/features/bluegreen.md: preview scaled to previewReplicaCount, pre-promotion analysis, the
  pause (autoPromotionEnabled false, or autoPromotionSeconds — ignored when auto-promotion is off),
  scale-up to spec.replicas, cutover, post-promotion analysis; with a post-promotion analysis and no
  explicit scaleDownDelaySeconds the old stack goes only when the analysis completes (at least
  30 s), with one the analysis is cancelled at the scale-down.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from ..analysis import AnalysisConfig
from ..errors import ConfigError, PathPart
from ..judges import GateJudge
from ..strategies import BlueGreenConfig, ProgressiveConfig, Step
from ..strategies.progressive import RouteOverride
from .manifests import Manifest, duration_s, int_or_percent, integer, listing, mapping, number
from .mapping import JUDGE_ANNOTATION, Context, annotated_judge, argo_metric, same_limits, with_sim_settings

#: A count standing for "until the rollout ends" where the simulation needs the run to end.
FOREVER = 1_000_000
#: Argo's abortScaleDownDelaySeconds: 0 keeps the canary/preview up for good: longer than any horizon.
NEVER_S = 30 * 86400.0
#: Argo retries a measurement after an error after this long when the metric has no interval
#: (analysis/analysis.go DefaultErrorRetryInterval).
RETRY_S = 10.0

Templates = dict[tuple[str, str], Manifest]
_CANARY = ("spec", "strategy", "canary")
_BG = ("spec", "strategy", "blueGreen")


def import_rollout(
    ctx: Context, ro: Manifest, name: str, templates: Templates
) -> ProgressiveConfig | BlueGreenConfig:
    strategy = mapping(ro, ("spec", "strategy"))
    if ("canary" in strategy) == ("blueGreen" in strategy):
        raise ro.error(("spec", "strategy"), "needs exactly one of canary or blueGreen")
    spec_replicas = integer(ro, ("spec", "replicas"), ro.get("spec", "replicas", default=1), 0)
    if spec_replicas != ctx.replicas:
        ctx.warn(
            ro,
            ("spec", "replicas"),
            f"{spec_replicas} replicas: the scenario's fleet of {ctx.replicas} is"
            " simulated and replica counts are scaled to it",
        )
    if ro.get("spec", "progressDeadlineAbort"):
        ctx.warn(ro, ("spec", "progressDeadlineAbort"), "not simulated: replicas always become ready")
    if ro.get("spec", "minReadySeconds"):
        ctx.warn(
            ro, ("spec", "minReadySeconds"), "not simulated: replicas take the fleet's start and warm-up time"
        )
    run = _Run(ctx, ro, name, templates, spec_replicas)
    try:
        cfg = run.canary() if "canary" in strategy else run.blue_green()
        return with_sim_settings(ctx, ro, cfg)
    except ConfigError as err:
        if err.source:  # already names the file and the object
            raise
        raise ro.error(("spec", "strategy"), f"cannot be simulated: {err}") from None


def nominal_s(a: AnalysisConfig) -> float:
    """How long a run takes when every measurement comes on time: its longest metric."""
    return max(m.initial_delay_s + (max(m.count or 1, 1) - 1) * m.interval_s for m in a.metrics)


class _Run:
    """One Rollout being imported."""

    def __init__(
        self, ctx: Context, ro: Manifest, name: str, templates: Templates, spec_replicas: int
    ) -> None:
        self.ctx, self.ro, self.name, self.templates = ctx, ro, name, templates
        self.scale = ctx.replicas / spec_replicas if spec_replicas else 1.0
        self.first_judge: str | None = None

    def replicas(self, n: int) -> int:
        return max(0, round(n * self.scale))

    # ---- analysis ----

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
        if failure_limit < 0:
            ctx.warn(tpl, (*path, "failureLimit"), "negative: failures never fail the metric")
            failure_limit = FOREVER
        p, judge = argo_metric(ctx, tpl, path, metric)
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
            pass_probability=p,
        )
        return cfg, judge

    def blocking_run(self, path: tuple[PathPart, ...], block: Any) -> AnalysisConfig | None:
        """The templates of a blocking analysis merged into one run (their metrics side by side)."""
        members = [m for run in self.analysis(path, block, blocking=True) for m in run.metrics]
        members = [dataclasses.replace(m, also=()) for m in members]
        return dataclasses.replace(members[0], also=tuple(members[1:])) if members else None

    # ---- canary ----

    def canary(self) -> ProgressiveConfig:
        ctx, ro = self.ctx, self.ro
        c = mapping(ro, _CANARY)
        router = c.get("trafficRouting") is not None
        total = number(
            ro,
            (*_CANARY, "trafficRouting", "maxTrafficWeight"),
            ro.get(*_CANARY, "trafficRouting", "maxTrafficWeight", default=100),
        )
        steps: list[Step] = []
        where: dict[int, int] = {}  # Argo step index → index of its first simulated step
        weight = 0.0
        for i, raw in enumerate(listing(ro, (*_CANARY, "steps"))):
            where[i] = len(steps)
            path = (*_CANARY, "steps", i)
            if not isinstance(raw, dict) or len(raw) != 1:
                raise ro.error(
                    path, "a step sets exactly one of setWeight, pause, setCanaryScale, analysis, experiment"
                )
            key, value = next(iter(raw.items()))
            if key == "setWeight":
                weight = number(ro, (*path, key), value) * 100.0 / total
                if not 0 <= weight <= 100:
                    raise ro.error((*path, key), f"{value} is not within 0..{total:g}")
                steps.append(Step(weight=weight))
            elif key == "pause":
                pause = value or {}
                if pause.get("duration") is None:
                    steps.append(Step(manual_gate=True))  # waits for `kubectl argo rollouts promote`
                else:
                    steps.append(
                        Step(pause_s=duration_s(ro, (*path, key, "duration"), pause["duration"], True))
                    )
            elif key == "setCanaryScale":
                if not router:
                    raise ro.error(
                        (*path, key), "setCanaryScale needs trafficRouting (Argo rejects it otherwise)"
                    )
                steps.append(Step(canary_scale=self.canary_scale((*path, key), value or {}, weight)))
            elif key == "analysis":
                run = self.blocking_run((*path, key), value)
                if run is not None:
                    steps.append(Step(analysis=run))
            elif key == "experiment":
                steps += self.experiment((*path, key), value or {})
            elif key in ("setHeaderRoute", "setMirrorRoute", "plugin"):
                ctx.warn(
                    ro, (*path, key), "header routes, mirroring and plugins are not simulated: step skipped"
                )
            else:
                raise ro.error(
                    (*path, key),
                    f"unknown step {key!r} (allowed: setWeight, pause, setCanaryScale,"
                    " analysis, experiment, setHeaderRoute, setMirrorRoute, plugin)",
                )
        if not listing(ro, (*_CANARY, "steps")):
            ctx.warn(
                ro,
                (*_CANARY, "steps"),
                "no steps: Argo does a rolling update, simulated as going straight to 100%",
            )
        analyses = []
        if c.get("analysis") is not None:
            start = integer(ro, (*_CANARY, "analysis", "startingStep"), c["analysis"].get("startingStep", 0))
            if start > len(where):
                ctx.warn(
                    ro,
                    (*_CANARY, "analysis", "startingStep"),
                    "past the last step: the analysis never starts",
                )
            first = where.get(start, len(steps))
            for run in self.analysis((*_CANARY, "analysis"), c["analysis"], blocking=False):
                analyses.append(dataclasses.replace(run, starting_step=first))
        for key, what in (
            ("dynamicStableScale", "the stable fleet stays at full size during the update"),
            ("minPodsPerReplicaSet", "the canary gets as many replicas as its weight needs"),
        ):
            if c.get(key):
                ctx.warn(ro, (*_CANARY, key), f"not simulated: {what}")
        if router:
            sdd = duration_s(
                ro, (*_CANARY, "scaleDownDelaySeconds"), c.get("scaleDownDelaySeconds", 30), True
            )
            abort = duration_s(
                ro, (*_CANARY, "abortScaleDownDelaySeconds"), c.get("abortScaleDownDelaySeconds", 30), True
            )
            route = RouteOverride(mode="router", sticky=False)
        else:
            for key in ("scaleDownDelaySeconds", "abortScaleDownDelaySeconds"):
                if key in c:
                    ctx.warn(ro, (*_CANARY, key), "ignored by Argo without trafficRouting")
            sdd = abort = 30.0  # without a router neither applies: the stable fleet is scaled by the steps
            surge = int_or_percent(ro, (*_CANARY, "maxSurge"), c.get("maxSurge", "25%"), ctx.replicas)
            route = RouteOverride(mode="replicas", max_surge=surge, sticky=False)
        return ProgressiveConfig(
            steps=tuple(steps),
            analyses=tuple(analyses),
            gate_judge=self.first_judge or ctx.gate,
            scale_down_delay_s=sdd,
            abort_scale_down_delay_s=abort if abort else NEVER_S,
            routing=route,
        )

    def canary_scale(self, path: tuple[PathPart, ...], value: dict[str, Any], weight: float) -> int:
        if value.get("replicas") is not None:
            return self.replicas(integer(self.ro, (*path, "replicas"), value["replicas"]))
        if value.get("weight") is not None:
            pct = number(self.ro, (*path, "weight"), value["weight"])
            return math.ceil(self.ctx.replicas * pct / 100.0 - 1e-9)
        if value.get("matchTrafficWeight"):
            return math.ceil(self.ctx.replicas * weight / 100.0 - 1e-9)
        raise self.ro.error(path, "needs replicas, weight or matchTrafficWeight")

    def experiment(self, path: tuple[PathPart, ...], exp: dict[str, Any]) -> list[Step]:
        """An experiment's ReplicaSets take no user traffic; its analyses decide if the rollout goes on."""
        ro = self.ro
        refs = listing(ro, (*path, "analyses"))
        out: list[Step] = []
        run = self.blocking_run((*path, "analyses"), {"templates": refs}) if refs else None
        if run is not None:
            out.append(Step(analysis=run))
        how = (
            "its analyses run as an inline analysis step"
            if run is not None
            else "it has no analysis to wait for"
        )
        if exp.get("duration"):
            wait = duration_s(ro, (*path, "duration"), exp["duration"], True)
            rest = wait - (nominal_s(run) if run is not None else 0.0)
            if rest > 0:
                out.append(Step(pause_s=rest))
            how += f", and the step lasts its duration ({wait:g} s)"
        self.ctx.warn(
            ro, path, f"the experiment's ReplicaSets are not simulated (they take no user traffic); {how}"
        )
        return out

    # ---- blue-green ----

    def blue_green(self) -> BlueGreenConfig:
        ctx, ro = self.ctx, self.ro
        bg = mapping(ro, _BG)
        auto = bg.get("autoPromotionEnabled", True)
        if not isinstance(auto, bool):
            raise ro.error((*_BG, "autoPromotionEnabled"), f"expected true or false, got {auto!r}")
        auto_s = integer(ro, (*_BG, "autoPromotionSeconds"), bg.get("autoPromotionSeconds") or 0)
        if auto_s and not auto:
            ctx.warn(
                ro,
                (*_BG, "autoPromotionSeconds"),
                "ignored by Argo while autoPromotionEnabled is false: a person promotes",
            )
            auto_s = 0
        smoke, pre = 0.0, None
        if bg.get("prePromotionAnalysis") is not None:
            path = (*_BG, "prePromotionAnalysis")
            run = self.blocking_run(path, bg["prePromotionAnalysis"])
            judged = [m for m in (run.metrics if run else ()) if m.pass_probability is None]
            checks = [m for m in (run.metrics if run else ()) if m.pass_probability is not None]
            if judged:
                smoke = max(nominal_s(dataclasses.replace(m, also=())) for m in judged)
                ctx.warn(
                    ro,
                    path,
                    f"metrics of the preview stack see no user traffic in the simulation: they are simulated"
                    f" as a smoke test of {smoke:g} s that catches each fault with its smoke_catch chance",
                )
            if checks:
                pre = dataclasses.replace(checks[0], also=tuple(checks[1:]))
        explicit = "scaleDownDelaySeconds" in bg
        sdd = duration_s(ro, (*_BG, "scaleDownDelaySeconds"), bg.get("scaleDownDelaySeconds", 30), True)
        post = None
        if bg.get("postPromotionAnalysis") is not None:
            path = (*_BG, "postPromotionAnalysis")
            post = self.blocking_run(path, bg["postPromotionAnalysis"])
            if post is not None and explicit:
                post = self.cut_to(path, post, sdd)
            elif post is not None:
                sdd = max(30.0, nominal_s(post))  # the old stack waits for the analysis
        preview = bg.get("previewReplicaCount")
        abort = duration_s(
            ro, (*_BG, "abortScaleDownDelaySeconds"), bg.get("abortScaleDownDelaySeconds", 30), True
        )
        return BlueGreenConfig(
            smoke_test_s=smoke,
            auto_promote=auto,
            auto_promotion_s=float(auto_s),
            scale_down_delay_s=sdd,
            pre_promotion=pre,
            post_promotion=post,
            gate_judge=self.first_judge or ctx.gate,
            preview_replicas=None
            if preview is None
            else self.replicas(integer(ro, (*_BG, "previewReplicaCount"), preview)),
            abort_scale_down_delay_s=abort if abort else NEVER_S,
        )

    def cut_to(
        self, path: tuple[PathPart, ...], run: AnalysisConfig, limit_s: float
    ) -> AnalysisConfig | None:
        """Argo cancels a post-promotion run when the old stack is scaled down: keep what fits."""
        kept = []
        for m in run.metrics:
            fits = (
                1 + int((limit_s - m.initial_delay_s) // m.interval_s) if limit_s >= m.initial_delay_s else 0
            )
            if fits < (m.count or FOREVER):
                self.ctx.warn(
                    self.ro,
                    path,
                    f"cancelled by Argo at scaleDownDelaySeconds ({limit_s:g} s):"
                    f" {fits} measurement(s) of {m.count or 'unlimited'} are taken",
                )
            if fits > 0:
                kept.append(dataclasses.replace(m, count=min(fits, m.count or FOREVER), also=()))
        return dataclasses.replace(kept[0], also=tuple(kept[1:])) if kept else None


def _agrees(judge: GateJudge, members: list[AnalysisConfig], judges: list[GateJudge | None]) -> bool:
    """Whether the metrics of a template are exactly one judge's metrics, measured in step."""
    if any(j is None for j in judges) or any(m.pass_probability is not None for m in members):
        return False
    timing = {
        (
            m.interval_s,
            m.count,
            m.initial_delay_s,
            m.failure_limit,
            m.inconclusive_limit,
            m.consecutive_error_limit,
        )
        for m in members
    }
    if len(timing) != 1 or sorted(w for j in judges for w in j.watch) != sorted(judge.watch):  # type: ignore[union-attr]
        return False
    return all(same_limits(dataclasses.replace(judge, watch=j.watch), j) for j in judges if j is not None)
