"""A block's rows: read from the arrays for the deploys that follow the plan, the event engine's
over the block's traffic for the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ...config.scenario import Scenario
from ..exogenous import Exogenous
from ..metrics import deploy_row, error_row
from ..simulate import simulate
from .alert import alert_fires, alerts_fire
from .judge import looks_pass, plans_looks_pass
from .plan import Plan
from .reviews import Background, background, reviews_pass, reviews_pass_block
from .serve import Block, draw_block


class Phase(NamedTuple):
    """What a row reads of a run's world (`metrics.deploy_row`), for a row read from arrays: the
    marks of the run that made its decisions (its plan's, or its abort's), its release, and its
    ledger's columns as drawn."""

    marks: Any
    release: Any
    ledger: dict[str, np.ndarray]


def block_rows(
    scn: Scenario,
    strategy: str,
    plans: Plan | Sequence[Plan],
    deploys: Sequence[tuple[int, Exogenous]],
    where: tuple[int, int, Sequence[int]],
) -> dict[int, dict[str, Any]]:
    """Rows for one strategy of the deploys `want` among a block's covered `deploys` (`where`:
    seed, block, want), along their plan (one for all, or each its own): read from the arrays where
    a deploy follows its plan, the event engine's over the same traffic otherwise."""
    seed, block, want = where
    drawn = draw_block(scn, plans, deploys, seed, block)
    wanted = set(want)
    picked = [(j, i, exo) for j, (i, exo) in enumerate(deploys) if i in wanted]
    if isinstance(plans, Plan):
        chosen = [deploys[j] for j, _, _ in picked]
        passed = looks_pass(scn, plans, drawn, chosen, seed, [j for j, _, _ in picked]).tolist()
        each = [plans] * len(deploys)
        bg = background(scn, strategy, plans)
        if bg is not None:  # persons asked by the analysis: their looks move, not their traffic
            passed = _asked(scn, bg, (plans, drawn), deploys, (seed, [j for j, _, _ in picked]), passed)
    else:  # each deploy's own looks, through the event engine's code (a plan per deploy)
        each = list(plans)
        passed = plans_looks_pass(scn, each, drawn, picked, seed)
        bg = None
    # The alert over every deploy whose looks follow its plan, at once.
    ok_at = [(j, exo) for ok, (j, _, exo) in zip(passed, picked, strict=True) if ok]
    try:
        at_once = alerts_fire(scn, [each[j] for j, _ in ok_at], drawn, ok_at).tolist()
        fired = dict(zip([j for j, _ in ok_at], at_once, strict=True))
    except Exception:  # worked out deploy by deploy below, where a failure is the deploy's own row's
        fired = {}
    rows = {}
    for ok, (j, i, exo) in zip(passed, picked, strict=True):
        plan = each[j]
        try:
            if not ok and bg is not None and exo.release.latency_profile:  # (`_asked` left these)
                ok = reviews_pass(scn, bg, plan, drawn, j, exo, key=(seed, i))
            fires = ok and (fired[j] if j in fired else alert_fires(scn, plan, drawn, j, exo))
            if ok and not fires:
                phase: Any = Phase(plan.run.world.marks, exo.release, drawn.ledgers[j])
                rows[i] = deploy_row(scn, strategy, i, seed, [phase], last=plan.run.deploy, end=plan.end)
            else:  # handed over: the alert need not look at the fill if it fires nowhere over it
                quiet = not fires and not alert_fires(scn, plan, drawn, j, exo, anywhere=True)
                fill = drawn.fill(plan, j)._replace(alert_quiet=quiet)
                rows[i] = simulate(scn, strategy, exo, seed, i, fill=fill).row
        except Exception as err:  # one deploy's failure is its own row's, not its block's (desmod's rule)
            rows[i] = error_row(scn, strategy, i, seed, err)
    return rows


def _asked(
    scn: Scenario,
    bg: Background,
    served: tuple[Plan, Block],
    deploys: Sequence[tuple[int, Exogenous]],
    where: tuple[int, list[int]],
    passed: list[bool],
) -> list[bool]:
    """`passed` (per row in `where`), with the deploys whose background analysis only asked a
    person (and no review failed) passing too, worked out for the block at once; a release with
    a latency profile of its own is left to `reviews_pass`, deploy by deploy."""
    seed, rows = where
    plan, block = served
    ask = [x for x, ok in enumerate(passed) if not ok and not deploys[rows[x]][1].release.latency_profile]
    if not ask:
        return passed
    try:
        kept = reviews_pass_block(scn, bg, plan, block, deploys, (seed, [rows[x] for x in ask]))
    except Exception:  # those deploys go to the event engine, which records any failure on their rows
        return passed
    out = list(passed)
    for x, ok in zip(ask, kept.tolist(), strict=True):
        out[x] = ok
    return out
