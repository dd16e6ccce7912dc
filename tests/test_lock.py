"""The lock files pin every dependency pyproject names, and this venv runs exactly the locked versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")

# A venv made by `python -m venv` brings these; they build and install, they never run a simulation.
INSTALLER = {"pip", "setuptools", "wheel", "deploysim"}

pytestmark = pytest.mark.lock


def parse_lock(text: str) -> dict[str, tuple[str, int]]:
    """Canonical name -> (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in text.splitlines():
        if m := PIN.match(line):
            name = canonicalize_name(m[1])
            pins[name] = (m[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def lock(name: str) -> dict[str, tuple[str, int]]:
    return parse_lock((ROOT / name).read_text(encoding="utf-8"))


def requirements() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return runtime, dev


def unpinned(reqs: list[Requirement], pins: dict[str, tuple[str, int]]) -> list[str]:
    """Requirements the lock leaves out, pins outside pyproject's range, and pins without a hash."""
    out = []
    for req in reqs:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            out.append(f"{req}: not in the lock")
        elif not req.specifier.contains(pin[0], prereleases=True):
            out.append(f"{req}: locked at {pin[0]}")
    out += [f"{name}=={version}: no hash" for name, (version, hashes) in pins.items() if not hashes]
    return out


def test_the_parser_reads_pins_and_hashes():
    text = (
        "a-b==1.0 \\\n    --hash=sha256:00 \\\n    --hash=sha256:11\n    # via x\n"
        "C_d==2.1 ; python_version >= '3'\n"
    )
    assert parse_lock(text) == {"a-b": ("1.0", 2), "c-d": ("2.1", 0)}
    wrong = unpinned([Requirement("a_b>=2")], parse_lock(text))
    assert wrong == ["a_b>=2: locked at 1.0", "c-d==2.1: no hash"]


def test_every_pyproject_dependency_is_pinned_with_hashes():
    runtime, dev = requirements()
    assert unpinned(runtime, lock("requirements.lock")) == []
    assert unpinned(runtime + dev, lock("requirements-dev.lock")) == []


def test_the_runtime_lock_is_the_dev_locks_subset():
    # `make run` and `make test` must simulate with the same numpy, pandas and scipy.
    runtime, dev = lock("requirements.lock"), lock("requirements-dev.lock")
    assert {n: v for n, (v, _) in runtime.items() if dev.get(n, ("",))[0] != v} == {}


def test_installed_versions_are_the_locked_ones():
    # Red on drift: a venv not rebuilt after `make lock`, or a package upgraded by hand.
    pinned = {name: version for name, (version, _) in lock("requirements-dev.lock").items()}
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {n: (installed.get(n, "missing"), v) for n, v in pinned.items() if installed.get(n) != v}
    assert wrong == {}, "installed vs locked; rebuild with `rm -rf .venv && make .venv/.installed-dev`"
    extra = sorted(set(installed) - set(pinned) - INSTALLER)
    assert extra == [], "installed but in no lock: add them to pyproject.toml and run `make lock`"
