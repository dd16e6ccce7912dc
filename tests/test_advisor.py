"""The advisor: the cheapest strategy meeting the limits, read through the intervals of the statistic each
limit asks for; its sourced defaults; which limit binds; and, on the default scenario, a pick that stops
most bad releases before they reach everyone."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.results import advisor
from sim.results.advisor import LIKELY, MEETS, MISSES, NO_DATA, SHOWN, Limits, advise
from sim.results.summary import SUMMARY_COLUMNS

NAN = math.nan

#: A restricted mean of time to restore that censored releases have inflated: a limit on the median
#: must never read it.
INFLATED_MEAN = 1e9


def summary(
    table: dict[str, dict[str, tuple[float, float, float]]], n: int = 10, censored: int = 0
) -> pd.DataFrame:
    """A tidy summary from {strategy: {metric: (estimate, lo, hi)}}. Time to restore's triple is its
    median and the median's interval (its mean is INFLATED_MEAN); every other triple is a mean or rate
    and its interval, as `sim.summarize` lays them out. Lead time is 0 unless given."""
    rows = []
    for s, metrics in table.items():
        metrics = {"lead_time_s": (0.0, 0.0, 0.0), **metrics}
        for m, (est, lo, hi) in metrics.items():
            if m == "time_to_restore_s":
                mean = NAN if math.isnan(est) else INFLATED_MEAN
                rows.append([s, m, n, censored, mean, est, NAN, NAN, 0.0, 2 * INFLATED_MEAN, lo, hi])
            else:
                rows.append([s, m, n, 0, est, NAN, NAN, NAN, lo, hi, NAN, NAN])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


SAFE = {  # what a careful strategy shows on the metrics the advisor always reads
    "escaped_rate": (0.05, 0.02, 0.1),
    "error_budget_per_bad_release": (0.01, 0.005, 0.02),
    "downtime_s": (0.0, 0.0, 0.0),
}


def strat(cost, blast, ttr, fr=(0.0, 0.0, 0.01), lead=0.0, **more):
    return {
        **SAFE,
        "extra_instance_hours": (cost, cost, cost),
        "faulty_requests": blast,
        "affected_users": blast,
        "time_to_restore_s": ttr,
        "false_rollback_rate": fr,
        "lead_time_s": (lead, lead, lead),
        **more,
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
    assert advisor.status(10, 5, math.inf, 20) == LIKELY  # an interval with no upper end
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


def test_a_limit_met_only_by_its_estimate_names_a_candidate_not_a_choice():
    # middle's mean blast radius 1,000 is within 1,100 but its interval reaches 1,200.
    a = advise(THREE, Limits(blast_radius=1100, time_to_restore_s=60, extra_instance_hours=2))
    assert a.choice is None and a.candidate == "middle"
    assert "run more deploys" in a.message and "blast radius (mean) up to 1,200" in a.message


def test_when_none_qualifies_the_binding_limit_and_its_needed_value_are_named():
    a = advise(THREE, Limits(blast_radius=150, time_to_restore_s=60, extra_instance_hours=2))
    # middle misses only the blast radius, expensive only the cost: relaxing either admits one.
    assert a.choice is None and a.candidate is None
    assert a.binding == ("blast_radius", "extra_instance_hours")
    assert a.relax == {"blast_radius": ("middle", 1200), "extra_instance_hours": ("expensive", 5)}
    assert (
        "relax blast radius (mean) to 1,200 faulty requests per bad release and middle qualifies" in a.message
    )
    assert "relax extra cost (mean) to 5 instance-hours per deploy and expensive qualifies" in a.message


def test_relaxing_names_the_cheapest_strategy_it_would_admit():
    # Both cheap and middle miss only the time to restore; relaxing it admits cheap first.
    a = advise(THREE, Limits(blast_radius=200_000, time_to_restore_s=1))
    assert a.relax["time_to_restore_s"] == ("cheap", 85)
    assert "relax time to restore (median) to 1.42 min and cheap qualifies" in a.message


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
    assert a.table().loc["undetected", "time to restore, median ≤ 1 min"] == NO_DATA


def test_blast_radius_may_be_stated_in_affected_users():
    s = summary({"a": {**strat(0.0, (10, 5, 15), (1, 1, 1)), "affected_users": (500, 400, 600)}})
    assert advise(s, Limits(blast_radius=100)).choice == "a"
    a = advise(s, Limits(blast_radius=100, blast_metric="affected_users"))
    assert a.choice is None
    assert "blast radius, mean ≤ 100 affected users" in a.table().columns


def test_false_rollbacks_are_a_share_and_the_table_shows_percent():
    a = advise(THREE, Limits(false_rollback_rate=0.05))
    assert a.choice == "cheap"
    assert a.table().loc["cheap", "false rollbacks ≤ 5 %"] == "meets: 0 [0, 1]"


# ---- which statistic each limit reads ----


def test_time_to_restore_is_judged_on_its_median_and_the_medians_interval():
    # The restricted mean (INFLATED_MEAN) would miss any limit; the median 10 min [8, 12] meets 1 h.
    s = summary({"a": strat(0.0, (1, 1, 1), (600, 480, 720))})
    a = advise(s, Limits(time_to_restore_s=3600))
    (check,) = a.checks
    assert (check.stat, check.value, check.hi, check.status) == ("median", 600, 720, MEETS)
    assert a.choice == "a"
    assert a.table().loc["a", "time to restore, median ≤ 60 min"] == "meets: 10 [8, 12]"


def test_a_median_whose_interval_the_survival_curve_never_closes_is_only_likely():
    # Kaplan–Meier leaves the median's upper end undefined (NaN) when too many were never restored:
    # that is an interval without an upper end, not a certainty.
    s = summary({"open": strat(0.0, (1, 1, 1), (600, 480, NAN))}, censored=4)
    a = advise(s, Limits(time_to_restore_s=3600))
    assert a.checks[0].hi == math.inf and a.checks[0].status == LIKELY
    assert a.choice is None and a.candidate == "open" and "with no upper end" in a.message
    assert a.table().loc["open", "time to restore, median ≤ 60 min"] == "likely: 10 [8, ∞]"
    # No finite relaxation would make it meet: the advice does not name one.
    a = advise(s, Limits(time_to_restore_s=60))
    assert a.relax == {} and a.binding == ("time_to_restore_s",)


def test_a_rate_is_judged_on_its_wilson_interval():
    s = summary({"a": strat(0.0, (1, 1, 1), (1, 1, 1), escaped_rate=(0.2, 0.1, 0.3))})
    assert advise(s, Limits(escaped_rate=0.25)).checks[0].status == LIKELY
    assert advise(s, Limits(escaped_rate=0.3)).checks[0].status == MEETS
    assert advise(s, Limits(escaped_rate=0.15)).checks[0].status == MISSES


def test_the_table_always_shows_what_a_strategy_does_to_users():
    # Limited on cost alone, the table still reads every strategy's restore, escapes, budget and downtime.
    s = summary(
        {
            "down": strat(0.0, (1, 1, 1), (900, 700, 1200), downtime_s=(100.0, 95.0, 105.0)),
            "up": strat(2.0, (1, 1, 1), (60, 60, 62)),
        },
        n=40,
        censored=2,
    )
    a = advise(s, Limits(extra_instance_hours=1))
    t = a.table()
    assert list(t.index) == ["down", "up"]
    assert list(t.columns) == [
        "bad releases",
        "time to restore, median (min)",
        "escaped defects (%)",
        "error budget per bad release, mean (%)",
        "downtime, mean (s)",
        "extra cost, mean ≤ 1 instance-h",
    ]
    assert t.loc["down", "downtime, mean (s)"] == "100 [95, 105]"  # shown, not judged
    assert t.loc["down", "time to restore, median (min)"] == "15 [11.7, 20]"
    assert t.loc["up", "extra cost, mean ≤ 1 instance-h"] == "misses: 2 [2, 2]"
    assert t.loc["up", "bad releases"] == "40, 2 never restored"
    assert a.choice == "down" and {c.limit for c in a.checks} == {"extra_instance_hours"}
    assert {c.limit for c in a.readings} == {*SHOWN, "extra_instance_hours"}


# ---- the defaults ----


def test_the_defaults_are_the_sourced_limits_against_the_scenarios_slo():
    payments = sim.load_scenario("payments")
    d = Limits.defaults(payments)
    assert d.given() == {
        "time_to_restore_s": 3600.0,  # DORA: elite restores in less than an hour
        "escaped_rate": 0.25,
        "error_budget_per_bad_release": 0.20,  # SRE Workbook: one incident over 20% → postmortem
        "downtime_s": 0.0,
        "false_rollback_rate": 0.10,
    }
    assert (d.slo, d.budget_days) == (payments.slo.slo, payments.slo.budget_days)
    assert advisor.value_text("error_budget_per_bad_release", 0.2, d) == (
        f"20 % of the error budget ({payments.slo.slo * 100:g}% SLO over {payments.slo.budget_days:g} days)"
    )
    assert Limits().given() == {}  # no limit unless asked for
    cleared = Limits.defaults(payments, escaped_rate=None, downtime_s=120.0)
    assert "escaped_rate" not in cleared.given() and cleared.downtime_s == 120.0


@pytest.mark.parametrize(
    "bad",
    [
        {"blast_radius": -1},
        {"false_rollback_rate": 2},
        {"escaped_rate": 1.5},
        {"downtime_s": -1},
        {"time_to_restore_s": NAN},
        {"blast_metric": "x"},
    ],
)
def test_bad_limits_are_config_errors(bad):
    with pytest.raises(sim.ConfigError):
        Limits(**bad)


def test_a_bad_release_may_burn_more_than_the_whole_budget():
    assert Limits(error_budget_per_bad_release=1.5).error_budget_per_bad_release == 1.5


# ---- the pick meets every limit it shows; every cheaper strategy misses one ----


Lookup = dict[tuple[str, str], dict]


def _lookup(s: pd.DataFrame) -> Lookup:
    return {(r["strategy"], r["metric"]): r for r in s.to_dict("records")}


def _meets(rows: Lookup, strategy: str, limits: Limits) -> bool:
    """Whether `strategy` meets every limit, read straight from the summary: by the statistic the limit
    asks for, the estimate and its interval's upper end within the bound (a missing upper end beside an
    estimate from two or more values is no upper end at all)."""
    for name, bound in limits.given().items():
        m = limits.measure(name)
        r = rows[strategy, m.metric]
        est, hi = (r["p50"], r["p50_hi"]) if m.stat == "median" else (r["mean"], r["ci95_hi"])
        if math.isnan(hi) and r["n"] >= 2:
            hi = math.inf
        if math.isnan(est) or est > bound or (not math.isnan(hi) and hi > bound):
            return False
    return True


def _random_case(rng: np.random.Generator) -> tuple[pd.DataFrame, Limits]:
    base = Limits.defaults(blast_radius=1000.0, extra_instance_hours=3.0)
    bounds = base.given()
    table = {}
    for i in range(int(rng.integers(2, 6))):
        metrics: dict[str, tuple[float, float, float]] = {}
        for name, bound in bounds.items():
            scale = bound if bound > 0 else 10.0  # downtime's limit is 0: draw around a few seconds
            est = float(rng.uniform(0, 1.2 * scale))
            lo, hi = est * rng.uniform(0.5, 1.0), est + scale * rng.uniform(0, 0.3)
            if rng.random() < 0.3:
                est = lo = hi = 0.0  # none at all, as no downtime or no escape is
            elif rng.random() < 0.05:
                est = lo = hi = NAN  # no data
            elif rng.random() < 0.05:
                hi = NAN  # an interval without an upper end
            metrics[base.metric(name)] = (est, lo, hi)
        cost = metrics["extra_instance_hours"][0]
        metrics["extra_instance_hours"] = (cost, cost, cost)  # the ranking reads the mean cost
        metrics["lead_time_s"] = (float(rng.uniform(0, 3600)),) * 3
        table[f"s{i}"] = metrics
    keep = [n for n in bounds if rng.random() < 0.6]
    limits = Limits.defaults(**{n: (bounds[n] if n in keep else None) for n in advisor.LIMITS})
    return summary(table), limits


def _cost_order(rows: Lookup, strategies: list[str]) -> list[str]:
    """Cheapest first from the summary itself, not the advisor's ranking (no cost known: last)."""

    def cost(x: str) -> tuple[float, ...]:
        means = (rows[x, m]["mean"] for m in ("extra_instance_hours", "lead_time_s"))
        return tuple(math.inf if math.isnan(v) else float(v) for v in means)

    return sorted(strategies, key=cost)


