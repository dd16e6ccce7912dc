"""The array engine: a deploy's row is the event engine's row over the block's traffic, whichever
engine computed it; rows do not depend on how a batch chunks the deploys; and a deploy that
departs from the plan meets the event engine's own decisions (a statistical check)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest

import sim
from sim.engine import arrays
from sim.engine import rows as rows_module
from sim.engine.arrays import judge as judge_module
from sim.engine.arrays import serve as serve_module
from sim.engine.exogenous import draw_exogenous
from sim.engine.rows import _covered, _draws, block_plans, run_deploy, simulate_deploys
from sim.engine.simulate import simulate

#: A baseline judge so strict that a good release often fails a look: deploys depart from the plan.
STRICT = ["judges.baseline.max_latency_ratio=1.15", "run.horizon_s=3600"]


def _same(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    def eq(x: Any, y: Any) -> bool:
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return [k for k in a if not eq(a[k], b[k])]


#: A fixed judge so strict that the operator often sees a good release fail a review.
STRICT_REVIEW = ["judges.fixed.max_p99_ms=250", "run.horizon_s=3600"]
HOUR = ["run.horizon_s=3600"]
#: A small service: the 1% step's looks see too few requests to judge, and a person is asked.
LOW = ["traffic.rate_rps=30", "fleet.capacity_rps=10", "traffic.users.population=20000", *HOUR]
#: A service at 100 req/s: the 1% step's looks see about the judge's minimum of requests, so a
#: background analysis often comes out inconclusive and asks a person, then starts again.
ASKS = ["traffic.rate_rps=100", "fleet.capacity_rps=33.34", "traffic.users.population=66666", *HOUR]
#: The same with a strict judge: a person's review often fails (or is waved through).
ASKS_STRICT = [*ASKS, "judges.baseline.max_latency_ratio=1.15"]
#: An alert so touchy that background failures page: deploys leave the plan late, in its lean stretch.
PAGED = ["judges.slo.windows[0]={long_s: 600, short_s: 60, burn_rate: 0.25}", *HOUR]


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [
        ("progressive", HOUR),
        ("progressive", STRICT),
        ("recreate", HOUR),
        ("blue_green", HOUR),
        # Windows no state change lines up with, and a horizon that ends inside one.
        ("progressive", ["run.window_s=7", "run.horizon_s=3605"]),
        # A person sets the pace: each deploy's plan is its own.
        ("canary", HOUR),
        ("canary", STRICT_REVIEW),
        ("blue_green", ["strategies.blue_green.auto_promote=false", *HOUR]),
        ("progressive", ["strategies.progressive.steps[1]={manual_gate: true}", *HOUR]),
        ("progressive", PAGED),
        ("canary", PAGED),
        ("progressive", LOW),
        ("progressive", ASKS),
        ("progressive", ASKS_STRICT),
    ],
    ids=[
        "progressive",
        "progressive-strict",
        "recreate",
        "blue_green",
        "odd-windows",
        "canary",
        "canary-strict",
        "blue_green-manual",
        "progressive-gate",
        "progressive-paged",
        "canary-paged",
        "progressive-low",
        "progressive-asks",
        "progressive-asks-strict",
    ],
)
def test_a_row_is_the_event_engines_row_over_the_blocks_traffic(strategy: str, overrides: list[str]) -> None:
    _rows_are_the_event_engines("default", strategy, overrides)


@pytest.mark.parametrize(
    ("scenario", "strategy", "overrides"),
    [
        ("flagged-release", "flag", HOUR),
        ("flagged-release", "canary_flag", ["run.horizon_s=7200"]),
        # A person opens the binary's gate: each deploy's plan is its own.
        (
            "flagged-release",
            "canary_flag",
            ["strategies.canary_flag.binary.steps[1]={manual_gate: true}", *HOUR],
        ),
        # Four deploys in a row, the bake after the backfill the deploy's own draw: plans of their own.
        ("schema-expand-contract", "progressive", []),
        ("schema-expand-contract", "blue_green", []),
        # The old binary fails on the new schema; a recreate has none left running when it breaks.
        ("schema-rename-breaking", "recreate", HOUR),
        # So little traffic that no look of the block has a percentile to draw (nor comes out a
        # pass: a person is asked, and every deploy is handed over).
        ("nightly-batch", "progressive", HOUR),
    ],
    ids=[
        "flag",
        "canary_flag",
        "canary_flag-gate",
        "expand-contract",
        "expand-contract-bg",
        "breaking-recreate",
        "nightly-batch",
    ],
)
def test_a_row_is_the_event_engines_row_in_other_scenarios(
    scenario: str, strategy: str, overrides: list[str]
) -> None:
    _rows_are_the_event_engines(
        scenario, strategy, overrides, followers=0 if scenario == "nightly-batch" else 20
    )


def _rows_are_the_event_engines(
    scenario: str, strategy: str, overrides: list[str], *, followers: int = 20
) -> None:
    """Every deploy of two blocks: its row (through the array engine where it follows its plan) is
    the event engine's row over the block's traffic, and one that follows its plan keeps its fill."""
    scn = sim.load_scenario(scenario, overrides=overrides)
    seed, followed, departed, left, late, asked, fired, stacked = 4, 0, 0, 0, 0, 0, 0, 0
    assert arrays.plannable(scn, strategy)
    for b in (0, 1):
        exos = _draws(scn, seed, range(b * arrays.BLOCK, (b + 1) * arrays.BLOCK))
        plans, members = block_plans(scn, strategy, _covered(exos, b), seed)
        assert members
        each = plans if isinstance(plans, list) else [plans] * len(members)
        drawn = arrays.draw_block(scn, plans, members, seed, b)
        rows = {r["deploy"]: r for r in simulate_deploys(scn, [strategy], seed, b * 64, (b + 1) * 64)}
        # The block's looks, worked out at once, are each deploy's looks through the event engine's code.
        if isinstance(plans, list):
            at_once = [
                arrays.looks_pass(scn, p, drawn, [m], seed, [j])[0]
                for j, (p, m) in enumerate(zip(plans, members, strict=True))
            ]
            # Plans that take their looks alike, each at its own windows, judged together: the same.
            picked = [(j, i, exo) for j, (i, exo) in enumerate(members)]
            assert arrays.plans_looks_pass(scn, plans, drawn, picked, seed) == at_once
            alike = Counter(judge_module._signature(p.looks) for p in plans)
            stacked += sum(n for sig, n in alike.items() if sig is not None and n > 1)
        else:
            at_once = arrays.looks_pass(scn, plans, drawn, members, seed, range(len(members))).tolist()
        # The alert over the whole block at once is each deploy's alert, inside silences or not.
        for anywhere in (False, True):
            at_once_alert = arrays.alerts_fire(
                scn, each, drawn, [(j, exo) for j, (_, exo) in enumerate(members)], anywhere=anywhere
            ).tolist()
            one_by_one_alert = [
                arrays.alert_fires(scn, each[j], drawn, j, exo, anywhere=anywhere)
                for j, (_, exo) in enumerate(members)
            ]
            assert at_once_alert == one_by_one_alert, anywhere
            fired += sum(one_by_one_alert)
        bg = None if isinstance(plans, list) else arrays.background(scn, strategy, plans)
        asking = [j for j in range(len(members)) if not at_once[j]] if bg is not None else []
        if asking:  # worked out for the block at once: each deploy's answer, one by one, below
            kept = arrays.reviews_pass_block(scn, bg, plans, drawn, members, (seed, asking)).tolist()
            at_once_asked = dict(zip(asking, kept, strict=True))
        for j, (i, exo) in enumerate(members):
            plan = each[j]
            one_by_one = arrays.follows_plan(scn, plan, drawn, j, exo, (seed, i))
            assert one_by_one == (at_once[j] and not arrays.alert_fires(scn, plan, drawn, j, exo)), i
            # A person asked by the background analysis, the analysis started again: the block
            # works the looks out, and the deploy keeps the plan's row when they decide nothing.
            key = (seed, i)
            if (
                not at_once[j]
                and bg is not None
                and arrays.reviews_pass(scn, bg, plan, drawn, j, exo, key=key)
            ):
                assert at_once_asked[j], i
                asked += 1
                one_by_one = not arrays.alert_fires(scn, plan, drawn, j, exo)
            elif not at_once[j] and bg is not None:
                assert not at_once_asked[j], i
            if one_by_one:
                followed += 1
            else:
                departed += 1
            replay = simulate(scn, strategy, exo, seed, i, fill=drawn.fill(plan, j))
            assert not _same(rows[i], replay.row), (i, _same(rows[i], replay.row))
            # A deploy that follows its plan is served by the fill to the end, noisy neighbours
            # and all. (One the alert fires on may still follow it: a page the on-call finds
            # unfounded changes nothing, so handing it to the event engine is only cautious.)
            assert replay.world.tape.filled or not one_by_one, i
            left += not replay.world.tape.filled
            # Handed over with a lean stretch: the fill was worked out in full there.
            late += drawn.tails[j] is not None and not one_by_one
    assert followed >= followers
    if strategy == "canary":  # every operator reviews the same steps: the block judges them together
        assert stacked > 100
    if overrides in (STRICT, STRICT_REVIEW):  # the replay path is exercised too: deploys leave the plan
        assert departed > 20 and left > 20
    if overrides is PAGED:
        assert late > 10 and fired > 10  # the alert fires: the block's answer is checked where it matters
    if overrides is ASKS:  # most deploys' analyses ask a person, and keep the plan's row
        assert asked > 60
    if overrides is ASKS_STRICT:  # and some of those people's reviews fail
        assert asked > 10 and departed > 20
    if overrides is LOW:  # plans of their own, each guessing which looks come out inconclusive
        assert isinstance(plans, list) and any(
            look.expect and "inconclusive" in look.expect for look in plans[0].looks
        )


def test_a_lean_stretch_worked_out_is_the_stretch_served_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    # With no background failures nothing in a lean stretch is random, and the rollout before it
    # draws the same variates either way: the fill a lean block hands over must then be, number
    # for number, the fill of the block served in full.
    scn = sim.load_scenario("default", overrides=["fleet.error_rate=0", *HOUR])
    exos = _draws(scn, 2, range(64))
    plans, members = block_plans(scn, "progressive", _covered(exos, 0), 2)
    assert isinstance(plans, arrays.Plan) and plans.tail is not None
    lean = arrays.draw_block(scn, plans, members, 2, 0)
    monkeypatch.setattr(serve_module, "_lean", lambda *_: None)
    full = arrays.draw_block(scn, plans, members, 2, 0)
    quiet = [j for j, (_, exo) in enumerate(members) if not exo.episodes]
    assert len(quiet) > 20 and all(lean.tails[j] is not None for j in quiet)
    assert all(t is None for t in full.tails)
    for j in quiet:
        a, b = lean.fill(plans, j), full.fill(plans, j)
        for name in ("rem", "acc", "util", "svc"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (j, name)
        assert a.ledger.keys() == b.ledger.keys()
        for name in a.ledger:
            assert np.array_equal(a.ledger[name], b.ledger[name]), (j, name)
    # A deploy that follows its plan reads no ledger row of the stretch: nothing there is caused.
    assert all(lean.ledgers[j]["k"][-1] < plans.tail for j in quiet)


def test_a_plan_that_fails_leaves_its_deploy_to_the_event_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    scn = sim.load_scenario("default", overrides=HOUR)
    i = next(i for i in range(64) if arrays.covered(draw_exogenous(scn, 1, i)))
    real = rows_module.make_plan

    def flaky(*args: Any, **kw: Any) -> arrays.Plan | None:
        if kw.get("own") and args[4] == i:
            raise RuntimeError("boom")
        return real(*args, **kw)

    monkeypatch.setattr(rows_module, "make_plan", flaky)
    rows = simulate_deploys(scn, ["canary"], 1, 0, 8)
    assert [r["error"] for r in rows] == [None] * 8
    assert not _same(rows[i], simulate(scn, "canary", draw_exogenous(scn, 1, i), 1, i).row)


def test_deploys_not_covered_run_in_the_event_engine_as_before() -> None:
    scn = sim.load_scenario(
        "default", overrides=["run.horizon_s=3600", "strategies.canary.judge=mann_whitney"]
    )
    rows = simulate_deploys(scn, ["progressive", "canary"], 2, 0, 40)
    assert {r["strategy"] for r in rows if not arrays.covered(draw_exogenous(scn, 2, r["deploy"]))} == {
        "progressive",
        "canary",
    }
    # Bad releases their looks catch are worked out over arrays (`tests/test_faulted.py`).
    exos = _draws(scn, 2, range(64))
    plan, _ = block_plans(scn, "progressive", _covered(exos, 0), 2)
    assert isinstance(plan, arrays.Plan)
    caught = rows_module._caught(scn, "progressive", plan, exos, (2, 0))
    for r in rows:
        exo = draw_exogenous(scn, 2, r["deploy"])
        if r["strategy"] == "canary" or not (arrays.covered(exo) or r["deploy"] in caught):
            assert not _same(r, simulate(scn, r["strategy"], exo, 2, r["deploy"]).row)


def test_a_persons_pace_makes_each_deploys_plan_its_own() -> None:
    # The operator's decision delays are the deploy's own draws: so are its plan's steps.
    scn = sim.load_scenario("default")  # three hours: every step's review is in
    exos = [(i, e) for i, e in ((i, draw_exogenous(scn, 1, i)) for i in range(30)) if arrays.covered(e)]
    plans, members = block_plans(scn, "canary", exos, 1)
    assert isinstance(plans, list) and len(plans) == len(members) == len(exos)
    steps = {p.steps for p in plans}
    assert len(steps) == len(plans)  # no two deploys' operators keep the same pace
    again = arrays.make_plan(scn, "canary", exos[3][1], 1, exos[3][0])
    assert again is not None and again.steps == plans[3].steps
    # Each review is a look of the plan, taken after the step's pause and the operator's delay.
    assert sum(look.review for look in plans[0].looks) == len(scn.strategies["canary"].steps)


def test_rows_do_not_depend_on_how_the_deploys_are_chunked() -> None:
    scn = sim.load_scenario("default", overrides=STRICT)
    whole = simulate_deploys(scn, ["progressive", "recreate"], 9, 0, 140)
    parts = [
        simulate_deploys(scn, ["progressive", "recreate"], 9, lo, hi)
        for lo, hi in ((0, 50), (50, 129), (129, 140))
    ]
    joined = [r for p in parts for r in p]
    assert len(joined) == len(whole)
    assert not [(a["deploy"], a["strategy"]) for a, b in zip(whole, joined, strict=True) if _same(a, b)]


def test_run_deploy_replays_the_batchs_row() -> None:
    scn = sim.load_scenario("default", overrides=STRICT)
    rows = {r["deploy"]: r for r in simulate_deploys(scn, ["progressive"], 6, 64, 128)}
    exos = _draws(scn, 6, range(64, 128))
    members = [i for i, _ in _covered(exos, 1)]
    departed = [i for i in members if rows[i]["rolled_back"]]
    assert departed, "the strict judge rolls some good release back"
    for i in (members[0], departed[0], next(i for i in range(64, 128) if i not in members)):
        assert not _same(rows[i], run_deploy(scn, "progressive", deploy=i, seed=6, record=True).row)
    # Along a plan of its own too (a person's pace), a departing deploy's included.
    scn = sim.load_scenario("default", overrides=STRICT_REVIEW)
    rows = {r["deploy"]: r for r in simulate_deploys(scn, ["canary"], 6, 64, 128)}
    departed = [i for i in members if rows[i]["rolled_back"]]
    assert departed, "the strict review rolls some good release back"
    for i in (members[0], departed[0]):
        assert not _same(rows[i], run_deploy(scn, "canary", deploy=i, seed=6, record=True).row)


def test_the_plan_does_not_depend_on_the_deploy_it_is_made_from() -> None:
    scn = sim.load_scenario("default", overrides=["run.horizon_s=3600"])
    exos = [e for e in (draw_exogenous(scn, 1, i) for i in range(30)) if arrays.covered(e)]
    a, b = (arrays.make_plan(scn, "progressive", e, 1) for e in (exos[0], exos[-1]))
    assert a is not None and b is not None
    assert [t for t, _ in a.segments] == [t for t, _ in b.segments]
    assert all(
        np.array_equal(x.packed, y.packed, equal_nan=True)
        for (_, x), (_, y) in zip(a.segments, b.segments, strict=True)
    )
    assert [(p.k_from, p.k_to) for p in a.looks] == [(p.k_from, p.k_to) for p in b.looks]


def test_what_the_array_engine_covers() -> None:
    scn = sim.load_scenario("default")
    assert arrays.plannable(scn, "progressive")
    assert arrays.plannable(scn, "recreate") and arrays.plannable(scn, "blue_green")
    assert not any(arrays.personal(scn, s) for s in ("progressive", "recreate", "blue_green"))
    # A person sets the pace: covered, each deploy along its own plan.
    assert arrays.plannable(scn, "canary") and arrays.personal(scn, "canary")
    manual = sim.load_scenario("default", overrides=["strategies.blue_green.auto_promote=false"])
    assert arrays.plannable(manual, "blue_green") and arrays.personal(manual, "blue_green")
    # A small service's looks may see too few requests to judge: each deploy plans for itself,
    # guessing from its own traffic where a look comes out inconclusive and a person is asked.
    exo = next(e for e in (draw_exogenous(scn, 1, i) for i in range(20)) if arrays.covered(e))
    busy = arrays.make_plan(scn, "progressive", exo, 1)
    assert busy is not None and not arrays.sparse(scn, busy)
    low = sim.load_scenario("default", overrides=LOW)
    shared = arrays.make_plan(low, "progressive", exo, 1)
    assert shared is not None and arrays.sparse(low, shared)
    by_rank = sim.load_scenario("default", overrides=["strategies.canary.judge=mann_whitney"])
    assert not arrays.plannable(by_rank, "canary")  # its reviews are not judged from aggregates
    # A breaking rename fails the old binary's requests: covered only where none serves by then.
    breaking = sim.load_scenario("schema-rename-breaking")
    assert arrays.plannable(breaking, "recreate") and not arrays.plannable(breaking, "progressive")
    # Flag ramps and expand-and-contract sequences (each deploy's backfill its own: its own plan).
    flagged = sim.load_scenario("flagged-release")
    assert all(arrays.plannable(flagged, s) and not arrays.personal(flagged, s) for s in flagged.strategies)
    sequence = sim.load_scenario("schema-expand-contract")
    rolling = [s for s in sequence.strategies if s != "recreate"]
    assert all(arrays.plannable(sequence, s) and arrays.personal(sequence, s) for s in rolling)
    assert not arrays.plannable(sequence, "recreate")  # four planned outages: each would page
    gated = sim.load_scenario(
        "default", overrides=["strategies.progressive.analyses[0].error_probability=0.1"]
    )
    assert not arrays.plannable(gated, "progressive")
    # A block holds every window of 64 deploys: a longer watch stays in the event engine.
    W = scn.run.window_s
    longest = sim.load_scenario("default", overrides=[f"run.horizon_s={arrays.MAX_WINDOWS * W}"])
    assert arrays.plannable(longest, "progressive")
    longer = sim.load_scenario("default", overrides=[f"run.horizon_s={(arrays.MAX_WINDOWS + 1) * W}"])
    assert not arrays.plannable(longer, "progressive")


def test_departing_deploys_roll_back_as_often_as_in_the_event_engine() -> None:
    """The share of good releases the strict judge rolls back, array engine against event engine on
    the same 640 deploys (common exogenous draws, independent traffic). Two binomial proportions:
    |z| < 3.29 is a two-sided 0.1% test, so a correct engine fails it once in a thousand seeds."""
    scn = sim.load_scenario("default", overrides=STRICT)
    n, seed = 640, 11
    rows = [r for r in simulate_deploys(scn, ["progressive"], seed, 0, n) if not r["release_bad"]]
    event = [
        simulate(scn, "progressive", e, seed, i).row
        for i in range(n)
        if not (e := draw_exogenous(scn, seed, i)).release.bad
    ]
    p1 = np.mean([r["rolled_back"] for r in rows])
    p2 = np.mean([r["rolled_back"] for r in event])
    pooled = (p1 + p2) / 2
    se = math.sqrt(2 * pooled * (1 - pooled) / len(rows))
    assert 0.1 < pooled < 0.9  # the check has power: rollbacks are common under this judge
    assert abs(p1 - p2) / se < 3.29, (p1, p2)


def test_an_alert_firing_inside_a_silence_is_no_decision() -> None:
    """A recreate's planned outage fires the alert while pages are held: the array engine counts
    only firings at or after the silence's end, as the on-call's pager would."""
    from sim.engine.alert import ServiceWindows, fires_by, steady_past

    scn = sim.load_scenario("default")
    W, n = scn.run.window_s, 1080
    user = np.full(n, 3000.0)
    err = np.zeros(n)
    err[5:16] = user[5:16]  # 110 s of outage: every request fails
    service, past = ServiceWindows(user, err, W), steady_past(scn, 12.0, W)
    assert fires_by(scn.slo, service, past, (0.0, n))  # the fast pair burns through the outage
    assert not fires_by(scn.slo, service, past, (600.0, n))  # the silence outlasts its short window
    assert not fires_by(scn.slo, service, past, (math.inf, n))  # silenced to the end


def _first_block(
    scn: sim.Scenario, strategy: str, seed: int
) -> tuple[arrays.Plan, list[tuple[int, Any]], arrays.Block]:
    """Block 0's covered deploys of a strategy with a plan for all, and the block served along it."""
    exos = _draws(scn, seed, range(arrays.BLOCK))
    plans, members = block_plans(scn, strategy, _covered(exos, 0), seed)
    assert isinstance(plans, arrays.Plan)
    return plans, members, arrays.draw_block(scn, plans, members, seed, 0)


