"""The bench's yardsticks on tiny sizes: the draw counter, the draw-bound floor, the per-request numpy model.

No timings: these check what the bench times is what it claims to be. Monte Carlo checks use fixed
seeds and a tolerance of 5 standard errors, so a model that is right fails one with probability
below 1e-6 (the seeds were not picked to pass).
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

import sim
from sim.core import rng as streams

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(name: str) -> ModuleType:
    """A module of bench/ (a folder of scripts that import each other by bare name)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def target() -> tuple[sim.Scenario, object, dict]:
    floor = bench_module("floor")
    draws = bench_module("draws")
    scn, plan = floor.target_plan()
    engine = draws.report(draws.count(scn, "progressive", 20), 20)
    return scn, plan, engine


def test_counting_sees_every_stream_and_leaves_the_engine_as_it_was(target) -> None:
    draws = bench_module("draws")
    _, _, engine = target
    # count() already checked the rows came out bit-identical with and without the proxy.
    traffic = engine["by_method"]["traffic.poisson"]
    assert traffic["commonest_shapes"]["360x4"] == 1.0  # one windows × (segments + synthetic) draw a deploy
    assert {"observe.binomial", "metrics.beta", "release.random"} <= set(engine["by_method"])
    original = streams.stream
    with pytest.raises(RuntimeError), draws.counting(draws.Tally()):
        assert streams.stream is not original
        raise RuntimeError("a failing run")
    assert streams.stream is original  # restored even when the counted run fails


def test_the_floor_draws_what_the_engine_draws(target) -> None:
    floor = bench_module("floor")
    _, plan, engine = target
    n = 40
    out = floor.draw_chunk(plan, n, np.random.default_rng(3))
    ours = floor.variates_per_deploy(out, n)
    # Traffic is the same shape exactly: one Poisson variate per window and column.
    assert ours["traffic"] == engine["by_method"]["traffic.poisson"]["variates_per_deploy"] - 1
    # In all, within 10% of what the engine draws today: if this fails, the engine's draws changed
    # and the floor must be re-derived from `python bench/draws.py` (see floor.py's docstring).
    total = engine["variates_per_deploy"]
    assert abs(sum(ours.values()) - total) < 0.1 * total