def test_on_synthetic_summaries_the_pick_meets_every_limit_and_every_cheaper_strategy_misses_one():
    rng = np.random.default_rng(20_261_127)
    chosen = passed_over = none = 0
    for _ in range(300):
        s, limits = _random_case(rng)
        a = advise(s, limits)

        rows = _lookup(s)
        order = _cost_order(rows, list(dict.fromkeys(s["strategy"])))
        if a.choice is None:
            none += 1
            assert not any(_meets(rows, x, limits) for x in order)
            continue
        chosen += 1
        assert _meets(rows, a.choice, limits)
        assert all(c.status == MEETS for c in a.checks if c.strategy == a.choice)
        shown = a.table().loc[a.choice]
        assert all(shown[advisor.column_title(n, limits)].startswith("meets: ") for n in limits.given())
        passed_over += order.index(a.choice) > 0
        for cheaper in order[: order.index(a.choice)]:
            assert not _meets(rows, cheaper, limits)
    # Every branch was exercised: a pick (often past cheaper strategies that miss) and none at all.
    assert chosen >= 100 and passed_over >= 50 and none >= 100


# ---- the default scenario ----

#: Deploys per seed: about 60 bad releases, enough that progressive's Wilson upper bound on escapes
#: (point ≈ 5-9%) stays under the 25% limit. Checked while writing: at 300 deploys seeds 42 and 1-6
#: all pick progressive with every limit met; at 200, seed 42's interval already reaches 22%; at 300,
#: seed 7 leaves it a candidate (25.7%). Three batches take 10-18 s on one core of the shared host.
DEFAULT_DEPLOYS = 300


