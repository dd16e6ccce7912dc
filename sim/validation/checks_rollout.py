"""Checks of rollout mechanics: Flagger's timing, exposure w·λ·t, and Argo's replica-approximated weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config.analysis import AnalysisConfig
from ..config.scenario import Scenario
from ..config.strategies import ProgressiveConfig, Step
from ..core.rng import CONTROL, OBSERVE, PEOPLE, stream
from ..core.schema import to_plain
from ..engine import routing
from ..engine.exogenous import draw_exogenous
from ..engine.people import Humans
from ..engine.strategies import Deploy
from ..engine.strategies.analysis import Tally
from ..engine.tape import DeployEnvironment
from ..engine.world import World
from ..results.summary import change_failed
from . import references as ref
from .common import QUIET, batch, error_fault, runs, scenario, user_rate
from .record import Record, exact_record, mean_interval, pct, rate_interval, z_of

# ---- Flagger ----


def flagger_config(
    interval_s: float, threshold: int, max_weight: int, step_weight: int, replicas: int
) -> ProgressiveConfig:
    """Flagger's canary analysis as a progressive rollout: the canary deployment scaled up first (as
    Flagger does), then the weight raised by stepWeight each interval up to maxWeight, with the
    metric checks run every interval and the rollout aborted at the threshold-th failed check."""
    steps = [Step(canary_scale=replicas)]
    for w in range(step_weight, max_weight + 1, step_weight):
        steps += [Step(weight=float(w)), Step(pause_s=interval_s)]
    checks = AnalysisConfig(
        judge="flagger",
        interval_s=interval_s,
        initial_delay_s=interval_s,
        failure_limit=threshold - 1,
        starting_step=2,
    )
    return ProgressiveConfig(steps=tuple(steps), analyses=(checks,), gate_judge="flagger")


def _flagger_scenario(
    interval_s: float, threshold: int, max_weight: int, step_weight: int, bad: bool
) -> Scenario:
    base = scenario(QUIET)
    spec = to_plain(flagger_config(interval_s, threshold, max_weight, step_weight, base.fleet.replicas))
    return scenario(
        {
            # Flagger's documented example checks: request success rate ≥ 99%, p99 ≤ 500 ms.
            "judges": {"flagger": {"kind": "fixed", "watch": ["error_rate", "p99"], "max_error_rate": 0.01,
                                   "max_p99_ms": 500}},
            "releases": error_fault(0.2) if bad else {"bad_probability": 0.0},
            "strategies": {"_replace": True, "flagger": spec},
            "run": {"horizon_s": 21600},
        },
        base=base,
    )  # fmt: skip


def check_flagger_promotion(
    interval_s: float = 60, max_weight: int = 50, step_weight: int = 2, deploys: int = 20, seed: int = 851
) -> Record:
    """Time from the canary's first user request until the controller promotes it."""
    scn = _flagger_scenario(interval_s, 1, max_weight, step_weight, bad=False)
    times = []
    for run in runs(scn, "flagger", deploys, seed, record=True):
        promoted = [t for t, kind, detail in run.deploy.events if kind == "step" and detail == "promoted"]
        first = run.world.marks.first_serving_at
        times.append(promoted[0] - first if promoted and first is not None else math.nan)
    mean, lo, hi = mean_interval(np.array(times))
    steps = max_weight // step_weight
    flip = scn.routing.flip_s
    expected = ref.flagger_promotion_s(interval_s, max_weight, step_weight)
    slack = (steps + 1) * flip
    return Record(
        f"flagger.promotion[interval={interval_s:g}s,maxWeight={max_weight},stepWeight={step_weight}]",
        "a healthy canary is promoted after interval × maxWeight / stepWeight",
        expected,
        ref.FLAGGER,
        mean,
        lo,
        hi,
        "s",
        not np.isnan(times).any() and lo >= expected - 1e-6 and hi <= expected + slack + 1e-6,
        f"the model waits {flip:g} s (routing.flip_s) for each of the {steps} weight changes and the "
        f"final switch, which Flagger's formula leaves out: pass within [reference, reference + {slack:g} s]",
        len(times),
    )


