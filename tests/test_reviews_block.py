"""A block's background analysis runs and reviews: drawing a run's percentiles only up to the look
that too few requests decide it at gives every answer, status and row of drawing them all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import sim
from sim.core import rng as streams
from sim.engine import arrays
from sim.engine.arrays import reviews
from sim.engine.people import Humans
from sim.engine.rows import _covered, _draws, block_plans

HOUR = ["run.horizon_s=3600"]
#: A service at 100 req/s (the bench's target case): the 1% step's looks see about the judge's
#: minimum of requests, so runs come out inconclusive and ask a person, then start again.
ASKS = ["traffic.rate_rps=100", "fleet.capacity_rps=33.34", "traffic.users.population=66666", *HOUR]
#: The same with a strict judge: many looks with enough requests fail on their p99.
STRICT = [*ASKS, "judges.baseline.max_latency_ratio=1.15"]
LIMIT = "strategies.progressive.analyses[0].inconclusive_limit"
#: A judge stricter still, and an operator who waves half the marginal failures through: reviews
#: fail, and the person's call stops a deploy's analysis or lets it start again.
CALLS = [*ASKS, "judges.baseline.max_latency_ratio=1.02", "humans.wave_through=0.5"]


def _every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain computation: every look of a run has its percentiles drawn."""
    monkeypatch.setattr(reviews, "_read", lambda judge, n, valid, limit: np.ones(valid.shape, bool))


def _answers(scn: sim.Scenario, seed: int, blocks: range) -> tuple[list[Any], int]:
    """Per block, `reviews_pass_block`'s answers (checked against `reviews_pass`, deploy by deploy)
    and its records for the deploys whose plan's looks do not all pass; and how many looks of runs
    the drawing skipped (`reviews._read` false)."""
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
            # Each deploy's answer is its answer through the event engine's code, one by one.
            one_by_one = [
                reviews.reviews_pass(scn, bg, plan, drawn, j, members[j][1], key=(seed, members[j][0]))
                for j in asking
            ]
            assert kept.tolist() == one_by_one
            # And the answers and records of the plain way: round by round, a review in a pass of its own.
            reference: dict[int, reviews.Decisions] = {}
            plain = _round_by_round(scn, bg, plan, drawn, members, (seed, asking), reference)
            assert kept.tolist() == plain.tolist()
            assert {a: (d.statuses, d.by) for a, d in record.items()} == {
                a: (d.statuses, d.by) for a, d in reference.items()
            }
            out.append((kept.tolist(), {a: (d.statuses, d.by) for a, d in record.items()}))
    finally:
        reviews._read = real
    return out, skipped


@pytest.mark.parametrize(
    "overrides",
    [ASKS, STRICT, [*STRICT, f"{LIMIT}=1"], [*ASKS, f"{LIMIT}=3"], CALLS],
    ids=["asks", "strict", "strict-limit-1", "asks-limit-3", "calls"],
)
def test_runs_drawn_up_to_their_deciding_look_answer_as_runs_drawn_in_full(
    overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four blocks: every deploy's answer, and every status of every look and review it took (with
    who decided), are the same whether a run draws its percentiles for all its looks or only up to
    the look that too few requests decide it at; and the second skips looks."""
    scn = sim.load_scenario("default", overrides=overrides)
    fast, skipped = _answers(scn, 3, range(6))
    _every_tick(monkeypatch)
    plain, _ = _answers(scn, 3, range(6))
    assert fast == plain
    assert skipped > 100
    took = [status for _, record in plain for statuses, _ in record.values() for status in statuses.values()]
    if overrides is not ASKS:  # failures on p99 before the cut
        assert took.count("fail") > 5
    if overrides is CALLS:  # the person's calls on failed reviews, both ways
        assert took.count("operator") > 2 and took.count("waved") > 2


def test_rows_of_bad_releases_are_the_same_with_every_look_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad release's decisions, recorded by the block and replayed (`arrays.faulted`), and every
    good release's, give the rows of runs drawn in full."""
    scn = sim.load_scenario("default", overrides=[*STRICT, "releases.bad_probability=0.5"])
    fast = sim.run_batch(scn, deploys=192, seed=5, strategies=["progressive"], jobs=1)
    _every_tick(monkeypatch)
    plain = sim.run_batch(scn, deploys=192, seed=5, strategies=["progressive"], jobs=1)
    assert fast.equals(plain)


