"""`pip install .` (not editable) into a fresh venv gives a `deploysim` that runs from any folder."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_command_runs_the_default_scenario_from_another_folder(tmp_path):
    wheels, fresh, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies are this environment's (no network in a test): a path file lists its
    # site-packages after the fresh venv's own, where the wheel of deploysim alone goes.
    Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, timeout=600)
    (wheel,) = wheels.glob("deploysim-*.whl")
    install = [*pip, "--python", str(python), "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, timeout=600)
    where = subprocess.run(
        [python, "-c", "import sim; print(sim.__file__); print(sim.load_scenario('default').name)"],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    )  # fmt: skip
    installed, name = where.stdout.splitlines()
    assert Path(installed).is_relative_to(fresh) and name == "default"  # not this checkout's sim/
    command = ["run", "default", "--deploys", "3", "--jobs", "2", "--quiet", "--out", "out"]
    done = subprocess.run(
        [fresh / "bin" / "deploysim", *command],
        cwd=elsewhere, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "out" / "rows.parquet").exists() and "default: 3 deploys" in done.stdout
