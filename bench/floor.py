"""The draw-bound floor of the bench's target case: a chunk of deploys' variates, one numpy call per kind.

The target case is `cases.scenario_at(100, 3600)`'s progressive rollout: the default scenario at
100 req/s, followed for one hour in 10 s windows (360 windows, 3 user segments plus synthetic
traffic). No engine, however vectorised, draws that hour's variates faster than numpy draws them
in one call per kind for many deploys at once; this is that floor, and `make bench` times the
engine against it back to back (`ratio_to_floor` = floor rate / engine rate).

What one deploy draws today was counted with `bench/draws.py` (it wraps every Generator the engine
builds in a counting proxy, and checks the rows come out bit-identical), on 300 deploys (seed 1) of
the target case on 2026-12-06: per deploy, on average, 89.4 random calls for 2,923 variates. By
engine call site — distribution and shape; variates per deploy → what the floor draws for a chunk
of N deploys, each kind in one call:

- exogenous.draw_span — Poisson, windows × (3 segments + synthetic); 1,440 → `traffic`: Poisson,
  (N, 360, 4), means on the daily curve from each deploy's start hour.
- tape._draw — binomial, a window's requests split by segment where a state change falls inside
  it; 30.1 → `pieces`: binomial, (N, 4, 4): the weight steps that fall inside a window (the
  engine also splits at replica changes, ~3 more per deploy).
- serving._serve_plain and serving.serve — binomial, the routing split per piece × (user,
  synthetic), only where 0 < weight < 1; 537.6 + 187.1 → `split`: binomial, (N, F, 2), F the
  pieces under a fractional weight (325).
- serving._fail — binomial, failures per piece × (stable, new); 640.9 → `failures`: binomial,
  (N, 364, 2) at the fleet's error rate.
- telemetry._many and _few — beta, one order statistic per judgeable (look, version, percentile);
  54.3 + 19.7 → `percentile`: beta, one call for every judgeable (deploy, look, version).
- release.random, noise.random — uniform [0, 1); 5.3 → `unit`: (N, 6).
- traffic, noise, release uniform — start hour, surge and episode times, severities; 2.2 →
  `uniform`: (N, 2), the first the start hour.
- traffic and noise Poisson scalars — surges, noise episodes; 2.0 → `events`: Poisson, (N, 2).
- people standard_normal — a person's lognormal delay; 1.4 → `normal`: (N, 1).
- telemetry._pooled, metrics, reports, people.random — beta, beta and binomial, gamma, uniform:
  a person's review, a bad release's first faulty request and users hit, the users' reports, a
  person's call; 2.4 → not drawn (only deploys that diverge draw them).

`python bench/floor.py` prints the floor's variates per deploy beside the engine's count (2,930
against 2,923 today). Where they differ, by design: the floor draws every deploy's whole hour on
the common schedule — a sound release at the fleet's error rate, the weight steps of a deploy
nobody interrupts — the shape a vectorised engine draws before it hands the deploys that diverge
(a bad release caught and rolled back, a person asked) to the event engine, while the engine today
stops drawing a deploy once it is rolled back, and routes a bad release's windows by segment.

Besides the draws the floor does the arithmetic an analysis needs and no more: the Poisson means
from the daily curve, each piece's requests and failures per version, their cumulative sums (a
window's and a look's sums are differences of them), the Beta parameters of the judgeable
percentiles, and the SLO alert's short and long window sums at each evaluation.

Run alone: .venv/bin/python bench/floor.py [--deploys N] [--chunk N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import draws
from cases import scenario_at

import sim
from sim.config.judges import GateJudge
from sim.config.strategies import ProgressiveConfig

CHUNK = 1000  # deploys per numpy call: large enough that per-call overhead is spent once per chunk
PERCENTILES = {"p50": 0.5, "p99": 0.99}


@dataclass(frozen=True)
class FloorPlan:
    """What every deploy of the chunk shares: the traffic model, its pieces and their weights, the
    looks and the alert's evaluations, in window indices."""

    windows: int
    segments: int
    base_lam: np.ndarray  # (segments + 1,): mean requests per window at the daily mean
    amplitude: float
    peak_hour: float
    deploy_hours: tuple[float, float]
    cos_window: np.ndarray  # (windows,): cos and sin of each window's mid-time's angle on the day
    sin_window: np.ndarray
    piece_src: np.ndarray  # (pieces,): the window each piece's requests come from, in time order
    first: np.ndarray  # (changes,): the piece rows that take a split window's first part
    second: np.ndarray  # (changes,): ... and the rows that take the rest
    change_windows: np.ndarray  # (changes,)
    change_frac: np.ndarray  # (changes,): the first part's share of its window
    bound: np.ndarray  # (windows + 1,): the piece row each window starts at (the last: the end)
    weight: np.ndarray  # (pieces,): the new version's share of traffic
    whole: np.ndarray  # (pieces,): 1 where the new version takes it all, else 0
    split_rows: np.ndarray  # the pieces under a fractional weight (the only ones a split draws)
    p_error: float
    look_from: np.ndarray  # (looks,) window index
    look_to: np.ndarray
    quantiles: tuple[float, ...]
    min_tail: float
    alert_bounds: np.ndarray  # the piece bounds the alert reads: at each evaluation, and each
    alert_to: np.ndarray  # of its windows' starts; (evaluations, alert windows) indices into them
    alert_from: np.ndarray