def test_a_deploy_keeps_its_fill_when_a_reader_wakes_at_a_step_of_its_plan() -> None:
    # In this scenario the SLO alert evaluates at the very instant of the plan's last weight change
    # (3,360 s), and wakes before the rollout takes that step: what it has read is still the plan's,
    # so the deploy keeps its fill (it used to be dropped there, and the rest drawn one by one).
    scn = sim.load_scenario("tail-latency", overrides=HOUR)
    strategy, seed = "progressive_p99", 4
    plans, members, drawn = _first_block(scn, strategy, seed)
    followed = 0
    for j, (i, exo) in enumerate(members):
        if not arrays.follows_plan(scn, plans, drawn, j, exo, (seed, i)):
            continue
        followed += 1
        tape = simulate(scn, strategy, exo, seed, i, fill=drawn.fill(plans, j)).world.tape
        assert tape.filled and tape.fill_left_at is None, (i, tape.fill_left_at)
    assert followed > 20


def test_the_alert_skips_a_fill_it_fires_nowhere_over_and_the_row_is_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim.engine import alert as alert_module

    scn = sim.load_scenario("default", overrides=STRICT)
    strategy, seed = "progressive", 4
    plans, members, drawn = _first_block(scn, strategy, seed)
    evaluated = [0]
    first_firing, firings = alert_module.first_firing, alert_module.firings

    def counted(*args: Any, **kwargs: Any) -> int | None:
        evaluated[0] += 1
        return first_firing(*args, **kwargs)

    def counted_all(*args: Any, **kwargs: Any) -> list[int]:  # the alert's own scans (`alert.Scanned`)
        evaluated[0] += 1
        return firings(*args, **kwargs)

    monkeypatch.setattr(alert_module, "first_firing", counted)
    monkeypatch.setattr(alert_module, "firings", counted_all)
    checked = 0
    for j, (i, exo) in enumerate(members):
        if arrays.follows_plan(scn, plans, drawn, j, exo, (seed, i)) or arrays.alert_fires(
            scn, plans, drawn, j, exo, anywhere=True
        ):
            continue
        runs = {}
        for quiet in (False, True):
            evaluated[0] = 0
            fill = drawn.fill(plans, j)._replace(alert_quiet=quiet)
            runs[quiet] = (simulate(scn, strategy, exo, seed, i, fill=fill).row, evaluated[0])
        assert not _same(runs[False][0], runs[True][0]), i
        assert runs[True][1] < runs[False][1], (i, runs)
        checked += 1
    assert checked > 10


