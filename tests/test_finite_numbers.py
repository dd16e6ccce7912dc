"""Every number a scenario accepts is finite: NaN or ±inf anywhere is one ConfigError line, before
anything runs (it used to pass validation and crash the run, or print garbage)."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.core.errors import ConfigError, PathPart


def _number_paths(node: Any, path: tuple[PathPart, ...] = ()) -> list[tuple[PathPart, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _number_paths(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _number_paths(v, (*path, i))]
    return [path] if isinstance(node, int | float) and not isinstance(node, bool) else []


#: The default scenario in full (every distribution as a mapping) and as written (short forms too).
FULL = sim.load_scenario("default").to_dict()
SHORT = sim.load_scenario("default").to_dict(compact=True)
PATHS = sorted(
    {("full", *p) for p in _number_paths(FULL)} | {("short", *p) for p in _number_paths(SHORT)}, key=str
)


def _with(data: dict[str, Any], path: tuple[PathPart, ...], value: float) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def test_the_default_scenario_has_numbers_everywhere():
    # The property below is only as good as the leaves it reaches: distributions, lists, mappings.
    assert len(PATHS) > 150
    joined = {".".join(map(str, p)) for p in PATHS}
    assert any("severity" in p for p in joined) and any("onset" in p for p in joined)
    assert any("page_response" in p for p in joined) and any("noise" in p for p in joined)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_nan_or_inf_anywhere_is_one_config_error(path, bad):
    data = _with(FULL if path[0] == "full" else SHORT, path[1:], bad)
    with pytest.raises(ConfigError) as info:
        sim.load_scenario(data)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert str(path[1]) in message  # names the section (and the field) it is in
    assert "finite" in message or "not within" in message or "whole number" in message or "not >" in message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from([p for p in PATHS if p[0] == "short"]),
    bad=st.sampled_from([".nan", ".inf", "-.inf", "1e999"]),
)
def test_nan_or_inf_in_a_file_names_the_file_and_line(tmp_path, path, bad):
    file = tmp_path / "s.yaml"
    text = yaml.safe_dump(_with(SHORT, path[1:], 0.5), sort_keys=False)
    file.write_text(text.replace(": 0.5\n", f": {bad}\n", 1).replace("- 0.5\n", f"- {bad}\n", 1))
    with pytest.raises(ConfigError) as info:
        sim.load_scenario(file)
    assert len(str(info.value).splitlines()) == 1
    assert str(info.value).startswith(f"{file}: ") and "(line " in str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "releases.faults.crash.severity=.nan",
            "releases.faults.crash.severity.value: nan is not a finite number",
        ),
        ("humans.page_response_s=[1, .inf]", "humans.page_response_s.high: inf is not a finite number"),
        ("run.window_s=.nan", "run.window_s: nan is not a finite number within 0.1..3600 s"),
        ("traffic.deploy_hours=[9, .nan]", "traffic.deploy_hours[1]: nan is not a finite number"),
        (
            "humans.page_response_s=[-1e308, 1e308]",
            "humans.page_response_s.kind: a uniform distribution this wide",
        ),
        (
            "humans.page_response_s={kind: lognormal, median: 1, p90: 1e300}",
            "humans.page_response_s.kind: a lognormal distribution this wide",
        ),
    ],
)
def test_messages_name_the_field(override, message):
    with pytest.raises(ConfigError, match="^--set: " + re.escape(message)):
        sim.load_scenario("default", [override])


def test_records_made_in_python_are_held_to_the_same_rule():
    from sim.core import dist

    with pytest.raises(ConfigError, match="nan is not a finite number"):
        dist.fixed(math.nan)
    with pytest.raises(ConfigError, match="inf is not a finite number"):
        dist.uniform(0.0, math.inf)


def test_the_cli_refuses_a_nan_scenario_before_running(tmp_path, capsys):
    from sim.cli import main

    file = tmp_path / "nan.yaml"
    file.write_text("name: nan\nreleases:\n  faults:\n    crash:\n      severity: .nan\n")
    assert main(["run", str(file), "--deploys", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "severity" in err[0] and "(line 5)" in err[0], err
    assert not (tmp_path / "out").exists()
    assert Path(file).exists()
