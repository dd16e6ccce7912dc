"""The array engine: a block of deploys served along their strategy's plan at once; the event engine
takes over only the deploys that depart from the plan.

Until a deploy makes a decision that depends on what it saw — a look that does not pass, an
alert that fires — it does exactly what the strategy's plan does: the same weights and replicas at
the same instants. The plan is the event engine's own run of the strategy with every look passing
and nothing served (`simulate(..., plan=...)`), made once per scenario and strategy. A block of
`BLOCK` deploys is then served along it in a handful of numpy calls over deploys × windows, from
one stream per block. Each deploy's looks and alert are worked out from those arrays with the
deploy's own observation stream, exactly as the event engine would make them. A deploy whose looks
all pass and whose alert never fires is done: its row is read from the arrays. Any other is run by
the event engine over the same traffic (`Fill`): the tape hands out the block's draws for as long
as the deploy follows the plan, so the event engine meets the same decision at the same instant,
and draws for itself from there on. A deploy's row is therefore the event engine's row for the
block's traffic, whichever way it was computed (`tests/test_arrays.py` checks it deploy by deploy).

Covered for now (`plannable`, `covered`): good releases — noisy neighbours or not — of
progressive rollouts without a manual gate, recreates and self-promoting blue-green cutovers,
with looks judged from aggregates and no schema change. Bad releases of a progressive rollout
with one background analysis are served too, each with its fault (`faulted`): one its looks (or
the person they ask) roll back before the alert or its users act has its row read from arrays,
its decisions taken from the strategy's run with nothing served; any other keeps the traffic the
block drew for it, which the event engine follows (drawn afresh, a release the block's draws let
through would get a second chance to be caught). Everything else runs in the event engine, chosen
by the scenario and the deploy's own draws. A manual canary's plan of a deploy's own is walked
without a SimPy run (`paced`): the same plan, to the last bit.
"""

from .alert import alert_fires, alerts_fire
from .faulted import Caught, caught_block
from .judge import follows_plan, looks_pass, plan_looks_pass, plans_looks_pass
from .outcome import block_rows
from .plan import (
    BLOCK,
    MAX_WINDOWS,
    Pieces,
    Plan,
    covered,
    make_plan,
    personal,
    plannable,
    sparse,
    windows_cut,
)
from .reviews import Background, background, reviews_pass, reviews_pass_block
from .serve import Block, draw_block, serve_apart, serve_block

__all__ = [
    "BLOCK",
    "MAX_WINDOWS",
    "Background",
    "Block",
    "Caught",
    "Pieces",
    "Plan",
    "alert_fires",
    "alerts_fire",
    "background",
    "block_rows",
    "caught_block",
    "covered",
    "draw_block",
    "follows_plan",
    "looks_pass",
    "make_plan",
    "personal",
    "plan_looks_pass",
    "plannable",
    "plans_looks_pass",
    "reviews_pass",
    "reviews_pass_block",
    "serve_apart",
    "serve_block",
    "sparse",
    "windows_cut",
]
