"""A progressive or blue-green strategy as a Flagger Canary (with MetricTemplates where needed)."""

from __future__ import annotations

import math
from typing import Any

from ..config.analysis import AnalysisConfig
from ..config.judges import BaselineJudge, FixedJudge, GateJudge, JudgeConfig
from ..config.scenario import Scenario
from ..config.strategies import BlueGreenConfig, ProgressiveConfig, StrategyConfig
from .flagger import flagger_weights
from .k8s import judge_annotation, judge_queries, k8s_name, seconds, sim_annotation
from .mapping import JUDGE_ANNOTATION

_API = "flagger.app/v1beta1"


def _as_fixed(scn: Scenario, name: str, judge: JudgeConfig, notes: list[str]) -> FixedJudge | None:
    """Flagger's metrics are absolute thresholds: a baseline judge becomes the limits it would set
    against the scenario's stable fleet (its baseline error rate and latency)."""
    if isinstance(judge, FixedJudge):
        return judge
    if isinstance(judge, BaselineJudge):
        f = scn.fleet
        notes.append(
            f"judge {name!r} compares with the stable version; Flagger's metrics are absolute, so it is"
            f" exported as the limits it sets against this scenario's stable fleet"
        )
        return FixedJudge(
            watch=judge.watch,
            min_requests=judge.min_requests,
            lookback_s=judge.lookback_s,
            max_error_rate=min(1.0, f.error_rate * judge.max_error_ratio + judge.error_margin),
            max_p50_ms=f.latency.p50_ms * judge.max_latency_ratio,
            max_p99_ms=f.latency.p99_ms * judge.max_latency_ratio,
        )
    notes.append(f"judge {name!r} ({judge.kind}) has no Flagger metric: the exported analysis checks nothing")
    return None


def _metrics(
    judge: FixedJudge, window_s: float, canary: str, templates: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    interval = seconds(window_s)
    out: list[dict[str, Any]] = []
    for metric in judge.watch:
        if metric == "error_rate":
            out.append(
                {
                    "name": "request-success-rate",
                    "interval": interval,
                    "thresholdRange": {"min": float(f"{(1.0 - judge.max_error_rate) * 100.0:.12g}")},
                }
            )
        elif metric == "p99":
            out.append(
                {
                    "name": "request-duration",
                    "interval": interval,
                    "thresholdRange": {"max": float(f"{judge.max_p99_ms:.12g}")},
                }
            )
        else:  # no built-in metric: a MetricTemplate with the query the importer reads back
            (name, query, _cond) = next(
                q for q in judge_queries(judge, window_s) if metric in q[0].replace("-", "_")
            )
            tname = k8s_name(f"{canary}-{name}")
            query = query.replace(
                'service="{{args.service-name}}",rollouts_pod_template_hash="{{args.latest-hash}}"',
                'namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"',
            )
            templates.append(
                {
                    "apiVersion": _API,
                    "kind": "MetricTemplate",
                    "metadata": {"name": tname},
                    "spec": {
                        "provider": {"type": "prometheus", "address": "http://prometheus:9090"},
                        "query": query,
                    },
                }
            )
            limit = judge.max_p50_ms if metric == "p50" else judge.max_saturation
            out.append(
                {
                    "name": name,
                    "interval": interval,
                    "templateRef": {"name": tname},
                    "thresholdRange": {"max": float(f"{limit:.12g}")},
                }
            )
    return out


def flagger_docs(
    scn: Scenario, strategy: str, spec: StrategyConfig, extra: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    name = k8s_name(strategy)
    notes: list[str] = []
    templates: list[dict[str, Any]] = []
    annotations = sim_annotation(extra)
    if isinstance(spec, ProgressiveConfig):
        analysis, provider = _canary(scn, spec, name, notes, templates, annotations)
    else:
        assert isinstance(spec, BlueGreenConfig)
        analysis, provider = _blue_green(scn, spec, name, notes, templates, annotations)
    canary = {
        "apiVersion": _API,
        "kind": "Canary",
        "metadata": {"name": name, **({"annotations": annotations} if annotations else {})},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 80},
            "analysis": analysis,
        },
    }
    return [canary, *templates], notes


