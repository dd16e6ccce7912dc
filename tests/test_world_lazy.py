"""A tape's ledger built on first use (`Tape.ledger`): a plan's run never builds one, a run that
draws builds the one it built at once before (its shape), and the rows are those of a tape that
built it at once, over many deploys of shipped scenarios."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import sim
from sim.engine import tape as tape_module
from sim.engine.arrays.paced import paced, paced_run
from sim.engine.exogenous import draw_exogenous
from sim.engine.ledger import Ledger
from sim.engine.simulate import simulate

SCENARIOS = ("default", "payments", "flagged-release", "session-affinity", "schema-expand-contract")


def _eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tape builds its ledger at once, as before."""
    init = tape_module.Tape.__init__

    def built(self: tape_module.Tape, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self.ledger  # noqa: B018

    monkeypatch.setattr(tape_module.Tape, "__init__", built)


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_a_plans_run_builds_no_ledger() -> None:
    for name in SCENARIOS:
        scn = sim.load_scenario(name, overrides=["releases.bad_probability=0"])
        for strategy in scn.strategies:
            for deploy in range(4):
                exo = dataclasses.replace(draw_exogenous(scn, 3, deploy), episodes=())
                run = simulate(scn, strategy, exo, 3, deploy, plan=[])
                assert run.world.tape._ledger is None, (name, strategy)
                if paced(scn, strategy):
                    walked = paced_run(scn, strategy, exo, (3, deploy), [])
                    assert walked.world.tape._ledger is None, (name, strategy)


def test_a_drawn_ledger_is_the_one_built_at_once() -> None:
    scn = sim.load_scenario("default", overrides=["releases.bad_probability=1"])
    for strategy in scn.strategies:
        exo = draw_exogenous(scn, 5, 1)
        world = simulate(scn, strategy, exo, 5, 1).world
        assert world.ledger is world.tape.ledger is world.tape.ledger
        ledger = world.ledger
        assert ledger.n > 0
        fresh = Ledger(len(exo.traffic.counts) + 64, len(scn.traffic.shares))
        for name, col in fresh.cols.items():
            assert ledger.cols[name].dtype == col.dtype, name
            assert ledger.cols[name].shape[1:] == col.shape[1:], name
            # Sized as before unless the run grew it past the windows it began with.
            assert ledger.cols[name].shape[0] == col.shape[0] or ledger.n > col.shape[0], name


@pytest.mark.parametrize("name", SCENARIOS)
def test_rows_are_those_of_a_ledger_built_at_once(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scn = sim.load_scenario(name, overrides=["releases.bad_probability=0.5"])
    lazy = sim.run_batch(scn, deploys=24, seed=7, jobs=1)
    _eager(monkeypatch)
    eager = sim.run_batch(scn, deploys=24, seed=7, jobs=1)
    assert list(lazy.columns) == list(eager.columns)
    assert len(lazy) == len(eager) == 24 * len(scn.strategies)
    for col in lazy.columns:
        for a, b in zip(lazy[col].tolist(), eager[col].tolist(), strict=True):
            assert _same(a, b), (name, col, a, b)
    assert not lazy["error"].notna().any()
    assert np.isfinite(lazy["failed_requests"].to_numpy(float)).all()
