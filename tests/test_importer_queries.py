"""Reading controller metrics: PromQL shapes, conditions, Job coins, durations, Flagger's weights."""

from __future__ import annotations

import pytest

from sim.core.errors import ConfigError
from sim.importer.flagger import flagger_weights
from sim.importer.manifests import Manifest, duration_s
from sim.importer.mapping import limit
from sim.importer.queries import classify, job_pass_probability, lookback_s, parse_condition

# The Argo Rollouts analysis docs' success-rate query (non-5xx over all requests).
ARGO_SUCCESS = """sum(irate(
  istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}",response_code!~"5.*"}[5m]
)) /
sum(irate(
  istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}"}[5m]
))"""
ARGO_ERRORS = ARGO_SUCCESS.replace('response_code!~"5.*"', 'response_code=~"5.*"')


@pytest.mark.parametrize(
    ("query", "metric", "scale", "quantile"),
    [
        (ARGO_SUCCESS, "success_rate", 1.0, None),
        (ARGO_ERRORS, "error_rate", 1.0, None),
        (f"({ARGO_ERRORS}) * 100", "error_rate", 100.0, None),
        (f"100 * {ARGO_ERRORS}", "error_rate", 100.0, None),
        (f"1 - ({ARGO_ERRORS})", "success_rate", 1.0, None),
        ("sum(rate(app_errors_total[1m])) / sum(rate(app_requests_total[1m]))", "error_rate", 1.0, None),
        # A histogram in milliseconds divided by 1000 gives seconds: 1 ms of latency reads as 0.001.
        (
            "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket[1m])) by (le))"
            " / 1000",
            "p99",
            0.001,
            0.99,
        ),
        (
            "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))",
            "p99",
            0.001,
            0.99,
        ),
        (
            "histogram_quantile(0.5, sum(rate(http_request_duration_seconds_bucket[1m])) by (le)) * 1000",
            "p50",
            1.0,
            0.5,
        ),
        (
            "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))",
            "p99",
            0.001,
            0.95,
        ),
    ],
)
def test_queries_read_as_what_they_measure(query, metric, scale, quantile):
    shape = classify(query)
    assert shape is not None and (shape.metric, shape.quantile, shape.baseline) == (metric, quantile, False)
    assert shape.scale == pytest.approx(scale)


@pytest.mark.parametrize(
    "query",
    [
        "sum(rate(http_requests_total[1m]))",  # a rate, not a ratio
        'sum(rate(http_requests_total{status!="404"}[1m])) / sum(rate(http_requests_total[1m]))',  # not 5xx
        "avg(process_cpu_seconds_total)",
        "sum(rate(a_total[1m])) / sum(rate(b_total[1m])) / sum(rate(c_total[1m]))",
    ],
)
def test_other_queries_are_not_guessed(query):
    assert classify(query) is None


def test_canary_against_stable_shapes():
    canary = 'rollouts_pod_template_hash="{{args.latest-hash}}"'
    stable = 'rollouts_pod_template_hash="{{args.stable-hash}}"'

    def ratio(sel):
        errors = f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[1m]))'
        return f"{errors} / sum(rate(http_requests_total{{{sel}}}[1m]))"

    err = classify(f"({ratio(canary)}) - 2.5 * ({ratio(stable)})")
    assert (err.metric, err.baseline, err.factor) == ("error_rate", True, 2.5)
    q = "histogram_quantile(0.99, sum(rate(h_seconds_bucket{%s}[1m])) by (le))"
    lat = classify(f"{q % canary} / {q % stable}")
    assert (lat.metric, lat.baseline) == ("p99", True)
    assert classify(f"({ratio(stable)}) - 2 * ({ratio(canary)})") is None  # the sides the wrong way round


def test_lookback_is_the_longest_range_selector():
    assert lookback_s(ARGO_SUCCESS) == 300.0
    assert lookback_s("sum(rate(x[30s])) / sum(rate(y[2m]))") == 120.0
    assert lookback_s("rate(x[{{ interval }}])", placeholder_s=90.0) == 90.0
    assert lookback_s("up") is None