def test_the_floor_keeps_every_request_it_draws(target) -> None:
    floor = bench_module("floor")
    _, plan, _ = target
    n = 7
    out = floor.draw_chunk(plan, n, np.random.default_rng(5))
    traffic, looks = out["traffic"], out["looks"]
    S = plan.segments
    assert traffic.shape == (n, plan.windows, S + 1)
    # A look's users and probes over both versions are exactly the traffic drawn in its windows:
    # the pieces, the split and the cumulative sums lose and invent nothing.
    for j in (0, len(plan.look_to) // 2, len(plan.look_to) - 1):
        a, b = plan.look_from[j], plan.look_to[j]
        assert (looks[0, :, j].sum(1) == traffic[:, a:b, :S].sum((1, 2))).all()
        assert (looks[1, :, j].sum(1) == traffic[:, a:b, S].sum(1)).all()
    # The new version's share of a look is its weight's (5 standard errors of a binomial share).
    j = len(plan.look_to) - 2  # under the last fractional weight
    w = plan.weight[plan.bound[plan.look_from[j]]]
    user = looks[0, :, j]
    share = user[:, 1].sum() / user.sum()
    assert abs(share - w) < 5 * math.sqrt(w * (1 - w) / user.sum())
    assert out["failures"].min() >= 0 and out["failures"].sum() < traffic.sum() * 0.01
    assert ((out["percentile"] > 0) & (out["percentile"] < 1)).all()


def test_the_numpy_reference_serves_the_plans_requests() -> None:
    reference_numpy = bench_module("reference_numpy").reference_numpy
    reference_canary = bench_module("reference").reference_canary
    rate, plan, horizon = 50.0, [(10.0, 120.0), (50.0, 120.0)], 600.0
    expected = rate * horizon
    expected_new = rate * (0.1 * 120 + 0.5 * 120 + 1.0 * (horizon - 240))
    # base errors only, and none on the canary: the check can never abort
    runs = [
        reference_numpy(rate, plan, base_error=0.01, canary_error=0.0, seed=s, horizon_s=horizon)
        for s in range(10)
    ]
    simpy = [reference_canary(rate, plan, seed=s, horizon_s=horizon)["requests"] for s in range(3)]
    # Requests are Poisson: the standard error of a mean of k runs is sqrt(expected / k).
    assert abs(np.mean([r["requests"] for r in runs]) - expected) < 5 * math.sqrt(expected / 10)
    assert abs(np.mean(simpy) - expected) < 5 * math.sqrt(expected / 3)
    assert abs(np.mean([r["requests_new"] for r in runs]) - expected_new) < 5 * math.sqrt(expected_new / 10)
    stable_errors = 0.01 * (expected - expected_new)
    assert abs(np.mean([r["errors_stable"] for r in runs]) - stable_errors) < 5 * math.sqrt(
        stable_errors / 10
    )
    assert all(r["errors_new"] == 0 and r["aborted_at"] == 0 and r["sim_time_s"] == horizon for r in runs)


def test_the_numpy_reference_aborts_as_often_as_the_simpy_one() -> None:
    reference_numpy = bench_module("reference_numpy").reference_numpy
    reference_canary = bench_module("reference").reference_canary
    # One 60 s check of a 50% canary at 10 req/s with no baseline errors: it aborts when more than
    # 1% of the canary's requests fail. Exactly: n1 ~ Poisson(300), e1 | n1 ~ Binomial(n1, 0.01),
    # abort iff e1 > 0.01·n1 (and the stable side saw a request, all but certain).
    rate, plan, p = 10.0, [(50.0, 60.0)], 0.01
    n1 = np.arange(100, 600)
    exact = float((stats.poisson.pmf(n1, 300) * stats.binom.sf(np.floor(p * n1), n1, p)).sum())
    for model, runs in ((reference_numpy, 400), (reference_canary, 200)):
        aborted = [
            model(rate, plan, base_error=0.0, canary_error=p, seed=s)["aborted_at"] for s in range(runs)
        ]
        assert set(aborted) <= {0.0, 60.0}
        share = np.mean([a == 60.0 for a in aborted])
        assert abs(share - exact) < 5 * math.sqrt(exact * (1 - exact) / runs), (model.__name__, share, exact)
    # A broken canary is rolled back at the first check, and no request reaches it after that.
    r = reference_numpy(rate, [(50.0, 120.0)], base_error=0.0, canary_error=1.0, seed=1, horizon_s=300.0)
    assert r["aborted_at"] == 60.0 and r["errors_new"] == r["requests_new"] > 0
    assert r["requests_new"] < rate * 60


def test_the_instruction_count_is_read_from_callgrinds_summary() -> None:
    instructions = bench_module("instructions")
    stderr = (
        "==4711== Callgrind, a call-graph generating cache profiler\n"
        "==4711== Events    : Ir\n"
        "==4711== Collected : 12393456789\n"
        "==4711== I   refs:      12,393,456,789\n"
    )
    assert instructions.collected(stderr) == 12_393_456_789
    with pytest.raises(ValueError, match="Collected"):
        instructions.collected("==1== Callgrind\n")
    # Start-up and the warm-up cancel out: what the extra deploys cost, per deploy, in millions.
    assert instructions.marginal((64, 5_414_000_000), (320, 12_393_000_000)) == pytest.approx(27.26, abs=0.01)
    with pytest.raises(ValueError):
        instructions.marginal((64, 1), (64, 2))


def test_the_instruction_bench_without_valgrind_says_so_in_one_line(monkeypatch, capsys) -> None:
    instructions = bench_module("instructions")
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valgrind not found" in err[0]


def test_the_where_bench_times_the_releases_it_names() -> None:
    """`bench/where.py` tells good releases' cost from bad ones' by its overrides alone: they must
    make every release good, or half of them bad, and its quiet case meet no noisy neighbour."""
    where = bench_module("where")
    base = sim.load_scenario("default")
    good = sim.run_batch(
        sim.load_scenario(base, overrides=[where.GOOD]), deploys=64, seed=4, strategies=["recreate"]
    )
    half = sim.run_batch(
        sim.load_scenario(base, overrides=[where.HALF]), deploys=64, seed=4, strategies=["recreate"]
    )
    assert not good["release_bad"].any()
    # Half bad: 64 draws of a fair coin, within 4 standard deviations (±16) of 32.
    assert abs(int(half["release_bad"].sum()) - 32) <= 16
    quiet = sim.load_scenario(base, overrides=where.QUIET)
    assert quiet.noise.episodes_per_hour == 0 and quiet.releases.bad_probability == 0
