"""Published figures and formulas the model is checked against, each computed without the model's code.

Every function here follows its source literally (a formula, a documented rule, a transliteration of
a controller's own code), so a check compares the simulator with something it did not produce.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps
from scipy.special import ndtri

# The two-proportion z-test's power and the false alarms of independent looks are formulas the
# workshop's power calculator shares: they live below both (`sim.core.two_proportion`) and are
# named here with the other references.
from ..core.two_proportion import independent_looks_false_alarm as independent_looks_false_alarm
from ..core.two_proportion import two_proportion_power as two_proportion_power
from ..core.two_proportion import z_test_rejection_rate as z_test_rejection_rate

# ---- the SRE Workbook's burn-rate alerting ----

WORKBOOK = (
    "Beyer et al., The Site Reliability Workbook (O'Reilly, 2018), ch. 5 'Alerting on SLOs': "
    "detection time = (1 − SLO) / error ratio × window × burn rate; budget consumed at alert = "
    "burn rate × window / period; paging pairs 14.4 over 1 h/5 min and 6 over 6 h/30 min"
)


def burn_rate_detection_s(slo: float, error_ratio: float, window_s: float, burn_rate: float) -> float:
    """Seconds until a window of length window_s, clean before the fault, burns at burn_rate."""
    return (1.0 - slo) / error_ratio * window_s * burn_rate


def budget_at_firing(window_s: float, burn_rate: float, budget_days: float) -> float:
    """Share of the period's error budget spent when an alert on that window fires."""
    return burn_rate * window_s / (budget_days * 86400.0)


def firing_pair(
    pairs: Sequence[tuple[float, float, float]], slo: float, error_ratio: float
) -> tuple[float, float] | None:
    """(long window, burn rate) of the pair that fires first for a constant error ratio, or None.

    A pair fires once its long window burns (its short window, being shorter, burns sooner); a pair
    whose burn-rate threshold exceeds error_ratio / (1 − SLO) never fires.
    """
    best = None
    for long_s, _short_s, burn in pairs:
        if error_ratio >= burn * (1.0 - slo):
            t = burn_rate_detection_s(slo, error_ratio, long_s, burn)
            if best is None or t < best[0]:
                best = (t, long_s, burn)
    return None if best is None else (best[1], best[2])


# ---- the two-proportion z-test ----

FLEISS = (
    "Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions (3rd ed., 2003), ch. 4: "
    "power of the one-sided pooled two-proportion z-test, normal approximation"
)


