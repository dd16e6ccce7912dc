"""The scenario reference and README's column table are generated from the code; shipped scenarios
explain themselves.

Run as a script, it rewrites README's column table from the column table: `python tests/test_docs.py`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.config.judges import JudgeConfig
from sim.config.schemadoc import schema_reference
from sim.config.strategies import StrategyConfig
from sim.core import columns

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


#: README's column table sits between these lines.
COLUMNS_BEGIN = "<!-- columns: generated from sim/core/columns.py -->\n"
COLUMNS_END = "<!-- /columns -->\n"


def readme_with_columns(readme: str) -> str:
    """README's text with the generated column table between its markers."""
    head, rest = readme.split(COLUMNS_BEGIN, 1)
    _, tail = rest.split(COLUMNS_END, 1)
    return f"{head}{COLUMNS_BEGIN}{columns.reference()}{COLUMNS_END}{tail}"


def test_readme_column_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.count(COLUMNS_BEGIN) == 1 and readme.count(COLUMNS_END) == 1
    assert readme_with_columns(readme) == readme, (
        "README's column table is stale: regenerate it with `python tests/test_docs.py`"
    )
    # Under its heading, one line per column, each with its kind and its meaning.
    section = readme.split("## Per-deploy columns", 1)[1].split("\n## ", 1)[0]
    for c in columns.ROW:
        assert f"| `{c.name}` | {columns.KIND_WORDS[c.kind]} | {c.unit} | {c.meaning} |" in section


if __name__ == "__main__":
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    new = readme_with_columns(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: column table {'rewritten' if new != text else 'up to date'}", file=sys.stderr)
