"""The loader meets mutated and random YAML: it may only ever raise ConfigError, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.core.errors import ConfigError

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
TEXTS = [p.read_text(encoding="utf-8") for p in SHIPPED]

#: Values a careless edit (or an attacker) might put anywhere in a scenario.
NASTY = [
    "-1",
    "0",
    "1e308",
    "-1e308",
    "1e-320",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999999",
    "true",
    "null",
    "~",
    "''",
    "x",
    "[]",
    "{}",
    "[1, 2, 3]",
    "{a: 1}",
    "!!binary aGk=",
    "2024-01-01",
    "0x10",
    "&a [*a]",
    "*undefined",
    "[[[[[[[[1]]]]]]]]",
    "{kind: lognormal, median: -1, p90: 0}",
    "{kind: nope}",
    "[5, 1]",
    "1_000",
    "'1'",
    "!!python/object:os.system ls",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
plain = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.booleans()), inner, max_size=4),
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "s.yaml"


def only_config_errors(path: Path, text: str, overrides: list[str] | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        scn = sim.load_scenario(path, overrides=overrides or [])
    except ConfigError as err:
        assert len(str(err).splitlines()) == 1, "errors are one line"
        return
    assert isinstance(scn, sim.Scenario)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(TEXTS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "delete", "duplicate", "indent", "char", "key"]))
        line = lines[i]
        if op == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(NASTY))}"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 8)) + line.lstrip()
        elif op == "char" and line:
            j = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + draw(st.sampled_from(list(":-[]{}#&*!|>'\"%@` \t0"))) + line[j + 1 :]
        elif op == "key" and ":" in line:
            lines[i] = draw(st.text("abcxyz_", min_size=1, max_size=8)) + ":" + line.split(":", 1)[1]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_shipped_scenarios_raise_only_config_errors(scratch, text):
    only_config_errors(scratch, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_text_raises_only_config_errors(scratch, text):
    only_config_errors(scratch, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=plain)
def test_random_yaml_documents_raise_only_config_errors(scratch, data):
    only_config_errors(scratch, yaml.safe_dump(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    section=st.sampled_from(
        [
            "fleet",
            "traffic",
            "releases",
            "noise",
            "routing",
            "judges",
            "humans",
            "strategies",
            "run",
            "traffic.segments",
            "releases.faults.crash",
            "strategies.progressive.steps",
            "judges.slo.windows",
            "name",
            "safety_net",
        ]
    ),
    value=plain,
)
def test_random_values_in_any_section_raise_only_config_errors(scratch, section, value):
    override = f"{section}={yaml.safe_dump(value, default_flow_style=True)}"
    only_config_errors(scratch, "name: fuzz\n", [override])
