"""Export and import are inverses: a strategy written as a manifest reads back as the same strategy,
and what a format cannot say comes back as a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import importer
from sim.cli import main
from sim.importer.export import canonical

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"
DATA = Path(__file__).resolve().parent / "data" / "manifests"
TEMPLATES = [
    EXAMPLES / "argo-rollouts" / "analysis-templates.yaml",
    EXAMPLES / "argo-rollouts" / "cluster-analysis-templates.yaml",
]
MANIFESTS = sorted(
    [p for p in EXAMPLES.glob("*/*.yaml") if "templates" not in p.name] + list(DATA.glob("*.yaml"))
)


def _read_back(scn: sim.Scenario, text: str, tmp_path: Path) -> tuple[dict, dict]:
    f = tmp_path / "exported.yaml"
    f.write_text(text)
    back = importer.import_manifests([f], scn)
    assert len(back.strategies) == 1
    return next(iter(back.strategies.values())), {**scn.judges, **back.judges}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_imported_strategies_survive_an_export_exactly(path, tmp_path):
    default = sim.load_scenario("default")
    scn, _ = importer.add_rollouts(default, [path, *TEMPLATES])
    for name in [k for k in scn.strategies if k not in default.strategies]:
        fmt = "argo" if "argoproj" in path.read_text() else "flagger"
        text, notes = importer.export_manifest(scn, name, fmt)
        assert notes == []
        cfg, judges = _read_back(scn, text, tmp_path)
        assert canonical(cfg, judges) == canonical(scn.strategies[name], scn.judges)


@pytest.mark.parametrize("name", ["progressive", "blue_green"])
def test_the_default_strategies_survive_an_argo_export(name, tmp_path):
    scn = sim.load_scenario("default")
    text, notes = importer.export_manifest(scn, name, "argo")
    assert notes == []
    cfg, judges = _read_back(scn, text, tmp_path)
    assert canonical(cfg, judges) == canonical(scn.strategies[name], scn.judges)
    docs = list(yaml.safe_load_all(text))
    assert docs[0]["kind"] == "Rollout" and {d["kind"] for d in docs[1:]} <= {"AnalysisTemplate"}


def test_what_flagger_cannot_say_is_reported():
    # Flagger moves one step per analysis interval: the default progressive's 10- and 15-minute
    # pauses, and its background analysis, have no Canary field.
    _text, notes = importer.export_manifest(sim.load_scenario("default"), "progressive", "flagger")
    assert any("pause_s steps are not exported" in n for n in notes)
    assert any(n.startswith("steps: does not survive") for n in notes)
    assert any("compares with the stable version" in n for n in notes)


def test_the_argo_export_reads_like_a_rollout():
    text, _ = importer.export_manifest(sim.load_scenario("default"), "progressive", "argo")
    rollout, template = list(yaml.safe_load_all(text))
    canary = rollout["spec"]["strategy"]["canary"]
    assert [s.get("setWeight") for s in canary["steps"][::2]] == [1, 5, 25, 50]
    assert canary["steps"][1] == {"pause": {"duration": "600s"}}
    assert canary["analysis"]["startingStep"] == 1 and "istio" in canary["trafficRouting"]
    metric = template["spec"]["metrics"][0]
    assert (metric["interval"], metric["initialDelay"], metric["failureLimit"]) == ("60s", "60s", 0)
    assert "stable-hash" in metric["provider"]["prometheus"]["query"]  # the baseline judge compares


def test_cli_export_then_import_then_run(tmp_path, capsys):
    manifest, scenario_file = tmp_path / "rollout.yaml", tmp_path / "mine.yaml"
    assert (
        main(["export", "default", "--strategy", "progressive", "--format", "argo", "-o", str(manifest)]) == 0
    )
    assert main(["import", str(manifest), "-o", str(scenario_file)]) == 0
    scn = sim.load_scenario(scenario_file)
    default = sim.load_scenario("default")
    assert list(scn.strategies) == ["progressive"]
    assert canonical(scn.strategies["progressive"], scn.judges) == canonical(
        default.strategies["progressive"], default.judges
    )
    assert main(["run", str(scenario_file), "--deploys", "2"]) == 0
    assert "progressive" in capsys.readouterr().out


def test_cli_run_with_rollouts_beside_the_built_in_strategies(capsys):
    flagger = str(EXAMPLES / "flagger" / "istio-canary.yaml")
    assert main(["run", "default", "--deploys", "2", "--rollout", flagger]) == 0
    out, err = capsys.readouterr()
    assert "podinfo" in out and "progressive" in out and "recreate" in out
    assert "deploysim: warning:" in err and "webhook" in err


def test_cli_import_to_stdout_writes_a_loadable_scenario(capsys):
    assert main(["import", str(EXAMPLES / "argo-rollouts" / "rollout-bluegreen.yaml")]) == 0
    out = capsys.readouterr().out
    scn = sim.load_scenario(yaml.safe_load(out))
    assert scn.fleet.replicas == 2 and scn.strategies["rollout-bluegreen"].auto_promote is False


_weights = st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True).map(sorted)


@settings(max_examples=40, deadline=None)
@given(
    weights=_weights,
    pauses=st.lists(st.one_of(st.none(), st.integers(1, 7200)), min_size=5, max_size=5),
    router=st.booleans(),
    surge=st.integers(0, 5),
)
def test_any_canary_of_weights_and_pauses_survives(weights, pauses, router, surge, tmp_path_factory):
    steps = []
    for w, p in zip(weights, pauses, strict=False):
        steps += [{"setWeight": w}, {"pause": {} if p is None else {"duration": f"{p}s"}}]
    canary = {"steps": steps, **({"trafficRouting": {"smi": {}}} if router else {"maxSurge": surge})}
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"replicas": 10, "strategy": {"canary": canary}},
    }
    f = tmp_path_factory.mktemp("h") / "r.yaml"
    f.write_text(yaml.safe_dump(doc))
    scn, _ = importer.add_rollouts(sim.load_scenario("default"), [f])
    text, notes = importer.export_manifest(scn, "r", "argo")
    assert notes == []
    cfg, judges = _read_back(scn, text, f.parent)
    assert canonical(cfg, judges) == canonical(scn.strategies["r"], scn.judges)