def check_flagger_rollback(
    interval_s: float = 60, threshold: int = 10, step_weight: int = 2, deploys: int = 20, seed: int = 852
) -> Record:
    """Time from the canary's first user request until no user reaches it, when it fails every check."""
    scn = _flagger_scenario(interval_s, threshold, 50, step_weight, bad=True)
    times = [run.row["time_to_restore_s"] for run in runs(scn, "flagger", deploys, seed)]
    mean, lo, hi = mean_interval(np.array(times, float))
    expected = ref.flagger_rollback_s(interval_s, threshold)
    slack = scn.routing.flip_s + scn.run.window_s
    return Record(
        f"flagger.rollback[interval={interval_s:g}s,threshold={threshold}]",
        "a canary failing its checks is rolled back after about interval × threshold",
        expected,
        ref.FLAGGER,
        mean,
        lo,
        hi,
        "s",
        not np.isnan(times).any() and lo >= expected - 1e-6 and hi <= expected + slack + 1e-6,
        f"the rollback's router switch ({scn.routing.flip_s:g} s) plus at most one monitoring window "
        f"({scn.run.window_s:g} s) of lag: pass within [reference, reference + {slack:g} s]",
        len(times),
        "Flagger itself acts on the tick after the threshold-th failure, up to one interval later",
    )


# ---- exposure ----


def check_exposure(
    weight: float, mode: str = "router", deploys: int = 200, seed: int = 861, level: float = 0.95
) -> Record:
    """Faulty requests of a canary held at `weight` until its analysis fails, against w·λ·t."""
    delay = 300.0
    scn = scenario(
        QUIET,
        {
            "releases": error_fault(0.5),
            "routing": {"mode": mode},
            "safety_net": None,
            "strategies": {
                "_replace": True,
                "progressive": {
                    "kind": "progressive",
                    "steps": [{"weight": weight}, {"pause_s": 7200}],
                    "analyses": [{"judge": "fixed", "interval_s": delay, "initial_delay_s": delay,
                                  "starting_step": 1}],
                },
            },
        },
    )  # fmt: skip
    n = scn.fleet.replicas
    share = weight / 100 if mode == "router" else _replicas_share(n, round(weight), scn.routing.max_surge)
    lam = user_rate(scn)
    ratios = []
    for run in runs(scn, "progressive", deploys, seed):
        r = run.row
        t = r["time_to_restore_s"]
        ratios.append(r["faulty_requests"] / (share * lam * t))
    mean, lo, hi = mean_interval(np.array(ratios), level)
    bias = 1.0 / (share * lam * (delay + scn.routing.flip_s))
    return Record(
        f"exposure[{mode},weight={weight:g}%]",
        f"a canary holding {share:.2%} of traffic, detected after t, exposes w·λ·t requests "
        f"({'Argo replica split' if mode == 'replicas' else 'exact router weight'})",
        1.0,
        "w·λ·t (Poisson arrivals at rate λ, share w); w from Argo's replica rounding in replicas mode",
        mean,
        lo,
        hi,
        "× w·λ·t",
        not np.isnan(ratios).any() and lo <= 1.0 + bias and hi >= 1.0,
        f"{pct(level)} CI of the mean ratio (Poisson counts); the clock starts at the first faulty request, "
        f"which itself counts, so the expected ratio is 1 + 1/(w·λ·t) = {1 + bias:.5f}",
        len(ratios),
        f"λ = {lam:g} user req/s, t = time to restore (first faulty request to no user on it)",
        level=level,
    )


def _replicas_share(n: int, weight: int, surge: int) -> float:
    canary, stable = ref.argo_go_split(n, weight, surge)
    return canary / (canary + stable)


# ---- Argo's replica approximation ----


def check_argo_test_table() -> Record:
    """Our split against every row of Argo's own test table."""
    rows = ref.ARGO_TEST_TABLE
    bad = [r for r in rows if routing.argo_replica_split(*r[:3]) != r[3:]]
    share, lo, hi = rate_interval(len(rows) - len(bad), len(rows))
    return Record(
        "argo.replica_split[Argo's test table]",
        "replica-approximated weights match the expected values in Argo Rollouts' own tests",
        1.0,
        ref.ARGO_TESTS,
        share,
        lo,
        hi,
        "%",
        not bad,
        "none: integer outputs must match exactly",
        len(rows),
        "; ".join(map(str, bad[:5])) or "all rows match",
    )