def plan_for(scn: sim.Scenario, sched: draws.Schedule, strategy: str = "progressive") -> FloorPlan:
    """The floor's plan for a scenario and the schedule its deploys follow (`draws.schedule`)."""
    t = scn.traffic
    w_s = scn.run.window_s
    W = math.ceil(scn.run.horizon_s / w_s)
    S = len(t.segment_names)
    user_rps, synthetic_rps = t.rate_rps * (1 - t.synthetic_share), t.rate_rps * t.synthetic_share
    base_lam = np.append(user_rps * t.shares, synthetic_rps) * w_s
    # A weight step inside a window splits it: its first part under the old weight, the rest the new.
    changes = [(tc, w) for tc, w in sched.weights if tc / w_s % 1 > 1e-9 and tc < W * w_s]
    change_windows = np.array([int(tc // w_s) for tc, _ in changes], np.int64)
    change_frac = np.array([tc / w_s % 1 for tc, _ in changes])
    src, first, second, weight = [], [], [], []
    steps = iter(sched.weights)
    current, upcoming = 0.0, next(steps, None)
    for k in range(W):
        while upcoming is not None and upcoming[0] <= k * w_s + 1e-9:  # steps on a window's start
            current, upcoming = upcoming[1], next(steps, None)
        src.append(k)
        weight.append(current)
        if k in change_windows:
            assert upcoming is not None
            first.append(len(src) - 1)
            current, upcoming = upcoming[1], next(steps, None)
            src.append(k)
            second.append(len(src) - 1)
            weight.append(current)
    weights = np.array(weight)
    piece_src = np.array(src, np.int64)
    spec = scn.strategies[strategy]
    assert isinstance(spec, ProgressiveConfig), "the floor follows a progressive rollout's analysis"
    judge = scn.judges[spec.analyses[0].judge]
    assert isinstance(judge, GateJudge), "the floor follows an analysis by a gate judge"
    quantiles = tuple(PERCENTILES[name] for name in PERCENTILES if name in judge.watch)
    slo = scn.slo
    assert slo is not None
    alert_windows = tuple(sorted({round(s / w_s) for win in slo.windows for s in (win.long_s, win.short_s)}))
    ends = np.arange(round(slo.eval_interval_s / w_s), W + 1, round(slo.eval_interval_s / w_s))
    bound = np.searchsorted(piece_src, np.arange(W + 1))
    starts = np.maximum(ends[:, None] - np.array(alert_windows), 0)  # (evaluations, alert windows)
    alert_bounds = np.unique(bound[np.concatenate([ends, starts.ravel()])])
    angle = 2 * np.pi * (np.arange(W) + 0.5) * w_s / 3600.0 / 24
    return FloorPlan(
        windows=W,
        segments=S,
        base_lam=base_lam,
        amplitude=t.diurnal.amplitude,
        peak_hour=t.diurnal.peak_hour,
        deploy_hours=(t.deploy_hours[0], t.deploy_hours[1]),
        cos_window=np.cos(angle),
        sin_window=np.sin(angle),
        piece_src=piece_src,
        first=np.array(first, np.int64),
        second=np.array(second, np.int64),
        change_windows=change_windows,
        change_frac=change_frac,
        bound=bound,
        weight=weights,
        whole=(weights >= 1).astype(np.int64),
        split_rows=np.flatnonzero((weights > 0) & (weights < 1)),
        p_error=scn.fleet.error_rate,
        look_from=np.array([math.floor(a / w_s) for a, _ in sched.looks], np.int64),
        look_to=np.array([min(W, math.floor(b / w_s)) for _, b in sched.looks], np.int64),
        quantiles=quantiles,
        min_tail=judge.min_tail_samples,
        alert_bounds=alert_bounds,
        alert_to=np.searchsorted(alert_bounds, bound[np.repeat(ends[:, None], len(alert_windows), 1)]),
        alert_from=np.searchsorted(alert_bounds, bound[starts]),
    )


def draw_chunk(plan: FloorPlan, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One chunk of n deploys: every variate in one numpy call per kind, and the sums an analysis
    and the SLO alert read. Returns the arrays (the test reads their shapes and sums)."""
    S = plan.segments
    unit = rng.random((n, 6))  # the release's five uniforms and a noise episode's target
    uniform = rng.random((n, 2))  # the start hour, and one for surge/episode times and severities
    events = rng.poisson(0.25, (n, 2))  # surges and noise episodes (their means are ~0.06 and ~0.25)
    normal = rng.standard_normal((n, 1))  # a person's lognormal delay
    lo, hi = plan.deploy_hours
    # The daily curve cos(a + b) as cos a·cos b − sin a·sin b: a per deploy, b per window, so no
    # cosine of a deploys × windows array.
    a = 2 * np.pi * (lo + (hi - lo) * uniform[:, :1] - plan.peak_hour) / 24
    daily = np.cos(a) * plan.cos_window - np.sin(a) * plan.sin_window
    daily *= plan.amplitude
    daily += 1.0
    lam = np.empty((n, plan.windows, S + 1))
    np.multiply(daily[:, :, None], plan.base_lam[None, None, :], out=lam)
    lam[:, :, S] = plan.base_lam[S]  # probes keep a steady rate
    traffic = rng.poisson(lam)
    by_window = np.empty((n, plan.windows, 2), np.int64)  # user, synthetic
    np.add(traffic[..., 0], traffic[..., 1], out=by_window[..., 0])
    for s in range(2, S):  # a loop of adds: numpy's sum over a short last axis is several times slower
        by_window[..., 0] += traffic[..., s]
    by_window[..., 1] = traffic[..., S]
    # Windows a weight step falls inside: each segment's requests split between the two pieces.
    part = rng.binomial(traffic[:, plan.change_windows], plan.change_frac[None, :, None])
    part_user = part[..., :S].sum(2)
    counts = by_window[:, plan.piece_src]  # (n, pieces, 2): user, synthetic
    counts[:, plan.first, 0], counts[:, plan.first, 1] = part_user, part[..., S]
    counts[:, plan.second, 0] -= part_user
    counts[:, plan.second, 1] -= part[..., S]
    new = counts * plan.whole[None, :, None]  # a weight of 1 takes everything without a draw
    split = rng.binomial(counts[:, plan.split_rows], plan.weight[plan.split_rows, None])
    new[:, plan.split_rows] = split
    stable = counts - new
    # Per piece and version (stable, new): user requests, synthetic requests, failed user requests.
    fields = np.empty((3, n, len(plan.piece_src), 2), np.int64)
    fields[0, ..., 0], fields[0, ..., 1] = stable[..., 0], new[..., 0]
    fields[1, ..., 0], fields[1, ..., 1] = stable[..., 1], new[..., 1]
    failures = rng.binomial(fields[0], plan.p_error)
    fields[2] = failures
    # Cumulative sums over pieces; a window's bounds are piece rows, so no per-window pass is needed.
    cum = np.zeros((3, n, len(plan.piece_src) + 1, 2), np.int64)
    np.cumsum(fields, axis=2, out=cum[:, :, 1:])
    looks = cum[:, :, plan.bound[plan.look_to]] - cum[:, :, plan.bound[plan.look_from]]
    user, total = looks[0], looks[0] + looks[1]
    percentile = []
    for q in plan.quantiles:
        ok = (user > 0) & (total * (1.0 - q) >= plan.min_tail)
        nn = total[ok]
        k = np.maximum(1.0, np.ceil(q * nn))
        percentile.append(rng.beta(k, nn - k + 1))
    # The whole service's user requests and failures at each evaluation, over each alert window.
    svc = cum[0::2, :, plan.alert_bounds]
    svc = svc[..., 0] + svc[..., 1]
    alert = svc[:, :, plan.alert_to] - svc[:, :, plan.alert_from]
    return {
        "unit": unit,
        "uniform": uniform,
        "events": events,
        "normal": normal,
        "traffic": traffic,
        "pieces": part,
        "split": split,
        "failures": failures,
        "looks": looks,
        "percentile": np.concatenate(percentile) if percentile else np.empty(0),
        "alert": alert,
    }


DRAWN = ("unit", "uniform", "events", "normal", "traffic", "pieces", "split", "failures", "percentile")


def variates_per_deploy(out: dict[str, np.ndarray], n: int) -> dict[str, float]:
    """The floor's variates per deploy, by kind, from a chunk's arrays."""
    return {kind: out[kind].size / n for kind in DRAWN}


def seconds_per_deploy(plan: FloorPlan, chunk: int = CHUNK, repeat: int = 3, seed: int = 0) -> float:
    """Wall-clock seconds per deploy of the floor: the fastest of `repeat` chunks (machine noise
    only ever slows a run), after one untimed chunk to warm numpy's caches."""
    rng = np.random.Generator(np.random.PCG64(seed))  # the engine's bit generator
    draw_chunk(plan, min(chunk, 50), rng)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        draw_chunk(plan, chunk, rng)
        best = min(best, time.perf_counter() - t0)
    return best / chunk


def target_plan(rate_rps: float = 100.0) -> tuple[sim.Scenario, FloorPlan]:
    """The bench's target case and its floor plan (reads one engine deploy's schedule: ~0.1 s)."""
    scn = scenario_at(rate_rps, 3600.0)
    return scn, plan_for(scn, draws.schedule(scn))


def default_floor(chunk: int = 500, repeat: int = 3) -> dict[str, float]:
    """The default scenario's floor (300 req/s, watched 3 h: 1,080 windows), µs per deploy: its
    progressive rollout's, the exogenous traffic's alone (one Poisson per window and column, which
    the four strategies share), and an estimate for the four strategies together — the traffic
    once and the progressive rollout's serving four times (recreate and blue-green draw no split,
    so the estimate errs high, towards a slower floor)."""
    scn = sim.load_scenario("default")
    plan = plan_for(scn, draws.schedule(scn))
    rng = np.random.Generator(np.random.PCG64(0))
    prog = seconds_per_deploy(plan, chunk, repeat)
    lam = np.broadcast_to(plan.base_lam, (chunk, plan.windows, plan.segments + 1))
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        rng.poisson(lam)
        best = min(best, time.perf_counter() - t0)
    traffic = best / chunk
    return {
        "progressive_us": round(prog * 1e6, 1),
        "traffic_us": round(traffic * 1e6, 1),
        "all_strategies_us": round((traffic + 4 * (prog - traffic)) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deploys", type=int, default=300, help="engine deploys to count draws of")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    args = parser.parse_args()
    scn, plan = target_plan()
    ours = variates_per_deploy(draw_chunk(plan, 200, np.random.default_rng(0)), 200)
    engine = draws.report(draws.count(scn, "progressive", args.deploys), args.deploys)
    s = seconds_per_deploy(plan, args.chunk)
    print(
        json.dumps(
            {
                "floor_us_per_deploy": round(s * 1e6, 1),
                "floor_deploys_per_s": round(1 / s),
                "floor_variates_per_deploy": round(sum(ours.values()), 1),
                "floor_by_kind": {k: round(v, 1) for k, v in ours.items()},
                "engine_variates_per_deploy": engine["variates_per_deploy"],
                "engine_calls_per_deploy": engine["calls_per_deploy"],
            }
        )
    )


if __name__ == "__main__":
    main()
