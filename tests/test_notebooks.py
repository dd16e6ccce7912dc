"""The workshop notebooks: stored without outputs, each stating its goal and ending with exercises and
their solutions, built on the public API only, and running top to bottom without an error.

Every claim a notebook's text makes about a result is an assertion in one of its cells, so running
them (here, with nbclient in this environment's own kernel) is what checks the lessons still emerge.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import sim

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = [
    "01-blast-radius-and-recovery",
    "02-noisy-neighbours",
    "03-representative-canaries",
    "04-what-the-gate-watches",
    "05-two-versions-one-database",
    "06-flags-and-canaries",
    "07-tune-your-analysis",
    "08-bring-your-own-service",
]
NOTEBOOKS = [NOTEBOOK_DIR / f"{name}.ipynb" for name in LESSONS]

#: What a notebook may import: the public API, the libraries for small calculations and charts, and
#: the standard library's files and JSON (08 writes a service's data to a temporary folder).
ALLOWED_IMPORTS = {
    "sim",
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "itertools",
    "math",
    "json",
    "pathlib",
    "tempfile",
}

#: Seconds a single cell may take before the run is called hung (the whole notebooks take far less).
CELL_TIMEOUT_S = 600


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code(nb: nbformat.NotebookNode) -> list[str]:
    """Each code cell's source without IPython magics (which are not Python)."""
    return [
        "\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for c in nb.cells
        if c.cell_type == "code"
    ]


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _execute(nb: nbformat.NotebookNode) -> None:
    client = NotebookClient(
        nb,
        kernel_name="python3",  # ipykernel installed in this environment: its own interpreter
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # The kernel starts in notebooks/: a relative PYTHONPATH (`PYTHONPATH=. pytest`) would point it
    # there and import whichever `sim` is installed, not this checkout's; it gets the path made absolute.
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        paths = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths)
    client.execute(env=env)


def test_every_lesson_of_the_workshop_is_there():
    found = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert found == LESSONS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=LESSONS)
def test_stored_without_outputs(path: Path):
    nb = _read(path)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"cell {i} has an execution count"
        assert "execution" not in cell.metadata, f"cell {i} carries run timings"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=LESSONS)
def test_states_its_goal_and_ends_with_exercises_and_solutions(path: Path):
    cells = _read(path).cells
    first = cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "**Learning goal:**" in first.source
    start = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    tail = cells[start:]
    exercises = [i for i, c in enumerate(tail) if c.cell_type == "markdown" and "### Exercise" in c.source]
    assert 2 <= len(exercises) <= 3
    for i in exercises:  # each exercise is followed by its solution, collapsed, which checks itself
        solution = tail[i + 1]
        assert _is_solution(solution), f"exercise at cell {start + i} has no solution cell after it"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True
        assert "assert " in solution.source
    assert sum(_is_solution(c) for c in cells) == len(exercises)  # and solutions only there


@pytest.mark.parametrize("path", NOTEBOOKS, ids=LESSONS)
def test_uses_only_the_public_api(path: Path):
    public = set(sim.__all__)  # names and namespaces (`from sim import plots`), never `sim.x.y` paths
    for source in _code(_read(path)):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.module == "sim":
                    assert {a.name for a in node.names} <= public, ast.unparse(node)
            else:
                names = []
            for name in names:
                top, _, rest = name.partition(".")
                assert top in ALLOWED_IMPORTS, ast.unparse(node)
                assert not (top == "sim" and rest), ast.unparse(node)
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "sim":
                assert node.attr in public, f"sim.{node.attr} is not public API"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=LESSONS)
def test_every_notebook_checks_its_claims(path: Path):
    asserts = sum(source.count("assert ") for source in _code(_read(path)))
    assert asserts >= 8, "a lesson's claims are assertions in its cells"


def test_the_kernel_is_this_environment():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys, sim\nprint(sys.prefix)")]
    _execute(nb)
    (out,) = nb.cells[0].outputs
    assert out["text"].strip() == sys.prefix


def test_the_kernel_imports_this_checkouts_sim():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sim\nprint(sim.__file__)")]
    _execute(nb)
    (out,) = nb.cells[0].outputs
    assert Path(out["text"].strip()).resolve() == Path(sim.__file__).resolve()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=LESSONS)
def test_runs_top_to_bottom(path: Path):
    _execute(_read(path))  # a failing cell — an error or a broken lesson's assertion — raises here
