"""A progressive or blue-green strategy as an Argo Rollout with its AnalysisTemplates."""

from __future__ import annotations

from typing import Any

from ..config.analysis import AnalysisConfig
from ..config.judges import GateJudge, KayentaJudge, MannWhitneyJudge
from ..config.scenario import Scenario
from ..config.strategies import BlueGreenConfig, ExperimentStep, ProgressiveConfig, StrategyConfig
from .argo import NEVER_S, nominal_s
from .k8s import judge_annotation, judge_queries, k8s_name, seconds, sim_annotation
from .mapping import JUDGE_ANNOTATION

_API = "argoproj.io/v1alpha1"
_ARGS = [{"name": "service-name"}, {"name": "latest-hash"}, {"name": "stable-hash"}]

#: The one header route a rollout manages (setHeaderRoute steps set and remove it).
HEADER_ROUTE = "canary-header"
#: The one mirror route a rollout manages (setMirrorRoute steps set and remove it).
MIRROR_ROUTE = "canary-mirror"


class _Templates:
    """AnalysisTemplates for the analysis runs of one strategy, one per metric set, shared when equal."""

    def __init__(self, scn: Scenario, rollout: str) -> None:
        self.scn, self.rollout = scn, rollout
        self.docs: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}

    def refs(self, run: AnalysisConfig, notes: list[str]) -> list[dict[str, Any]]:
        """templateName references for a run, one template per metric of the run."""
        return [{"templateName": self.template(m, notes)} for m in run.metrics]

    def template(self, m: AnalysisConfig, notes: list[str]) -> str:
        timing: dict[str, Any] = {"interval": seconds(m.interval_s)}
        if m.count is not None:
            timing["count"] = m.count
        if m.initial_delay_s:
            timing["initialDelay"] = seconds(m.initial_delay_s)
        timing["failureLimit"] = m.failure_limit
        if m.inconclusive_limit:
            timing["inconclusiveLimit"] = m.inconclusive_limit
        if m.consecutive_error_limit != 4:
            timing["consecutiveErrorLimit"] = m.consecutive_error_limit
        if m.consecutive_success_limit:
            timing["consecutiveSuccessLimit"] = m.consecutive_success_limit
        annotations: dict[str, str] = {}
        if m.pass_probability is not None:
            k = round(m.pass_probability * 32768)
            script = "exit 0" if k >= 32768 else f"exit $(( RANDOM >= {k} ))"
            job = {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "check",
                                    "image": "alpine:3",
                                    "command": ["sh", "-c"],
                                    "args": [script],
                                }
                            ],
                        }
                    },
                }
            }
            metrics = [{"name": "check", **timing, "provider": {"job": job}}]
            base = f"check-{k}"
        else:
            judge = self.scn.judges[m.judge]
            assert isinstance(judge, GateJudge)
            annotations[JUDGE_ANNOTATION] = judge_annotation(m.judge, judge, m.error_probability)
            if isinstance(judge, MannWhitneyJudge | KayentaJudge):
                notes.append(
                    f"judge {m.judge!r}: exported as a Kayenta metric; its canary config is yours to write"
                )
                step = round(judge.step_s) if isinstance(judge, KayentaJudge) else 60
                kayenta = {
                    "address": "https://kayenta.example.com",
                    "application": self.rollout,
                    "canaryConfigName": m.judge,
                    "threshold": _thresholds(judge),
                    "scopes": [
                        {
                            "name": "default",
                            "controlScope": {"scope": "stable", "step": step},
                            "experimentScope": {"scope": "canary", "step": step},
                        }
                    ],
                }
                metrics = [{"name": "mann-whitney", **timing, "provider": {"kayenta": kayenta}}]
            else:
                window = judge.lookback_s or m.interval_s
                metrics = [
                    {
                        "name": name,
                        **timing,
                        "successCondition": cond,
                        "provider": {
                            "prometheus": {"address": "http://prometheus.example.com:9090", "query": query}
                        },
                    }
                    for name, query, cond in judge_queries(judge, window)
                ]
            base = m.judge
        doc: dict[str, Any] = {
            "apiVersion": _API,
            "kind": "AnalysisTemplate",
            "metadata": {"name": "", **({"annotations": annotations} if annotations else {})},
            "spec": {"args": _ARGS, "metrics": metrics},
        }
        key = repr((doc["metadata"], doc["spec"]))
        if key not in self.names:
            name, n = k8s_name(f"{self.rollout}-{base}"), 1
            while name in self.names.values():
                n += 1
                name = k8s_name(f"{self.rollout}-{base}-{n}")
            self.names[key] = name
            doc["metadata"]["name"] = name
            self.docs.append(doc)
        return self.names[key]


