"""Bad manifests: one line naming the file, the object and the field; exit 2 and nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim import importer
from sim.cli import main
from sim.core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"
ROLLOUT = """apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  strategy:
    canary:
      steps:
%s
"""


def _error(tmp_path: Path, text: str, *more: Path) -> str:
    f = tmp_path / "m.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        importer.import_manifests([f, *more])
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{f}: ")
    return message


def test_not_yaml(tmp_path):
    msg = _error(tmp_path, "kind: Rollout\nspec: [unclosed\n")
    assert "not valid YAML" in msg and msg.endswith("(line 3)")


def test_not_a_kubernetes_object(tmp_path):
    assert "document 2 is not a Kubernetes object" in _error(
        tmp_path, "kind: Service\napiVersion: v1\n---\n- a\n- b\n"
    )


def test_nothing_to_import(tmp_path):
    msg = _error(tmp_path, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    assert msg == f"{tmp_path / 'm.yaml'}: no Rollout or Canary to import (found: Service)"


def test_unsupported_api_version(tmp_path):
    msg = _error(tmp_path, ROLLOUT.replace("v1alpha1", "v2") % "      - setWeight: 10")
    assert msg == (
        f"{tmp_path / 'm.yaml'}: Rollout/web: apiVersion: unsupported apiVersion 'argoproj.io/v2'"
        " for a Rollout (supported: argoproj.io/v1alpha1) (line 1)"
    )


def test_missing_template(tmp_path):
    msg = _error(tmp_path, (EXAMPLES / "argo-rollouts" / "rollout-analysis-step.yaml").read_text())
    assert msg == (
        f"{tmp_path / 'm.yaml'}: Rollout/rollout-analysis-step: spec.strategy.canary.steps[1].analysis"
        ".templates[0].templateName: no AnalysisTemplate 'random-fail' in the files given (found: none)"
        " (line 37)"
    )
    flagger = (Path(__file__).resolve().parent / "data" / "manifests" / "flagger-promotion.yaml").read_text()
    msg = _error(tmp_path, flagger.split("---")[0])
    assert (
        "Canary/frontend: spec.analysis.metrics[1].templateRef.name: no MetricTemplate 'error-percentage'"
        in msg
    )


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "      - setWeigth: 10",
            r"steps\[0\]\.setWeigth: unknown step 'setWeigth' \(allowed: setWeight, pause",
        ),
        (
            "      - pause: {duration: soon}",
            r"steps\[0\]\.pause\.duration: 'soon' is not a duration like 30s",
        ),
        ("      - setWeight: 140", r"steps\[0\]\.setWeight: 140 is not within 0\.\.100"),
        (
            "      - setCanaryScale: {replicas: 2}",
            r"steps\[0\]\.setCanaryScale: setCanaryScale needs trafficRouting",
        ),
        (
            "      - setWeight: 50\n      - setWeight: 20",
            r"spec\.strategy: cannot be simulated: steps\[1\]\.weight",
        ),
        ("      - {setWeight: 10, pause: {}}", r"steps\[0\]: a step sets exactly one of"),
    ],
)
def test_bad_rollout_fields(tmp_path, steps, message):
    assert re.search(message, _error(tmp_path, ROLLOUT % steps))


def test_flagger_canary_that_would_never_move(tmp_path):
    text = """apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: stuck}
spec:
  targetRef: {kind: Deployment, name: stuck}
  analysis: {interval: 1m, threshold: 5, maxWeight: 50}
"""
    msg = _error(tmp_path, text)
    assert "Canary/stuck: spec.analysis: Flagger would never reach maxWeight" in msg


def test_cli_import_reports_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    out = tmp_path / "mine.yaml"
    assert main(["import", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"deploysim: {bad}: no Rollout or Canary")
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]  # no temporary file left behind either
    assert main(["import", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err


def test_cli_run_with_a_bad_rollout_exits_2(tmp_path, capsys):
    assert main(["run", "default", "--deploys", "1", "--rollout", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_cli_export_refuses_strategies_without_a_controller(capsys):
    assert main(["export", "default", "--strategy", "recreate", "--format", "argo"]) == 2
    assert "only progressive and blue_green" in capsys.readouterr().err
    assert main(["export", "default", "--strategy", "nope", "--format", "argo"]) == 2
    assert "'nope' is not a strategy of this scenario" in capsys.readouterr().err