def check_dynamic_stable_scale(deploys: int = 12, seed: int = 61) -> Record:
    """What dynamicStableScale saves on a good release, against the replicas' own arithmetic: the
    stable set at Argo's ceil(replicas × (100 − weight) / 100) while each weight holds."""
    rollout = {
        "kind": "progressive",
        "steps": [{"weight": 25}, {"pause_s": 900}, {"weight": 50}, {"pause_s": 900}],
    }

    def world(dynamic: bool) -> Scenario:
        return scenario(
            QUIET,
            {
                "releases": {"bad_probability": 0.0},
                "strategies": {"_replace": True, "progressive": {**rollout, "dynamic_stable_scale": dynamic}},
            },
        )

    spent = [
        np.array([r.row["extra_instance_hours"] for r in runs(world(d), "progressive", deploys, seed)])
        for d in (False, True)
    ]
    scn = world(True)
    spec = scn.strategies["progressive"]
    assert isinstance(spec, ProgressiveConfig)
    f, delay = scn.fleet, spec.scale_down_delay_s
    keep = {w: math.ceil(f.replicas * (100 - w) / 100) for w in (25, 50)}
    # Each weight holds for its pause, the canary's new replicas booting and the flip; stopped pods
    # cost until stop_s; at promotion the reference keeps its whole set for the scale-down delay.
    hold = 900.0 + f.ready_s + scn.routing.flip_s
    saved_s = (
        (f.replicas - keep[25]) * (hold - f.stop_s)
        + (f.replicas - keep[25]) * hold
        + (keep[25] - keep[50]) * (hold - f.stop_s)
        + f.replicas * (delay + f.stop_s)
        - keep[50] * f.stop_s
    )
    saved = spent[0] - spent[1]
    lo, hi = float(saved.min()), float(saved.max())
    return Record(
        "argo.dynamic_stable_scale[25% and 50%, 15 min each]",
        "with dynamicStableScale the stable set follows its traffic share, and the update costs that "
        "many fewer instance-hours",
        saved_s / 3600,
        ref.ARGO_DYNAMIC_STABLE,
        float(saved.mean()),
        lo,
        hi,
        "h",
        abs(lo - saved_s / 3600) < 1e-9 and abs(hi - saved_s / 3600) < 1e-9,
        "none: every deploy must save exactly the replicas' arithmetic (the interval is the range)",
        deploys,
        f"stable set {keep[25]} then {keep[50]} of {f.replicas} replicas",
    )


def check_header_route(deploys: int = 12, seed: int = 71) -> Record:
    """Who meets a release behind a header route at weight 0: exactly the segment it names."""
    steps = [{"canary_scale": 3}, {"header_route": ["android"]}, {"pause_s": 600}, {"header_route": []}]
    faults = {"_replace": True, "error_rate": {"weight": 1, "severity": 0.05}}
    scn = scenario(
        QUIET,
        {
            "releases": {"bad_probability": 1.0, "faults": faults},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": steps}},
        },
    )
    share = {s.name: s.share for s in scn.traffic.segments}["android"]
    rows = [r.row for r in runs(scn, "progressive", deploys, seed)]
    exposure = np.array([r["exposure_at_detection"] for r in rows])
    caught = all(r["detected_by"] == "analysis" for r in rows)
    lo, hi = float(np.nanmin(exposure)), float(np.nanmax(exposure))
    return Record(
        "argo.header_route[android at weight 0]",
        "a header route sends every user of the segment it names to the canary, and nobody else",
        share,
        ref.ARGO_HEADER_ROUTE,
        float(np.nanmean(exposure)),
        lo,
        hi,
        "%",
        caught and abs(lo - share) < 1e-12 and abs(hi - share) < 1e-12,
        "none: every deploy's exposure at detection must be the segment's share exactly (the interval is "
        "the range)",
        deploys,
        "an error fault caught by the analysis while only the header route carried users",
    )


