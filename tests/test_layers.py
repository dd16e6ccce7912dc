"""The package's floors: every import in sim/ points down, none goes in a circle, the front ends use
the public API only, and loading a scenario loads no simulation code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent

#: The floors, lowest first. Floors sharing a rank are siblings that do not import each other.
RANK = {
    "core": 0,
    "config": 1,
    "engine": 2,
    "results": 3,
    "runs": 4,
    "workshop": 4,
    "importer": 4,
    "validation": 4,
    "calibrate": 4,
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted((ROOT / "sim").rglob("*.py"))}


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else "sim"


def _imports(module: str) -> set[str]:
    """Every sim module `module` imports: at the top, inside functions and under TYPE_CHECKING."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if (m == "sim" or m.startswith("sim.")) and m != module}


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_import_points_down_to_a_lower_floor_or_stays_on_its_own():
    wrong = []
    for module, targets in GRAPH.items():
        here = _floor(module)
        for target in sorted(targets):
            there = _floor(target)
            if there == here:
                continue
            if here == "sim":  # the top floor may use anything below it
                continue
            if there == "sim" or RANK[there] >= RANK[here]:
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_round_a_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v] & MODULES.keys():
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not circles, circles


FRONT_ENDS = [ROOT / "app.py", *sorted((ROOT / "webapp").rglob("*.py")), ROOT / "sim" / "cli.py"]


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_app_and_the_cli_use_only_the_public_api(path: Path):
    public = set(sim.__all__)
    inside = path.parent.name == "sim"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            from_sim = node.level == 0 and (node.module or "").split(".")[0] == "sim"
            if from_sim or (inside and node.level):  # `from sim import x`; in the CLI, `from . import x`
                assert node.module in ("sim", None) and node.level <= 1, ast.unparse(node)
                assert {a.name for a in node.names} <= public, ast.unparse(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("sim."), ast.unparse(node)
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "sim":
            assert node.attr in public, f"sim.{node.attr} is not public API"


def test_every_public_name_resolves():
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return set(out.split())


def test_loading_a_scenario_or_reading_a_manifest_loads_no_simulation_code():
    for code in (
        "import sim; sim.load_scenario('default')",
        "import sim; sim.importer.import_manifests(['tests/data/manifests/argo-basic-canary.yaml'])",
    ):
        loaded = _loaded_after(code)
        assert "simpy" not in loaded, code
        assert not {m for m in loaded if m.startswith(("sim.engine", "sim.results", "sim.runs"))}, code


def test_every_kind_has_its_record_and_its_implementation_in_the_stated_order():
    import sim.engine.simulate  # noqa: F401  (the engine registers its implementations)
    from sim.config.judges import JUDGES
    from sim.config.strategies import STRATEGIES

    for family in (JUDGES, STRATEGIES):
        assert tuple(family) == family.order
        assert family.implemented() == family.order
