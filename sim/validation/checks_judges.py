"""Checks of the statistical judges: z-test power and false alarms, repeated looks, Mann-Whitney labels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config.scenario import Scenario, load_scenario
from ..core import kayenta
from ..core.schema import to_plain
from ..engine.judging import mann_whitney_classify
from . import references as ref
from .common import QUIET, WATCH_ONLY, batch, error_fault, runs, scenario
from .record import Record, exact_record, pct, rate_interval, z_of

P0 = 0.01  # baseline error rate of the A/B checks
ALPHA = 0.05  # level of the z-test judge


def _ab_scenario(
    p1: float,
    rate: float,
    steps: list[dict[str, Any]],
    lookback_s: float | None = None,
    judge: dict[str, Any] | None = None,
) -> Scenario:
    """The A/B set-up: a canary at 50% from t = 0 (instant start and flip), P0 baseline errors, no
    synthetic traffic diluting the error ratio, no safety net, capacity far above the load; the
    judge a z-test at α unless another is given."""
    judge = dict(judge or {"kind": "two_proportion", "alpha": ALPHA})
    if lookback_s is not None:
        judge["lookback_s"] = lookback_s
    release = error_fault((p1 - P0) / (1 - P0)) if p1 > P0 else {"bad_probability": 0.0}
    return scenario(
        QUIET,
        WATCH_ONLY,
        {
            "fleet": {"error_rate": P0, "start_s": 0, "warmup_s": 0, "capacity_rps": rate},
            "traffic": {"rate_rps": rate, "synthetic_share": 0},
            "routing": {"flip_s": 0},
            "releases": release,
            "judges": {"ztest": judge},
            "safety_net": None,
            "strategies": {
                "_replace": True,
                "progressive": {"kind": "progressive", "steps": steps, "analyses": [], "gate_judge": "ztest"},
            },
        },
    )


def _looks(interval_s: float, count: int) -> list[dict[str, Any]]:
    analysis = {"judge": "ztest", "interval_s": interval_s, "initial_delay_s": interval_s, "count": count}
    return [{"weight": 50}, {"analysis": analysis}]


def _alarm_share(scn: Scenario, deploys: int, seed: int) -> tuple[int, int]:
    hits = sum(bool(run.row["detected"]) for run in runs(scn, "progressive", deploys, seed))
    return hits, deploys


def _verdict(
    reference: float, exact: float, exact_se: float, lo: float, hi: float, level: float
) -> tuple[bool, float]:
    slack = abs(reference - exact) + z_of(level) * exact_se
    return lo - slack <= reference <= hi + slack, slack


def check_canary_power(p1: float, deploys: int = 400, seed: int = 811, level: float = 0.95) -> Record:
    """Share of bad canaries a single z-test look catches, against the two-proportion power formula."""
    rate, lookback = 100.0, 200.0
    n = rate * 0.5 * lookback
    scn = _ab_scenario(p1, rate, _looks(lookback, 1))
    hits, total = _alarm_share(scn, deploys, seed)
    share, lo, hi = rate_interval(hits, total, level)
    expected = ref.two_proportion_power(P0, p1, n, n, ALPHA)
    exact, se = ref.z_test_rejection_rate(P0, p1, n, n, ALPHA, draws=400_000, seed=seed)
    ok, slack = _verdict(expected, exact, se, lo, hi, level)
    good = p1 <= P0
    return Record(
        f"canary.{'false_alarm' if good else 'power'}[p0={P0:g},p1={p1:g},n={n:.0f}/arm]",
        "a good canary fails one look with probability α"
        if good
        else f"a canary failing {p1:.2%} against {P0:.2%} is caught with the z-test's power",
        expected,
        ref.FLEISS,
        share,
        lo,
        hi,
        "%",
        ok,
        f"Wilson {pct(level)} CI of the simulated share, widened by the formula's own "
        "normal-approximation error "
        f"(±{slack:.4f}: formula vs direct sampling of Poisson arms and binomial failures, 400,000 draws)",
        total,
        f"exact-model rate {exact:.4f}",
        level=level,
    )


def check_repeated_looks(
    looks: int, cumulative: bool, deploys: int = 400, seed: int = 821, level: float = 0.95
) -> Record:
    """False alarms of a good release over `looks` z-test looks, each on its own interval or on all data."""
    rate, interval = 1000.0, 60.0
    scn = _ab_scenario(P0, rate, _looks(interval, looks), lookback_s=7 * 86400.0 if cumulative else None)
    hits, total = _alarm_share(scn, deploys, seed)
    share, lo, hi = rate_interval(hits, total, level)
    n = rate * 0.5 * interval
    exact, se = ref.z_test_looks_rate(P0, n, ALPHA, looks, cumulative=cumulative, draws=100_000, seed=seed)
    if cumulative:
        expected = ref.cumulative_looks_false_alarm(ALPHA, looks)
        source, how = ref.ARMITAGE, "looks on accumulating data (lookback from the start)"
    else:
        expected = ref.independent_looks_false_alarm([ALPHA] * looks)
        source = "independent tests: P(any of K looks fails) = 1 − (1 − α)^K; " + ref.ARMITAGE
        how = "looks on disjoint intervals (lookback = interval, as analyses run)"
    ok, slack = _verdict(expected, exact, se, lo, hi, level)
    return Record(
        f"canary.repeated_looks[{'cumulative' if cumulative else 'disjoint'},K={looks}]",
        f"a good release's false-alarm rate grows with {looks} {how}",
        expected,
        source,
        share,
        lo,
        hi,
        "%",
        ok,
        f"Wilson {pct(level)} CI widened by ±{slack:.4f}: the reference's own normal-approximation "
        f"error (direct sampling of the {looks} looks' Poisson arms and binomial failures gives "
        f"{exact:.4f}, 100,000 draws)",
        total,
        level=level,
    )


def check_sequential_looks(looks: int, deploys: int = 400, seed: int = 851, level: float = 0.95) -> Record:
    """False alarms of a good release over `looks` looks of the sequential judge on accumulating
    data: at most α however many looks, where the z-test read as often inflates (Armitage)."""
    rate, interval = 1000.0, 60.0
    judge = {"kind": "sequential", "alpha": ALPHA}
    scn = _ab_scenario(P0, rate, _looks(interval, looks), judge=judge)
    hits, total = _alarm_share(scn, deploys, seed)
    peeked = ref.cumulative_looks_false_alarm(ALPHA, looks)
    return _at_most_alpha(
        (f"canary.sequential_looks[K={looks}]",
         f"a good release's false-alarm rate stays at most α over {looks} looks of an always-valid test"),
        (hits, total),
        f"a z-test at α read at the same {looks} looks on the same accumulating data fails "
        f"{peeked:.1%} of good releases",
        level,
    )  # fmt: skip


def check_sequential_latency_looks(
    looks: int, both: bool = False, deploys: int = 400, seed: int = 853, level: float = 0.95
) -> Record:
    """False alarms of a good release over `looks` looks of the sequential judge's latency half (user
    requests slower than the fleet's p99, drawn per window and version), or of both halves at
    once: at most α however many looks. The judge weighs one rate ratio, 1.05: the SPRT whose
    crossings come nearest Ville's bound (the default mixture from 1.25 stays far below it, so
    would pass a broken test too). The comparison: a Mann-Whitney test of the per-window p99s at
    the same one-sided level, read on all windows so far at the same looks."""
    rate, interval = 1000.0, 60.0
    watch = ["error_rate", "latency"] if both else ["latency"]
    judge = {"kind": "sequential", "alpha": ALPHA, "watch": watch, "min_ratio": 1.05, "max_ratio": 1.05}
    hits, total = _alarm_share(_ab_scenario(P0, rate, _looks(interval, looks), judge=judge), deploys, seed)
    # Confidence 1 − 2α: the interval's upper side alone errs with α, as the z-test's one side does.
    percentile = {"kind": "mann_whitney", "watch": ["p99"], "confidence": 1 - 2 * ALPHA}
    percentile |= {"allowed_ratio": 1.0, "tolerance": 0.0, "lookback_s": 7 * 86400.0}
    scn = _ab_scenario(P0, rate, _looks(interval, looks), judge=percentile)
    # The comparison is context, not the verdict: a hundred deploys show its inflation (tens of
    # percent at 20 looks and more) at a fraction of the cost of the check's own sample.
    compared = min(deploys, 100)
    peeked, _ = _alarm_share(scn, compared, seed)
    return _at_most_alpha(
        (f"canary.sequential_latency_looks[K={looks},watch={'+'.join(watch)}]",
         f"a good release's false-alarm rate stays at most α over {looks} looks of an always-valid test "
         f"(one rate ratio, 1.05) of its slow requests{' and its errors' if both else ''}"),
        (hits, total),
        f"a Mann-Whitney test of the per-window p99s at one-sided {ALPHA:.0%}, read on all windows at the "
        f"same {looks} looks, fails {peeked / compared:.1%} of the first {compared} of those good releases",
        level,
    )  # fmt: skip


def _at_most_alpha(what: tuple[str, str], alarms: tuple[int, int], note: str, level: float) -> Record:
    """A check that good releases' false alarms stay at most α (Ville's bound): it fails only when
    the alarms' Wilson interval lies wholly above α."""
    share, lo, hi = rate_interval(*alarms, level)
    return Record(
        *what,
        ALPHA,
        ref.VILLE,
        share,
        lo,
        hi,
        "%",
        lo <= ALPHA,
        f"a bound, not a point: passes unless the Wilson {pct(level)} CI lies wholly above α "
        "(a rate significantly above α fails)",
        alarms[1],
        note,
        level=level,
    )