def check_session_affinity(
    measure: str = "traffic", deploys: int = 40, seed: int = 81, level: float = 0.95, weight: float = 5.0
) -> Record:
    """Flagger's session affinity: the canary's share of traffic (or of users) after an hour at a
    fixed weight, against the cookie replayed user by user (`references.session_affinity_by_user`)."""
    hold, tail = 3600.0, 600.0
    steps = [{"canary_scale": 10}, {"weight": weight}, {"pause_s": hold}]
    scn = scenario(
        QUIET,
        {
            "releases": {"bad_probability": 0.0},
            "routing": {"session_affinity": True},
            "fleet": {"replicas": 10},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": steps}},
            "run": {"horizon_s": 3 * hold},
        },
    )
    values = []
    for run in runs(scn, "progressive", deploys, seed):
        w = run.world
        start = next(t for t, share in w.marks.history if share > 0)
        if measure == "users":
            # Read away from the hold's end, where the promotion moves the split between its steps.
            values.append(_cookie_holders_at(w, start + hold - tail, scn.traffic.shares))
            continue
        W = scn.run.window_s
        k0, k1 = math.ceil((start + hold - tail) / W), math.floor((start + hold) / W)
        user = w.telemetry.acc[k0:k1, :, w.telemetry.USER].sum(0)
        values.append(float(user[1] / user.sum()))
    mean, _, hi = mean_interval(np.array(values), level)
    # The reference replays a finite population: its own spread over replays widens the band.
    rng = np.random.default_rng(seed)
    population = scn.traffic.users.population
    reps = [
        ref.session_affinity_by_user(
            rng, users=population, rate_per_user_s=user_rate(scn) / population,
            shape=scn.traffic.users.activity_shape, weight=weight / 100,
            hold_s=hold if measure == "traffic" else hold - tail, tail_s=tail,
        )[0 if measure == "traffic" else 1]
        for _ in range(4)
    ]  # fmt: skip
    ref_mean, _, ref_hi = mean_interval(np.array(reps), level)
    ref_half = ref_hi - ref_mean
    half = math.hypot(hi - mean, ref_half)
    what = "traffic" if measure == "traffic" else "users holding the cookie"
    return Record(
        f"flagger.session_affinity[{measure}, weight={weight:g}%]",
        f"under session affinity the canary's share of {what} grows past its weight while the weight "
        "stands still, as the cookie spreads",
        ref_mean,
        ref.FLAGGER_AFFINITY,
        mean,
        mean - half,
        mean + half,
        "%",
        abs(mean - ref_mean) <= half,
        f"{pct(level)} Student-t interval of the deploys' mean, widened by the replays' own {pct(level)} "
        "interval (root sum of squares)",
        len(values),
        f"after {hold / 3600:g} h at {weight:g}% ({population:,} users, activity shape "
        f"{scn.traffic.users.activity_shape:g}); share over the last {tail / 60:g} min",
        level=level,
    )


def _cookie_holders_at(world: World, t: float, shares: np.ndarray) -> float:
    """The share of users holding the canary's cookie at t, from the ledger: the split moves in steps,
    each row of a step holding the share its step's end leaves, so the value at t lies between its
    step's start and end, linearly in time (to second order)."""
    t0, held = world.ledger["t0"], world.ledger["share"] @ shares
    moves = np.flatnonzero(np.diff(held, prepend=np.nan) != 0)  # the first row of each step
    starts, ends = t0[moves], held[moves]
    j = int(np.searchsorted(starts, t, side="right")) - 1  # the step under way at t
    before = ends[j - 1] if j > 0 else 0.0
    span = (starts[j + 1] if j + 1 < len(starts) else t) - starts[j]
    return float(before + (ends[j] - before) * ((t - starts[j]) / span if span > 0 else 1.0))


def check_mirror_route(deploys: int = 12, seed: int = 73) -> Record:
    """A mirror route at weight 0: the analysis sees the canary's fault, no user meets it."""
    steps = [{"canary_scale": 10}, {"mirror_route": {"percentage": 100}}, {"pause_s": 1800}]
    faults = {"_replace": True, "error_rate": {"weight": 1, "severity": 0.05}}
    scn = scenario(
        QUIET,
        {
            "releases": {"bad_probability": 1.0, "faults": faults},
            "strategies": {"_replace": True, "progressive": {"kind": "progressive", "steps": steps}},
        },
    )
    bad = []
    for i, run in enumerate(runs(scn, "progressive", deploys, seed)):
        r = run.row
        met = r["faulty_requests"] + r["failed_requests"] + r["affected_users"]
        if r["detected_by"] != "analysis" or met != 0:
            bad.append((i, r["detected_by"], met))
    return exact_record(
        (
            "argo.mirror_route[100% at weight 0]",
            "a mirror route's copies show the canary's fault to the analysis while no user meets it",
            ref.ARGO_MIRROR_ROUTE,
        ),
        bad,
        deploys,
        "none: every deploy caught by the analysis with no faulty or failed user request, no affected user",
    )


