"""Rows of deploys: each block through the array engine where it covers them, the event engine elsewhere.

A deploy's row depends on its seed, its index and its block (`arrays.BLOCK`), never on the range
a caller asks for: a range that cuts a block still serves the whole block, and keeps the rows it
asked for. Chunks aligned to blocks (`runs.batch.chunk_size`) waste nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..config.scenario import Scenario
from ..core.collector import fewer_collections
from ..core.held import held_for
from .arrays import (
    BLOCK,
    Caught,
    Plan,
    background,
    block_rows,
    caught_block,
    covered,
    draw_block,
    make_plan,
    personal,
    plannable,
    sparse,
)
from .exogenous import Exogenous, draw_exogenous_many
from .metrics import error_row
from .simulate import Simulation, simulate
from .tape import Fill

#: Rows of simulations, one per (deploy, strategy): the columns of `metrics.COLUMNS`.
Rows = list[dict[str, Any]]

#: Plans by scenario (held, so its id stays its own) and strategy, each with whether its looks are
#: sparse (`arrays.sparse`); a process meets few scenarios.
_PLANS: OrderedDict[int, tuple[Scenario, dict[str, tuple[Plan | None, bool]]]] = OrderedDict()
_KEEP = 8


def _shared(scn: Scenario, strategy: str, exo: Exogenous, seed: int) -> tuple[Plan | None, bool]:
    """The strategy's plan for all its deploys in this scenario, made once per process (None: it
    has none), and whether its looks are sparse (each deploy then plans for itself)."""
    plans: dict[str, tuple[Plan | None, bool]] = held_for(_PLANS, scn, _KEEP, dict)
    if strategy not in plans:
        plan = _plan(scn, strategy, exo, seed) if plannable(scn, strategy) else None
        plans[strategy] = (plan, plan is not None and sparse(scn, plan))
    return plans[strategy]


def _plan(scn: Scenario, strategy: str, exo: Exogenous, seed: int, deploy: int | None = None) -> Plan | None:
    """`make_plan` (the deploy's own when `deploy` is given); a plan whose run raises is none: its
    deploys run in the event engine, where the failure is recorded on their rows."""
    try:
        if deploy is None:
            return make_plan(scn, strategy, exo, seed)
        return make_plan(scn, strategy, exo, seed, deploy, own=True)
    except Exception:  # recorded on the rows the event engine makes, never dropped
        return None


def _draws(scn: Scenario, seed: int, deploys: range) -> dict[int, Exogenous | Exception]:
    # A bad draw must not sink the batch: its exception is recorded on its rows.
    return dict(zip(deploys, draw_exogenous_many(scn, seed, deploys), strict=True))


def _covered(exos: dict[int, Exogenous | Exception], block: int) -> list[tuple[int, Exogenous]]:
    members = range(block * BLOCK, (block + 1) * BLOCK)
    return [(i, e) for i in members if isinstance((e := exos[i]), Exogenous) and covered(e)]


def block_plans(
    scn: Scenario, strategy: str, members: list[tuple[int, Exogenous]], seed: int
) -> tuple[Plan | list[Plan], list[tuple[int, Exogenous]]]:
    """The plan of a block's covered deploys for a strategy (one for all, or each its own: a person's
    pace, or looks that may see too few requests to judge), and the deploys that have one (a plan of
    its own that does not run its horizon leaves its deploy out)."""
    if not personal(scn, strategy):
        plan, few = _shared(scn, strategy, members[0][1], seed)
        if plan is None:
            return [], []
        if not few:
            return plan, members
    made = [(i, exo, _plan(scn, strategy, exo, seed, i)) for i, exo in members]
    kept = [(i, exo, p) for i, exo, p in made if p is not None]
    return [p for *_, p in kept], [(i, exo) for i, exo, _ in kept]


def simulate_deploys(scn: Scenario, strategies: Sequence[str], seed: int, lo: int, hi: int) -> Rows:
    """Rows of deploys lo..hi-1 for each strategy (exogenous draws shared by the strategies)."""
    if hi <= lo:
        return []
    with fewer_collections():
        return _simulate_deploys(scn, strategies, seed, lo, hi)


def _simulate_deploys(scn: Scenario, strategies: Sequence[str], seed: int, lo: int, hi: int) -> Rows:
    first, last = lo // BLOCK, (hi - 1) // BLOCK
    exos = _draws(scn, seed, range(first * BLOCK, (last + 1) * BLOCK))
    done: dict[tuple[int, str], dict[str, Any]] = {}
    for b in range(first, last + 1):
        members = _covered(exos, b)
        if not members:
            continue
        for s in strategies:
            if not plannable(scn, s):
                continue
            plans, members_s = block_plans(scn, s, members, seed)
            if not members_s:
                continue
            want = [i for i, _ in members_s if lo <= i < hi]
            try:
                got = block_rows(scn, s, plans, members_s, (seed, b, want))
            except Exception as err:  # recorded with its rows, never dropped (desmod's rule)
                got = {i: error_row(scn, s, i, seed, err) for i in want}
            done.update(((i, s), row) for i, row in got.items())
            if isinstance(plans, Plan):  # the block's bad releases, served along the plan
                got_bad = _caught(scn, s, plans, exos, (seed, b))
                for i, c in got_bad.items():
                    if not lo <= i < hi or not isinstance(e := exos[i], Exogenous):
                        continue
                    if isinstance(c, Exception):
                        done[(i, s)] = error_row(scn, s, i, seed, c)
                    else:
                        done[(i, s)] = c.row if isinstance(c, Caught) else _over(scn, s, e, (seed, i), c)
    rows = []
    for i in range(lo, hi):
        exo = exos[i]
        for s in strategies:
            if (i, s) in done:
                rows.append(done[(i, s)])
            elif isinstance(exo, Exception):
                rows.append(error_row(scn, s, i, seed, exo))
            else:
                try:
                    rows.append(simulate(scn, s, exo, seed, i).row)
                except Exception as err:  # recorded with its row, never dropped (desmod's rule)
                    rows.append(error_row(scn, s, i, seed, err))
    return rows


def _over(scn: Scenario, strategy: str, exo: Exogenous, key: tuple[int, int], fill: Fill) -> dict[str, Any]:
    """The event engine's row of deploy `key` (the seed and the deploy) over traffic the array
    engine drew for it; a failure is recorded on the row, never dropped."""
    seed, i = key
    try:
        return simulate(scn, strategy, exo, seed, i, fill=fill).row
    except Exception as err:
        return error_row(scn, strategy, i, seed, err)


def _caught(
    scn: Scenario, strategy: str, plan: Plan, exos: dict[int, Exogenous | Exception], where: tuple[int, int]
) -> dict[int, Caught | Fill | Exception]:
    """The block's bad releases served along the plan for all (`arrays.caught_block`; `where`: the
    seed and the block): those their looks catch with their rows, the others with the traffic the
    event engine makes their rows over. A failure is each one's, recorded on its row: running them
    in the event engine instead would pick, by the block's draws, which releases it runs (a bias)."""
    seed, b = where
    bg = background(scn, strategy, plan)
    members = range(b * BLOCK, (b + 1) * BLOCK)
    bad = [(i, e) for i in members if isinstance((e := exos[i]), Exogenous) and e.release.bad]
    if bg is None or not bad:
        return {}
    try:
        return dict(caught_block(scn, strategy, (plan, bg), bad, (seed, b)))
    except Exception as err:  # recorded on their rows, never dropped (desmod's rule)
        return {i: err for i, _ in bad}


