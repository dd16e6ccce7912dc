"""A block's rows: read from the arrays for the deploys that follow the plan, the event engine's
over the block's traffic for the others."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...config.scenario import Scenario
from ..exogenous import Exogenous
from ..metrics import deploy_row, error_row
from ..simulate import simulate
from .judge import alert_fires, follows_plan, looks_pass
from .plan import Plan
from .serve import draw_block


class _Phase:
    """What a row reads of a run's world, for a deploy that followed the plan: the plan's marks, the
    deploy's release and its ledger's columns from the block."""

    def __init__(self, plan: Plan, release: Any, ledger: dict[str, np.ndarray]) -> None:
        self.marks, self.release, self.ledger, self.rng = plan.run.world.marks, release, ledger, None


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
    else:  # each deploy's own looks and alert, through the event engine's code (a plan per deploy)
        each = list(plans)
        passed = [follows_plan(scn, each[j], drawn, j, exo, (seed, i)) for j, i, exo in picked]
    rows = {}
    for ok, (j, i, exo) in zip(passed, picked, strict=True):
        plan = each[j]
        try:
            # (`follows_plan` has run the alert already for a plan of the deploy's own.)
            fires = ok and isinstance(plans, Plan) and alert_fires(scn, plan, drawn, j, exo)
            if ok and not fires:
                phase: Any = _Phase(plan, exo.release, drawn.ledgers[j])
                rows[i] = deploy_row(scn, strategy, i, seed, [phase], last=plan.run.deploy, end=plan.end)
            else:  # handed over: the alert need not look at the fill if it fires nowhere over it
                quiet = not fires and not alert_fires(scn, plan, drawn, j, exo, anywhere=True)
                fill = drawn.fill(plan, j)._replace(alert_quiet=quiet)
                rows[i] = simulate(scn, strategy, exo, seed, i, fill=fill).row
        except Exception as err:  # one deploy's failure is its own row's, not its block's (desmod's rule)
            rows[i] = error_row(scn, strategy, i, seed, err)
    return rows
