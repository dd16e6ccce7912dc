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
import math
from typing import Any

from ..config.analysis import AnalysisConfig
from ..config.routing import RouteOverride
from ..config.strategies import (
    BlueGreenConfig,
    ExperimentStep,
    ExperimentTemplate,
    MirrorRoute,
    ProgressiveConfig,
    Step,
)
from ..core.errors import ConfigError, PathPart
from .argo_analysis import FOREVER, AnalysisReader, Templates, nominal_s
from .manifests import Manifest, duration_s, int_or_percent, integer, listing, mapping, number
from .mapping import Context, with_sim_settings

#: Argo's abortScaleDownDelaySeconds: 0 keeps the canary/preview up for good: longer than any horizon.
NEVER_S = 30 * 86400.0
_CANARY = ("spec", "strategy", "canary")
#: Fields of the strategies (docs/features/specification.md); those not read do not shape a rollout.
CANARY_FIELDS = (
    "canaryService",
    "stableService",
    "canaryMetadata",
    "stableMetadata",
    "maxUnavailable",
    "maxSurge",
    "scaleDownDelaySeconds",
    "minPodsPerReplicaSet",
    "scaleDownDelayRevisionLimit",
    "analysis",
    "steps",
    "antiAffinity",
    "trafficRouting",
    "abortScaleDownDelaySeconds",
    "dynamicStableScale",
    "pingPong",
)
BLUE_GREEN_FIELDS = (
    "activeService",
    "previewService",
    "prePromotionAnalysis",
    "postPromotionAnalysis",
    "previewReplicaCount",
    "autoPromotionEnabled",
    "autoPromotionSeconds",
    "scaleDownDelaySeconds",
    "scaleDownDelayRevisionLimit",
    "abortScaleDownDelaySeconds",
    "antiAffinity",
    "activeMetadata",
    "previewMetadata",
    "maxUnavailable",
)
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