def z_test_looks_rate(
    p: float, mean_n: float, alpha: float, looks: int, *, cumulative: bool, draws: int, seed: int
) -> tuple[float, float]:
    """Chance that any of `looks` z-tests of a good release (both arms failing with p, mean_n
    Poisson requests per arm per look) flags it, each look on its own data or on all data so far,
    by direct sampling (not through the simulator), with its standard error."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(mean_n, (2, draws, looks))
    x = rng.binomial(n, p)
    if cumulative:
        n, x = n.cumsum(2), x.cumsum(2)
    n = np.maximum(n, 1)
    pooled = x.sum(0) / n.sum(0)
    var = pooled * (1 - pooled) * (1 / n[0] + 1 / n[1])
    z = np.where(var > 0, (x[1] / n[1] - x[0] / n[0]) / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    rate = float(np.mean((z > ndtri(1.0 - alpha)).any(1)))
    return rate, math.sqrt(max(rate * (1 - rate), 1.0 / draws) / draws)


# ---- repeated looks ----

ARMITAGE = (
    "Armitage, McPherson & Rowe (1969), 'Repeated significance tests on accumulating data', "
    "J. R. Statist. Soc. A 132:235–244 (table reproduced in Jennison & Turnbull 2000, Table 1.1)"
)

VILLE = (
    "Ville's inequality for a nonnegative martingale: P(sup Λ ≥ 1/α) ≤ α; the mixture SPRT of Robbins "
    "(1970), as always-valid p-values (Johari, Koomen, Pekelis & Walsh, 'Always valid inference', "
    "Oper. Res. 2022) and for canaries' counts (Lindon, Sanden & Shirikian, KDD 2022)"
)

#: Overall false-alarm rate of K equally spaced two-sided 5% tests on accumulating normal data.
ARMITAGE_TWO_SIDED_5PCT: dict[int, float] = {
    1: 0.05,
    2: 0.083,
    3: 0.107,
    4: 0.126,
    5: 0.142,
    10: 0.193,
    20: 0.248,
}


def _phi(v: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)


def cumulative_looks_false_alarm(
    alpha: float, looks: int, two_sided: bool = False, points: int = 801
) -> float:
    """Chance that any of `looks` equally spaced z-tests on accumulating data crosses its critical
    value under the null, by Armitage, McPherson & Rowe's recursive numerical integration: the
    running sum S_k of unit-variance increments is tested against c·√k, and the density of S_k on
    the region still running is f_k(y) = ∫ f_{k−1}(x) φ(y − x) dx (Simpson's rule, `points` nodes,
    each look's grid ending exactly on its boundary)."""
    if points % 2 == 0:
        raise ValueError("Simpson's rule needs an odd number of points")
    c = float(ndtri(1 - alpha / 2)) if two_sided else float(ndtri(1 - alpha))
    weights = np.full(points, 2.0)
    weights[1::2], weights[0], weights[-1] = 4.0, 1.0, 1.0
    density = x = wx = np.empty(0)
    for k in range(1, looks + 1):
        hi = c * math.sqrt(k)
        lo = -hi if two_sided else -10.0 * math.sqrt(k)  # the mass below -10√k is under 1e-22
        y = np.linspace(lo, hi, points)
        density = _phi(y) if k == 1 else _phi(y[:, None] - x[None, :]) @ (wx * density)
        x, wx = y, weights * (y[1] - y[0]) / 3
    return float(1.0 - wx @ density)


# ---- Argo Rollouts' replica approximation ----

ARGO_SOURCE = (
    "argoproj/argo-rollouts utils/replicaset/canary.go, approximateWeightedCanaryStableReplicaCounts "
    "(transliterated line by line, float64 arithmetic included)"
)
ARGO_HEADER_ROUTE = (
    "argoproj/argo-rollouts docs/features/traffic-management/index.md (header-based traffic routing): "
    "setHeaderRoute sends the requests its header matchers select to the canary, apart from setWeight; "
    "an empty setHeaderRoute with only the route's name disables it"
)
ARGO_MIRROR_ROUTE = (
    "argoproj/argo-rollouts rollout/trafficrouting/istio/istio.go, createMirrorRoute (the matched requests"
    " keep the set weights' destinations and a mirrorPercentage copy goes to the canary); fluxcd/flagger"
    " docs/gitbook/usage/deployment-strategies.md (traffic mirroring): the canary's response is"
    " discarded, metrics are collected on both requests"
)
ARGO_DYNAMIC_STABLE = (
    "argoproj/argo-rollouts utils/replicaset/canary.go, CalculateReplicaCountsForTrafficRoutedCanary "
    "(stable replicas ceil(replicas × stable weight / max weight) under dynamicStableScale)"
)
ARGO_EXPERIMENT = (
    "argoproj/argo-rollouts docs/features/experiment.md and rollout/experiment.go (reconcileExperiments): "
    "an experiment step blocks the rollout while its templates' ReplicaSets run for the duration once "
    "available and are then scaled down; a failed or errored experiment aborts the rollout"
)
ARGO_ANALYSIS_TESTS = (
    "argoproj/argo-rollouts analysis/analysis_test.go, TestAssessMetricStatusConsecutiveSuccessLimit and "
    "TestAssessMetricStatusFailureLimitAndConsecutiveSuccessLimit (assessMetricStatus, analysis/analysis.go)"
)
_P, _F = "pass", "fail"
_THREE_FAILED_FOUR_PASSED = (_P, _F, _F, _F, _P, _P, _P)  # failed 3, successful 4, in a row 3, count 7

#: Argo's cases as (failureLimit, consecutiveSuccessLimit, count or None, measurements, the phase Argo
#: assesses): each Go case's counters (failed, successful, consecutive successes) as a sequence of
#: measurements that ends with them; "running" while no limit is passed and no count reached.
ARGO_ANALYSIS_CASES: tuple[tuple[int, int, int | None, tuple[str, ...], str], ...] = (
    (-1, 3, None, _THREE_FAILED_FOUR_PASSED, "successful"),
    (-1, 5, None, _THREE_FAILED_FOUR_PASSED, "running"),
    (-1, 5, 7, _THREE_FAILED_FOUR_PASSED, "failed"),
    (-1, 3, 7, _THREE_FAILED_FOUR_PASSED, "successful"),
    (-1, 3, 9, _THREE_FAILED_FOUR_PASSED, "successful"),
    (-1, 5, 9, _THREE_FAILED_FOUR_PASSED, "running"),
    (4, 4, None, _THREE_FAILED_FOUR_PASSED, "running"),
    (4, 4, None, (_P, _P, _P, _F, _F, _F, _F, _F), "failed"),
    (4, 4, None, (_P, _F, _F, _F, _P, _P, _P, _P), "successful"),
    (4, 4, None, (_P, _F, _F, _F, _F, _F, _P, _P, _P, _P), "failed"),
    (4, 4, 10, (_P, _P, _P, _F, _F, _F, _F, _P, _P, _P), "inconclusive"),
    (4, 4, 10, (_P, _P, _F, _F, _F, _F, _F, _P, _P, _P), "failed"),
    (4, 4, 10, (_P, _P, _F, _F, _F, _F, _P, _P, _P, _P), "successful"),
)

KAYENTA_SCORER_TESTS = (
    "spinnaker/kayenta kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ScorerSuite.scala "
    "(WeightedSumScorer, scorers/WeightedSumScorer.scala)"
)

#: Kayenta's own scorer cases: (each metric as (label, group, critical), group weights, summary score).
KAYENTA_SCORER_CASES: tuple[tuple[tuple[tuple[str, str, bool], ...], dict[str, float], float], ...] = (
    ((("Pass", "test-group", False),), {}, 100.0),  # Single Metric Pass
    ((("High", "test-group", False),), {}, 0.0),  # Single Metric Fail
    ((("Nodata", "test-group-nodata", False),), {}, 0.0),  # Single group Nodata
    ((("Pass", "p", False), ("Pass", "p", False), ("Nodata", "n", False)), {}, 100.0),  # one Pass, one Nodata
    ((("Pass", "g", False), ("High", "g", False)), {}, 50.0),  # One Group, Two Metrics
    ((("Pass", "g", False), ("High", "g", False), ("Low", "g", False)), {}, 33.33),  # One Group, 3 Metrics
    ((("Pass", "group-1", False), ("Pass", "group-1", False), ("High", "group-2", False)),
     {"group-1": 75.0, "group-2": 25.0}, 75.0),  # Two Groups, Three Metrics
    ((("Pass", "group-1", False), ("High", "group-1", False), ("High", "group-2", False)),
     {"group-1": 50.0, "group-2": 50.0}, 25.0),  # ... (Equal Weight)
    ((("Pass", "group-1", False), ("Nodata", "group-1", False), ("High", "group-2", False)),
     {"group-1": 50.0, "group-2": 50.0}, 50.0),  # ... (Equal Weight), one NoData
    ((("Pass", "g", False), ("High", "g", True)), {}, 0.0),  # one good (normal), one fail (critical)
    ((("Low", "g", False), ("Pass", "g", True)), {}, 50.0),  # one low (normal), one good (critical)
    ((("Pass", "g", False), ("Nodata", "g", True)), {}, 0.0),  # one good (normal), one nodata (critical)
    ((("High", "group1", False), ("Low", "group1", False), ("Pass", "group1", False),
      ("High", "group2", False)), {"group1": 15.0, "group2": 85.0}, 5.0),  # Unequal Weight, Four Metrics
)  # fmt: skip

ARGO_TESTS = (
    "argoproj/argo-rollouts utils/replicaset/canary_test.go, TestApproximateWeightedNewStableReplicaCounts"
)

#: Argo's own expected values: (replicas, weight, maxSurge, canary, stable), rows with replicas ≥ 1.
ARGO_TEST_TABLE: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 0, 0, 0, 1), (1, 1, 0, 0, 1), (1, 49, 0, 0, 1), (1, 50, 0, 1, 0), (1, 99, 0, 1, 0), (1, 100, 0, 1, 0),
    (1, 0, 1, 0, 1), (1, 1, 1, 1, 1), (1, 49, 1, 1, 1), (1, 50, 1, 1, 1), (1, 99, 1, 1, 1), (1, 100, 1, 1, 0),
    (2, 0, 0, 0, 2), (2, 1, 0, 1, 1), (2, 50, 0, 1, 1), (2, 99, 0, 1, 1), (2, 100, 0, 2, 0),
    (2, 0, 1, 0, 2), (2, 1, 1, 1, 2), (2, 50, 1, 1, 1), (2, 99, 1, 2, 1), (2, 100, 1, 2, 0),
    (3, 10, 0, 1, 2), (3, 25, 0, 1, 2), (3, 33, 0, 1, 2), (3, 34, 0, 1, 2), (3, 49, 0, 1, 2),
    (3, 50, 0, 2, 1),
    (3, 10, 1, 1, 3), (3, 25, 1, 1, 3), (3, 33, 1, 1, 2), (3, 34, 1, 1, 2), (3, 49, 1, 2, 2),
    (3, 50, 1, 2, 2),
    (10, 0, 1, 0, 10), (10, 1, 0, 1, 9), (10, 14, 0, 1, 9), (10, 15, 0, 2, 8), (10, 16, 0, 2, 8),
    (10, 99, 0, 9, 1), (10, 100, 1, 10, 0),
    (10, 0, 1, 0, 10), (10, 1, 1, 1, 10), (10, 18, 1, 2, 9), (10, 19, 1, 2, 9), (10, 20, 1, 2, 8),
    (10, 23, 1, 2, 8), (10, 24, 1, 3, 8), (10, 25, 1, 3, 8), (10, 99, 1, 10, 1), (10, 100, 1, 10, 0),
)  # fmt: skip


