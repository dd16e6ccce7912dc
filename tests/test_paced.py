"""A manual canary's plan of a deploy's own walked without SimPy (`sim.engine.arrays.paced`): the same
plan as the event engine's run with nothing served, field by field and to the last bit, for every
shipped scenario's canary behind a router; anything else keeps its SimPy run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import sim
from sim.config.scenario import shipped_scenarios
from sim.engine.arrays import Plan
from sim.engine.arrays import paced as paced_module
from sim.engine.arrays import plan as plan_module
from sim.engine.exogenous import draw_exogenous, exogenous_streams
from sim.engine.rows import simulate_deploys
from sim.engine.tape import same_state

PACED = [
    (name, strategy)
    for name in shipped_scenarios()
    for strategy in sim.load_scenario(name).strategies
    if paced_module.paced(sim.load_scenario(name), strategy)
]


def _eq(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _differences(walked: Plan, ran: Plan) -> list[str]:
    """The fields of two plans that differ (each compared exactly)."""
    out = []
    if len(walked.segments) != len(ran.segments) or any(
        t != u or not same_state(x, y) for (t, x), (u, y) in zip(walked.segments, ran.segments, strict=True)
    ):
        out.append("segments")
    if len(walked.states) != len(ran.states) or any(
        t != u or not all(_eq(a, b) for a, b in zip(x, y, strict=True))
        for (t, x), (u, y) in zip(walked.states, ran.states, strict=True)
    ):
        out.append("states")
    if [
        (look.judge, look.k_from, look.k_to, look.run, look.review, look.expect) for look in walked.looks
    ] != [(look.judge, look.k_from, look.k_to, look.run, look.review, look.expect) for look in ran.looks]:
        out.append("looks")
    a, b = dataclasses.asdict(walked.run.world.marks), dataclasses.asdict(ran.run.world.marks)
    out += [f"marks.{k}" for k in a if not _eq(a[k], b[k])]
    if (walked.tail, walked.end) != (ran.tail, ran.end):
        out.append("tail")
    out += [
        f"head.{f}"
        for f in ("which", "k", "start", "dt")
        if not np.array_equal(getattr(walked.head, f), getattr(ran.head, f))
    ]
    d, e = walked.run.deploy, ran.run.deploy
    out += [
        f"deploy.{f}"
        for f in ("detected_by", "rolled_back", "undo", "silenced_until", "run_starts", "analyses_stopped_at")
        if getattr(d, f) != getattr(e, f)
    ]
    if d.finished.triggered != e.finished.triggered or d.settled.triggered != e.settled.triggered:
        out.append("deploy.events")
    return out


def test_the_shipped_canaries_behind_a_router_are_walked() -> None:
    """Not a check that passes unexercised: five scenarios' canaries take the walk, and the one behind
    a selector (nightly-batch's, whose weights are replica counts) keeps its SimPy run."""
    assert len(PACED) >= 5, PACED
    assert ("nightly-batch", "canary") not in PACED


@pytest.mark.parametrize(("scenario", "strategy"), PACED)
def test_a_walked_plan_is_the_event_engines_plan(scenario: str, strategy: str, monkeypatch) -> None:
    scn = sim.load_scenario(scenario)
    seed, compared = 3, 0
    for i, rngs in zip(range(48), exogenous_streams(seed, range(48)), strict=True):
        exo = draw_exogenous(scn, seed, i, rngs)
        if exo.release.bad:  # (only a good release's plan is walked)
            continue
        walked = plan_module.make_plan(scn, strategy, exo, seed, i, own=True)
        with monkeypatch.context() as m:
            m.setattr(plan_module, "paced", lambda *_: False)
            ran = plan_module.make_plan(scn, strategy, exo, seed, i, own=True)
        assert (walked is None) == (ran is None), i
        if ran is not None and walked is not None:
            assert not _differences(walked, ran), (i, _differences(walked, ran))
            compared += 1
    assert compared >= 24  # most deploys are good releases with a plan of their own


def test_a_batch_walks_its_canary_plans_and_keeps_its_rows(monkeypatch) -> None:
    """The batch takes the walk (counted), and its rows are those of plans made in SimPy."""
    scn = sim.load_scenario("default")
    walks = []
    real = paced_module.paced_run

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_module, "paced_run", counted)
    rows = simulate_deploys(scn, ["canary"], 2, 0, 64)
    assert len(walks) > 40
    monkeypatch.setattr(plan_module, "paced", lambda *_: False)
    assert simulate_deploys(scn, ["canary"], 2, 0, 64) == rows


def test_a_plan_of_its_own_is_cut_only_where_its_pieces_are_read(monkeypatch) -> None:
    """A deploy's own plan leaves its plain pieces uncut when the deploy meets noisy neighbours (it is
    served along its own states), cuts them at once otherwise, and cut on demand they are the same."""
    scn = sim.load_scenario("default")
    seed, cuts, noisy, quiet = 3, [], 0, 0
    real = plan_module.pieces_of

    def counted(*args: Any, **kwargs: Any) -> Any:
        cuts.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_module, "pieces_of", counted)
    for i, rngs in zip(range(48), exogenous_streams(seed, range(48)), strict=True):
        exo = draw_exogenous(scn, seed, i, rngs)
        if exo.release.bad:
            continue
        cuts.clear()
        plan = plan_module.make_plan(scn, "canary", exo, seed, i, own=True)
        assert plan is not None
        assert len(cuts) == (0 if exo.episodes else 1), i
        noisy, quiet = noisy + bool(exo.episodes), quiet + (not exo.episodes)
        head = plan.head
        end = plan.end if plan.tail is None else plan.tail * plan.window_s
        want = real(plan.segments, end, plan.window_s)
        for f in ("which", "k", "start", "dt"):
            np.testing.assert_array_equal(getattr(head, f), getattr(want, f))
        assert [id(s) for s in head.snaps] == [id(s) for s in want.snaps]
    assert noisy >= 8 and quiet >= 8
