"""Batch throughput: the default scenario under all its strategies, `deploysim run` with --jobs 1 and 2.

Times the whole command as a user runs it — a fresh process: the interpreter and its imports, the
worker processes' start, the simulation, rows streamed to disk, tables and charts — and prints the
speed-up of two workers over one, measured in back-to-back pairs (the median pair is reported: the
host's load swings between pairs, less within one). Peak memory is each process's own high-water
mark (getrusage): the command's process, and the largest of its workers; their sum bounds the
peak of the whole run (parent + jobs × worker). Ends with one JSON line of the figures.
Usage: python bench/batch.py [--deploys N] [--pairs P]   (default 10,000 deploys, 3 pairs)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sim

# The command's own process, which reports its peak memory and its workers' (its waited-for children).
DRIVER = (
    "import json, resource, sys\n"
    "from sim.cli import main\n"
    "code = main(sys.argv[2:])\n"
    "peak = {'self_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
    "        'children_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    json.dump(peak, f)\n"
    "sys.exit(code)\n"
)


def timed_run(deploys: int, jobs: int, out: Path) -> tuple[float, dict[str, int]]:
    """Seconds of one `deploysim run` in a fresh process, and its peak memory in kB."""
    # No --strategy: the scenario's own list (the four strategies that need no flag in the release).
    args = ["run", "default", "--deploys", str(deploys), "--jobs", str(jobs), "--out", str(out), "--quiet"]
    peak = out.with_suffix(".peak.json")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(peak), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"deploysim run failed with exit code {proc.returncode}: {proc.stderr.decode()}")
    return seconds, json.loads(peak.read_text())


def bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=10_000)
    # Three pairs: one swings with the shared host's load (1.77× and 2.07× in two runs of one pair each).
    parser.add_argument("--pairs", type=int, default=3, help="back-to-back (--jobs 1, --jobs 2) pairs")
    opts = parser.parse_args()
    deploys = opts.deploys
    strategies = sim.load_scenario("default").strategies
    sims = deploys * len(strategies)
    load_before = os.getloadavg()[0]
    print(
        f"batch: default scenario, {deploys:,} deploys × {len(strategies)} strategies = "
        f"{sims:,} simulations; {os.cpu_count()} CPUs; load average {load_before:.2f}"
    )
    pairs: list[dict[int, float]] = []
    peaks: dict[int, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(opts.pairs):
            pair = {}
            for jobs in (1, 2):
                pair[jobs], peak = timed_run(deploys, jobs, Path(tmp) / f"pair{n}-jobs{jobs}")
                peaks[jobs] = {k: max(v, peaks.get(jobs, {}).get(k, 0)) for k, v in peak.items()}
                print(f"  --jobs {jobs}: {pair[jobs]:7.1f} s  ({sims / pair[jobs]:,.0f} simulations/s)")
            print(f"  pair {n + 1}: {pair[1] / pair[2]:.2f}×")
            pairs.append(pair)
    median = sorted(pairs, key=lambda p: p[1] / p[2])[len(pairs) // 2]
    speedup = median[1] / median[2]
    parent_mb, worker_mb = peaks[2]["self_kb"] / 1024, peaks[2]["children_kb"] / 1024
    print(f"  speed-up of --jobs 2 over --jobs 1: {speedup:.2f}× (target ≥ 1.8×; --jobs 2 target < 60 s)")
    print(
        f"  peak memory, --jobs 2: {parent_mb:.0f} MB the command, {worker_mb:.0f} MB its largest worker "
        f"(≤ {parent_mb + 2 * worker_mb:.0f} MB together); --jobs 1: {peaks[1]['self_kb'] / 1024:.0f} MB"
    )
    print(
        json.dumps(
            {
                "bench": "batch",
                "deploys": deploys,
                "strategies": len(strategies),
                "pairs": len(pairs),
                "jobs1_s": round(median[1], 2),
                "jobs2_s": round(median[2], 2),
                "speedup": round(speedup, 3),
                "speedups": [round(p[1] / p[2], 3) for p in pairs],
                "jobs1_peak_mb": round(peaks[1]["self_kb"] / 1024),
                "jobs2_parent_peak_mb": round(parent_mb),
                "jobs2_worker_peak_mb": round(worker_mb),
                "jobs2_peak_bound_mb": round(parent_mb + 2 * worker_mb),
                "load_before": round(load_before, 2),
                "load_after": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    bench()
