"""The one YAML reader (sim.core.yamlsafe) under hostile input: every cap at its boundary, alias bombs,
duplicate keys, exponent numbers, unsafe tags, endless files."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sim
from sim.core import yamlsafe
from sim.core.errors import ConfigError
from sim.importer.manifests import parse_manifests

#: 342 bytes that expand to 9⁹ ≈ 387 million nodes: before the caps, loading it took minutes and >6 GB.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def _one_line_error(text: str, match: str) -> ConfigError:
    with pytest.raises(ConfigError, match=match) as info:
        yamlsafe.parse_all(text, "f.yaml")
    assert len(str(info.value).splitlines()) == 1
    assert str(info.value).startswith("f.yaml: ")
    return info.value


def _limit_as(nbytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))


def test_the_bomb_is_a_bomb():
    # It is valid YAML: the caps, not a syntax error, are what refuse it.
    assert len(BOMB) < 400 and BOMB.count("*") == 72
    assert len(list(yaml.compose_all(BOMB, Loader=yaml.SafeLoader))) == 1


def test_alias_bomb_refused_quickly_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    # 1 GiB of address space and a minute: the old loader needed over 6 GB and did not finish.
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(path), "--deploys", "2"],
        preexec_fn=lambda: _limit_as(1 << 30),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"deploysim: {path}: more than 1,000,000 nodes with aliases expanded (the limit) (line 7)"
    ]
    assert not (tmp_path / "results").exists()


def test_alias_bomb_refused_by_the_importer_and_the_scenario_loader(tmp_path):
    with pytest.raises(ConfigError, match="aliases expanded"):
        parse_manifests(BOMB, "m.yaml")
    (tmp_path / "b.yaml").write_text(BOMB)
    with pytest.raises(ConfigError, match="aliases expanded"):
        sim.load_scenario(tmp_path / "b.yaml")


def test_dev_zero_is_refused_at_once():
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", "/dev/zero"],
        preexec_fn=lambda: _limit_as(1 << 30),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "deploysim: /dev/zero: larger than the limit of 4,194,304 bytes for a YAML file"
    ]


def test_file_size_cap_at_its_boundary(tmp_path):
    path = tmp_path / "big.yaml"
    body = "a: " + "x" * (yamlsafe.MAX_BYTES - 4) + "\n"
    path.write_text(body)
    assert path.stat().st_size == yamlsafe.MAX_BYTES
    data, _ = yamlsafe.parse(yamlsafe.read_text(path), str(path))
    assert len(data["a"]) == yamlsafe.MAX_BYTES - 4
    path.write_text(body + " ")
    with pytest.raises(ConfigError, match="larger than the limit of 4,194,304 bytes"):
        yamlsafe.read_text(path)


def test_node_cap_at_its_boundary():
    n = yamlsafe.MAX_NODES
    assert len(yamlsafe.parse("- 1\n" * (n - 1), "f.yaml")[0]) == n - 1  # the list and its items: n
    _one_line_error("- 1\n" * n, f"more than {n:,} YAML nodes")


def test_alias_cap_at_its_boundary():
    n = yamlsafe.MAX_ALIASES
    data, _ = yamlsafe.parse("a: &a 1\nb: [" + "*a, " * n + "]\n", "f.yaml")
    assert len(data["b"]) == n
    _one_line_error("a: &a 1\nb: [" + "*a, " * (n + 1) + "]\n", f"more than {n:,} aliases")


def test_depth_cap_at_its_boundary():
    d = yamlsafe.MAX_DEPTH
    data, _ = yamlsafe.parse("[" * d + "]" * d, "f.yaml")
    for _ in range(d - 1):
        data = data[0]
    assert data == []
    _one_line_error("[" * (d + 1) + "]" * (d + 1), f"nested deeper than {d} levels")


def test_expanded_size_cap_at_its_boundary():
    # The list: 1 node; &a: 1 + 1000 items; 998 aliases of it, 1001 each: 1 + 999 · 1001 = 1,000,000.
    text = "- &a [" + ", ".join(["0"] * 1000) + "]\n" + "- *a\n" * 998
    assert yamlsafe.MAX_EXPANDED == 1_000_000
    data, _ = yamlsafe.parse(text, "f.yaml")
    assert len(data) == 999
    _one_line_error(text + "- 0\n", "more than 1,000,000 nodes with aliases expanded")


def test_caps_count_across_the_documents_of_a_file():
    one = "- &a [" + ", ".join(["0"] * 1000) + "]\n" + "- *a\n" * 998
    _one_line_error(one + "---\n" + "- 0\n", "aliases expanded")


def test_duplicate_keys_name_both_lines():
    err = _one_line_error("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n", "duplicate key 'c', first given on line 3")
    assert err.line == 5
    _one_line_error("{x: 1, x: 2}", "duplicate key 'x', first given on line 1")


def test_duplicate_key_in_a_scenario_names_the_file_and_both_lines(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: dup\nrun:\n  deploys: 3\n  seed: 1\n  deploys: 4\n")
    with pytest.raises(ConfigError) as info:
        sim.load_scenario(path)
    expected = f"{path}: duplicate key 'deploys', first given on line 3; give each key once (line 5)"
    assert str(info.value) == expected


def test_numbers_in_exponent_notation_are_numbers():
    data, _ = yamlsafe.parse("[1e5, 1e+07, 2.5E-3, -3e2, .5e1, 1.0e5, '1e5', 1e, e5, 1_000]", "f.yaml")
    assert data == [1e5, 1e7, 2.5e-3, -300.0, 5.0, 1e5, "1e5", "1e", "e5", 1000]
    assert all(isinstance(v, float) for v in data[:6])
    # Only our loader reads them so: the yaml module's own loaders are left as they were.
    assert yaml.safe_load("1e5") == "1e5"


def test_exponent_numbers_in_a_scenario_and_an_override(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: exp\nrun:\n  deploys: 1e3\n")
    assert sim.load_scenario(path).run.deploys == 1000
    assert sim.load_scenario(path, ["run.seed=1e2"]).run.seed == 100


def test_unsafe_tags_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n"
    _one_line_error(text, "could not determine a constructor")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("&a [*a]", "a cycle"),
        ("a: *nope", "alias \\*nope has no anchor"),
        ("a: &x 1\nb: &x 2\n", "anchor &x defined twice, first on line 1"),
        ("a: !!int nope", "not valid YAML"),
        ("a: 2024-13-45", "not valid YAML"),
        ("a: [1, 2", "not valid YAML"),
        ("{? [a]: 1}", "not valid YAML"),
    ],
)
def test_other_bad_yaml_is_one_line(text, match):
    _one_line_error(text, match)


def test_line_map_maps_a_shared_node_once_and_the_alias_at_its_key():
    data, lines = yamlsafe.parse("x: &x\n  a: 1\ny: *x\nz:\n  <<: *x\n  b: 2\n", "f.yaml")
    assert data == {"x": {"a": 1}, "y": {"a": 1}, "z": {"a": 1, "b": 2}}
    assert lines[("x", "a")] == 2
    assert lines[("y",)] == 3 and ("y", "a") not in lines
    assert yamlsafe.line_for(lines, ("y", "a")) == 3  # an error under the alias points at its use
    assert lines[("z", "b")] == 6


def test_one_parse_per_file(monkeypatch):
    # The text is composed once and data built from the same nodes: not composed and loaded apart.
    calls = []
    real = yamlsafe._Composer.stream
    monkeypatch.setattr(yamlsafe._Composer, "stream", lambda self: calls.append(1) or real(self))
    sim.load_scenario(Path(sim.resolve_path("default")))
    assert calls == [1]


def test_no_yaml_is_read_outside_the_capped_reader():
    # One parser: a raw PyYAML load anywhere else would read an upload or a result without the caps.
    root = Path(__file__).resolve().parent.parent
    raw = re.compile(r"\byaml\.(safe_load|load|full_load|unsafe_load|safe_load_all|load_all|compose)\(")
    sources = [*root.glob("sim/**/*.py"), *root.glob("webapp/**/*.py"), root / "app.py"]
    offenders = [str(p.relative_to(root)) for p in sources if raw.search(p.read_text(encoding="utf-8"))]
    assert len(sources) > 20 and offenders == []


def test_scenario_from_yaml_uses_the_caps_and_round_trips():
    scn = sim.load_scenario("default")
    assert sim.Scenario.from_yaml(scn.to_yaml()) == scn
    with pytest.raises(ConfigError, match=r"^results\.yaml: more than 1,000,000 nodes"):
        sim.Scenario.from_yaml(BOMB, "results.yaml")