def check_experiment_step(deploys: int = 6, seed: int = 81) -> Record:
    """Argo's experiment step: its two ReplicaSets cost exactly their replicas for their start, the
    duration and their termination, and a release its analysis fails is aborted before any user
    meets it (the experiment runs ahead of the first weight)."""
    templates = {"baseline": {"replicas": 2}, "canary": {"replicas": 3}}
    after = [{"weight": 50}, {"pause_s": 300}]

    def world(first: dict, releases: dict) -> Scenario:
        steps = [first, *after]
        return scenario(
            QUIET,
            {
                "fleet": {"cold_latency_factor": 2.0, "cold_s": 600.0},
                "releases": releases,
                "strategies": {
                    "_replace": True,
                    "progressive": {"kind": "progressive", "analyses": [], "steps": steps},
                },
            },
        )

    good = {"bad_probability": 0.0}
    passing = {"judge": "baseline", "interval_s": 60, "pass_probability": 1.0}
    duration = 900.0
    f = world({"pause_s": 1.0}, good).fleet
    exp = {"experiment": {"duration_s": duration, **templates, "analysis": passing}}
    spent = [
        np.array(
            [r.row["extra_instance_hours"] for r in runs(world(first, good), "progressive", deploys, seed)]
        )
        for first in (exp, {"pause_s": f.ready_s + duration})
    ]
    cost_s = 5 * (f.ready_s + duration + f.stop_s)
    extra = spent[0] - spent[1]
    judged = {"judge": "baseline", "interval_s": 60, "initial_delay_s": 60}
    bad = error_fault(0.05)
    caught_rows = [
        r.row
        for r in runs(
            world({"experiment": {"duration_s": duration, **templates, "analysis": judged}}, bad),
            "progressive",
            deploys,
            seed,
        )
    ]
    aborted = all(r["detected_by"] == "analysis" and r["faulty_requests"] == 0 for r in caught_rows)
    lo, hi = float(extra.min()), float(extra.max())
    return Record(
        "argo.experiment_step[2 + 3 replicas, 15 min]",
        "an experiment step's ReplicaSets cost their replicas for its start, duration and termination, "
        "and a failed experiment aborts the rollout before its canary takes traffic",
        cost_s / 3600,
        ref.ARGO_EXPERIMENT,
        float(extra.mean()),
        lo,
        hi,
        "h",
        aborted and abs(lo - cost_s / 3600) < 1e-9 and abs(hi - cost_s / 3600) < 1e-9,
        "none: every deploy's extra instance-hours must be the replicas' arithmetic exactly (the interval "
        "is the range), and every bad release aborted at the experiment",
        deploys,
        f"5 replicas × (ready {f.ready_s:g} s + {duration:g} s + stop {f.stop_s:g} s); every bad release"
        f" aborted at the experiment: {aborted}",
    )


