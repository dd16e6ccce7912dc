"""Flagger to deploysim: a Canary's analysis as a canary, A/B test or blue/green rollout.

The controller loop is fluxcd/flagger's pkg/controller/scheduler.go, one pass per analysis interval:
the first pass after the canary is ready sets the first weight (A/B: routes the matched users, blue/
green: starts the iterations) without a check; every later pass first tests the failed-checks
counter against the threshold (`FailedChecks >= threshold` rolls back), then runs the webhooks and
metric checks — a failure (or "no values found") increments the counter and holds the weight —
and on success takes the next step (`nextStepWeight`: stepWeight, or the next of stepWeights,
capped at 100, until the weight reaches maxWeight) or, at maxWeight, promotes: the primary gets the
new spec, the next pass routes all traffic to it (or in stepWeightPromotion steps, one per pass),
the pass after scales the canary to zero.
Defaults (pkg/apis/flagger/v1beta1/canary.go): interval 60 s (no shorter than 10 s), threshold 1,
metric interval 1m; maxWeight 100 (scheduler.go `totalWeight`); the mesh provider istio
(cmd/flagger/main.go). Built-in metrics (pkg/metrics/observers): request-success-rate is the
percentage of non-5xx requests, request-duration the p99 in milliseconds; both over the metric's
interval. Promotion takes at least interval × maxWeight/stepWeight, a rollback about
interval × threshold (docs/gitbook/usage/deployment-strategies.md) — both come out of the simulation.
"""

from __future__ import annotations

from ..config.analysis import AnalysisConfig
from ..config.routing import CanaryBias, RouteOverride
from ..config.strategies import BlueGreenConfig, MirrorRoute, ProgressiveConfig, Step
from ..core.errors import ConfigError
from .flagger_checks import CheckReader, Templates
from .manifests import Manifest, integer, listing, mapping
from .mapping import Context, clean, with_sim_settings


def hey_rate(cmd: str, interval_s: float) -> float | None:
    """A hey command's request rate averaged over an analysis interval: -q queries per second per
    worker × -c workers (hey's default 50), over -z's share of the interval (the loadtester runs the
    command once per check); None without -q (hey then sends as fast as it can: no rate to read)."""
    if "hey" not in cmd.split():
        return None
    args = cmd.split()
    opts = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}
    try:
        q = float(opts["-q"])
        workers = int(opts.get("-c", "50"))
    except (KeyError, ValueError):
        return None
    share = 1.0
    if "-z" in opts:
        z = opts["-z"]
        units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        unit = next((u for u in ("ms", "s", "m", "h") if z.endswith(u)), None)
        try:
            z_s = float(z[: -len(unit)]) * units[unit] if unit else float(z)
        except ValueError:
            return None
        share = min(1.0, z_s / interval_s)
    return q * workers * share if q > 0 else None


def flagger_weights(step: int, step_weights: list[int], max_weight: int) -> list[int]:
    """The canary weights Flagger steps through before promoting (scheduler.go, literally)."""
    top = min(100, step_weights[-1]) if step_weights else (max_weight if max_weight > 0 else 100)

    def next_step(w: int) -> int:
        if step > 0 or not step_weights:
            return step
        room = 100 - w
        if room == 0:
            return 1
        if w == 0:
            return min(room, step_weights[0])
        for i in range(len(step_weights) - 1):
            if step_weights[i] == w:
                return min(room, step_weights[i + 1] - w)
        return room

    weights: list[int] = []
    w = 0
    while w < top:
        s = next_step(w)
        if s <= 0 or len(weights) > 1000:
            raise ValueError(
                "Flagger would never reach maxWeight: it needs a positive stepWeight or"
                " increasing stepWeights (or iterations for A/B and blue/green)"
            )
        w = min(100, w + s)
        weights.append(w)
    return weights


