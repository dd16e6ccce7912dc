"""Instructions per deploy, counted by valgrind: the engine's cost without the wall clock's noise.

On the shared 2-core development host wall-clock figures swing ±10–15% from one run to the next,
more than most changes to the engine gain. Valgrind counts the instructions a run executes, the
same on every run of the same code and seed, so a change shows as what it saves. Each case runs
twice under `valgrind --tool=callgrind` — a warm-up batch, then `--small` or `--large` more deploys —
and the marginal cost per deploy is the difference over the deploys between (start-up, imports and
the warm-up cancel out):

- `default_all_strategies_M`: the default scenario's four strategies (a deploy = four runs), seed 3,
  64 deploys' warm-up;
- `progressive_1h_100rps_M`: the bench's target case (`cases.scenario_at(100, 3600)`, a progressive
  rollout followed one hour at 100 req/s), seed 3, 128 deploys' warm-up.

The two cases run side by side (one process each). Ends with one JSON line: millions of
instructions per deploy. Instructions are not time (a cache miss costs more than an add), but
between two versions of the engine on the same machine they rank changes the way time does.

Run: `make bench-instructions` (installs Debian's valgrind if it is missing), or
`.venv/bin/python bench/instructions.py [--small 64] [--large 320]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: What each case runs after its imports: `{n}` more deploys after the warm-up.
CASES = {
    "default_all_strategies_M": (
        "import sim\n"
        "from sim.engine.rows import simulate_deploys\n"
        "scn = sim.load_scenario('default')\n"
        "st = list(scn.strategies)\n"
        "simulate_deploys(scn, st, 3, 0, 64)\n"
        "simulate_deploys(scn, st, 3, 64, 64 + {n})\n"
    ),
    "progressive_1h_100rps_M": (
        "import sys\n"
        "sys.path.insert(0, {bench!r})\n"
        "from cases import scenario_at\n"
        "from sim.engine.rows import simulate_deploys\n"
        "scn = scenario_at(100.0, 3600.0)\n"
        "simulate_deploys(scn, ['progressive'], 3, 0, 128)\n"
        "simulate_deploys(scn, ['progressive'], 3, 128, 128 + {n})\n"
    ),
}

_COLLECTED = re.compile(r"Collected : (\d+)")


def collected(stderr: str) -> int:
    """The instructions callgrind reports having counted (its `Collected :` line)."""
    found = _COLLECTED.findall(stderr)
    if not found:
        raise ValueError("no 'Collected :' line in valgrind's output")
    return int(found[-1])


def marginal(small: tuple[int, int], large: tuple[int, int]) -> float:
    """Millions of instructions per deploy between two runs, each (deploys, instructions)."""
    (n0, i0), (n1, i1) = small, large
    if n1 <= n0:
        raise ValueError("the large run must have more deploys than the small one")
    return (i1 - i0) / (n1 - n0) / 1e6


def count(valgrind: str, code: str, n: int) -> int:
    """Instructions of one run of `code` with n deploys after the warm-up."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code.format(n=n, bench=str(HERE)),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=HERE.parent,  # `python -c` looks in its working directory first: this checkout's engine
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"valgrind run failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}"
        )
    return collected(done.stderr)


def measure(valgrind: str, code: str, sizes: tuple[int, int]) -> float:
    small, large = sizes
    return marginal((small, count(valgrind, code, small)), (large, count(valgrind, code, large)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=64, help="deploys after the warm-up, first run")
    parser.add_argument("--large", type=int, default=320, help="deploys after the warm-up, second run")
    args = parser.parse_args(argv)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print(
            "bench/instructions.py: valgrind not found (make bench-instructions installs it)", file=sys.stderr
        )
        return 2
    if not 0 < args.small < args.large:
        print("bench/instructions.py: --small must be positive and below --large", file=sys.stderr)
        return 2
    sizes = (args.small, args.large)
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {name: pool.submit(measure, valgrind, code, sizes) for name, code in CASES.items()}
        figures = {name: round(f.result(), 3) for name, f in futures.items()}
    version = subprocess.run(
        [valgrind, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(json.dumps({"bench": "instructions", **figures, "deploys": list(sizes), "valgrind": version}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
