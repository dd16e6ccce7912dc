"""Engine speed: deploy-simulations per second per core, against its draw-bound floor and per-request models.

Run with `make bench` (which passes --with-batch: `bench/batch.py`'s whole-command figures join the
JSON line under "batch"). Ends with one JSON line of the figures. Timings are wall-clock on one
process (one core); run on an otherwise idle machine for stable numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import floor
import numpy as np
from cases import scenario_at
from reference import reference_canary
from reference_numpy import reference_numpy

import sim

HERE = Path(__file__).resolve().parent
TARGET_PER_S = 300.0
TARGET_17_PER_S = 5000.0  # issue 17: the one-hour progressive rollout, per core
TARGET_17_FLOOR = 2.0  # ... within this factor of the draw-bound floor
# The per-request models' canary: (weight %, pause s) steps, as the default progressive strategy's.
PLAN = [(1.0, 600.0), (5.0, 600.0), (25.0, 900.0), (50.0, 900.0)]
DEPLOYS = 300
REPEAT = 3  # timed batches per figure; the fastest counts, as machine noise only ever slows a run
PAIRS = 3  # reference and deploysim timed back to back this many times; the median ratio counts
ROUNDS = 3  # timings of each side within one interleaved pair; the fastest of each counts


def per_second(
    scn: sim.Scenario, strategy: str | None, deploys: int = DEPLOYS, repeat: int = REPEAT
) -> float:
    """Deploys per second: the best of `repeat` timed batches (the least disturbed run), of one
    strategy, or (None) of every strategy of the scenario (a deploy: all of its strategies)."""
    strategies = None if strategy is None else [strategy]
    sim.run_batch(scn, deploys=5, seed=99, strategies=strategies)  # warm caches and imports
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        sim.run_batch(scn, deploys=deploys, seed=1, strategies=strategies, jobs=1)
        best = min(best, time.perf_counter() - t0)
    return deploys / best


def reference_seconds(
    plan: list[tuple[float, float]], horizon_s: float | None, rate_rps: float = 1000.0
) -> tuple[float, float]:
    """Seconds for one per-request SimPy reference rollout, and its requests."""
    t0 = time.perf_counter()
    requests = reference_canary(rate_rps, plan, seed=1, horizon_s=horizon_s)["requests"]
    return time.perf_counter() - t0, requests


def engine_seconds(scn: sim.Scenario, deploys: int = DEPLOYS) -> float:
    """Seconds per deploy of one timed batch of the progressive strategy (warmed up by the caller)."""
    t0 = time.perf_counter()
    sim.run_batch(scn, deploys=deploys, seed=1, strategies=["progressive"], jobs=1)
    return (time.perf_counter() - t0) / deploys


def numpy_reference_seconds(rate_rps: float) -> float:
    """Seconds for one per-request vectorised-numpy rollout followed for 1 h, the fastest of as many
    as fill ~0.2 s (one at 100 req/s takes milliseconds: a single timing would be mostly noise)."""
    best, spent, seed = math.inf, 0.0, 0
    while spent < 0.2 or seed < 2:
        t0 = time.perf_counter()
        reference_numpy(rate_rps, PLAN, seed=seed, horizon_s=3600.0)
        took = time.perf_counter() - t0
        best, spent, seed = min(best, took), spent + took, seed + 1
    return best


def interleaved(a: Callable[[], float], b: Callable[[], float]) -> list[tuple[float, float]]:
    """PAIRS pairs of timings of a and b. Within a pair each is timed ROUNDS times, alternately (a, b,
    a, b, ...), and its fastest counts: a slow spell on the shared machine hits both, and machine
    noise only ever slows a run."""
    pairs = []
    for _ in range(PAIRS):
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(ROUNDS):
            times[0].append(a())
            times[1].append(b())
        pairs.append((min(times[0]), min(times[1])))
    return pairs


def floor_pairs(figures: dict[str, Any]) -> None:
    """The target case against its draw-bound floor (`floor.py`), timed in interleaved pairs; the
    median pair counts."""
    scn, plan = floor.target_plan()
    n = 200
    variates = sum(floor.variates_per_deploy(floor.draw_chunk(plan, n, np.random.default_rng(0)), n).values())
    sim.run_batch(scn, deploys=5, seed=99, strategies=["progressive"])  # warm caches and imports
    pairs = interleaved(lambda: floor.seconds_per_deploy(plan, repeat=1), lambda: engine_seconds(scn))
    ratios = [engine / low for low, engine in pairs]
    ratio = statistics.median(ratios)
    floor_rate = 1.0 / statistics.median(p[0] for p in pairs)
    ours = 1.0 / statistics.median(p[1] for p in pairs)
    figures["floor_deploys_per_s"] = round(floor_rate, 0)
    figures["floor_us_per_deploy"] = round(1e6 / floor_rate, 1)
    figures["floor_variates_per_deploy"] = round(variates, 0)
    figures["floor_pair_engine_deploys_per_s"] = round(ours, 1)
    figures["ratio_to_floor"] = round(ratio, 2)
    figures["ratio_to_floor_range"] = [round(min(ratios), 2), round(max(ratios), 2)]
    print(
        f"draw-bound floor (bench/floor.py: the target case's {variates:,.0f} variates per deploy, "
        f"{floor.CHUNK:,} deploys per numpy call): {1e6 / floor_rate:,.0f} µs per deploy = "
        f"{floor_rate:,.0f} deploys/s, against the engine's {ours:,.0f} /s in the same pairs: the engine "
        f"is {ratio:.1f}x slower (median of {PAIRS} interleaved pairs, {min(ratios):.1f}–{max(ratios):.1f}x; "
        f"target: within {TARGET_17_FLOOR:g}x)"
    )


def array_path(figures: dict[str, Any], rates: tuple[float, ...] = (100.0, 300.0)) -> None:
    """What a deploy the array engine covers costs (`sim.engine.arrays`: a good release of the
    one-hour progressive rollout), its exogenous draws included, as the floor counts them: the
    best of three passes over the same eight blocks. Those that leave the plan (a look that fails
    or is inconclusive, an alert) run in the event engine and count too."""
    from sim.engine import arrays
    from sim.engine.exogenous import draw_exogenous
    from sim.engine.rows import block_plans

    for rate in rates:
        scn = scenario_at(rate, 3600.0)
        blocks = []
        for b in range(8):
            exos = [(i, draw_exogenous(scn, 1, i)) for i in range(b * arrays.BLOCK, (b + 1) * arrays.BLOCK)]
            blocks.append((b, [(i, e) for i, e in exos if arrays.covered(e)]))
        n = sum(len(m) for _, m in blocks)
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            for b, members in blocks:
                for i, _ in members:
                    draw_exogenous(scn, 1, i)
                # The plans the engine takes: one for all, or (few requests per look) each its own.
                plans, kept = block_plans(scn, "progressive", members, 1)
                arrays.block_rows(scn, "progressive", plans, kept, (1, b, [i for i, _ in kept]))
            best = min(best, time.perf_counter() - t0)
        figures[f"array_path_us_per_deploy_{int(rate)}rps"] = round(best / n * 1e6, 0)
        print(
            f"  a covered deploy (good release) of the one-hour progressive rollout at {rate:,.0f} req/s: "
            f"{best / n * 1e6:,.0f} µs, exogenous draws included ({n} deploys of 8 blocks)"
        )


def numpy_reference_pairs(figures: dict[str, Any], rates: tuple[float, ...] = (100.0, 1000.0)) -> None:
    """deploysim against the per-request vectorised-numpy model, in interleaved pairs at the same
    request rate over the same hour (and, at 100 req/s, against the SimPy model once per pair)."""
    for rate in rates:
        scn = scenario_at(rate, 3600.0)
        sim.run_batch(scn, deploys=5, seed=99, strategies=["progressive"])  # warm caches and imports
        pairs = interleaved(
            functools.partial(numpy_reference_seconds, rate), functools.partial(engine_seconds, scn)
        )
        ratios = [ref / ours for ref, ours in pairs]
        ratio, ref_s = statistics.median(ratios), statistics.median(p[0] for p in pairs)
        ours = statistics.median(p[1] for p in pairs)
        figures[f"reference_numpy_seconds_{int(rate)}rps"] = round(ref_s, 4)
        figures[f"reference_numpy_speedup_{int(rate)}rps"] = round(ratio, 2)
        line = (
            f"per-request vectorised-numpy reference at {rate:,.0f} req/s (bench/reference_numpy.py): "
            f"{ref_s * 1000:,.1f} ms per rollout followed for 1 h, deploysim {ours * 1000:,.2f} ms per "
            f"deploy → ratio {ratio:,.2f}x (numpy time / deploysim time; median of {PAIRS} interleaved "
            f"pairs, {min(ratios):,.2f}–{max(ratios):,.2f}x)"
        )
        if rate != 1000.0:  # at 1,000 req/s the SimPy pairs above time it
            simpy = [reference_seconds(PLAN, 3600.0, rate)[0] / engine_seconds(scn) for _ in range(PAIRS)]
            figures[f"reference_speedup_{int(rate)}rps"] = round(statistics.median(simpy), 0)
            line += f"; against the SimPy reference at that rate: {statistics.median(simpy):,.0f}x"
        print(line)


def batch_figures(deploys: int | None = None) -> dict[str, Any]:
    """Run `bench/batch.py` in its own process (a fresh interpreter, as a user's command is), pass
    its report through and return its JSON line's figures, which join this bench's one line."""
    extra = [] if deploys is None else ["--deploys", str(deploys)]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "batch.py"), *extra], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    figures: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith("{"):
            figures = json.loads(line)
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0 or not figures:
        raise SystemExit(f"bench/batch.py failed (exit code {proc.returncode}) or printed no JSON line")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--with-batch", action="store_true", help="also run bench/batch.py; one JSON line for both"
    )
    parser.add_argument("--batch-deploys", type=int, help="deploys for bench/batch.py (default: its own)")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    print("deploy-simulations per second, one core (default scenario, 3 h horizon, 10 s windows)")
    for rate in (100.0, 100_000.0):
        scn = scenario_at(rate)
        for strategy in scn.strategies:
            value = per_second(scn, strategy)
            figures[f"{strategy}_{int(rate)}rps"] = round(value, 1)
            print(f"  {rate:>9,.0f} req/s  {strategy:<12} {value:8.1f} /s")
    combined = per_second(scenario_at(300.0), None)
    figures["default_all_strategies"] = round(combined, 1)
    low = floor.default_floor()
    figures["default_floor_us"] = low
    print(
        f"  the default scenario, its four strategies together: {combined:8.1f} deploys/s (target ≥ 1,500); "
        f"its draw-bound floor (bench/floor.py, 3 h of 10 s windows): about "
        f"{low['all_strategies_us']:,.0f} µs a deploy = {1e6 / low['all_strategies_us']:,.0f} /s "
        f"(the exogenous traffic alone "
        f"{low['traffic_us']:,.0f} µs, the progressive rollout {low['progressive_us']:,.0f} µs)"
    )
    print("the target case: a one-hour progressive rollout (each deploy followed for 1 h, 10 s windows)")
    for rate in (100.0, 100_000.0):
        value = per_second(scenario_at(rate, 3600.0), "progressive")
        figures[f"progressive_1h_{int(rate)}rps"] = round(value, 1)
        print(f"  {rate:>9,.0f} req/s  progressive  {value:8.1f} /s")
    slow = figures["progressive_1h_100000rps"]
    fast = figures["progressive_1h_100rps"]
    figures["rate_cost_ratio"] = round(fast / slow, 3)
    # The ratio is 100 req/s's speed over 100,000 req/s's: 100,000 req/s costs that many times what
    # 100 req/s does (below 1: the higher rate is the cheaper one; cost must not grow with the rate).
    print(
        f"progressive at 100 req/s is {fast / slow:.2f}x the speed at 100,000 req/s: 100,000 req/s costs "
        f"{fast / slow:.2f}x what 100 req/s does (target: within 1.2x)"
    )
    # Cost flat in the horizon for quiet stretches (issue 17): the same rollout watched 3 h, not 1 h —
    # two more hours after its promotion, where only the SLO alert reads the traffic.
    one_h = per_second(scenario_at(300.0, 3600.0), "progressive")
    three_h = per_second(scenario_at(300.0, 10800.0), "progressive")
    figures["progressive_1h_300rps"] = round(one_h, 1)
    figures["progressive_3h_300rps"] = round(three_h, 1)
    figures["horizon_cost_ratio"] = round(one_h / three_h, 3)
    print(
        f"the one-hour progressive rollout at 300 req/s watched 1 h: {one_h:,.1f} /s, watched 3 h: "
        f"{three_h:,.1f} /s — {one_h / three_h:.2f}x the time per deploy for 3x the windows"
    )

    # The reference follows the rollout for the same hour a deploysim deploy is followed for (the
    # plan ends at 3,000 s; the last 600 s serve the promoted version). Each pair times both models
    # back to back, so a slow spell on a shared machine hits both; the median pair counts. The
    # plan-only figure times the reference to the end of its plan, as runs before 2026-11-26 did.
    scn = scenario_at(1000.0, 3600.0)
    ratios, plan_only, ref_s, ours, ref_requests = [], [], 0.0, 0.0, 0.0
    for _ in range(PAIRS):
        ref_s, ref_requests = reference_seconds(PLAN, horizon_s=3600.0)
        ours = per_second(scn, "progressive", repeat=1)
        plan_s, _ = reference_seconds(PLAN, horizon_s=None)
        ratios.append(ref_s * ours)
        plan_only.append(plan_s * ours)
    speedup = statistics.median(ratios)
    figures["reference_seconds_per_deploy"] = round(ref_s, 2)
    figures["reference_requests"] = ref_requests
    figures["reference_speedup"] = round(speedup, 0)
    figures["reference_speedup_range"] = [round(min(ratios)), round(max(ratios))]
    figures["reference_speedup_plan_only"] = round(statistics.median(plan_only), 0)
    print(
        f"per-request SimPy reference at 1,000 req/s: {ref_s:.1f} s for one rollout followed for 1 h "
        f"({ref_requests:,.0f} request events); deploysim: {1 / ours * 1000:.2f} ms per deploy "
        f"(the same 1 h) → {speedup:,.0f}x faster, median of {PAIRS} pairs "
        f"({min(ratios):,.0f}–{max(ratios):,.0f}x; target: ≥ 1,000x); against the reference timed "
        f"to the end of its plan only: {statistics.median(plan_only):,.0f}x"
    )
    numpy_reference_pairs(figures)
    floor_pairs(figures)
    array_path(figures)
    ok = fast >= TARGET_PER_S
    verdict = "met" if ok else "NOT met"
    print(f"target ≥ {TARGET_PER_S:.0f} one-hour progressive deploy-simulations/s at 100 req/s: {verdict}")
    met = fast >= TARGET_17_PER_S and figures["ratio_to_floor"] <= TARGET_17_FLOOR
    print(
        f"issue 17's target, ≥ {TARGET_17_PER_S:,.0f} /s and within {TARGET_17_FLOOR:g}x of the floor: "
        f"{'met' if met else 'NOT met'} ({fast:,.0f} /s, {figures['ratio_to_floor']:.1f}x)"
    )
    if args.with_batch:
        figures["batch"] = batch_figures(args.batch_deploys)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