class _Canary(CheckReader):
    """One Canary being imported."""

    def webhooks(self) -> set[str]:
        """The gates and tests the webhooks make (confirm-*, pre-rollout), with a warning for every
        webhook's assumption."""
        ctx, c = self.ctx, self.c
        gates = set()
        notes = {
            "pre-rollout": "simulated as the release's smoke test before the canary takes traffic: a fault"
            " it catches (its smoke_catch chance) fails a check at every pass until the threshold",
            "rollout": "assumed to pass at every check; any load it generates is not simulated (no hey"
            " command with -q to read a rate from)",
            "post-rollout": "runs after the rollout: no effect on it",
            "event": "notifications only: no effect on the rollout",
            "rollback": "a person's abort: the simulated people's (after a page, a ticket, users' reports),"
            " read at the controller's next pass; its answer is not a rollback of its own",
            "confirm-rollout": "simulated as a person approving the start after their decision delay",
            "confirm-traffic-increase": "simulated as a person approving each weight increase",
            "confirm-promotion": "simulated as a person approving the promotion after their decision delay",
        }
        self.load_rps = 0.0
        for i in range(len(listing(c, (*self.a, "webhooks")))):
            hook = mapping(c, (*self.a, "webhooks", i))
            kind = hook.get("type") or "rollout"
            if not isinstance(kind, str) or kind not in notes:
                raise c.error((*self.a, "webhooks", i, "type"), f"{kind!r} is not one of: {', '.join(notes)}")
            cmd = (hook.get("metadata") or {}).get("cmd") if isinstance(hook.get("metadata"), dict) else None
            rps = hey_rate(str(cmd), self.interval()) if kind == "rollout" and cmd else None
            if rps is not None:
                self.load_rps += rps
                ctx.warn(
                    c,
                    (*self.a, "webhooks", i),
                    f"load test {hook.get('name', '')!r}: simulated as {rps:g} req/s on the canary from the"
                    " first step until promotion or rollback, spread over segments by their traffic shares",
                )
                continue
            ctx.warn(c, (*self.a, "webhooks", i), f"{kind} webhook {hook.get('name', '')!r}: {notes[kind]}")
            if kind.startswith("confirm-") or kind == "pre-rollout":
                gates.add(kind)
        return gates

    def mirror_percentage(self, provider: str, match: bool) -> float | None:
        """Flagger's mirror: the share of requests copied (mirrorWeight, Istio only; else every one),
        or None where Flagger does not mirror (the kubernetes provider, A/B tests)."""
        ctx, c, a = self.ctx, self.c, self.spec
        if provider == "kubernetes" or match:
            ctx.warn(
                c,
                (*self.a, "mirror"),
                "Flagger mirrors neither with the kubernetes provider nor in A/B tests",
            )
            return None
        weight = integer(c, (*self.a, "mirrorWeight"), a.get("mirrorWeight") or 0, 0, 100)
        if weight and provider != "istio":
            ctx.warn(c, (*self.a, "mirrorWeight"), "only Istio honours mirrorWeight: every request mirrored")
            weight = 0
        ctx.warn(
            c,
            (*self.a, "mirror"),
            f"simulated as {weight or 100}% of every segment's requests copied to the canary"
            " (pkg/router/istio.go), responses thrown away",
        )
        return float(weight or 100)

    def match_route(self) -> tuple[float, RouteOverride]:
        """Header/cookie matches routed to the canary: the segments they name, or a share of users."""
        ctx, c = self.ctx, self.c
        named: set[str] = set()
        unnamed = 0
        for i, entry in enumerate(listing(c, (*self.a, "match"))):
            hits, count = ctx.named_segments(entry)
            if hits:
                named |= hits
                if count > 1:
                    ctx.warn(
                        c, (*self.a, "match", i), f"simulated as every user of {', '.join(sorted(hits))}"
                    )
            else:
                unnamed += 1
                ctx.warn(
                    c,
                    (*self.a, "match", i),
                    f"names no segment of the scenario ({', '.join(ctx.segments)}):"
                    f" assumed to select {ctx.match_share:.0%} of the users of every segment",
                )
        rest = 1.0 - (1.0 - ctx.match_share) ** unnamed
        share = {s: 1.0 if s in named else rest for s in ctx.segments}
        seg_shares = {seg.name: seg.share for seg in ctx.scenario.traffic.segments}
        w = sum(share[s] * seg_shares[s] for s in ctx.segments)
        if w <= 0:
            raise c.error((*self.a, "match"), "selects no users")
        bias = CanaryBias(segments={s: clean(share[s] / w) for s in ctx.segments})
        return clean(w * 100.0), RouteOverride(mode="router", sticky=True, canary_bias=bias)

    def affinity(self, rollout_s: float) -> RouteOverride:
        """Weighted routing per request, or Flagger's session affinity: a cookie the canary's
        responses set pins a user to it until the weight goes back to 0 (pkg/router/istio.go)."""
        ctx, c = self.ctx, self.c
        aff = self.spec.get("sessionAffinity")
        if not aff:
            return RouteOverride(mode="router", sticky=False, session_affinity=False)
        path = (*self.a, "sessionAffinity")
        if not isinstance(aff, dict):
            raise c.error(path, "must be a mapping (cookieName, maxAge, ...)")
        if aff.get("primaryCookieName"):
            ctx.warn(
                c,
                (*path, "primaryCookieName"),
                "not simulated: users the primary served are routed by weight again at their next request",
            )
        max_age = integer(c, (*path, "maxAge"), aff.get("maxAge") or 86400, 1)
        if max_age < rollout_s:
            ctx.warn(
                c,
                (*path, "maxAge"),
                f"{max_age} s is shorter than the rollout ({rollout_s:g} s): the cookie is simulated as"
                " lasting until the weight goes back to 0",
            )
        return RouteOverride(mode="router", sticky=False, session_affinity=True)

    def build(self) -> ProgressiveConfig | BlueGreenConfig:
        ctx, c, a = self.ctx, self.c, self.spec
        provider = c.get("spec", "provider")
        if provider is None:
            ctx.warn(c, ("spec", "provider"), "not set: Flagger's default mesh provider, istio, is assumed")
            provider = "istio"
        interval = self.interval()
        threshold = integer(c, (*self.a, "threshold"), a.get("threshold") or 0, 0) or 1
        iterations = integer(c, (*self.a, "iterations"), a.get("iterations") or 0)
        match = listing(c, (*self.a, "match"))
        gates = self.webhooks()
        judge = self.judge()
        checks = AnalysisConfig(
            judge=judge or ctx.gate,
            interval_s=interval,
            failure_limit=threshold - 1,
            pass_probability=None if judge else 1.0,
        )
        if judge is None:
            ctx.warn(c, (*self.a, "metrics"), "no metric to check: every check passes")
        gate = judge or ctx.gate
        if c.get("spec", "skipAnalysis"):
            return ProgressiveConfig(
                steps=(),
                analyses=(),
                gate_judge=gate,
                scale_down_delay_s=interval,
                abort_scale_down_delay_s=0.0,
                routing=RouteOverride(mode="router"),
            )
        if provider == "kubernetes":
            if match:
                ctx.warn(
                    c, (*self.a, "match"), "A/B testing is not supported by the kubernetes provider: ignored"
                )
                match = []
            if iterations < 1:
                ctx.warn(
                    c,
                    (*self.a, "iterations"),
                    "the kubernetes provider only does blue/green: Flagger uses 10",
                )
                iterations = 10
        mirror_pct = self.mirror_percentage(provider, bool(match)) if a.get("mirror") else None
        if iterations > 0 and not match and mirror_pct is None:
            return self.blue_green(interval, threshold, iterations, gate, gates, provider == "kubernetes")
        steps = [Step(manual_gate=True)] if "confirm-rollout" in gates else []
        steps.append(Step(canary_scale=ctx.replicas))  # the canary Deployment runs at full size
        if match and iterations > 0:
            weight, route = self.match_route()
            steps += [Step(weight=weight), Step(checks=iterations)]
            promoting = 1
        elif iterations > 0 and mirror_pct is not None:
            # Blue/green with mirroring (scheduler.go runBlueGreen): the iterations judge the mirrored
            # copies, then all traffic moves to the canary and the mirror stops.
            steps += [Step(mirror_route=MirrorRoute(mirror_pct)), Step(checks=iterations)]
            steps.append(Step(mirror_route=MirrorRoute(0.0)))
            promoting = 1
            route = RouteOverride(mode="router")
        else:
            try:
                weights = flagger_weights(
                    integer(c, (*self.a, "stepWeight"), a.get("stepWeight") or 0),
                    [
                        integer(c, (*self.a, "stepWeights", i), w, 0, 100)
                        for i, w in enumerate(listing(c, (*self.a, "stepWeights")))
                    ],
                    integer(c, (*self.a, "maxWeight"), a.get("maxWeight") or 0, 0, 100),
                )
            except ValueError as err:
                raise c.error(self.a, str(err)) from None
            if mirror_pct is not None:
                # scheduler.go runCanary: one mirrored pass at weight 0, checked at the next pass,
                # which stops the mirror as it sets the first weight.
                steps += [Step(mirror_route=MirrorRoute(mirror_pct)), Step(checks=1)]
                steps.append(Step(mirror_route=MirrorRoute(0.0)))
            for w in weights:
                if "confirm-traffic-increase" in gates:
                    steps.append(Step(manual_gate=True))
                steps += [Step(weight=float(w)), Step(checks=1)]
            swp = integer(c, (*self.a, "stepWeightPromotion"), a.get("stepWeightPromotion") or 0)
            promoting = -(-weights[-1] // swp) if swp else 1
            route = self.affinity(len(weights) * interval)
        if "confirm-promotion" in gates:
            steps.append(Step(manual_gate=True))
        return ProgressiveConfig(
            steps=tuple(steps),
            analyses=(),
            gate_judge=gate,
            # Promoted: the primary rolls to the new version and takes the traffic back over
            # `promoting` passes; one more pass scales the canary to zero.
            scale_down_delay_s=(promoting + 1) * interval,
            abort_scale_down_delay_s=0.0,  # the rollback scales the canary to zero at once
            checks=checks,
            routing=route,
            pre_rollout="pre-rollout" in gates,
            load_test_rps=clean(self.load_rps),
        )

    def blue_green(
        self, interval: float, threshold: int, iterations: int, gate: str, gates: set[str], kube: bool
    ) -> BlueGreenConfig:
        ctx, c = self.ctx, self.c
        if "confirm-traffic-increase" in gates:
            ctx.warn(c, (*self.a, "webhooks"), "confirm-traffic-increase gates no traffic step in blue/green")
        tested = (iterations + (1 if kube else 0)) * interval
        ctx.warn(
            c,
            (*self.a, "iterations"),
            f"the canary takes no user traffic during the {iterations} iterations:"
            f" their checks on load-test traffic are simulated as a smoke test of {tested:g} s that catches"
            " each fault with its smoke_catch chance",
        )
        post = None
        if not kube:  # a mesh routes all traffic to the canary, then checks until one passes
            post = AnalysisConfig(
                judge=gate,
                interval_s=interval,
                initial_delay_s=interval,
                count=threshold,
                failure_limit=threshold - 1,
            )
        return BlueGreenConfig(
            smoke_test_s=tested,
            auto_promote="confirm-promotion" not in gates,
            scale_down_delay_s=(2 if kube else max(3, threshold + 1)) * interval,
            post_promotion=post,
            gate_judge=gate,
            abort_scale_down_delay_s=0.0,
        )


def import_canary(
    ctx: Context, c: Manifest, name: str, templates: Templates
) -> ProgressiveConfig | BlueGreenConfig:
    try:
        return with_sim_settings(ctx, c, _Canary(ctx, c, name, templates).build())
    except ConfigError as err:
        if err.source:
            raise
        raise c.error(("spec", "analysis"), f"cannot be simulated: {err}") from None