def _args(name: str) -> list[dict[str, Any]]:
    return [
        {"name": "service-name", "value": f"{name}-canary"},
        {"name": "latest-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
    ]


def _experiment(exp: ExperimentStep, router: bool, tpl: _Templates, notes: list[str]) -> dict[str, Any]:
    """An experiment step: its templates by specRef, its duration, and its analyses reading the
    experiment's own pods (its templates' pod hashes, as Argo's docs pass them)."""
    templates: list[dict[str, Any]] = []
    for role, ref, t in (("baseline", "stable", exp.baseline), ("canary", "canary", exp.canary)):
        if t is None:
            continue
        doc: dict[str, Any] = {"name": role, "specRef": ref, "replicas": t.replicas}
        if t.weight is not None and router:
            doc["weight"] = _whole(t.weight, "experiment weight", notes)
        elif t.weight is not None:
            notes.append("an experiment template's weight needs trafficRouting: left out")
        templates.append(doc)
    out: dict[str, Any] = {"templates": templates}
    if exp.duration_s is not None:
        out["duration"] = seconds(exp.duration_s)
    if exp.analysis is not None:
        stable = (
            {"value": "{{templates.baseline.podTemplateHash}}"}
            if exp.baseline is not None
            else {"valueFrom": {"podTemplateHashValue": "Stable"}}
        )
        args = [
            {"name": "latest-hash", "value": "{{templates.canary.podTemplateHash}}"},
            {"name": "stable-hash", **stable},
        ]
        refs = tpl.refs(exp.analysis, notes)
        out["analyses"] = [{"name": r["templateName"], **r, "args": args} for r in refs]
    return out


def _whole(value: float, what: str, notes: list[str]) -> int:
    if not float(value).is_integer():
        notes.append(f"{what} {value:g} rounded to {round(value)} (Argo takes whole numbers)")
    return round(value)


def argo_docs(
    scn: Scenario, strategy: str, spec: StrategyConfig, extra: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    name = k8s_name(strategy)
    notes: list[str] = []
    tpl = _Templates(scn, name)
    if isinstance(spec, ProgressiveConfig):
        body = {"canary": _canary(scn, spec, name, tpl, notes)}
    else:
        assert isinstance(spec, BlueGreenConfig)
        body = {"blueGreen": _blue_green(spec, name, tpl, notes)}
    rollout = {
        "apiVersion": _API,
        "kind": "Rollout",
        "metadata": {"name": name, **({"annotations": sim_annotation(extra)} if extra else {})},
        "spec": {
            "replicas": scn.fleet.replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "example/app:new"}]},
            },
            "strategy": body,
        },
    }
    return [rollout, *tpl.docs], notes