#: Noisy neighbours that only slow requests, several a deploy (an episode every 20 minutes); a
#: touchy alert hands some deploys over in their lean stretch, past an episode's edge.
SLOWED = ["noise.episodes_per_hour=3", "noise.error_rate=0"]


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [("progressive", SLOWED), ("blue_green", SLOWED), ("recreate", [*SLOWED, *PAGED])],
    ids=["progressive", "blue_green", "recreate-paged"],
)
def test_latency_only_noise_is_laid_on_the_plans_draws(strategy: str, overrides: list[str]) -> None:
    """A deploy a noisy neighbour only slows is served along its plan with the others (a plan for all
    deploys: one of a deploy's own is served apart anyway), the windows an episode's edge falls inside
    served again under its own states and its latency laid on: its row is still the event engine's
    row over its traffic, deploy by deploy (and the case is exercised: most deploys meet episodes,
    with edges inside windows of the served head and of the lean stretch)."""
    # (The touchy alert hands most deploys over: few follow the plan there.)
    _rows_are_the_event_engines("default", strategy, overrides, followers=0 if PAGED[0] in overrides else 20)
    scn = sim.load_scenario("default", overrides=overrides)
    exos = _draws(scn, 4, range(arrays.BLOCK))
    plans, members = block_plans(scn, strategy, _covered(exos, 0), 4)
    drawn = arrays.draw_block(scn, plans, members, 4, 0)
    slowed = [j for j, (_, exo) in enumerate(members) if exo.episodes]
    assert len(slowed) > len(members) // 2
    in_tail = [j for j in slowed if drawn.tails[j] is not None and drawn.tails[j].redrawn]
    assert len(in_tail) > 5
    # A window served again holds the pieces its episode's edge cuts it into, in time order.
    j = in_tail[0]
    ledger = drawn.fill(plans if isinstance(plans, arrays.Plan) else plans[j], j).ledger
    k = drawn.tails[j].redrawn[0]
    assert (ledger["k"] == k).sum() >= 2
    assert (np.diff(ledger["t0"]) > 0).all()
