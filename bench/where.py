"""Where a deploy's time goes: good releases against bad ones, strategy by strategy, and what a watch's
quiet hours cost.

`make bench` times whole cases; the next speed-up is found by asking which deploys cost what. This
times the same cases with every release good (`releases.bad_probability=0`) and with half of them
bad (`=0.5`), so that the engine's two paths show apart — good releases follow their plan over a
block's arrays, bad ones diverge: a bad release costs the good one's figure plus twice the
difference. (Not every release bad: a block with no good release has no plan to serve its bad ones
along, and they would all run in the event engine, as they never do in a real mix.) And the bench's
horizon case (the one-hour rollout at 300 req/s, watched 1 h and 3 h) with good releases and no
noisy neighbours, where only the SLO alert reads the two extra hours. Each figure is the best of
`--repeat` batches (machine noise only slows a run), µs a deploy of one strategy on one core,
exogenous draws included. Ends with one JSON line.

Run: `.venv/bin/python bench/where.py [--deploys 512] [--repeat 3]`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import scenario_at

import sim

GOOD, HALF = "releases.bad_probability=0", "releases.bad_probability=0.5"
QUIET = [GOOD, "noise.episodes_per_hour=0"]  # only the SLO alert reads a good release's last hours


def us_per_deploy(scn: sim.Scenario, strategy: str, deploys: int, repeat: int) -> float:
    """µs a deploy of one strategy, the best of `repeat` batches (seed 1, one process)."""
    sim.run_batch(scn, deploys=5, seed=99, strategies=[strategy], jobs=1)  # warm caches and imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        sim.run_batch(scn, deploys=deploys, seed=1, strategies=[strategy], jobs=1)
        best = min(best, time.perf_counter() - t0)
    return round(best / deploys * 1e6, 1)


def figures(deploys: int, repeat: int) -> dict[str, float]:
    """Every figure of the module's docstring, by name."""
    out: dict[str, float] = {}
    default = sim.load_scenario("default")
    cases = [(f"default_{s}", default, s) for s in default.strategies]
    cases.append(("target", scenario_at(100.0, 3600.0), "progressive"))
    for name, base, strategy in cases:
        good = us_per_deploy(sim.load_scenario(base, overrides=[GOOD]), strategy, deploys, repeat)
        half = us_per_deploy(sim.load_scenario(base, overrides=[HALF]), strategy, deploys, repeat)
        out[f"{name}_good_us"] = good
        out[f"{name}_bad_us"] = round(good + 2 * (half - good), 1)
    for hours in (1, 3):
        scn = sim.load_scenario(scenario_at(300.0, hours * 3600.0), overrides=QUIET)
        out[f"quiet_{hours}h_us"] = us_per_deploy(scn, "progressive", deploys, repeat)
    out["quiet_hours_ratio"] = round(out["quiet_3h_us"] / out["quiet_1h_us"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    got = figures(args.deploys, args.repeat)
    default = sim.load_scenario("default")
    print("µs a deploy of one strategy (default scenario, 3 h watched): a good release | a bad release")
    for strategy in default.strategies:
        good, bad = got[f"default_{strategy}_good_us"], got[f"default_{strategy}_bad_us"]
        print(f"  {strategy:12s} {good:9,.0f} | {bad:9,.0f}")
    print(
        f"the target case (one-hour rollout at 100 req/s): {got['target_good_us']:,.0f} | "
        f"{got['target_bad_us']:,.0f}"
    )
    print(
        f"good releases, no noisy neighbours, 300 req/s: watched 1 h {got['quiet_1h_us']:,.0f}, 3 h "
        f"{got['quiet_3h_us']:,.0f} — {got['quiet_hours_ratio']:.2f}x for two quiet hours"
    )
    print(json.dumps({"bench": "where", **got}))


if __name__ == "__main__":
    main()
