"""A block's background analysis runs and reviews: drawing a run's percentiles only up to the look
that too few requests decide it at gives every answer, status and row of drawing them all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import sim
from sim.engine import arrays
from sim.engine.arrays import reviews
from sim.engine.rows import _covered, _draws, block_plans

HOUR = ["run.horizon_s=3600"]
#: A service at 100 req/s (the bench's target case): the 1% step's looks see about the judge's
#: minimum of requests, so runs come out inconclusive and ask a person, then start again.
ASKS = ["traffic.rate_rps=100", "fleet.capacity_rps=33.34", "traffic.users.population=66666", *HOUR]
#: The same with a strict judge: many looks with enough requests fail on their p99.
STRICT = [*ASKS, "judges.baseline.max_latency_ratio=1.15"]
LIMIT = "strategies.progressive.analyses[0].inconclusive_limit"


def _every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain computation: every look of a run has its percentiles drawn."""
    monkeypatch.setattr(reviews, "_read", lambda judge, n, valid, limit: np.ones(valid.shape, bool))


def _answers(scn: sim.Scenario, seed: int, blocks: range) -> tuple[list[Any], int]:
    """Per block, `reviews_pass_block`'s answers and its records for the deploys whose plan's looks
    do not all pass; and how many looks of runs the drawing skipped (`reviews._read` false)."""
    out, skipped = [], 0
    real = reviews._read

    def counted(judge: Any, n: np.ndarray, valid: np.ndarray, limit: int) -> np.ndarray:
        nonlocal skipped
        read = real(judge, n, valid, limit)
        skipped += int(np.count_nonzero(valid & ~read))
        return read

    reviews._read = counted  # restored below: whatever the test patched in stays in force
    try:
        for b in blocks:
            exos = _draws(scn, seed, range(b * arrays.BLOCK, (b + 1) * arrays.BLOCK))
            plan, members = block_plans(scn, "progressive", _covered(exos, b), seed)
            drawn = arrays.draw_block(scn, plan, members, seed, b)
            bg = arrays.background(scn, "progressive", plan)
            assert bg is not None
            passed = arrays.looks_pass(scn, plan, drawn, members, seed, range(len(members)))
            asking = np.flatnonzero(~passed).tolist()
            record: dict[int, reviews.Decisions] = {}
            kept = reviews.reviews_pass_block(scn, bg, plan, drawn, members, (seed, asking), record=record)
            out.append((kept.tolist(), {a: (d.statuses, d.by) for a, d in record.items()}))
    finally:
        reviews._read = real
    return out, skipped


@pytest.mark.parametrize(
    "overrides",
    [ASKS, STRICT, [*STRICT, f"{LIMIT}=1"], [*ASKS, f"{LIMIT}=3"]],
    ids=["asks", "strict", "strict-limit-1", "asks-limit-3"],
)
def test_runs_drawn_up_to_their_deciding_look_answer_as_runs_drawn_in_full(
    overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four blocks: every deploy's answer, and every status of every look and review it took (with
    who decided), are the same whether a run draws its percentiles for all its looks or only up to
    the look that too few requests decide it at; and the second skips looks."""
    scn = sim.load_scenario("default", overrides=overrides)
    fast, skipped = _answers(scn, 3, range(4))
    _every_tick(monkeypatch)
    plain, _ = _answers(scn, 3, range(4))
    assert fast == plain
    assert skipped > 100
    took = [status for _, record in plain for statuses, _ in record.values() for status in statuses.values()]
    assert took.count("fail") > 5 or "strict" not in str(overrides)  # p99 failures before the cut


def test_rows_of_bad_releases_are_the_same_with_every_look_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad release's decisions, recorded by the block and replayed (`arrays.faulted`), and every
    good release's, give the rows of runs drawn in full."""
    scn = sim.load_scenario("default", overrides=[*STRICT, "releases.bad_probability=0.5"])
    fast = sim.run_batch(scn, deploys=192, seed=5, strategies=["progressive"], jobs=1)
    _every_tick(monkeypatch)
    plain = sim.run_batch(scn, deploys=192, seed=5, strategies=["progressive"], jobs=1)
    assert fast.equals(plain)