@functools.cache
def default_summary(seed: int) -> pd.DataFrame:
    return sim.summarize(
        sim.run_batch(sim.load_scenario("default"), deploys=DEFAULT_DEPLOYS, seed=seed, jobs=1)
    )


@pytest.mark.parametrize("seed", [42, 1, 2])
def test_on_the_default_scenario_the_default_pick_stops_most_bad_releases(seed):
    scn = sim.load_scenario("default")
    s = default_summary(seed)
    a = advise(s, Limits.defaults(scn))
    assert a.choice is not None, a.message
    assert a.choice not in ("recreate", "blue_green")
    escaped = s[(s["strategy"] == a.choice) & (s["metric"] == "escaped_rate")].iloc[0]
    assert escaped["ci95_hi"] < 0.5  # most bad releases stopped before everyone, with 95% confidence
    rows = _lookup(s)
    assert _meets(rows, a.choice, a.limits)
    for cheaper in a.ranking[: a.ranking.index(a.choice)]:
        assert not _meets(rows, cheaper, a.limits)


def test_the_old_limits_crowned_recreate_on_the_default_scenario():
    # Why the defaults changed: time to restore and false rollbacks alone let recreate, which sends
    # every bad release to every user and is down on every deploy, through as the cheapest.
    s = default_summary(42)
    assert advise(s, Limits(time_to_restore_s=3600, false_rollback_rate=0.1)).choice == "recreate"
    assert advise(s, Limits.defaults(sim.load_scenario("default"))).choice != "recreate"
