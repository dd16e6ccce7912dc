"""Argo Rollouts' `consecutiveSuccessLimit`: a run that ends early on passes in a row, assessed as
Argo assesses a metric (analysis/analysis.go `assessMetricStatus`, its cases in analysis_test.go
`TestAssessMetricStatusConsecutiveSuccessLimit` and `...FailureLimitAndConsecutiveSuccessLimit`),
validated as Argo validates one (utils/analysis/factory.go `ValidateMetric`), imported and exported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sim
from sim import importer
from sim.config.analysis import AnalysisConfig
from sim.core.errors import ConfigError
from sim.engine.strategies.analysis import Tally
from sim.importer.export import export_manifest
from sim.validation import checks_rollout
from sim.validation.checks_rollout import assessed
from sim.validation.references import ARGO_ANALYSIS_CASES
from tests.conftest import QUIET, scenario

P = "pass"


def assess(cfg: AnalysisConfig, measurements: list[str]) -> str:
    """The run's phase after these measurements: its outcome once a limit is passed or its count
    reached, else "running" (`assessed`, for a run with any limits)."""
    tally = Tally()
    for taken, status in enumerate(measurements, 1):
        if (outcome := tally.record(cfg, status)) is not None:
            return outcome
        if cfg.count is not None and taken >= cfg.count:
            return tally.at_count(cfg)
    return "running"


@pytest.mark.parametrize(
    ("failure_limit", "success_limit", "count", "measurements", "phase"), ARGO_ANALYSIS_CASES
)
def test_a_run_is_assessed_as_argo_assesses_a_metric(
    failure_limit, success_limit, count, measurements, phase
):
    assert assessed(failure_limit, success_limit, count, measurements) == phase


def test_without_a_success_limit_a_count_reached_is_a_success_as_before():
    assert assess(AnalysisConfig(count=3), [P, "fail", P]) == "failed"
    assert assess(AnalysisConfig(count=3, failure_limit=1), [P, "fail", P]) == "successful"


def test_the_validation_check_holds():
    assert checks_rollout.check_argo_analysis_limits().passed


def test_an_inconclusive_or_erroring_measurement_breaks_the_run_of_passes():
    cfg = AnalysisConfig(failure_limit=0, inconclusive_limit=5, consecutive_success_limit=3)
    assert assess(cfg, [P, P, "inconclusive", P, P]) == "running"
    assert assess(cfg, [P, P, "error", P, P, P]) == "successful"


def test_limits_are_validated_as_argo_validates_a_metric():
    with pytest.raises(ConfigError, match=r"failure_limit: -1 turns failures off"):
        AnalysisConfig(failure_limit=-1)
    with pytest.raises(ConfigError, match=r"count: 5 is below failure_limit \+ consecutive_success_limit"):
        AnalysisConfig(failure_limit=2, consecutive_success_limit=4, count=5)
    with pytest.raises(ConfigError, match=r"count: 2 is below"):
        AnalysisConfig(failure_limit=-1, consecutive_success_limit=3, count=2)
    AnalysisConfig(failure_limit=-1, consecutive_success_limit=3, count=3)  # Argo accepts it
    with pytest.raises(ConfigError, match=r"checks\.consecutive_success_limit: Flagger's checks have no"):
        scenario({"strategies": {"progressive": {"checks": {"consecutive_success_limit": 2}}}})


def _step_analysis(success_limit: int) -> sim.Scenario:
    analysis = {"judge": "fixed", "interval_s": 60, "initial_delay_s": 30, "count": 10, "failure_limit": 0}
    if success_limit:
        analysis["consecutive_success_limit"] = success_limit
    return scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0},
            "judges": {"fixed": {"max_error_rate": 1.0, "max_p99_ms": 1e6, "min_requests": 0}},
            "strategies": {
                "_replace": True,
                "progressive": {
                    "kind": "progressive",
                    "steps": [{"weight": 10}, {"analysis": analysis}, {"weight": 50}, {"pause_s": 300}],
                    "analyses": [],
                    "gate_judge": "fixed",
                },
            },
        }
    )


def test_a_step_analysis_with_a_success_limit_ends_at_its_third_pass():
    """Every look passes: with the limit the step's run ends at its third measurement, without it at
    its tenth — seven intervals sooner, exactly, on the same deploys."""
    rows = {k: sim.run_batch(_step_analysis(k), deploys=8, seed=3, jobs=1) for k in (0, 3)}
    for k in (0, 3):
        assert not rows[k]["rolled_back"].any()
    saved = rows[0]["lead_time_s"].to_numpy() - rows[3]["lead_time_s"].to_numpy()
    assert saved == pytest.approx([7 * 60.0] * 8, abs=1e-6)


TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 1m
    count: 10
    failureLimit: -1
    consecutiveSuccessLimit: 3
    successCondition: result[0] >= 0.99
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  replicas: 10
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis: {templates: [{templateName: success-rate}]}
      - setWeight: 60
"""


def test_imported_and_exported_with_argo(tmp_path: Path):
    f = tmp_path / "rollout.yaml"
    f.write_text(TEMPLATE)
    im = importer.import_manifests([f])
    run_ = next(s.analysis for s in im.strategies["checkout"].steps if s.analysis is not None)
    assert (run_.failure_limit, run_.consecutive_success_limit, run_.count) == (-1, 3, 10)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "checkout", "argo")
    metrics = [
        m for d in yaml.safe_load_all(text) if d["kind"] == "AnalysisTemplate" for m in d["spec"]["metrics"]
    ]
    assert [(m["failureLimit"], m["consecutiveSuccessLimit"]) for m in metrics] == [(-1, 3)]