def test_conditions():
    c = parse_condition("result[0] >= 0.99")
    assert (c.op, c.value, c.upper, c.extra) == (">=", 0.99, False, False)
    assert (parse_condition("result <= 0.5").op, parse_condition("0.5 > result[0]").op) == ("<=", "<")
    assert parse_condition("isNaN(result[0]) || result[0] >= 0.95").extra
    assert parse_condition("result == 'true'") is None
    assert parse_condition("result[0] > 1 && result[0] < 5") is None


@pytest.mark.parametrize(
    ("query", "success", "failure", "expected"),
    [
        (ARGO_SUCCESS, "result[0] >= 0.99", None, 0.01),  # success ≥ 99% ⇔ errors ≤ 1%
        (ARGO_SUCCESS, None, "result[0] < 0.95", 0.05),
        (f"({ARGO_ERRORS}) * 100", None, "result[0] > 2", 0.02),
        (
            "histogram_quantile(0.99, sum(rate(x_milliseconds_bucket[1m])) by (le)) / 1000",
            "result[0] <= 0.5",
            None,
            500.0,
        ),
    ],
)
def test_limits_from_conditions(query, success, failure, expected):
    lim, _ = limit(classify(query), parse_condition(success), parse_condition(failure))
    assert lim == pytest.approx(expected)


def test_conditions_on_the_wrong_side_are_refused():
    with pytest.raises(ValueError, match="bad side"):
        limit(classify(ARGO_SUCCESS), parse_condition("result[0] <= 0.99"), None)
    with pytest.raises(ValueError, match="no successCondition or failureCondition"):
        limit(classify(ARGO_SUCCESS), None, None)
    lim, note = limit(
        classify(ARGO_SUCCESS), parse_condition("result >= 0.99"), parse_condition("result < 0.9")
    )
    assert lim == pytest.approx(0.1) and "inconclusive" in note


@pytest.mark.parametrize(
    ("script", "p"),
    [
        ("FLIP=$(($(($RANDOM%10))%2)) && exit $FLIP", 0.5),  # the random-fail template of the examples
        ("exit 0", 1.0),
        ("exit 1", 0.0),
        ("N=$(( RANDOM % 4 )); exit $N", 0.25),
        ("exit $(( RANDOM >= 8192 ))", 0.25),
        ("./run-tests.sh && exit 0", None),  # the tests' outcome is unknown
        ("curl -sf http://svc/health", None),
    ],
)
def test_job_pass_probability(script, p):
    assert job_pass_probability(script) == p


def test_durations():
    m = Manifest({"kind": "Rollout", "metadata": {"name": "r"}}, "r.yaml")
    assert duration_s(m, ("x",), "1m30s") == 90.0
    assert duration_s(m, ("x",), "250ms") == 0.25
    assert duration_s(m, ("x",), 10, bare_seconds=True) == 10.0
    with pytest.raises(ConfigError, match=r"r\.yaml: Rollout/r: x: 10 is not a duration"):
        duration_s(m, ("x",), 10)
    with pytest.raises(ConfigError, match="'soon' is not a duration"):
        duration_s(m, ("x",), "soon")


def test_flagger_weights_follow_the_docs():
    # docs/gitbook/usage/deployment-strategies.md: maxWeight 50, stepWeight 20 → 20, 40, 60, promotion;
    # stepWeights [1, 2, 10, 80] → 1, 2, 10, 80, promotion.
    assert flagger_weights(20, [], 50) == [20, 40, 60]
    assert flagger_weights(0, [1, 2, 10, 80], 0) == [1, 2, 10, 80]
    assert flagger_weights(25, [], 0) == [25, 50, 75, 100]  # maxWeight defaults to 100
    assert flagger_weights(5, [], 50) == list(range(5, 55, 5))
    with pytest.raises(ValueError, match="never reach maxWeight"):
        flagger_weights(0, [], 50)
    with pytest.raises(ValueError, match="never reach maxWeight"):
        flagger_weights(0, [5, 5, 50], 0)  # a repeated weight is a step of 0: Flagger would stall
    assert flagger_weights(0, [10, 5], 0) == [10]  # maxWeight is the last stepWeight: promoted after one step
