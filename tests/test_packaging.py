"""`pip install .` (not editable) gives a package that runs from any folder: shipped scenarios included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_built_package_runs_the_default_scenario_from_another_folder(tmp_path):
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, timeout=600)
    (wheel,) = wheels.glob("deploysim-*.whl")
    # Its dependencies are this environment's; the package itself only from the wheel.
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import sim; print(sim.__file__); print(sim.load_scenario('default').name)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.splitlines() == [str(site / "sim" / "__init__.py"), "default"]
    command = ["run", "default", "--deploys", "3", "--jobs", "1", "--quiet", "--out", "out"]
    done = subprocess.run(
        [sys.executable, "-m", "sim", *command],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "out" / "rows.parquet").exists() and "default: 3 deploys" in done.stdout