def run_deploy(
    scn: Scenario, strategy: str, deploy: int = 0, seed: int | None = None, record: bool = True
) -> Simulation:
    """Simulate one deploy of one strategy (e.g. to replay the worst one with its timeline): the
    event engine, over its block's traffic where the array engine covers it, so that its row is
    the batch's."""
    seed = scn.run.seed if seed is None else seed
    b = deploy // BLOCK
    exos = _draws(scn, seed, range(b * BLOCK, (b + 1) * BLOCK))
    exo = exos[deploy]
    if isinstance(exo, Exception):
        raise exo
    if not plannable(scn, strategy) or not (good := _covered(exos, b)):
        return simulate(scn, strategy, exo, seed, deploy, record=record)
    if not covered(exo):  # a bad release: over the traffic its row was read from, if it was
        plans, _ = block_plans(scn, strategy, good, seed)
        got = _caught(scn, strategy, plans, exos, (seed, b)) if isinstance(plans, Plan) else {}
        c = got.get(deploy)
        fill = c.fill() if isinstance(c, Caught) else None if isinstance(c, Exception) else c
        return simulate(scn, strategy, exo, seed, deploy, record=record, fill=fill)
    plans, members = block_plans(scn, strategy, good, seed)
    if deploy not in (ids := [i for i, _ in members]):
        return simulate(scn, strategy, exo, seed, deploy, record=record)
    drawn = draw_block(scn, plans, members, seed, b)
    j = ids.index(deploy)
    return simulate(
        scn,
        strategy,
        exo,
        seed,
        deploy,
        record=record,
        fill=drawn.fill(plans[j] if isinstance(plans, list) else plans, j),
    )
