"""Kayenta's canary scoring (spinnaker/kayenta, kayenta-judge): the weighted-sum scorer's own unit
tests (`ScorerSuite.scala`) transliterated, the metric labels of `MannWhitneyClassifier.classify`,
the score thresholds as Argo Rollouts' Kayenta provider reads them, a multi-interval run, and the
judge in a simulated rollout."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.config.analysis import AnalysisConfig
from sim.config.judges import JudgeConfig, KayentaJudge, KayentaMetric
from sim.core.errors import ConfigError
from sim.core.kayenta import MetricResult, classify, group_scores, summary_score
from sim.engine.judging import kayenta_label
from sim.engine.strategies.analysis import Tally
from sim.validation import checks_judges
from sim.validation.references import KAYENTA_SCORER_CASES
from tests.conftest import QUIET, scenario


def m(label: str, group: str = "test-group", critical: bool = False) -> MetricResult:
    return MetricResult(label, (group,), critical)  # type: ignore[arg-type]


@pytest.mark.parametrize(("metrics", "weights", "score"), KAYENTA_SCORER_CASES)
def test_the_weighted_sum_scorer_scores_as_kayentas_own_tests_say(metrics, weights, score):
    assert summary_score([m(label, group, critical) for label, group, critical in metrics], weights) == score


def test_the_validation_check_holds():
    assert checks_judges.check_kayenta_scorer().passed


def test_a_group_with_only_nodata_counts_in_full_and_required_data_counts_against_its_group():
    assert group_scores([m("Nodata", "a"), m("Pass", "b")]) == {"a": None, "b": 100.0}
    assert summary_score([m("NodataFailMetric", "a"), m("Pass", "a"), m("Pass", "b")], {}) == 75.0


def test_thresholds_classify_the_score():
    assert [classify(s, 95, 75) for s in (100, 95, 94.99, 75, 74.99, 0)] == [
        "Pass", "Pass", "Marginal", "Marginal", "Fail", "Fail",
    ]  # fmt: skip


def test_metric_labels_follow_direction_effect_size_and_missing_data():
    rng = np.random.default_rng(4)
    base = rng.normal(100, 5, 30)
    up, down = base * 1.5, base * 0.5
    ctl = rng.normal(100, 5, 30)
    test = (0.98, 0.25)
    assert kayenta_label(up, ctl, KayentaMetric(), test) == "High"
    assert kayenta_label(down, ctl, KayentaMetric(), test) == "Low"
    assert kayenta_label(down, ctl, KayentaMetric(direction="increase"), test) == "Pass"
    assert kayenta_label(up, ctl, KayentaMetric(direction="decrease"), test) == "Pass"
    assert kayenta_label(up, ctl, KayentaMetric(allowed_increase=2.0), test) == "Pass"  # 1.5× < 2×
    assert kayenta_label(ctl, ctl, KayentaMetric(), test) == "Pass"  # identical data
    empty = np.zeros(0)
    assert kayenta_label(empty, ctl, KayentaMetric(), test) == "Nodata"
    assert kayenta_label(empty, ctl, KayentaMetric(must_have_data=True), test) == "NodataFailMetric"
    assert kayenta_label(empty, ctl, KayentaMetric(must_have_data=True, critical=True), test) == "Nodata"


def test_a_multi_interval_run_goes_on_past_marginal_looks_and_its_last_must_pass():
    cfg = AnalysisConfig(count=4, last_must_pass=True)

    def phase(statuses: list[str]) -> str:
        tally = Tally()
        for i, s in enumerate(statuses, 1):
            if (out := tally.record(cfg, s)) is not None:
                return out
            if i == cfg.count:
                return tally.at_count(cfg)
        return "running"

    assert phase(["inconclusive", "inconclusive", "pass", "pass"]) == "successful"
    assert phase(["pass", "pass", "pass", "inconclusive"]) == "failed"  # the last is marginal
    assert phase(["pass", "fail"]) == "failed"  # below marginal: at once
    with pytest.raises(ConfigError, match="last_must_pass: a run whose last look must pass needs a count"):
        AnalysisConfig(last_must_pass=True)


def test_kayenta_judge_is_registered_and_validated():
    assert JudgeConfig.kinds["kayenta"] is KayentaJudge
    scn = scenario(
        {
            "judges": {
                "k": {
                    "kind": "kayenta",
                    "watch": ["error_rate", "p99"],
                    "metrics": {"error_rate": {"direction": "increase", "critical": True, "group": "errors"}},
                    "group_weights": {"errors": 60},
                }
            }
        }
    )
    judge = scn.judges["k"]
    assert judge.metric("error_rate").critical and judge.metric("p99") == KayentaMetric()
    assert judge.confidence == 0.98 and judge.tolerance == 0.25  # NetflixACAJudge's classifier
    with pytest.raises(ConfigError, match=r"judges\.k\.metrics: 'p50' is not watched"):
        scenario({"judges": {"k": {"kind": "kayenta", "metrics": {"p50": {}}}}})
    with pytest.raises(ConfigError, match=r"judges\.k\.marginal_score: 96 is above pass_score 95"):
        scenario({"judges": {"k": {"kind": "kayenta", "marginal_score": 96}}})
    with pytest.raises(ConfigError, match=r"judges\.k\.group_weights: the weights add up to more than 100"):
        scenario({"judges": {"k": {"kind": "kayenta", "group_weights": {"a": 60, "b": 50}}}})


def _kayenta(direction: str) -> sim.Scenario:
    metrics = {
        "error_rate": {"direction": direction, "critical": True, "group": "errors"},
        "p99": {"group": "latency"},
    }
    return scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0.5},
            "judges": {"k": {"kind": "kayenta", "watch": ["error_rate", "p99"], "metrics": metrics}},
            "strategies": {
                "_replace": True,
                "progressive": {
                    "kind": "progressive",
                    "steps": [
                        {"weight": 20},
                        {"analysis": {"judge": "k", "interval_s": 300, "count": 3, "last_must_pass": True}},
                        {"weight": 60},
                        {"pause_s": 600},
                    ],
                    "analyses": [],
                    "gate_judge": "k",
                },
            },
        }
    )


def test_in_a_rollout_kayenta_stops_error_faults_at_its_intervals():
    rows = sim.run_batch(_kayenta("increase"), deploys=60, seed=9, jobs=1)
    assert rows["error"].isna().all()
    errors = rows[rows["release_bad"] & rows["fault_kind"].isin(["error_rate", "crash"])]
    assert len(errors) >= 5
    assert (errors["detected_by"] == "analysis").mean() >= 0.8
    # Caught at one of the run's three five-minute intervals, not later.
    assert float(errors.loc[errors["detected_by"] == "analysis", "time_to_detect_s"].max()) <= 3 * 300 + 60


ARGO_KAYENTA = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: kayenta}
spec:
  metrics:
  - name: kayenta
    interval: 5m
    count: 3
    provider:
      kayenta:
        address: https://kayenta.example.com
        application: checkout
        canaryConfigName: checkout
        threshold: {pass: 90, marginal: 60}
        scopes:
        - name: default
          controlScope: {scope: stable, step: 60}
          experimentScope: {scope: canary, step: 60}
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
      - analysis: {templates: [{templateName: kayenta}]}
"""


def test_an_argo_kayenta_metric_imports_its_thresholds_and_exports_them_back(tmp_path):
    import yaml

    from sim import importer
    from sim.importer.export import export_manifest

    f = tmp_path / "kayenta.yaml"
    f.write_text(ARGO_KAYENTA)
    im = importer.import_manifests([f])
    judge = next(j for j in im.judges.values() if isinstance(j, KayentaJudge))
    assert (judge.pass_score, judge.marginal_score) == (90, 60)
    assert any("canary configuration is not read" in w.message for w in im.warnings)
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, _ = export_manifest(scn, "checkout", "argo")
    docs = [d for d in yaml.safe_load_all(text) if d["kind"] == "AnalysisTemplate"]
    provider = docs[0]["spec"]["metrics"][0]["provider"]["kayenta"]
    assert provider["threshold"] == {"pass": 90, "marginal": 60}
    f.write_text(ARGO_KAYENTA.replace("marginal: 60", "marginal: 95"))
    with pytest.raises(sim.ConfigError, match=r"threshold: 95 is above pass_score 90"):
        importer.import_manifests([f])
