"""Each shipped scenario's lesson emerges from the model (nothing in the files states a result).

Criterion throughout: two strategies differ when their 95% intervals do not overlap — Student-t
intervals for means, Wilson intervals for rates (as `sim.summarize` computes them), or a sign
test on per-deploy pairs, which common random numbers make possible (every strategy meets the
same releases, traffic and noise in deploy i). Seeds are fixed; the deploy counts are the
smallest that separate the intervals comfortably at those seeds.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import sim
from sim.results.summary import wilson

pytestmark = pytest.mark.slow


def batch(name: str, deploys: int, *overrides: str) -> pd.DataFrame:
    df = sim.run_batch(sim.load_scenario(name, overrides=list(overrides)), deploys=deploys, jobs=2)
    assert df["error"].isna().all()
    return df


def ci(summary: pd.DataFrame, strategy: str, metric: str) -> tuple[float, float]:
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == metric)].iloc[0]
    return float(row["ci95_lo"]), float(row["ci95_hi"])


def below(summary: pd.DataFrame, metric: str, low: str, high: str) -> bool:
    """The 95% interval of `low` lies entirely below that of `high`."""
    return ci(summary, low, metric)[1] < ci(summary, high, metric)[0]


def median_below(summary: pd.DataFrame, metric: str, low: str, high: str) -> bool:
    """The 95% interval of `low`'s median lies entirely below that of `high`'s (durations: Kaplan–Meier
    medians, which the few releases caught only days later do not move as they move a mean)."""
    rows = summary.set_index(["strategy", "metric"])
    return float(rows.at[(low, metric), "p50_hi"]) < float(rows.at[(high, metric), "p50_lo"])


def rate_ci(df: pd.DataFrame, mask: pd.Series, flag: str) -> tuple[float, float]:
    part = df[mask]
    return wilson(int(part[flag].astype(bool).sum()), len(part))


def test_payments_blue_green_undoes_in_seconds_and_without_downtime():
    s = sim.summarize(batch("payments", 300))
    for other in ("recreate", "canary", "progressive"):
        assert below(s, "time_to_repair_s", "blue_green", other), other
    # A flip of the router, not a redeploy — while blue is warm. A bug that shows days later, once
    # blue is gone, takes a redeploy: the median is a flip, the mean is not.
    assert s.set_index(["strategy", "metric"]).at[("blue_green", "time_to_repair_s"), "p50_hi"] < 10
    assert ci(s, "blue_green", "downtime_s") == (0.0, 0.0)
    assert ci(s, "recreate", "downtime_s")[0] > 0
    assert below(s, "extra_instance_hours", "progressive", "blue_green"), "the price: a warm second fleet"


def test_high_frequency_progressive_detects_sooner_ships_faster_and_hurts_fewer_than_a_manual_canary():
    df = batch("high-frequency", 300)
    s = sim.summarize(df)
    assert median_below(s, "time_to_detect_s", "progressive", "canary")
    assert below(s, "lead_time_s", "progressive", "canary")
    # Per bad release (the same release under both): the canary's people let more requests meet it
    # in most deploys. A sign test, since one escaped release can outweigh all others in a mean.
    bad = df[df["release_bad"].astype(bool)]
    wide = bad.pivot(index="deploy", columns="strategy", values="faulty_requests")
    more = wide["canary"] > wide["progressive"]
    assert wilson(int(more.sum()), len(more))[0] > 0.5
    assert ci(s, "recreate", "downtime_s")[0] > 0 and ci(s, "blue_green", "extra_instance_hours")[0] > 1


def test_nightly_batch_recreate_is_cheapest_and_quickest_while_the_canary_slice_cannot_be_small():
    df = batch("nightly-batch", 200)
    s = sim.summarize(df)
    for other in ("blue_green", "canary", "progressive"):
        assert below(s, "lead_time_s", "recreate", other), other
        assert below(s, "extra_instance_hours", "recreate", other), other
    # Two replicas and no router: a "1%" canary is one pod beside two, a third of the traffic.
    assert ci(s, "canary", "exposure_at_detection")[0] > 0.25
    assert below(s, "lead_time_s", "blue_green", "canary") and below(
        s, "lead_time_s", "blue_green", "progressive"
    )
    assert df["affected_users"].max() <= sim.load_scenario("nightly-batch").traffic.users.population


def test_noisy_cluster_fixed_limits_roll_back_good_releases_a_baseline_keeps():
    df = batch("noisy-cluster", 200)
    good = ~df["release_bad"].astype(bool)
    for manual, auto in (("canary_fixed", "canary_baseline"), ("progressive_fixed", "progressive_baseline")):
        fixed = rate_ci(df, good & (df["strategy"] == manual), "false_rollback")
        baseline = rate_ci(df, good & (df["strategy"] == auto), "false_rollback")
        assert baseline[1] < fixed[0], (manual, fixed, auto, baseline)
        # ... and they buy no significant safety: the escape rates' intervals overlap.
        bad = ~good
        esc_fixed = rate_ci(df, bad & (df["strategy"] == manual), "escaped")
        esc_base = rate_ci(df, bad & (df["strategy"] == auto), "escaped")
        assert esc_fixed[1] >= esc_base[0] and esc_base[1] >= esc_fixed[0]


def test_unrepresentative_canary_misses_the_segment_bug_a_representative_one_catches():
    biased = batch("unrepresentative-canary", 200)
    fair = batch("unrepresentative-canary", 200, "routing.canary_bias.segments.eu=1")
    for strategy in ("canary", "progressive"):
        seg_bug = (biased["fault_kind"] == "segment_bug") & (biased["strategy"] == strategy)
        missed = rate_ci(biased, seg_bug, "escaped")
        caught = rate_ci(fair, seg_bug, "escaped")  # same deploys, same releases: only the slice differs
        assert caught[1] < missed[0], (strategy, missed, caught)
        assert missed[0] > 0.5, "most segment bugs reach everyone"
    # Faults that hit every segment are still caught by the biased slice: the slice, not the
    # strategy, is what failed.
    progressive = biased["strategy"] == "progressive"
    everyone = biased["fault_kind"].isin(["crash", "error_rate"]) & progressive
    segment_only = (biased["fault_kind"] == "segment_bug") & progressive
    assert rate_ci(biased, everyone, "escaped")[1] < rate_ci(biased, segment_only, "escaped")[0]


def test_tail_latency_a_gate_misses_the_percentile_it_does_not_watch():
    df = batch("tail-latency", 200)
    tail = df["fault_kind"] == "tail_latency"
    median = df["fault_kind"] == "median_latency"

    def escaped(kind: pd.Series, strategy: str) -> tuple[float, float]:
        return rate_ci(df, kind & (df["strategy"] == strategy), "escaped")

    assert escaped(tail, "progressive_p99")[1] < escaped(tail, "progressive_p50")[0]
    assert escaped(median, "progressive_p50")[1] < escaped(median, "progressive_p99")[0]
    for kind in (tail, median):
        assert escaped(kind, "progressive_p50_p99")[1] < 0.25
    # Latency faults raise no errors: the SLO alert never catches what the gate let through. Only
    # users do, hours later, when the slow requests are slow enough to annoy them (or nobody does).
    late = df[(tail | median) & df["escaped"].astype(bool)]
    assert set(late["detected_by"].dropna()) <= {"user_report"}
    caught = late["time_to_detect_s"].dropna()
    assert len(caught) and (caught > 1800).all()


def test_session_affinity_overloads_a_canary_sized_to_its_weight_and_pins_the_same_users():
    # The claims of scenarios/session-affinity.yaml's header at seed 3, each held by an interval at
    # 1 − 0.005/3 (Bonferroni over the three claims, family 0.5%) or a separation with room to spare.
    level = 1 - 0.005 / 3
    scn = sim.load_scenario("session-affinity", overrides=["run.horizon_s=7200"])
    df = sim.run_batch(scn, deploys=150, seed=3, jobs=1)
    # 1. Scaled to its weight, the canary is overloaded by its cookie holders: good releases rolled
    # back 109 in 114 against 2 in 114 (Wilson intervals apart).
    good = df[~df.release_bad]
    sized = good[good.strategy == "affinity-sized"].false_rollback
    plain = good[good.strategy == "per-request"].false_rollback
    assert wilson(int(sized.sum()), len(sized), level)[0] > wilson(int(plain.sum()), len(plain), level)[1]
    # 2. A fault meets the same users again and again: 0.56 against 0.97 users per faulty request
    # (medians; 20% to spare).
    bad = df[df.release_bad & df.faulty_requests.gt(0)]
    per_request = (bad.affected_users / bad.faulty_requests).groupby(bad.strategy).median()
    assert per_request["affinity"] < 0.8 * per_request["per-request"]
    # 3. At full size it is judged on more traffic: of error faults caught by both, the affinity
    # rollout caught it first in 59 and later in 13 (46 ties, same look). Sign test: the share
    # caught first, Wilson's lower end above one half.
    others = [f"releases.faults.{k}.weight=0" for k in scn.releases.faults if k != "error_rate"]
    errors = sim.load_scenario(
        "session-affinity", overrides=["run.horizon_s=7200", "releases.bad_probability=1", *others]
    )
    pair = {k: errors.strategies[k] for k in ("per-request", "affinity")}
    errors = dataclasses.replace(errors, strategies=pair)
    caught = sim.run_batch(errors, deploys=150, seed=3, jobs=1)
    caught = caught[caught.detected_by == "analysis"]
    t = caught.pivot_table(index="deploy", columns="strategy", values="time_to_detect_s").dropna()
    gap = t.affinity - t["per-request"]
    first, later = int((gap < -1).sum()), int((gap > 1).sum())
    assert wilson(first, first + later, level)[0] > 0.5
