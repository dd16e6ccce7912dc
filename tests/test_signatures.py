"""No function in sim/ takes more than six positional parameters (issue 15).

A long run of positional arguments is easy to call in the wrong order and hard to read at the call
site: values that travel together go in a small record, options go by keyword (after `*`).
"""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "sim"
MOST = 6  # positional parameters a function may take, self and cls aside


def offenders(source: str, filename: str = "<string>") -> list[str]:
    """`file:line function (count)` for every function or method in `source` taking more than MOST
    positional parameters (positional-only and positional-or-keyword; *args is not counted)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        if names and names[0] in ("self", "cls"):
            names = names[1:]
        if len(names) > MOST:
            found.append(f"{filename}:{node.lineno} {node.name} ({len(names)})")
    return found


def test_no_function_in_sim_takes_more_than_six_positional_parameters():
    found = []
    for path in sorted(SIM.rglob("*.py")):
        found += offenders(path.read_text(encoding="utf-8"), str(path.relative_to(SIM.parent)))
    assert not found, "more than six positional parameters:\n" + "\n".join(found)


def test_the_check_catches_an_offender_and_passes_what_is_allowed():
    seven = "def f(a, b, c, d, e, f, g):\n    pass\n"
    assert offenders(seven, "sim/x.py") == ["sim/x.py:1 f (7)"]
    method = "class C:\n    async def m(self, a, b, c, d, e, f, /, g):\n        pass\n"
    assert offenders(method, "sim/x.py") == ["sim/x.py:2 m (7)"]  # positional-only counts too
    nested = "def outer():\n    def inner(a, b, c, d, e, f, g=1):\n        pass\n"
    assert offenders(nested, "sim/x.py") == ["sim/x.py:2 inner (7)"]
    allowed = (
        "def f(a, b, c, d, e, f, *rest, g, h, **kw):\n    pass\n"  # keyword-only and *args are fine
        "class C:\n    def m(self, a, b, c, d, e, f):\n        pass\n"  # self is not counted
        "    @classmethod\n    def k(cls, a, b, c, d, e, f):\n        pass\n"
    )
    assert offenders(allowed) == []