def _canary(
    scn: Scenario, spec: ProgressiveConfig, name: str, tpl: _Templates, notes: list[str]
) -> dict[str, Any]:
    routing = spec.routing_for(scn.routing)
    out: dict[str, Any] = {}
    total = 100  # weights out of maxTrafficWeight: more than 100 for fractions of a percent (NGINX)
    weights = [s.weight for s in spec.steps if s.weight is not None]
    while (
        routing.mode == "router"
        and total < 10**6
        and any(not (w * total / 100).is_integer() for w in weights)
    ):
        total *= 10
    if routing.mode == "router":
        router: dict[str, Any] = {
            "istio": {"virtualService": {"name": f"{name}-vsvc", "routes": ["primary"]}}
        }
        if total > 100:  # only NGINX (and plugins) take a maxTrafficWeight
            router = {"maxTrafficWeight": total, "nginx": {"stableIngress": name}}
        out.update(canaryService=f"{name}-canary", stableService=f"{name}-stable", trafficRouting=router)
    else:
        out["maxSurge"] = routing.max_surge
    steps: list[dict[str, Any]] = []
    where: dict[int, int] = {}
    checks_from: int | None = None
    for i, step in enumerate(spec.steps):
        where[i] = len(steps)
        if step.weight is not None:
            steps.append({"setWeight": _whole(step.weight * total / 100, "weight", notes)})
        elif step.pause_s is not None:
            steps.append({"pause": {"duration": seconds(step.pause_s)}})
        elif step.manual_gate:
            steps.append({"pause": {}})
        elif step.canary_scale is not None:
            if routing.mode == "router":
                steps.append({"setCanaryScale": {"replicas": step.canary_scale}})
            else:
                notes.append("setCanaryScale needs trafficRouting: the canary_scale step is left out")
        elif step.header_route is not None:
            route: dict[str, Any] = {"name": HEADER_ROUTE}
            if step.header_route:  # a header each matching user sends (its name is the gateway's to set)
                route["match"] = [
                    {"headerName": "X-User-Segment", "headerValue": {"exact": seg}}
                    for seg in step.header_route
                ]
            steps.append({"setHeaderRoute": route})
        elif step.mirror_route is not None:
            mirror: dict[str, Any] = {"name": MIRROR_ROUTE}
            if step.mirror_route.percentage > 0:  # a route without a match is Argo's removal
                segs = step.mirror_route.segments
                mirror["match"] = (
                    [{"headers": {"X-User-Segment": {"exact": seg}}} for seg in segs]
                    if segs
                    else [{"path": {"prefix": "/"}}]  # every request
                )
                mirror["percentage"] = _whole(step.mirror_route.percentage, "mirror percentage", notes)
            steps.append({"setMirrorRoute": mirror})
        elif step.analysis is not None:
            steps.append({"analysis": {"templates": tpl.refs(step.analysis, notes), "args": _args(name)}})
        elif step.experiment is not None:
            steps.append({"experiment": _experiment(step.experiment, routing.mode == "router", tpl, notes)})
        elif step.checks is not None and spec.checks is not None:
            # Flagger holds the weight while checks fail; Argo cannot: the checks become a pause, and
            # their analysis runs in the background with the same cumulative failure limit.
            checks_from = len(steps) if checks_from is None else checks_from
            steps.append({"pause": {"duration": seconds(step.checks * spec.checks.interval_s)}})
    out["steps"] = steps
    managed = [
        {"name": route}
        for route, used in (
            (HEADER_ROUTE, any(s.header_route is not None for s in spec.steps)),
            (MIRROR_ROUTE, any(s.mirror_route is not None for s in spec.steps)),
        )
        if used
    ]
    if managed and isinstance(out.get("trafficRouting"), dict):
        out["trafficRouting"]["managedRoutes"] = managed  # Argo routes only managed ones
    background = list(spec.analyses)
    if spec.checks is not None and checks_from is not None:
        notes.append(
            "Flagger's checks become pauses with a background analysis: Argo does not hold the weight"
            " while a check fails"
        )
        background.append(spec.checks)
    if background:
        start = {a.starting_step for a in spec.analyses}
        first = min(start) if start else 0
        if len(start) > 1:
            notes.append(
                f"background analyses start at different steps ({sorted(start)}): Argo starts them all"
                f" at step {first}"
            )
        starting = where.get(first, len(steps)) if spec.analyses else (checks_from or 0)
        refs = [r for a in background for r in tpl.refs(a, notes)]
        out["analysis"] = {"templates": refs, "startingStep": starting, "args": _args(name)}
    if routing.mode == "router":
        out["scaleDownDelaySeconds"] = _whole(spec.scale_down_delay_s, "scaleDownDelaySeconds", notes)
        abort = spec.abort_scale_down_delay_s
        out["abortScaleDownDelaySeconds"] = (
            0 if abort >= NEVER_S else max(1, _whole(abort, "abort delay", notes))
        )
        if spec.dynamic_stable_scale:
            out["dynamicStableScale"] = True
    elif spec.dynamic_stable_scale:
        notes.append("dynamicStableScale: Argo ignores it without trafficRouting (not exported)")
    return out


def _blue_green(spec: BlueGreenConfig, name: str, tpl: _Templates, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"activeService": f"{name}-active", "previewService": f"{name}-preview"}
    if not spec.auto_promote:
        out["autoPromotionEnabled"] = False
    elif spec.auto_promotion_s:
        out["autoPromotionSeconds"] = _whole(spec.auto_promotion_s, "autoPromotionSeconds", notes)
    if spec.preview_replicas is not None:
        out["previewReplicaCount"] = spec.preview_replicas
    pre = []
    if spec.smoke_test_s:
        # The smoke test becomes a check of the preview stack taken once the test has run.
        smoke = AnalysisConfig(
            judge=spec.gate_judge, interval_s=60.0, count=1, initial_delay_s=spec.smoke_test_s
        )
        pre += tpl.refs(smoke, notes)
    if spec.pre_promotion is not None:
        pre += tpl.refs(spec.pre_promotion, notes)
    if pre:
        out["prePromotionAnalysis"] = {"templates": pre, "args": _args(name)}
    if spec.post_promotion is not None:
        out["postPromotionAnalysis"] = {
            "templates": tpl.refs(spec.post_promotion, notes),
            "args": _args(name),
        }
    implied = max(30.0, nominal_s(spec.post_promotion)) if spec.post_promotion is not None else 30.0
    if spec.scale_down_delay_s != implied or spec.post_promotion is None:
        out["scaleDownDelaySeconds"] = _whole(spec.scale_down_delay_s, "scaleDownDelaySeconds", notes)
    abort = spec.abort_scale_down_delay_s
    out["abortScaleDownDelaySeconds"] = 0 if abort >= NEVER_S else max(1, _whole(abort, "abort delay", notes))
    return out


def _thresholds(judge: GateJudge) -> dict[str, int]:
    """A Kayenta metric's score thresholds (whole numbers, as Argo's KayentaThreshold takes them):
    the kayenta judge's own; 95 and 75 for a Mann-Whitney one."""
    if isinstance(judge, KayentaJudge):
        return {"pass": round(judge.pass_score), "marginal": round(judge.marginal_score)}
    return {"pass": 95, "marginal": 75}