def _round_by_round(
    scn: sim.Scenario,
    bg: reviews.Background,
    plan: Any,
    block: Any,
    deploys: Any,
    where: tuple[int, list[int]],
    record: dict[int, reviews.Decisions],
) -> np.ndarray:
    """`reviews_pass_block` as it was: each round's runs judged in one pass, every look drawn, and
    the reviews they ask for in another, a stopped deploy's next run never judged; each stream
    built on its own."""
    seed, rows = where
    cfg, judge, W, stop, TIE_S = bg.cfg, bg.judge, scn.run.window_s, bg.stop, reviews.TIE_S
    out = np.zeros(len(rows), bool)
    k_max = min(int(np.floor((stop + TIE_S) / W + reviews._EPS)), block.acc.shape[1])
    cs = np.zeros((len(rows), k_max + 1, *block.acc.shape[2:]))
    block.acc[list(rows), :k_max].cumsum(axis=1, out=cs[:, 1:])
    last = np.array([min(reviews._last_window(plan, block, j), k_max) for j in rows])
    people: dict[int, Humans] = {}
    runs = np.zeros(len(rows), np.int64)
    starts = np.full(len(rows), bg.start)
    active = np.arange(len(rows))

    def stream(a: int, n: int) -> np.random.Generator:
        return streams.run_stream(seed, deploys[rows[a]][0], streams.LOOKS, n)

    while len(active):
        firsts = starts[active] + cfg.initial_delay_s
        counts = np.floor((stop + TIE_S - firsts) / cfg.interval_s).astype(np.int64) + 1
        out[active[counts <= 0]] = True
        active, firsts, counts = active[counts > 0], firsts[counts > 0], counts[counts > 0]
        if not len(active):
            break
        ticks = firsts[:, None] + cfg.interval_s * np.arange(int(counts.max()))[None, :]
        valid = np.arange(ticks.shape[1])[None, :] < counts[:, None]
        lookback = np.full((len(active), 1), judge.lookback_s or cfg.interval_s)
        seen = reviews._Seen(cs, active, ticks, valid, (lookback, W))
        readable = ~(seen.k_to > last[active, None]).any(axis=1)
        on = active.tolist()
        ok, failed = seen.judged(
            scn,
            judge,
            lambda x, on=on: stream(on[x], int(runs[on[x]])),
            ([deploys[rows[a]][1] for a in on], None),
        )
        inconclusive = ~ok & ~failed & valid
        trigger = valid & (
            (np.cumsum(failed & valid, axis=1) > cfg.failure_limit)
            | (np.cumsum(inconclusive, axis=1) > cfg.inconclusive_limit)
        )
        decided, first = trigger.any(axis=1), trigger.argmax(axis=1)
        asking: dict[int, float] = {}
        for x, a in enumerate(on):
            if not readable[x]:
                continue
            if not decided[x]:
                out[a] = True
                continue
            t = float(ticks[x, first[x]])
            took = record.setdefault(a, reviews.Decisions())
            for i in range(int(first[x]) + 1):
                status = "pass" if ok[x, i] else "fail" if failed[x, i] else "inconclusive"
                took.statuses[(int(runs[a]), int(seen.k_to[x, i]))] = status
            if failed[x, first[x]] and t < stop - TIE_S:
                took.by = "analysis"
            if failed[x, first[x]] or t >= stop - TIE_S:
                continue
            number, exo = deploys[rows[a]]
            if a not in people:
                people[a] = Humans(scn.humans, streams.stream(seed, number, streams.PEOPLE))
            review = t + people[a].delay("decision_s", exo.traffic.hour_at(t))
            if review > stop + TIE_S:
                out[a] = True
            elif review < stop - TIE_S:
                asking[a] = review
        if not asking:
            break
        asked = np.array(list(asking))
        at = np.array(list(asking.values()))[:, None]
        lookback = np.full((len(asked), 1), max(cfg.interval_s, judge.lookback_s or 0.0))
        seen = reviews._Seen(cs, asked, at, np.ones(at.shape, bool), (lookback, W))
        readable = ~(seen.k_to > last[asked, None]).any(axis=1)
        on = asked.tolist()
        _, failed = seen.judged(
            scn,
            judge,
            lambda x, on=on: stream(on[x], int(runs[on[x]]) + 1),
            ([deploys[rows[a]][1] for a in on], None),
        )
        going = []
        for x, a in enumerate(on):
            if not readable[x]:
                continue
            if failed[x, 0]:
                number, exo = deploys[rows[a]]
                key = (seed, number, runs[a] + 1)
                verdict = reviews._review_verdict(scn, bg, (block, rows[a]), exo, key, asking[a])
                if verdict.failed:
                    waved = people[a].waves_through(verdict.score)
                    record[a].statuses[(int(runs[a]) + 1, int(seen.k_to[x, 0]))] = (
                        "waved" if waved else "operator"
                    )
                    record[a].by = None if waved else "operator"
                    if not waved:
                        continue
            going.append(a)
        active = np.array(going, np.int64)
        runs[active] += 2
        starts[active] = [asking[a] for a in going]
    return out