def argo_go_split(spec: int, weight: int, max_surge: int) -> tuple[int, int]:
    """(canary, stable) exactly as the Go function computes them, float64 expressions included."""
    if spec == 0:
        return 0, 0
    ceil_c = math.ceil(float(spec * weight) / 100.0)
    floor_c = math.floor(float(spec * weight) / 100.0)

    def floor_ceiling_tied(w: int, total: int) -> bool:
        return math.modf(float(total) * (float(w) / 100))[0] == 0.5

    def weight_delta(w: int, canary: int, total: int) -> float:
        return abs(float(canary * 100) / float(total) - float(w))

    tied = floor_ceiling_tied(weight, spec)
    zero_allowed = weight in (100, 0) or (spec == 1 and max_surge == 0)
    options: list[tuple[int, int]] = []
    if ceil_c < spec or zero_allowed:
        options.append((ceil_c, spec))
    if not tied and (floor_c != 0 or zero_allowed):
        options.append((floor_c, spec))
    if max_surge > 0:
        options.append((ceil_c, spec + 1))
        if not floor_ceiling_tied(weight, spec + 1) and (floor_c != 0 or zero_allowed):
            options.append((floor_c, spec + 1))
    if not options:
        return 0, spec
    best, best_delta = options[0], weight_delta(weight, *options[0])
    for opt in options[1:]:
        delta = weight_delta(weight, *opt)
        if delta < best_delta:
            best, best_delta = opt, delta
    return best[0], best[1] - best[0]


