"""The scenario reference is generated from the records; shipped scenarios explain themselves."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.config.judges import JudgeConfig
from sim.config.schemadoc import schema_reference
from sim.config.strategies import StrategyConfig

ROOT = Path(__file__).resolve().parent.parent


def test_docs_scenarios_md_is_the_generated_reference(capsys):
    text = schema_reference()
    assert (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8") == text, (
        "docs/scenarios.md is stale: regenerate it with `deploysim schema > docs/scenarios.md`"
    )
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == text


def test_the_reference_names_every_key_and_kind():
    text = schema_reference()
    for f in dataclasses.fields(sim.Scenario):
        assert f"| `{f.name}` |" in text
    for name, section in (("fleet", sim.Scenario().fleet), ("run", sim.Scenario().run)):
        for f in dataclasses.fields(section):
            assert f"| `{name}.{f.name}` |" in text
    for kind in [*JudgeConfig.kinds, *StrategyConfig.kinds]:
        assert f"(kind: {kind})" in text
    assert "| `strategies.<name>.steps[].weight` | number or null | `null` | 0..100 % |" in text
    # Every key says what it means.
    assert not re.search(r"\| *\|\n", text.split("## Sections", 1)[1])


@pytest.mark.parametrize("name", sim.shipped_scenarios())
def test_each_shipped_scenario_states_its_lesson_and_the_articles_pick(name):
    text = (ROOT / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    header = text.split("schema_version:", 1)[0]
    assert header.startswith(f"# {name} — ")
    assert "Lesson:" in header and "The article's pick" in header
    scn = sim.load_scenario(name)
    assert scn.name == name and scn.schema_version == 1 and scn.description


def test_readme_documents_the_cli():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = readme.split("---", 1)[0]
    # A new user gets exactly two commands on the first screen: set up and run, set up and test.
    commands = [
        line.split("#")[0].strip() for line in first_screen.split("```sh", 1)[1].split("```")[0].splitlines()
    ]
    assert [c for c in commands if c] == ["make run", "make test"]
    for needle in (
        "deploysim run",
        "deploysim sweep",
        "deploysim compare",
        "deploysim show",
        "deploysim validate",
        "--resume",
        "--cluster",
        "manifest.json",
        "rows.parquet",
        "summary.csv",
        "--deploys 100000",
    ):
        assert needle in readme, needle
