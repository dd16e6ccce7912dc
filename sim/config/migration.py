"""Schema migrations: what a release does to the one database both versions share.

A breaking change (rename or drop a column the old binary reads, in one step) makes the old
binary's requests that touch the table fail from the moment it lands, whichever version the
router prefers; rolling the binary back does not undo it, only a restore or a forward fix does.
Expand-and-contract splits the change into deploys that keep the schema readable by the version
before and after each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ..core.dist import Dist, fixed, lognormal
from ..core.errors import ConfigError
from ..core.schema import Config, num, section, text

MigrationKind = Literal["none", "additive", "breaking", "expand_contract"]
Step = Literal["expand", "backfill", "migrate_reads", "contract"]
STEPS: tuple[str, ...] = get_args(Step)

#: The plan step whose deploy changes behaviour: the release's code faults ride on it.
BEHAVIOUR_STEP = "migrate_reads"


@dataclass(frozen=True)
class MigrationConfig(Config):
    kind: MigrationKind = text("none", doc="the schema change releases carry (breaking: in one step)")
    touch_share: float = num(0.3, 0.0, 1.0, doc="share of user requests that read or write the changed table")
    restore_s: Dist = section(
        lambda: lognormal(1800.0, 3600.0),
        doc="from detection, time to restore the schema or ship a forward fix, s",
    )
    plan: tuple[Step, ...] = section(lambda: STEPS, doc="expand_contract: its deploys, in order")
    backfill_s: Dist = section(
        lambda: fixed(1800.0), doc="expand_contract: backfill after the dual-write deploy, s"
    )
    gap_s: float = num(
        600.0, 0.0, 30 * 86400.0, unit="s", doc="expand_contract: bake time between the plan's deploys"
    )

    def validate(self) -> None:
        if self.kind != "expand_contract":
            return
        plan = list(self.plan)
        if len(set(plan)) != len(plan):
            raise ConfigError(f"a step repeats: {plan}", ("plan",))
        if not plan or plan[0] != "expand":
            raise ConfigError("the plan starts by expanding (add the new column, nullable)", ("plan", 0))
        rank = {name: i for i, name in enumerate(plan)}
        rules = [
            ("backfill", "expand", "backfill before the new column exists"),
            ("migrate_reads", "backfill", "reads move before the new column is filled (backfill first)"),
            ("contract", "migrate_reads", "contract before reads migrated: old code still reads the column"),
        ]
        for step, needs, why in rules:
            if step in rank and (needs not in rank or rank[needs] > rank[step]):
                raise ConfigError(why, ("plan", rank[step]))
        try:
            self.backfill_s.check_within(0.0, float("inf"), "s")
        except ConfigError as err:
            raise err.at("backfill_s") from None

    @property
    def deploys(self) -> tuple[str, ...]:
        """The deploys a release becomes: the plan for expand-and-contract, else one."""
        return tuple(self.plan) if self.kind == "expand_contract" else ("release",)

    @property
    def behaviour_deploy(self) -> int:
        d = self.deploys
        return d.index(BEHAVIOUR_STEP) if BEHAVIOUR_STEP in d else len(d) - 1