def _with_judge(spec: Any, judge: str) -> Any:
    """A strategy's plain config with every judge it names replaced by `judge`."""
    if isinstance(spec, dict):
        return {
            k: (judge if k in ("judge", "gate_judge") else _with_judge(v, judge)) for k, v in spec.items()
        }
    if isinstance(spec, list):
        return [_with_judge(v, judge) for v in spec]
    return spec


def check_shipped_policy_looks(
    strategy: str, scenario_name: str = "default", deploys: int = 300, seed: int = 831, level: float = 0.95
) -> Record:
    """How much repeated looks inflate false rollbacks for a shipped policy's look schedule.

    The shipped policy keeps its steps, pauses, intervals and limits; every judge it names becomes a
    z-test at α = 5%, and traffic is high enough that each look's normal approximation holds. The
    people in the loop never wave a failed check through, so the judge alone decides.
    """
    base = load_scenario(scenario_name)
    spec = _with_judge(to_plain(base.strategies[strategy]), "ztest")
    rate = 100_000.0

    def world(alpha: float) -> Scenario:
        return scenario(
            QUIET,
            {
                # Every replica could carry all of it: however the split moves (a cookie takes a canary
                # past its weight), no version is overloaded, and the judge alone decides.
                "fleet": {"capacity_rps": rate * 2},
                "traffic": {"rate_rps": rate, "synthetic_share": 0},
                "releases": {"bad_probability": 0.0},
                "migration": {"kind": "none"},  # the policy's looks, not the schema, are under test
                "judges": {"ztest": {"kind": "two_proportion", "alpha": alpha}},
                "humans": {"wave_through": 0},
                "safety_net": None,
                "strategies": {"_replace": True, strategy: spec},
            },
            base=base,
        )

    # The schedule itself, from one rollout whose judge never fails: how many looks, at which shares.
    probe = next(runs(world(1e-12), strategy, 1, seed, record=True))
    looks = sum(kind in ("measurement", "review") for _, kind, _ in probe.deploy.events)
    shares = sorted({s for _, s in probe.world.marks.history if 0 < s < 1})
    alarms = sum(bool(run.row["false_rollback"]) for run in runs(world(ALPHA), strategy, deploys, seed))
    share, lo, hi = rate_interval(alarms, deploys, level)
    limit = _failure_limit(spec)
    expected = ref.independent_looks_false_alarm([ALPHA] * looks, limit)
    # Per-look sizes differ from α most where the canary's counts are smallest; bound the band by
    # the sizes at the smallest and largest canary shares the schedule uses (direct sampling).
    p0 = base.fleet.error_rate
    sizes = [ref.z_test_rejection_rate(p0, p0, rate * 60 * (1 - s), rate * 60 * s, ALPHA,
                                       draws=200_000, seed=seed)[0]
             for s in (shares[0], shares[-1])] if shares else [ALPHA]  # fmt: skip
    band = [ref.independent_looks_false_alarm([a] * looks, limit) for a in (min(sizes), max(sizes))]
    slack = max(abs(b - expected) for b in band) + z_of(level) * math.sqrt(
        expected * (1 - expected) / 200_000
    )
    shipped = batch(scenario({"releases": {"bad_probability": 0.0}}, base=base), deploys, seed, [strategy])
    fr = shipped["false_rollback"].astype(bool)
    s_share, s_lo, s_hi = rate_interval(int(fr.sum()), len(fr), level)
    return Record(
        f"shipped_policy.repeated_looks[{scenario_name}:{strategy}]",
        f"{strategy}'s schedule looks {looks} times per rollout; at α = 5% per look a good release is "
        "rolled back with P = 1 − (1 − α)^K",
        expected,
        "independent tests on disjoint intervals; " + ref.ARMITAGE,
        share,
        lo,
        hi,
        "%",
        looks > 0 and lo - slack <= expected <= hi + slack,
        f"Wilson {pct(level)} CI widened by ±{slack:.4f}: per-look sizes off α by the normal approximation "
        "at the schedule's smallest and largest canary shares (direct sampling)",
        deploys,
        f"K = {looks}; failure limit {limit}; the shipped judges in the {scenario_name} world "
        f"(noise included) roll back {s_share:.1%} [{s_lo:.1%}, {s_hi:.1%}] of good releases",
        level=level,
    )


