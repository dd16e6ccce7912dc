"""Batch throughput: the default scenario under all its strategies, `deploysim run` with --jobs 1 and 2.

Times the whole command — simulation, rows streamed to disk, tables and charts — as a user runs it,
and prints the speed-up of two workers over one. Ends with one JSON line of the figures.
Usage: python bench/batch.py [--deploys N]   (default 10,000)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import sim
from sim.cli import main


def timed_run(deploys: int, jobs: int, out: Path) -> float:
    # No --strategy: the scenario's own list (the four strategies that need no flag in the release).
    args = ["run", "default", "--deploys", str(deploys), "--jobs", str(jobs), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        stdout, sys.stdout = sys.stdout, sink
        try:
            code = main(args)
        finally:
            sys.stdout = stdout
    if code != 0:
        raise SystemExit(f"deploysim run failed with exit code {code}")
    return time.perf_counter() - start


def bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=10_000)
    deploys = parser.parse_args().deploys
    strategies = sim.load_scenario("default").strategies
    sims = deploys * len(strategies)
    print(
        f"batch: default scenario, {deploys:,} deploys × {len(strategies)} strategies = "
        f"{sims:,} simulations; {os.cpu_count()} CPUs"
    )
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            seconds[jobs] = timed_run(deploys, jobs, Path(tmp) / f"jobs{jobs}")
            print(f"  --jobs {jobs}: {seconds[jobs]:7.1f} s  ({sims / seconds[jobs]:,.0f} simulations/s)")
    speedup = seconds[1] / seconds[2]
    print(f"  speed-up of --jobs 2 over --jobs 1: {speedup:.2f}× (target ≥ 1.7×; --jobs 2 target < 60 s)")
    print(
        json.dumps(
            {
                "bench": "batch",
                "deploys": deploys,
                "strategies": len(strategies),
                "jobs1_s": round(seconds[1], 2),
                "jobs2_s": round(seconds[2], 2),
                "speedup": round(speedup, 3),
            }
        )
    )


if __name__ == "__main__":
    bench()
