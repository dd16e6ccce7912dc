"""Cluster throughput: `deploysim run default --cluster` on a LocalCluster of single-threaded workers.

Starts a LocalCluster (worker processes, one thread each), runs the command as a user would — its own
process, connected by address — and reads the scheduler's task stream for each worker's busy time.
Reports the rate per worker (deploys of all four strategies per busy second, and per wall second),
each worker's and the client's peak resident memory, the host's load average before and after, and
the time a 1,000,000-deploy run would take at that rate (an extrapolation). Ends with one JSON line.
`--no-profile` turns off the workers' statistical profiler (dask's `distributed.worker.profile.enabled`),
which keeps up to an hour of per-second call trees and so grows a worker's memory over a long run.
Usage: python bench/cluster.py [--deploys N] [--workers W] [--no-profile]   (default 20,000 deploys, 2)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask
import distributed


def peak_rss_mb() -> float:
    """This process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy_seconds(stream: list[dict]) -> dict[str, float]:
    """Each worker's seconds computing chunks, from the scheduler's task stream."""
    busy: dict[str, float] = {}
    for task in stream:
        for span in task["startstops"]:
            if span["action"] == "compute":
                busy[task["worker"]] = busy.get(task["worker"], 0.0) + span["stop"] - span["start"]
    return busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-profile", action="store_true", help="workers without dask's profiler")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with (
        # The nannies hand this configuration to the worker processes they start.
        dask.config.set({"distributed.worker.profile.enabled": not args.no_profile}),
        tempfile.TemporaryDirectory() as tmp,
        distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = Path(tmp) / "run"
        command = [
            *(sys.executable, "-m", "sim", "run", "default", "--deploys", str(args.deploys)),
            *("--cluster", cluster.scheduler_address, "--out", str(out), "--quiet"),
        ]
        with distributed.get_task_stream(client) as stream:
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            wall_s = time.perf_counter() - started
        client_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        worker_rss_mb = sorted(client.run(peak_rss_mb).values())
        busy = busy_seconds(stream.data)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    load_after = os.getloadavg()
    per_busy_s = args.deploys / sum(busy.values())
    per_wall_s = args.deploys / wall_s / args.workers
    figures = {
        "deploys": args.deploys,
        "strategies": len(manifest["strategies"]),
        "workers": args.workers,
        "worker_profiler": not args.no_profile,
        "wall_s": round(wall_s, 1),
        "deploys_per_worker_busy_s": round(per_busy_s, 1),
        "deploys_per_worker_wall_s": round(per_wall_s, 1),
        "worker_busy_s": sorted(round(s, 1) for s in busy.values()),
        "worker_peak_rss_mb": [round(m) for m in worker_rss_mb],
        "client_peak_rss_mb": round(client_rss_mb),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        # An extrapolation, not a measurement: 1,000,000 deploys at the rate per wall second measured.
        "extrapolated_1m_worker_hours": round(1_000_000 / per_wall_s / 3600, 2),
    }
    print(
        f"{args.deploys:,} deploys × {figures['strategies']} strategies on {args.workers} single-threaded "
        f"workers: {wall_s:.0f} s; per worker {per_wall_s:.1f} deploys/s of wall time "
        f"({per_busy_s:.1f} per busy second); worker peak RSS {figures['worker_peak_rss_mb']} MB, "
        f"client {figures['client_peak_rss_mb']} MB; load {load_before[0]:.2f} → {load_after[0]:.2f}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
