"""From a controller's metric to the simulation's: a judge with the metric's threshold, or a check that
passes with some probability; and the context an import runs in (the target scenario's fleet,
segments and judges, the options, the warnings gathered)."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.judges import BaselineJudge, FixedJudge, GateJudge, JudgeConfig, KayentaJudge
from ..config.scenario import Scenario
from ..core.errors import ConfigError, PathPart
from ..core.schema import build
from .manifests import Manifest, ManifestWarning, number
from .queries import (
    Condition,
    Shape,
    TooComplex,
    classify,
    job_pass_probability,
    lookback_s,
    parse_condition,
)

#: Annotation in which `deploysim export` keeps the judge settings a manifest cannot state (minimum
#: sample sizes, the judge's name); the importer uses it only when the metrics agree with it.
JUDGE_ANNOTATION = "deploysim.io/judge"
#: Annotation with strategy settings that have no manifest field (who reviews at a manual gate...).
SIM_ANNOTATION = "deploysim.io/sim"

#: Kubernetes' default Job backoffLimit: a failed pod is retried up to six times.
JOB_BACKOFF_LIMIT = 6


@dataclass
class Context:
    """The scenario an import targets, the import's options, and what it has produced so far."""

    scenario: Scenario
    match_share: float = 0.05
    default_pass_probability: float = 1.0
    judges: dict[str, JudgeConfig] = field(default_factory=dict)
    warnings: list[ManifestWarning] = field(default_factory=list)

    @property
    def replicas(self) -> int:
        return self.scenario.fleet.replicas

    @property
    def segments(self) -> tuple[str, ...]:
        return self.scenario.traffic.segment_names

    def named_segments(self, match: Any) -> tuple[set[str], int]:
        """The scenario's segments a header or cookie match names anywhere in its values (a whole
        word: `user-agent: .*Android.*` names `android`), and how many values it holds."""
        values = leaves(match)
        text = " ".join(str(v) for v in values).lower()
        named = {
            s for s in self.segments if re.search(rf"(?<![a-z0-9]){re.escape(s.lower())}(?![a-z0-9])", text)
        }
        return named, len(values)

    @property
    def gate(self) -> str:
        """A gate judge of the scenario for a person at a manual gate when the manifest has no metric."""
        gates = [k for k, j in self.scenario.judges.items() if isinstance(j, GateJudge)]
        return "fixed" if "fixed" in gates else (gates[0] if gates else "fixed")

    def warn(self, m: Manifest, path: Sequence[PathPart], message: str) -> None:
        w = m.warning(path, message)
        if w not in self.warnings:
            self.warnings.append(w)

    def check_keys(self, m: Manifest, path: Sequence[PathPart], data: Any, known: Sequence[str]) -> None:
        """Warn about fields the importer does not know (a typo would otherwise be dropped silently)."""
        for key in data if isinstance(data, dict) else ():
            if key not in known:
                close = difflib.get_close_matches(str(key), known, 1, 0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.warn(m, (*path, key), f"not a field the importer knows: ignored{hint}")

    def add_judge(self, name: str, judge: JudgeConfig) -> str:
        """Register a judge under `name`, or under `name-2`, ... when that name means another judge."""
        base, n = name, 1
        while True:
            have = self.judges.get(name, self.scenario.judges.get(name))
            if have is None or have == judge:
                self.judges[name] = judge
                return name
            n += 1
            name = f"{base}-{n}"


def with_sim_settings(ctx: Context, m: Manifest, cfg: Any) -> Any:
    """A strategy with the settings `deploysim export` kept in an annotation because no manifest field
    holds them (who reviews at a manual gate, routing the controller does not state, ...)."""
    raw = m.annotation(SIM_ANNOTATION)
    if raw is None:
        return cfg
    try:
        extra = json.loads(raw)
        keep = {"gate_judge", "scale_down_delay_s", "abort_scale_down_delay_s", "routing"}
        extra = {k: v for k, v in extra.items() if k in keep}
        if extra.get("gate_judge") not in {**ctx.scenario.judges, **ctx.judges}:
            extra.pop("gate_judge", None)
        return dataclasses.replace(cfg, **extra)
    except (ValueError, TypeError, AttributeError, ConfigError):
        ctx.warn(m, ("metadata", "annotations", SIM_ANNOTATION), "not understood; ignored")
        return cfg


# ---- thresholds ----


def clean(x: float) -> float:
    """A limit computed from a threshold, without float noise (1 − 0.99 is 0.01, not 0.010000000000000009)."""
    return float(f"{float(x):.12g}")


_HIGH_IS_BAD = {"error_rate", "p50", "p99", "saturation"}
_FIELD = {
    "error_rate": "max_error_rate",
    "p50": "max_p50_ms",
    "p99": "max_p99_ms",
    "saturation": "max_saturation",
}


def limit(shape: Shape, success: Condition | None, failure: Condition | None) -> tuple[float, str | None]:
    """The judge's limit on the measure (fail above it) from the metric's conditions, and a note when
    the conditions say more than one limit can. Raises ValueError when they cannot be read as one."""
    bad_high = shape.metric in _HIGH_IS_BAD
    # A success condition must hold on the good side; a failure condition on the bad side.
    if failure is not None:
        if failure.upper == bad_high or failure.op == "==":
            raise ValueError(f"a failure condition 'result {failure.op} {failure.value:g}' on the good side")
        cond = failure
    elif success is not None:
        if success.upper != bad_high or success.op == "==":
            raise ValueError(f"a success condition 'result {success.op} {success.value:g}' on the bad side")
        cond = success
    else:
        raise ValueError(
            "no successCondition or failureCondition (Argo marks such measurements inconclusive)"
        )
    value = cond.value / shape.scale
    lim = clean(1.0 - value if shape.metric == "success_rate" else value)
    note = None
    if success is not None and failure is not None and success.value != failure.value:
        note = (
            f"values between the success ({success.op} {success.value:g}) and failure"
            f" ({failure.op} {failure.value:g}) conditions are inconclusive to the controller;"
            " the simulation fails only past the failure condition"
        )
    return lim, note


def gate_judge(shape: Shape, lim: float, lookback: float | None) -> GateJudge:
    """A judge for one measure. Like the controller's query, it answers on any traffic at all: a
    percentile of few requests is as noisy as Prometheus' would be."""
    metric = "error_rate" if shape.metric == "success_rate" else shape.metric
    common: dict[str, Any] = {
        "watch": (metric,),
        "min_requests": 1,
        "min_tail_samples": 0.0,
        "lookback_s": lookback,
    }
    if not shape.baseline:
        fixed: dict[str, Any] = {**common, _FIELD[metric]: lim}
        return FixedJudge(**fixed)
    if metric == "error_rate":
        return BaselineJudge(**common, max_error_ratio=shape.factor, error_margin=lim)
    if metric == "saturation":
        return BaselineJudge(**common, max_saturation_delta=lim)
    return BaselineJudge(**common, max_latency_ratio=lim)


def annotated_judge(m: Manifest) -> tuple[str, GateJudge] | None:
    """The judge `deploysim export` wrote into the object's annotation, if any and if well formed."""
    raw = m.annotation(JUDGE_ANNOTATION)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        judge = build(JudgeConfig, data["config"])
        name = str(data["name"])
    except (ValueError, KeyError, TypeError, ConfigError):
        return None
    return (name, judge) if isinstance(judge, GateJudge) else None


def same_limits(a: GateJudge, b: GateJudge) -> bool:
    """Whether two judges of one kind watch the same metrics against the same limits."""
    if type(a) is not type(b) or set(a.watch) != set(b.watch):
        return False
    if isinstance(a, FixedJudge) and isinstance(b, FixedJudge):
        keys = [_FIELD[w] for w in a.watch]
    elif isinstance(a, BaselineJudge) and isinstance(b, BaselineJudge):
        fields = {
            "error_rate": ["max_error_ratio", "error_margin"],
            "p50": ["max_latency_ratio"],
            "p99": ["max_latency_ratio"],
            "saturation": ["max_saturation_delta"],
        }
        keys = [k for w in a.watch for k in fields[w]]
    else:
        return True
    return all(math.isclose(getattr(a, k), getattr(b, k), rel_tol=1e-9, abs_tol=1e-12) for k in keys)


# ---- one Argo metric ----


def argo_metric(
    ctx: Context, m: Manifest, path: tuple[PathPart, ...], metric: dict[str, Any]
) -> tuple[float | None, GateJudge | None]:
    """What the simulation measures for one Argo metric (prometheus and other query providers, job,
    web, kayenta): a pass probability, or a judge (not yet registered)."""
    name = str(metric.get("name", "metric"))
    provider = metric.get("provider") or {}
    if not isinstance(provider, dict) or len(provider) != 1:
        raise m.error((*path, "provider"), "needs exactly one provider (prometheus, job, web, ...)")
    kind, spec = next(iter(provider.items()))
    spec = spec or {}
    ppath = (*path, "provider", kind)
    default = ctx.default_pass_probability
    if kind == "job":
        script, backoff = _job_script(spec)
        try:
            p = job_pass_probability(script) if script else None
        except TooComplex as err:
            raise m.error(ppath, f"the Job's command: {err}") from None
        how = "from its command" if p is not None else "assumed (its outcome cannot be read from the command)"
        if p is None:
            p = default
        p_job = 1.0 - (1.0 - p) ** (backoff + 1)
        ctx.warn(
            m,
            ppath,
            f"a Job's outcome does not depend on the release in the simulation: it passes with"
            f" probability {p_job:.4g} ({how}: {p:.4g} per attempt, {backoff + 1} attempt(s))",
        )
        return p_job, None
    if kind == "web":
        ctx.warn(
            m,
            ppath,
            f"a web call's answer is not simulated: it is assumed to pass with probability {default:g}",
        )
        return default, None
    if kind == "kayenta":
        ctx.warn(
            m,
            ppath,
            "Kayenta's canary configuration is not read: its score thresholds are, and the canary is"
            " judged on error rate and p99 with Kayenta's defaults (one group, direction either)",
        )
        threshold = spec.get("threshold") or {}
        if not isinstance(threshold, dict):
            raise m.error(
                (*ppath, "threshold"), f"expected a mapping with pass and marginal, got {threshold!r}"
            )
        scores = {
            key: number(m, (*ppath, "threshold", key), threshold[key])
            for key in ("pass", "marginal")
            if key in threshold
        }
        try:
            return None, KayentaJudge(
                min_requests=1,
                pass_score=scores.get("pass", 95.0),
                marginal_score=scores.get("marginal", 75.0),
            )
        except ConfigError as err:
            raise m.error((*ppath, "threshold"), err.message) from None
    query = spec.get("query") if isinstance(spec, dict) else None
    try:
        shape = classify(query) if isinstance(query, str) else None
    except TooComplex as err:
        raise m.error((*ppath, "query"), str(err)) from None
    if shape is None or not isinstance(query, str):
        ctx.warn(
            m,
            (*ppath, "query") if query else ppath,
            f"metric {name!r}: not read as an error ratio, success ratio or latency quantile;"
            f" assumed to pass with probability {default:g}",
        )
        return default, None
    if kind != "prometheus":
        ctx.warn(m, (*ppath, "query"), f"a {kind} query is read the way a PromQL query would be")
    if shape.quantile not in (None, 0.5, 0.99):
        ctx.warn(
            m,
            (*ppath, "query"),
            f"quantile {shape.quantile:g} is judged as the "
            f"{'p50' if shape.metric == 'p50' else 'p99'} (the simulation tracks p50 and p99)",
        )
    if shape.unit_guessed:
        ctx.warn(m, (*ppath, "query"), "the latency unit is not in the metric name: assumed seconds")
    for key in ("successCondition", "failureCondition"):
        given = metric.get(key)
        if given is not None and not isinstance(given, str):  # Kubernetes takes only a string here
            raise m.error((*path, key), f"{given!r} is not a condition like result[0] >= 0.99")
    success, failure = (
        parse_condition(metric.get("successCondition")),
        parse_condition(metric.get("failureCondition")),
    )
    for key, cond in (("successCondition", success), ("failureCondition", failure)):
        if metric.get(key) and (cond is None or cond.extra):
            what = (
                "read only as its comparison with a number"
                if cond
                else "not read (no comparison of result with a number)"
            )
            ctx.warn(m, (*path, key), f"{metric.get(key)!r}: {what}")
    try:
        lim, note = limit(shape, success, failure)
        judge = gate_judge(shape, lim, lookback_s(query))
    except (ValueError, ConfigError) as err:
        msg = err.message if isinstance(err, ConfigError) else str(err)
        ctx.warn(m, path, f"metric {name!r}: {msg}; assumed to pass with probability {default:g}")
        return default, None
    if note:
        ctx.warn(m, path, f"metric {name!r}: {note}")
    return None, judge


def _job_script(spec: Any) -> tuple[str, int]:
    """The shell script of a Job's single container (the argument of `sh -c`), and its backoffLimit."""
    job = spec.get("spec") if isinstance(spec, dict) else None
    if not isinstance(job, dict):
        return "", JOB_BACKOFF_LIMIT
    backoff = job.get("backoffLimit", JOB_BACKOFF_LIMIT)
    backoff = backoff if isinstance(backoff, int) and backoff >= 0 else JOB_BACKOFF_LIMIT
    template = job.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    # A shape this reader does not know is a Job whose outcome cannot be read, not an error.
    if not isinstance(containers, list) or len(containers) != 1 or not isinstance(containers[0], dict):
        return "", backoff
    command, args = containers[0].get("command") or [], containers[0].get("args") or []
    if not isinstance(command, list) or not isinstance(args, list):
        return "", backoff
    argv = [str(a) for a in command + args]
    if len(argv) >= 3 and argv[0].split("/")[-1] in ("sh", "bash", "ash") and argv[1] == "-c":
        return " ".join(argv[2:]), backoff
    return "", backoff


def leaves(node: Any) -> list[Any]:
    """Every scalar of a nested mapping or list, in order."""
    if isinstance(node, dict):
        return [x for v in node.values() for x in leaves(v)]
    if isinstance(node, list):
        return [x for v in node for x in leaves(v)]
    return [node]