def check_flagger_webhooks(hook: str, deploys: int = 6, seed: int = 91) -> Record:
    """Flagger's webhooks against its scheduler's order: a pre-rollout test that fails rolls the
    canary back at the pass after `threshold` failures, before any user meets it; a
    confirm-traffic-increase gate opens at the first pass after the person's approval."""
    interval, threshold, decision = 60.0, 3, 150.0
    steps: list[dict[str, Any]] = [{"canary_scale": 10}, {"weight": 10}, {"checks": 1}]
    steps += [{"manual_gate": True}] if hook == "confirm" else []
    steps += [{"weight": 20}, {"checks": 1}]
    checks = {"judge": "fixed", "interval_s": interval, "failure_limit": threshold - 1}
    checks["pass_probability"] = 1.0  # the checks pass: the hooks alone decide
    fault = {"_replace": True, "error_rate": {"weight": 1, "severity": 0.05, "smoke_catch": 1.0}}
    scn = scenario(
        QUIET,
        {
            "releases": {"bad_probability": 1.0, "faults": fault}
            if hook == "pre_rollout"
            else {"bad_probability": 0.0},
            "humans": {"decision_s": decision, "off_hours_factor": 1.0},
            "strategies": {
                "_replace": True,
                "flagger": {"kind": "progressive", "steps": steps, "analyses": [], "checks": checks,
                            "pre_rollout": hook == "pre_rollout"},
            },
        },
    )  # fmt: skip
    ready, flip = scn.fleet.ready_s, scn.routing.flip_s
    bad: list[Any] = []
    for i, run in enumerate(runs(scn, "flagger", deploys, seed, record=True)):
        events = run.deploy.events
        weights = [t for t, kind, _ in events if kind == "weight"]
        if hook == "pre_rollout":
            detected = [t for t, kind, _ in events if kind == "detected"]
            want = ready + threshold * interval
            if detected != [want] or weights or run.row["faulty_requests"] != 0:
                bad.append((i, detected, len(weights)))
        else:
            # Gated after the first pass at 10%; approved `decision` s later; the weight rises at the
            # next pass, `flip` s after it.
            gated = ready + interval
            want = ready + interval * (1 + math.ceil(decision / interval)) + flip
            if len(weights) < 2 or abs(weights[1] - want) > 1e-6 or weights[1] <= gated + decision:
                bad.append((i, weights[:2]))
    claim = {
        "pre_rollout": f"a pre-rollout test that fails rolls the canary back {threshold} passes after it is "
        "ready, before any user meets it",
        "confirm": "a confirm-traffic-increase gate holds the weight until the pass after the approval",
    }[hook]
    return exact_record(
        (f"flagger.webhooks[{hook}]", claim, ref.FLAGGER_HOOKS),
        bad,
        deploys,
        "none: every deploy's times must be the scheduler's passes exactly",
    )


def check_load_test(rps: float = 20.0, deploys: int = 20, seed: int = 93, level: float = 0.95) -> Record:
    """A load-test webhook's requests reach the canary at its rate: at weight 0 the canary's
    monitored requests over a stretch are Poisson with mean rate × duration."""
    hold = 1800.0
    steps = [{"canary_scale": 10}, {"pause_s": hold}]
    scn = scenario(
        QUIET,
        {
            "releases": {"bad_probability": 0.0},
            "strategies": {
                "_replace": True,
                "flagger": {"kind": "progressive", "steps": steps, "analyses": [], "load_test_rps": rps},
            },
        },
    )
    W, ready = scn.run.window_s, scn.fleet.ready_s
    k0, k1 = math.ceil((ready + 60.0) / W), math.floor((ready + hold - 60.0) / W)
    seconds = (k1 - k0) * W * deploys
    seen = 0.0
    for run in runs(scn, "flagger", deploys, seed):
        tel = run.world.telemetry
        seen += float(tel.acc[k0:k1, 1, tel.USER].sum())
    z = z_of(level)
    rate = seen / seconds
    half = z * math.sqrt(max(seen, 1.0)) / seconds  # Poisson counts: variance = mean
    return Record(
        f"flagger.load_test[{rps:g} req/s]",
        "a load-test webhook's requests reach the canary at the hook's rate",
        rps,
        ref.FLAGGER_LOAD_TEST,
        rate,
        rate - half,
        rate + half,
        "req/s",
        rate - half <= rps <= rate + half,
        f"{pct(level)} normal interval of a Poisson count (variance = mean)",
        deploys,
        f"the canary at weight 0 for {hold / 60:g} min; its monitored requests over "
        f"{seconds / deploys:g} s a deploy",
        level=level,
    )


def check_argo_analysis_limits() -> Record:
    """An analysis run's phase against Argo's own cases of failureLimit and consecutiveSuccessLimit."""
    cases = ref.ARGO_ANALYSIS_CASES
    claim = (
        "a run ends as Argo Rollouts assesses a metric: failed, inconclusive, or successful early on "
        "passes in a row"
    )
    return exact_record(
        ("argo.analysis_limits[Argo's consecutiveSuccessLimit cases]", claim, ref.ARGO_ANALYSIS_TESTS),
        [c for c in cases if assessed(*c[:4]) != c[4]],
        len(cases),
        "none: every case's phase must match exactly",
    )


def assessed(failure_limit: int, success_limit: int, count: int | None, measurements: Sequence[str]) -> str:
    """The phase of a run with these limits after these measurements, as the engine's analysis loop
    tallies them (`Tally`): its outcome once a limit is passed or its count reached, else running."""
    cfg = AnalysisConfig(failure_limit=failure_limit, consecutive_success_limit=success_limit, count=count)
    tally = Tally()
    for taken, status in enumerate(measurements, 1):
        if (outcome := tally.record(cfg, status)) is not None:
            return outcome
        if count is not None and taken >= count:
            return tally.at_count(cfg)
    return "running"