def _failure_limit(spec: dict[str, Any]) -> int:
    limits = [a.get("failure_limit", 0) for a in spec.get("analyses", [])]
    return min(limits) if limits else 0


# ---- Kayenta ----


def check_kayenta_scorer() -> Record:
    """Kayenta's summary score of labelled metrics against every case of Kayenta's own scorer tests."""
    cases = ref.KAYENTA_SCORER_CASES
    bad = [
        c
        for c in cases
        if kayenta.summary_score([kayenta.MetricResult(x, (g,), k) for x, g, k in c[0]], c[1]) != c[2]  # type: ignore[arg-type]
    ]
    claim = (
        "groups scored as the share of their metrics that pass, weighted; a critical failure or half "
        "the metrics NODATA scores 0"
    )
    return exact_record(
        ("kayenta.scorer[Kayenta's ScorerSuite]", claim, ref.KAYENTA_SCORER_TESTS),
        bad,
        len(cases),
        "none: every case's score must match to the hundredth",
    )


# ---- Mann-Whitney ----


def mann_whitney_vectors(count: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Fixed experiment/control pairs: hand-made cases first, then seeded random ones shaped like
    per-window latencies (continuous, or rounded to create ties) and error rates (many zeros)."""
    base = np.array([41.0, 44.5, 39.8, 43.1, 40.2, 45.9, 42.7, 38.9, 44.0, 41.6])
    cases = [
        ("clear increase", base * 1.4, base),
        ("clear decrease", base * 0.6, base),
        ("identical", base.copy(), base.copy()),
        ("same values, other order", base[::-1].copy(), base),
        ("small shift below the effect size", base * 1.05, base),
        ("three windows each", base[:3] * 1.5, base[3:6]),
        ("error-rate windows, mostly zero", np.array([0, 0, 0.01, 0, 0.02, 0, 0.01, 0.03]),
         np.array([0, 0, 0, 0.001, 0, 0, 0.002, 0])),
        ("all equal", np.full(5, 3.0), np.full(6, 3.0)),
        ("constant samples, different levels", np.full(4, 5.0), np.full(4, 3.0)),
        ("old interval flagged this one", np.array([18.6, 46.0, 23.4, 22.5, 21.4]),
         np.array([15.7, 20.1, 18.1, 15.4, 12.8, 19.4])),
    ]  # fmt: skip
    rng = np.random.default_rng(seed)
    for i in range(max(0, count - len(cases))):
        m, n = int(rng.integers(3, 16)), int(rng.integers(3, 16))
        y: np.ndarray = rng.lognormal(3.7, 0.3, n)
        x: np.ndarray = rng.lognormal(3.7, 0.3, m) * (1 + rng.uniform(0, 0.6))
        if i % 3 == 1:
            x, y = np.round(x), np.round(y)
        elif i % 3 == 2:
            x = np.round(np.where(rng.random(m) < 0.5, 0.0, x / 1000), 3)
            y = np.round(np.where(rng.random(n) < 0.5, 0.0, y / 2000), 3)
        cases.append((f"random {i}", x, y))
    return cases[:count] if count < len(cases) else cases


def check_mann_whitney(count: int = 200, seed: int = 841, level: float = 0.95) -> Record:
    """Labels of the Mann-Whitney judge against Kayenta's rule, its interval taken from scipy's test."""
    confidence, tolerance, allowed = 0.95, 0.25, 1.1
    agree = compared = skipped = 0
    mismatches = []
    for name, x, y in mann_whitney_vectors(count, seed):
        label, lower, upper, estimate = ref.kayenta_classify(
            x, y, confidence, tolerance, allowed, 1 / allowed
        )
        if not math.isnan(estimate) and _undecided(x, y, lower, upper, estimate, tolerance):
            skipped += 1
            continue
        ours = mann_whitney_classify(x, y, confidence, tolerance, allowed)
        compared += 1
        if ours.classification == label:
            agree += 1
        else:
            mismatches.append(f"{name}: {ours.classification} vs {label}")
    share, lo, hi = rate_interval(agree, compared, level)
    return Record(
        "mann_whitney.classification",
        "the judge labels fixed vectors high / low / pass as Kayenta's classifier does",
        1.0,
        ref.KAYENTA + "; interval by inverting scipy.stats.mannwhitneyu (asymptotic, two-sided)",
        share,
        lo,
        hi,
        "%",
        agree == compared,
        "none: a deterministic rule must agree on every vector; vectors whose label depends on "
        "rounding (interval end equal to tolerance × estimate) or on where Kayenta's root finder "
        "stops inside the median's gap are set aside and counted",
        compared,
        f"{skipped} set aside; " + ("; ".join(mismatches[:5]) if mismatches else "no mismatch"),
        level=level,
    )


def _undecided(x: np.ndarray, y: np.ndarray, lower: float, upper: float, estimate: float, tol: float) -> bool:
    eps = 1e-9 * max(1.0, abs(estimate), abs(lower), abs(upper))
    lo_est, hi_est = ref.hodges_lehmann_band(x, y)
    bounds = [tol * abs(e) for e in (estimate, lo_est, hi_est)]
    near = any(abs(lower - b) <= eps or abs(upper + b) <= eps for b in bounds)
    flips = len({lower > b for b in bounds}) > 1 or len({upper < -b for b in bounds}) > 1
    return near or flips