def _checks(
    scn: Scenario,
    run: AnalysisConfig | None,
    name: str,
    notes: list[str],
    templates: list[dict[str, Any]],
    annotations: dict[str, str],
) -> dict[str, Any]:
    """interval, threshold and metrics of a Flagger analysis from the run that plays its checks."""
    if run is None:
        return {"interval": "1m", "threshold": 1}
    out: dict[str, Any] = {"interval": seconds(run.interval_s), "threshold": run.failure_limit + 1}
    if run.also:
        notes.append("only the first metric of the checks' run is exported")
    if run.pass_probability is None:
        judge = scn.judges[run.judge]
        assert isinstance(judge, GateJudge)
        fixed = _as_fixed(scn, run.judge, judge, notes)
        if fixed is not None:
            out["metrics"] = _metrics(fixed, fixed.lookback_s or run.interval_s, name, templates)
            if fixed is judge:
                annotations[JUDGE_ANNOTATION] = judge_annotation(run.judge, judge, run.error_probability)
    return out


def _canary(
    scn: Scenario,
    spec: ProgressiveConfig,
    name: str,
    notes: list[str],
    templates: list[dict[str, Any]],
    annotations: dict[str, str],
) -> tuple[dict[str, Any], str]:
    routing = spec.routing_for(scn.routing)
    weights = [s.weight for s in spec.steps if s.weight is not None]
    kinds = [
        k
        for s in spec.steps
        for k in ("weight", "pause_s", "manual_gate", "analysis", "checks", "experiment")
        if getattr(s, k) not in (None, False)
    ]
    if "experiment" in kinds:  # Flagger has no experiments: the canary is judged against the primary
        notes.append("Flagger has no experiment step: the experiment steps are not exported")
    run = spec.checks
    if run is None:
        run = spec.analyses[0] if spec.analyses else None
        lost = sorted({k for k in kinds if k in ("pause_s", "analysis", "manual_gate")})
        notes.append(
            "Flagger advances one step per analysis interval: "
            + (f"the {', '.join(lost)} steps are not exported, " if lost else "")
            + "the first background analysis plays Flagger's checks"
        )
    analysis = _checks(scn, run, name, notes, templates, annotations)
    gates = [i for i, s in enumerate(spec.steps) if s.manual_gate]
    hooks: list[dict[str, Any]] = []
    if gates and spec.checks is not None:
        if gates[0] == 0:
            hooks.append(
                {
                    "name": "approve-start",
                    "type": "confirm-rollout",
                    "url": "http://flagger-loadtester/gate/check",
                }
            )
        if gates[-1] == len(spec.steps) - 1:
            hooks.append(
                {
                    "name": "approve-promotion",
                    "type": "confirm-promotion",
                    "url": "http://flagger-loadtester/gate/check",
                }
            )
    if spec.pre_rollout and spec.checks is not None:
        hooks.insert(0, {"name": "smoke-test", "type": "pre-rollout", "url": "http://flagger-loadtester/"})
    if spec.load_test_rps > 0:  # flagger-loadtester runs hey at every check: one worker at the rate
        interval = round(run.interval_s) if run is not None else 60
        cmd = f"hey -z {interval}s -q {spec.load_test_rps:g} -c 1 http://{name}-canary/"
        hooks.append(
            {
                "name": "load-test",
                "type": "rollout",
                "url": "http://flagger-loadtester/",
                "metadata": {"cmd": cmd},
            }
        )
    if hooks:
        analysis["webhooks"] = hooks
    mirrors = [
        s.mirror_route.percentage for s in spec.steps if s.mirror_route and s.mirror_route.percentage > 0
    ]
    if mirrors:  # Flagger mirrors every request (mirrorWeight: a share of them, Istio only)
        analysis["mirror"] = True
        if mirrors[0] < 100:
            analysis["mirrorWeight"] = round(mirrors[0])
        if any(s.mirror_route and s.mirror_route.segments for s in spec.steps):
            notes.append("Flagger mirrors every request: the mirror route's segments are not exported")
    if routing.canary_bias.segments and spec.checks is not None and len(weights) == 1:
        analysis["iterations"] = next(s.checks for s in spec.steps if s.checks is not None)
        analysis["match"] = _match(routing.canary_bias.segments, weights[0], notes)
        return analysis, "istio"
    ints = [round(w) for w in weights]
    if ints != weights:
        notes.append("weights rounded to whole percents (Flagger takes whole numbers)")
    if not ints:
        ints = [100]
    try:
        linear = ints == flagger_weights(ints[0], [], ints[-1])
    except ValueError:
        linear = False
    if linear:
        analysis.update(maxWeight=ints[-1], stepWeight=ints[0])
    else:
        analysis["stepWeights"] = ints
    if spec.checks is not None:
        promoting = round(spec.scale_down_delay_s / spec.checks.interval_s) - 1
        if promoting > 1:
            analysis["stepWeightPromotion"] = math.ceil(ints[-1] / promoting)
    if routing.session_affinity:
        analysis["sessionAffinity"] = {"cookieName": "flagger-cookie"}
    elif routing.sticky:
        notes.append(
            "Flagger has no routing pinned by a hash of the user: exported weighted per request (session"
            " affinity, the nearest it has, pins users by a cookie and lets the canary's share grow)"
        )
    if routing.mode != "router":
        notes.append("Flagger needs a traffic router for weights: exported for istio")
    return analysis, "istio"


