"""Result folders under contention and stops: one process per folder (a lock held for the whole run),
files replaced only when they are regular files, clean stops on SIGTERM and Ctrl-C, no worker
outliving its parent, and the library usable from a plain script."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

import sim
from sim.runs import store

ROOT = Path(__file__).resolve().parent.parent

# Both processes import the model first, then sleep until the same instant: the race is real.
AT_ONCE = (
    "import sys, time\n"
    "from sim.cli import main\n"
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
TINY = ["run", "default", "--deploys", "3", "--strategy", "canary", "--jobs", "1", "--quiet"]


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_two_runs_on_one_folder_started_together_exactly_one_wins(tmp_path):
    expected = {
        seed: sim.run_batch("default", deploys=3, seed=seed, strategies=["canary"]) for seed in (1, 2)
    }
    refused_while_held = 0
    for attempt in range(10):
        out = tmp_path / f"out{attempt}"
        go = time.time() + 4  # past both imports
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", AT_ONCE, str(go), *TINY, "--seed", str(seed), "--out", str(out)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        results = [(p, *p.communicate(timeout=120)) for p in procs]
        codes = sorted(p.returncode for p, _, _ in results)
        assert codes == [0, 2], [(p.returncode, err) for p, _, err in results]
        (loser_err,) = [err for p, _, err in results if p.returncode == 2]
        assert len(loser_err.splitlines()) == 1 and "Traceback" not in loser_err
        # Refused while the winner ran (naming it), or after it finished (the folder is not empty).
        assert "in use by another deploysim (pid " in loser_err or "is not empty" in loser_err, loser_err
        refused_while_held += "in use by another deploysim" in loser_err
        (winner,) = [p for p, _, _ in results if p.returncode == 0]
        seed = manifest(out)["seed"]
        assert winner.args[winner.args.index("--seed") + 1] == str(seed)
        pd.testing.assert_frame_equal(store.read_rows(out), expected[seed])
    assert refused_while_held, "started together, the second run meets the first one's lock"


def test_a_resume_while_the_run_is_going_is_refused_and_the_run_completes(tmp_path):
    out = tmp_path / "run"
    cmd = [
        *["run", "default", "--deploys", "400", "--seed", "8"],
        *["--strategy", "recreate", "--strategy", "progressive", "--jobs", "1", "--quiet"],
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", *cmd, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("0*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    # A leftover temporary of a dead writer: only the lock's holder may judge it stale.
    stale = out / "chunks" / ".000000000000-000000000050.parquet.tmp-999999"
    stale.write_bytes(b"PAR1 half")
    resume = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--resume", str(out), "--jobs", "1", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resume.returncode == 2, resume.stderr
    assert resume.stderr.strip() == (
        f"deploysim: --resume: {out} is in use by another deploysim (pid {proc.pid}); wait for it to "
        "finish, or stop it and resume the run with --resume"
    )
    assert stale.exists(), "a refused resume deletes nothing"
    assert manifest(out)["resumed_by"] == []
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    expected = sim.run_batch("default", deploys=400, seed=8, strategies=["recreate", "progressive"])
    pd.testing.assert_frame_equal(store.read_rows(out), expected)
