"""The advisor: the cheapest strategy meeting the limits, read through the intervals; which limit binds."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import sim
from sim import advisor
from sim.advisor import LIKELY, MEETS, MISSES, NO_DATA, Limits, advise
from sim.summary import SUMMARY_COLUMNS

NAN = math.nan


def summary(table: dict[str, dict[str, tuple[float, float, float]]]) -> pd.DataFrame:
    """A tidy summary from {strategy: {metric: (mean, lo, hi)}}; lead time 0 unless given."""
    rows = []
    for s, metrics in table.items():
        metrics = {"lead_time_s": (0.0, 0.0, 0.0), **metrics}
        for m, (mean, lo, hi) in metrics.items():
            rows.append([s, m, 10, 0, mean, NAN, NAN, NAN, lo, hi, NAN, NAN])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def strat(cost, blast, ttr, fr=(0.0, 0.0, 0.01), lead=0.0):
    return {
        "extra_instance_hours": (cost, cost, cost),
        "faulty_requests": blast,
        "affected_users": blast,
        "time_to_restore_s": ttr,
        "false_rollback_rate": fr,
        "lead_time_s": (lead, lead, lead),
    }


THREE = summary(
    {
        "expensive": strat(5.0, (100, 80, 120), (2, 2, 2)),
        "middle": strat(1.0, (1000, 800, 1200), (30, 20, 40)),
        "cheap": strat(0.0, (90_000, 80_000, 100_000), (85, 85, 85)),
    }
)


def test_status_reads_the_whole_interval():
    assert advisor.status(10, 5, 15, 20) == MEETS
    assert advisor.status(10, 5, 15, 15) == MEETS  # the bound itself is within
    assert advisor.status(10, 5, 25, 20) == LIKELY
    assert advisor.status(25, 20, 30, 20) == MISSES
    assert advisor.status(NAN, NAN, NAN, 20) == NO_DATA
    assert advisor.status(10, NAN, NAN, 20) == MEETS  # one value: no interval to reach past the bound


def test_cost_order_is_extra_instance_hours_then_lead_time_then_name():
    s = summary(
        {
            "b": strat(1.0, (1, 1, 1), (1, 1, 1), lead=60),
            "a": strat(1.0, (1, 1, 1), (1, 1, 1), lead=60),
            "slow": strat(1.0, (1, 1, 1), (1, 1, 1), lead=600),
            "free": strat(0.0, (1, 1, 1), (1, 1, 1), lead=6000),
        }
    )
    assert advisor.cost_order(s) == ["free", "a", "b", "slow"]


def test_no_limits_names_the_cheapest():
    a = advise(THREE, {})
    assert a.choice == "cheap" and a.ranking == ("cheap", "middle", "expensive")
    assert "cheapest strategy is cheap" in a.message


def test_the_cheapest_strategy_meeting_every_limit_is_chosen():
    a = advise(THREE, Limits(blast_radius=5000, time_to_restore_s=60))
    assert a.choice == "middle"  # cheap misses both, expensive also meets but costs more
    assert a.candidate is None and a.binding == () and "middle is the cheapest" in a.message
    a = advise(THREE, Limits(blast_radius=200, time_to_restore_s=60))
    assert a.choice == "expensive"


def test_a_limit_met_only_on_average_names_a_candidate_not_a_choice():
    # middle's mean blast radius 1,000 is within 1,100 but its interval reaches 1,200.
    a = advise(THREE, Limits(blast_radius=1100, time_to_restore_s=60, extra_instance_hours=2))
    assert a.choice is None and a.candidate == "middle"
    assert "run more deploys" in a.message and "1,200" in a.message


def test_when_none_qualifies_the_binding_limit_and_its_needed_value_are_named():
    a = advise(THREE, Limits(blast_radius=150, time_to_restore_s=60, extra_instance_hours=2))
    # middle misses only the blast radius, expensive only the cost: relaxing either admits one.
    assert a.choice is None and a.candidate is None
    assert a.binding == ("blast_radius", "extra_instance_hours")
    assert a.relax == {"blast_radius": ("middle", 1200), "extra_instance_hours": ("expensive", 5)}
    assert "relax blast radius to 1,200 faulty requests per bad release and middle qualifies" in a.message
    assert "relax extra cost to 5 instance-hours per deploy and expensive qualifies" in a.message


def test_relaxing_names_the_cheapest_strategy_it_would_admit():
    # Both cheap and middle miss only the time to recover; relaxing it admits cheap first.
    a = advise(THREE, Limits(blast_radius=200_000, time_to_restore_s=1))
    assert a.relax["time_to_restore_s"] == ("cheap", 85)


def test_when_every_strategy_misses_two_limits_the_most_missed_one_binds():
    a = advise(THREE, Limits(blast_radius=10, time_to_restore_s=3, extra_instance_hours=0.5))
    assert a.relax == {}
    assert a.binding == ("blast_radius",)  # missed by all three; recovery by two, cost by two
    assert "two or more" in a.message


def test_no_data_never_meets_a_limit():
    s = summary(
        {
            "undetected": strat(0.0, (10, 5, 15), (NAN, NAN, NAN)),
            "caught": strat(1.0, (10, 5, 15), (5, 4, 6)),
        }
    )
    a = advise(s, Limits(time_to_restore_s=60))
    assert a.choice == "caught"
    assert a.table().loc["undetected"].iloc[0] == NO_DATA


def test_blast_radius_may_be_stated_in_affected_users():
    s = summary({"a": {**strat(0.0, (10, 5, 15), (1, 1, 1)), "affected_users": (500, 400, 600)}})
    assert advise(s, Limits(blast_radius=100)).choice == "a"
    assert advise(s, Limits(blast_radius=100, blast_metric="affected_users")).choice is None


def test_false_rollbacks_are_a_share_and_the_table_shows_percent():
    a = advise(THREE, Limits(false_rollback_rate=0.05))
    assert a.choice == "cheap"
    assert list(a.table().columns) == ["false rollbacks ≤ 5 % of good releases"]
    assert a.table().loc["cheap"].iloc[0] == "meets: 0 [0, 1]"


@pytest.mark.parametrize(
    "bad",
    [{"blast_radius": -1}, {"false_rollback_rate": 2}, {"time_to_restore_s": NAN}, {"blast_metric": "x"}],
)
def test_bad_limits_are_config_errors(bad):
    with pytest.raises(sim.ConfigError):
        Limits(**bad)


def test_on_a_real_batch_the_choice_meets_every_limit_and_every_cheaper_strategy_does_not():
    s = sim.summarize(sim.run_batch(sim.load_scenario("default"), deploys=40, seed=3))
    limits = Limits(time_to_restore_s=60, false_rollback_rate=0.5)
    a = advise(s, limits)
    assert a.choice is not None
    for strategy in a.ranking[: a.ranking.index(a.choice)]:
        assert any(c.status != MEETS for c in a.checks if c.strategy == strategy)
    for c in a.checks:
        if c.strategy == a.choice:
            assert c.ci95_hi <= c.bound
