"""A row's figures of the fault (`metrics.deploy_row`) held to the plainest way of working them out,
field by field and to the last bit, over many deploys of shipped scenarios, every strategy, half
their releases bad: every row the event engine and the array engine make, follow-ups included."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import sim
from sim.core import rng as streams
from sim.engine import metrics
from sim.engine.arrays import faulted, outcome
from sim.engine.rows import simulate_deploys
from tests.test_metrics import Recorder

# The default (no stickiness), a sticky copy of it, session affinity, a breaking migration, noisy
# neighbours and a flag: each row kind of `affected_users`, downtime or none, one phase or two.
SCENARIOS = [
    ("default", []),
    ("default", ["routing.sticky=true"]),
    ("session-affinity", []),
    ("schema-rename-breaking", []),
    ("noisy-cluster", []),
    ("flagged-release", []),
]
DEPLOYS = 40


def _plain_first(phases: Any, rng: np.random.Generator) -> float:
    """The first faulty request over the phases' rows laid end to end, each row's segments summed."""
    led = [w.ledger for w in phases]
    faulty, t0, dt = (np.concatenate([L[c] for L in led]) for c in ("faulty", "t0", "dt"))
    rows = faulty.sum(1)
    hit = np.flatnonzero(rows > 0)
    if not len(hit):
        return math.nan
    i = int(hit[0])
    return float(t0[i] + dt[i] * rng.beta(1, int(rows[i])))


def _plain_unbanded(faulty: np.ndarray, u: metrics.Audience, rng: np.random.Generator) -> float:
    """Without stickiness, one band per segment: the general bands' way (`_banded`)."""
    return metrics._banded(faulty, None, np.array(u.users), u.shape, rng)


def _same(a: Any, b: Any) -> bool:
    return (a == b and type(a) is type(b)) or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


def _made(scn: sim.Scenario, monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple, dict, dict]]:
    """Every `deploy_row` call of a batch of every strategy: its arguments and its row."""
    made: list[tuple[tuple, dict, dict]] = []
    row_of = metrics.deploy_row

    def kept(*args: Any, **kwargs: Any) -> dict[str, Any]:
        row = row_of(*args, **kwargs)
        made.append((args, kwargs, row))
        return row

    with monkeypatch.context() as m:
        for module in (sim.engine.simulate, outcome, faulted):
            m.setattr(module, "deploy_row", kept)
        simulate_deploys(scn, list(scn.strategies), 5, 0, DEPLOYS)
    return made


@pytest.mark.parametrize(("name", "overrides"), SCENARIOS)
def test_a_rows_fault_figures_are_the_plain_ones(name: str, overrides: list[str], monkeypatch) -> None:
    scn = sim.load_scenario(name, overrides=["releases.bad_probability=0.5", *overrides])
    made = _made(scn, monkeypatch)
    bad = [(args, kwargs, row) for args, kwargs, row in made if row["release_bad"]]
    # Not a check that passes unexercised: bad rows, some of them faulty, some with a follow-up.
    assert len(bad) >= 12 and any(row["faulty_requests"] > 0 for _, _, row in bad)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_first_faulty_request", _plain_first)
        m.setattr(metrics, "_unbanded", _plain_unbanded)
        for args, kwargs, row in made:
            plain = metrics.deploy_row(*args, **kwargs)
            assert [k for k in plain if not _same(row[k], plain[k])] == [], (name, args[1:4])
    for args, _, row in made:
        phases = args[4]
        faulty, dt, down = (np.concatenate([w.ledger[c] for w in phases]) for c in ("faulty", "dt", "down"))
        assert _same(row["downtime_s"], float(dt[down].sum()))
        assert _same(row["faulty_requests"], float(faulty.sum()) if row["release_bad"] else math.nan)


def test_the_first_faulty_request_is_found_in_whichever_phase_met_the_fault_first(monkeypatch) -> None:
    """The phases' rows are walked in turn: one in the follow-up is found there."""
    scn = sim.load_scenario("default", overrides=["releases.bad_probability=1"])
    two = [args for args, _, _ in _made(scn, monkeypatch) if len(args[4]) == 2]
    assert two
    for args in two:
        phases, seed, deploy = args[4], args[3], args[2]
        got = metrics._first_faulty_request(phases, streams.stream(seed, deploy, streams.METRICS))
        assert _same(got, _plain_first(phases, streams.stream(seed, deploy, streams.METRICS)))
    # The watch's rows all clean (a ledger as the array engine hands it): the fault met in the follow-up.
    watch, later = next(args[4] for args in two if args[4][1].ledger["faulty"].any())
    n = watch.ledger.n
    clean = {c: v[:n] for c, v in watch.ledger.cols.items()} | {"faulty": np.zeros((n, 3), np.int64)}
    phases = [outcome.Phase(watch.marks, watch.release, clean), later]
    got = metrics._first_faulty_request(phases, np.random.default_rng(3))
    assert got >= later.ledger["t0"][0] and _same(got, _plain_first(phases, np.random.default_rng(3)))


@pytest.mark.parametrize("name", ["default", "noisy-cluster"])
def test_the_users_met_are_asked_for_with_the_bands_numbers_on_shipped_ledgers(name: str, monkeypatch):
    """Every binomial asked for with the bands' exact numbers, over the faulty columns of the shipped
    runs (a last-bit difference in a probability would rarely change the users drawn)."""
    scn = sim.load_scenario(name, overrides=["releases.bad_probability=0.5"])
    u = metrics.audience(scn.traffic)
    one = 0
    for args, _, row in _made(scn, monkeypatch):
        if not row["release_bad"]:
            continue
        faulty = np.concatenate([w.ledger["faulty"] for w in args[4]])
        one += int(np.count_nonzero(faulty.any(0))) == 1
        fast, general = Recorder(), Recorder()
        assert metrics._unbanded(faulty, u, fast) == _plain_unbanded(faulty, u, general)
        assert (fast.n, fast.p) == (general.n, general.p)
    assert one  # a fault in one segment: a column of its own, summed in order


def test_a_scenarios_audience_is_made_once_and_read_only() -> None:
    scn = sim.load_scenario("default")
    u = metrics.audience(scn.traffic)
    assert metrics.audience(scn.traffic) is u
    assert not u.users.flags.writeable and not u.whole.flags.writeable
    assert u.users.tolist() == (scn.traffic.users.population * scn.traffic.shares).tolist()
    other = sim.load_scenario("default", overrides=["traffic.users.population=1000"])
    assert metrics.audience(other.traffic).users.tolist() != u.users.tolist()