# ---- Kayenta's Mann-Whitney classifier ----

KAYENTA = (
    "spinnaker/kayenta MannWhitneyClassifier.scala (high when the interval's lower end > tolerance × "
    "|Hodges–Lehmann estimate| and the mean ratio ≥ the allowed increase; low symmetrically) with the "
    "interval of kayenta-mannwhitney MannWhitney.scala (R's asymptotic wilcox.test interval)"
)


def _accepted(x: np.ndarray, y: np.ndarray, shift: float, level: float) -> bool:
    """Whether scipy's two-sided asymptotic Mann-Whitney test (continuity and tie corrections, as in
    R's wilcox.test) keeps the shift at the interval's confidence level."""
    p = sps.mannwhitneyu(x - shift, y, alternative="two-sided", method="asymptotic").pvalue
    return bool(p >= 1.0 - level)


def kayenta_interval(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """The shift interval Kayenta's root finder converges to: the pairwise differences bounding the
    shifts scipy's test does not reject. Between consecutive distinct differences the test statistic
    is constant, so testing each gap's midpoint decides the whole gap."""
    u = np.unique(np.subtract.outer(x, y).ravel())
    probes = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    ok = np.array([_accepted(x, y, s, confidence) for s in probes])
    idx = np.flatnonzero(ok)
    if not len(idx):  # every shift rejected cannot happen at the median; guard anyway
        mid = float(np.median(np.subtract.outer(x, y)))
        return mid, mid
    # Gap g lies between u[g-1] and u[g]; the end gaps are bounded by the extreme differences.
    lower = u[max(idx[0] - 1, 0)]
    upper = u[min(idx[-1], len(u) - 1)]
    return float(lower), float(upper)


def kayenta_classify(
    experiment: ArrayLike,
    control: ArrayLike,
    confidence: float,
    tolerance: float,
    allowed_increase: float,
    allowed_decrease: float,
) -> tuple[str, float, float, float]:
    """(label, lower, upper, estimate) under Kayenta's rule; label is high, low, pass or nodata."""
    x, y = np.asarray(experiment, float), np.asarray(control, float)
    if len(x) == 0 or len(y) == 0:
        return "nodata", math.nan, math.nan, math.nan
    if np.array_equal(np.sort(x), np.sort(y)) or len(np.unique(np.concatenate([x, y]))) == 1:
        return "pass", math.nan, math.nan, math.nan
    estimate = float(np.median(np.subtract.outer(x, y)))
    lower, upper = kayenta_interval(x, y, confidence)
    ratio = x.mean() / y.mean() if y.mean() != 0 else math.nan
    bound = tolerance * abs(estimate)
    if lower > bound and (math.isnan(ratio) or ratio >= allowed_increase):
        return "high", lower, upper, estimate
    if upper < -bound and (math.isnan(ratio) or ratio <= allowed_decrease):
        return "low", lower, upper, estimate
    return "pass", lower, upper, estimate


def hodges_lehmann_band(experiment: ArrayLike, control: ArrayLike) -> tuple[float, float]:
    """The pairwise differences either side of the median: Kayenta's root finder may return any
    estimate in between, so a label that changes inside this band is ambiguous under its own code."""
    d = np.sort(np.subtract.outer(np.asarray(experiment, float), np.asarray(control, float)).ravel())
    n = len(d)
    return float(d[(n - 1) // 2]), float(d[n // 2])


# ---- Flagger ----

FLAGGER = (
    "Flagger docs, 'Deployment strategies' (docs.flagger.app): minimum time to validate and promote = "
    "interval × (maxWeight / stepWeight); time to roll back a failing canary = interval × threshold"
)


def flagger_promotion_s(interval_s: float, max_weight: float, step_weight: float) -> float:
    return interval_s * (max_weight / step_weight)


def flagger_rollback_s(interval_s: float, threshold: int) -> float:
    return interval_s * threshold


FLAGGER_AFFINITY = (
    "Flagger, pkg/router/istio.go getSessionAffinityRouteRules: while the canary's weight is not 0, "
    "its responses set a cookie and requests carrying it go to the canary; the rest are routed by "
    "weight. Replayed here user by user, request by request"
)


def session_affinity_by_user(
    rng: np.random.Generator,
    *,
    users: int,
    rate_per_user_s: float,
    shape: float,
    weight: float,
    hold_s: float,
    tail_s: float,
) -> tuple[float, float]:
    """Flagger's cookie replayed for each of `users` users (request rates Gamma with `shape`, mean
    `rate_per_user_s`) for `hold_s` seconds at `weight`: (the canary's share of the requests of the
    last `tail_s` seconds, the share of users holding the cookie at the end).

    Requests are Poisson per user; in each minute a user without the cookie routes requests one by
    one, each to the canary with probability `weight`: the first that lands there (the G-th, G
    geometric) sets the cookie, so that request and the rest of the minute's go to the canary.
    """
    lam = rng.gamma(shape, 1.0 / shape, users) * rate_per_user_s
    step = 60.0
    held = np.zeros(users, bool)
    canary = total = 0
    t = 0.0
    while t < hold_s - 1e-9:
        dt = min(step, hold_s - t)
        n = rng.poisson(lam * dt)
        first = rng.geometric(weight, users)  # which of the minute's requests first lands on the canary
        newly = ~held & (first <= n)
        to_canary = np.where(held, n, np.where(newly, n - first + 1, 0))
        held |= newly
        if t + dt > hold_s - tail_s + 1e-9:
            canary += int(to_canary.sum())
            total += int(n.sum())
        t += dt
    return canary / total, float(held.mean())


FLAGGER_HOOKS = (
    "Flagger, pkg/controller/scheduler.go: while the canary's weight is 0 every pass runs the "
    "pre-rollout hooks, a failure counting a failed check and holding the weight, and the pass that "
    "finds threshold failed checks rolls back; a confirm-traffic-increase gate holds the weight until "
    "the pass after its approval, the checks running at every pass meanwhile"
)


FLAGGER_LOAD_TEST = (
    "flagger-loadtester running hey (-q requests per second per worker, -c workers): a load test of "
    "rate R sends R requests a second to the canary, Poisson arrivals as the model takes them"
)

DORA_2024 = (
    '"Accelerate State of DevOps Report 2024", DORA / Google Cloud, the software delivery performance '
    "levels (change failure rate: the share of deployments that need remediation, a rollback or a fix); "
    "here the faults a blue-green smoke test catches before any user: 1 − Σ weight × smoke_catch / Σ weight"
)