class _Run(AnalysisReader):
    """One Rollout being imported."""

    def __init__(
        self, ctx: Context, ro: Manifest, name: str, templates: Templates, spec_replicas: int
    ) -> None:
        super().__init__(ctx, ro, name, templates)
        self.scale = ctx.replicas / spec_replicas if spec_replicas else 1.0

    def replicas(self, n: int) -> int:
        return max(0, round(n * self.scale))

    # ---- canary ----

    def canary(self) -> ProgressiveConfig:
        ctx, ro = self.ctx, self.ro
        c = mapping(ro, _CANARY)
        ctx.check_keys(ro, _CANARY, c, CANARY_FIELDS)
        router = c.get("trafficRouting") is not None
        total = number(
            ro,
            (*_CANARY, "trafficRouting", "maxTrafficWeight"),
            ro.get(*_CANARY, "trafficRouting", "maxTrafficWeight", default=100),
        )
        if not (math.isfinite(total) and total >= 1):  # every setWeight is divided by it
            raise ro.error(
                (*_CANARY, "trafficRouting", "maxTrafficWeight"),
                f"{total:g} is not a weight scale of at least 1",
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
                pause = mapping(ro, (*path, key))  # `pause: {}` waits for a person
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
                scale = self.canary_scale((*path, key), mapping(ro, (*path, key)), weight)
                steps.append(Step(canary_scale=scale))
            elif key == "analysis":
                run = self.blocking_run((*path, key), value)
                if run is not None:
                    steps.append(Step(analysis=run))
            elif key == "experiment":
                steps += self.experiment((*path, key), mapping(ro, (*path, key)), router)
            elif key == "setHeaderRoute":
                step = self.header_route((*path, key), mapping(ro, (*path, key)), router)
                if step is not None:
                    steps.append(step)
            elif key == "setMirrorRoute":
                steps.append(self.mirror_route((*path, key), mapping(ro, (*path, key)), router))
            elif key == "plugin":
                ctx.warn(ro, (*path, key), "plugins are not simulated: step skipped")
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
            background = mapping(ro, (*_CANARY, "analysis"))
            start = integer(ro, (*_CANARY, "analysis", "startingStep"), background.get("startingStep", 0))
            if start > len(where):
                ctx.warn(
                    ro,
                    (*_CANARY, "analysis", "startingStep"),
                    "past the last step: the analysis never starts",
                )
            first = where.get(start, len(steps))
            for run in self.analysis((*_CANARY, "analysis"), c["analysis"], blocking=False):
                analyses.append(dataclasses.replace(run, starting_step=first))
        dynamic = bool(c.get("dynamicStableScale")) and router
        if c.get("dynamicStableScale") and not router:
            ctx.warn(ro, (*_CANARY, "dynamicStableScale"), "ignored by Argo without trafficRouting")
        for key, what in (("minPodsPerReplicaSet", "the canary gets as many replicas as its weight needs"),):
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
            dynamic_stable_scale=dynamic,
        )

    def header_route(self, path: tuple[PathPart, ...], value: dict[str, Any], router: bool) -> Step | None:
        """setHeaderRoute: the segments its match names sent to the canary; no match removes the route."""
        ro, ctx = self.ro, self.ctx
        if not router:
            raise ro.error(path, "setHeaderRoute needs trafficRouting (Argo rejects it otherwise)")
        match = value.get("match")
        if not match:
            return Step(header_route=())
        named, _ = ctx.named_segments(match)
        if not named:
            ctx.warn(
                ro,
                (*path, "match"),
                f"names no segment of the scenario ({', '.join(ctx.segments)}): not simulated, step skipped",
            )
            return None
        ctx.warn(ro, (*path, "match"), f"simulated as every user of {', '.join(sorted(named))}")
        return Step(header_route=tuple(sorted(named)))

    def mirror_route(self, path: tuple[PathPart, ...], value: dict[str, Any], router: bool) -> Step:
        """setMirrorRoute: `percentage` (Argo's default 100) of the requests its match selects copied
        to the canary; no match removes the route (rollout/trafficrouting/istio/istio.go,
        reconcileVirtualServiceMirrorRoutes and createMirrorRoute)."""
        ro, ctx = self.ro, self.ctx
        if not router:
            raise ro.error(path, "setMirrorRoute needs trafficRouting (Argo rejects it otherwise)")
        match = value.get("match")
        if not match:
            return Step(mirror_route=MirrorRoute(percentage=0.0))
        pct = 100.0
        if value.get("percentage") is not None:
            pct = float(integer(ro, (*path, "percentage"), value["percentage"], 0, 100))
        named, _ = ctx.named_segments(match)
        if named:
            ctx.warn(ro, (*path, "match"), f"simulated as every request of {', '.join(sorted(named))}")
        else:
            ctx.warn(
                ro,
                (*path, "match"),
                f"names no segment of the scenario ({', '.join(ctx.segments)}): simulated as every request",
            )
        return Step(mirror_route=MirrorRoute(percentage=pct, segments=tuple(sorted(named))))

    def canary_scale(self, path: tuple[PathPart, ...], value: dict[str, Any], weight: float) -> int:
        if value.get("replicas") is not None:
            return self.replicas(integer(self.ro, (*path, "replicas"), value["replicas"]))
        if value.get("weight") is not None:
            pct = number(self.ro, (*path, "weight"), value["weight"])
            return math.ceil(self.ctx.replicas * pct / 100.0 - 1e-9)
        if value.get("matchTrafficWeight"):
            return math.ceil(self.ctx.replicas * weight / 100.0 - 1e-9)
        raise self.ro.error(path, "needs replicas, weight or matchTrafficWeight")

    def experiment(self, path: tuple[PathPart, ...], exp: dict[str, Any], router: bool) -> list[Step]:
        """Argo's experiment step: its templates (specRef stable: the baseline, canary: the canary, each
        with its replicas and, behind a router, its weight), its duration, and its analyses, which
        judge the experiment's canary against its baseline (rollout/experiment.go,
        GetExperimentFromTemplate)."""
        ro, ctx = self.ro, self.ctx
        templates: dict[str, ExperimentTemplate] = {}
        for i in range(len(listing(ro, (*path, "templates")))):
            tpath: tuple[PathPart, ...] = (*path, "templates", i)
            t = mapping(ro, tpath)
            ref = t.get("specRef")
            if ref not in ("stable", "canary"):
                raise ro.error((*tpath, "specRef"), f"{ref!r}: Argo takes stable or canary")
            role = "baseline" if ref == "stable" else "canary"
            if role in templates:
                ctx.warn(ro, tpath, f"a second {ref} template is not simulated: only the first is")
                continue
            replicas = self.replicas(
                integer(ro, (*tpath, "replicas"), t.get("replicas", 1))
            )  # Argo's default: 1
            weight = None
            if t.get("weight") is not None:
                if router:
                    weight = number(ro, (*tpath, "weight"), t["weight"])
                    ctx.warn(
                        ro,
                        (*tpath, "weight"),
                        "its users are drawn twice: on the experiment's own tape for its analyses, and"
                        " in the canary's slot for the harm they meet",
                    )
                else:
                    ctx.warn(
                        ro, (*tpath, "weight"), "ignored: a weight needs trafficRouting (load-tested instead)"
                    )
            elif t.get("service") is not None:
                ctx.warn(ro, (*tpath, "service"), "its Service is not simulated: the template is load-tested")
            templates[role] = ExperimentTemplate(replicas=replicas, weight=weight or None)
        if "canary" not in templates:
            ctx.warn(ro, path, "no canary template: nothing of the release to judge, step skipped")
            return []
        refs = listing(ro, (*path, "analyses"))
        run = self.blocking_run((*path, "analyses"), {"templates": refs}) if refs else None
        duration: float | None = None
        if exp.get("duration"):
            duration = duration_s(ro, (*path, "duration"), exp["duration"], True)
        elif run is None:
            ctx.warn(ro, path, "no duration and no analyses: Argo's experiment ends at once, step skipped")
            return []
        elif any(m.count is None for m in run.metrics):
            duration = 3600.0
            ctx.warn(
                ro,
                path,
                "no duration and an analysis without a count: Argo's experiment runs until stopped;"
                " simulated as running for an hour",
            )
        return [
            Step(
                experiment=ExperimentStep(
                    duration_s=duration,
                    baseline=templates.get("baseline"),
                    canary=templates["canary"],
                    analysis=run,
                )
            )
        ]

    # ---- blue-green ----

    def blue_green(self) -> BlueGreenConfig:
        ctx, ro = self.ctx, self.ro
        bg = mapping(ro, _BG)
        ctx.check_keys(ro, _BG, bg, BLUE_GREEN_FIELDS)
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