def _match(bias: dict[str, float], weight: float, notes: list[str]) -> list[dict[str, Any]]:
    """Header matches that send the segments the canary holds wholly, and the share of the others."""
    shares = {s: min(1.0, weight / 100.0 * b) for s, b in bias.items()}
    out: list[dict[str, Any]] = [
        {"headers": {"x-user-segment": {"exact": s}}} for s, v in shares.items() if v >= 1.0
    ]
    rest = [v for v in shares.values() if v < 1.0]
    if rest:
        k = math.log(1.0 - rest[0]) / math.log(1.0 - 0.05) if 0 < rest[0] < 1 else 0
        if abs(k - round(k)) > 1e-6 or max(rest) - min(rest) > 1e-9:
            notes.append(f"a match for {rest[0]:.3g} of the other segments' users cannot be written exactly")
        out += [
            {"headers": {"cookie": {"regex": f"^(.*?;)?(canary-group={i + 1})(;.*)?$"}}}
            for i in range(round(k))
        ]
    return out


def _blue_green(
    scn: Scenario,
    spec: BlueGreenConfig,
    name: str,
    notes: list[str],
    templates: list[dict[str, Any]],
    annotations: dict[str, str],
) -> tuple[dict[str, Any], str]:
    run = spec.post_promotion
    analysis = _checks(scn, run, name, notes, templates, annotations)
    # With a mesh Flagger checks the canary once more on live traffic after the cutover (the
    # post-promotion run); the kubernetes provider has no cutover to check, so one more iteration
    # — and its interval shows only in the smoke test and the scale-down delay (two passes).
    extra = 0 if run is not None else 1
    tried = [run.interval_s] if run is not None else [spec.scale_down_delay_s / 2]
    candidates = [*tried, 60.0, 30.0, 15.0, 10.0, 20.0, 120.0, 300.0, 600.0]
    fits = [
        i
        for i in candidates
        if i >= 10 and (spec.smoke_test_s / i).is_integer() and spec.smoke_test_s / i > extra
    ]
    interval = fits[0] if fits else 60.0
    if run is None:
        analysis["interval"] = seconds(interval)
    tested = round(spec.smoke_test_s / interval) - extra
    analysis["iterations"] = max(1, tested)
    if run is not None:
        analysis["threshold"] = run.count or 1
    if not spec.auto_promote:
        analysis["webhooks"] = [
            {
                "name": "approve-promotion",
                "type": "confirm-promotion",
                "url": "http://flagger-loadtester/gate/check",
            }
        ]
    return analysis, "istio" if run is not None else "kubernetes"