def check_argo_grid(max_replicas: int = 20) -> Record:
    """Our split against a line-by-line transliteration of Argo's function, every replica count and weight."""
    cases = [(n, w, s) for n in range(1, max_replicas + 1) for w in range(1, 100) for s in (0, 1)]
    bad = [c for c in cases if routing.argo_replica_split(*c) != ref.argo_go_split(*c)]
    share, lo, hi = rate_interval(len(cases) - len(bad), len(cases))
    return Record(
        f"argo.replica_split[1-{max_replicas} replicas × weights 1-99 × maxSurge 0/1]",
        "replica-approximated weights round as Argo Rollouts does for every replica count and weight",
        1.0,
        ref.ARGO_SOURCE,
        share,
        lo,
        hi,
        "%",
        not bad,
        "none: integer outputs must match exactly (maxSurge > 0 behaves alike for any surge)",
        len(cases),
        "; ".join(map(str, bad[:5])) or "all cases match",
    )


def check_argo_simulated_weights(
    max_replicas: int = 20, weights: tuple[int, ...] = tuple(range(1, 100))
) -> Record:
    """The traffic share the simulated service gives the canary after a setWeight step without a router."""
    cases, bad = 0, []
    for n in range(1, max_replicas + 1):
        for surge in (0, 1):
            scn = scenario(
                QUIET, {"fleet": {"replicas": n}, "routing": {"mode": "replicas", "max_surge": surge}}
            )
            exo = draw_exogenous(scn, 0, 0)
            for w in weights:
                cases += 1
                got = _simulated_share(scn, exo, w)
                canary, stable = ref.argo_go_split(n, w, surge)
                if abs(got - canary / (canary + stable)) > 1e-12:
                    bad.append((n, w, surge, got))
    share, lo, hi = rate_interval(cases - len(bad), cases)
    return Record(
        f"argo.simulated_weight[1-{max_replicas} replicas × {len(weights)} weights × maxSurge 0/1]",
        "without a router, the canary's simulated traffic share is Argo's replica ratio",
        1.0,
        ref.ARGO_SOURCE,
        share,
        lo,
        hi,
        "%",
        not bad,
        "none: the share is a ratio of replica counts (compared to 1e-12)",
        cases,
        "; ".join(map(str, bad[:5])) or "all cases match",
    )


def _simulated_share(scn: Scenario, exo: Any, weight: int) -> float:
    """Scale the canary to `weight` through the strategy mechanics and read the routed share."""
    env = DeployEnvironment()
    world = World(env, scn, exo.traffic, exo.release, stream(0, 0, OBSERVE))
    d = Deploy(env, world, scn, Humans(scn.humans, stream(0, 0, PEOPLE)), stream(0, 0, CONTROL))
    env.run(env.process(d.set_canary_weight(float(weight))))
    return float(world.eff_weight)


def check_change_failure_rate(deploys: int = 800, seed: int = 91, level: float = 0.95) -> Record:
    """DORA's change failure rate when every release is bad: blue-green's smoke test keeps the share
    of the fault mix it catches from users, so the rest — and only the rest — are change failures."""
    scn = scenario(
        QUIET, {"releases": {"bad_probability": 1.0}, "strategies": {"_replace": True, "blue_green": {}}}
    )
    faults = scn.releases.faults.values()
    reference = 1 - sum(f.weight * f.smoke_catch for f in faults) / sum(f.weight for f in faults)
    df = batch(scn, deploys, seed)
    failed = int(change_failed(df).sum())
    share, lo, hi = rate_interval(failed, deploys, level)
    return Record(
        "dora.change_failure_rate[blue_green, every release bad]",
        "a change failure is a bad release that reached users: what the smoke test did not catch",
        reference,
        ref.DORA_2024,
        share,
        lo,
        hi,
        "%",
        lo <= reference <= hi,
        f"Wilson {pct(level)} CI must contain the mix's uncaught share",
        deploys,
        f"{deploys - failed} of {deploys} caught before any user (sim.results.summary.change_failed)",
        level,
    )
