"""Each workshop page shows its lesson at its own defaults: the scenario its `LESSON` builds for the knob's
default value, the page's default deploy count, seed 42 — exactly what a user sees on opening it.

Criterion: the comparison the page teaches holds with non-overlapping confidence intervals, of the
statistic the page shows (medians per bad release with their order-statistic or Kaplan–Meier
intervals, rates with Wilson intervals, means per deploy), as `sim.evidence` computes them from the
rows (`sim.summarize`'s populations and intervals; at 95% they are the page's own).

A page's lesson is a family of k inequalities. Each is checked on intervals at 1 − 0.05/k
(Bonferroni): if A's and B's true values were equal, the intervals could only separate with A above B
if one missed that common value on one side, a chance of at most 0.05/k; over the family, at most
5% that any inequality passes by luck. Intervals that wide, separated, are separated on the page too.
Statements that something does *not* differ ("no less often than blue-green") are checked as "not
below" and are not part of the family: luck can only make them fail. Exact mechanisms (a flip takes
`routing.flip_s`) are asserted exactly.

Where a page's text says what its knob does, a second test moves the knob on the same deploys.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sim
import sim.results.summary
from sim.workshop import evidence
from sim.workshop.evidence import Interval
from webapp.lesson import SEED, Lesson

pytestmark = pytest.mark.slow

ALPHA = 0.05
_DEFAULT: Any = object()


def lesson(name: str) -> Lesson:
    module: ModuleType = importlib.import_module(f"webapp.pages.{name}")
    return module.LESSON


def run(page: Lesson, value: Any = _DEFAULT, strategies: Sequence[str] | None = None) -> pd.DataFrame:
    """The page's batch: its scenario for `value` (its default unless given), its deploys, its seed."""
    scn = page.build(page.default if value is _DEFAULT else value)
    if strategies is not None:
        scn = scn.only(strategies)
    rows = sim.run_batch(scn, page.deploys, SEED, jobs=2)
    assert rows["error"].isna().all()
    return rows


def bad(rows: pd.DataFrame, column: str | None = None, *values: str) -> pd.DataFrame:
    """The bad releases (whose `column` is one of `values`)."""
    out = rows[rows["release_bad"].fillna(False).astype(bool)]
    return out if column is None else out[out[column].isin(values)]


class Family:
    """k inequalities checked together, each on intervals at 1 − 0.05/k; `done` checks all k were made."""

    def __init__(self, k: int) -> None:
        self.k, self.made = k, 0
        self.level = 1 - ALPHA / k

    def median(self, rows: pd.DataFrame, strategy: str, metric: str) -> Interval:
        return evidence.median_of(rows, strategy, metric, self.level)

    def rate(self, rows: pd.DataFrame, strategy: str, rate: str) -> Interval:
        return evidence.rate_of(rows, strategy, rate, self.level)

    def share(self, flags: pd.Series) -> Interval:
        return evidence.share(flags, self.level)

    def mean(self, rows: pd.DataFrame, strategy: str, metric: str) -> Interval:
        x = rows.loc[rows["strategy"] == strategy, metric].dropna().to_numpy(float)
        return Interval(float(x.mean()), *sim.results.summary.mean_ci(x, self.level))

    def below(self, low: Interval, high: Interval, what: str) -> None:
        self.made += 1
        assert low.hi < high.lo, f"{what}: {low} is not below {high} (intervals at {self.level:.4f})"

    def done(self) -> None:
        assert self.made == self.k, f"{self.made} inequalities checked, the family counted {self.k}"


# ---- 1 · Blast radius vs time to restore ----


@pytest.fixture(scope="module")
def blast_rows() -> pd.DataFrame:
    return run(lesson("lesson_blast_recovery"))


def test_blast_recovery_canaries_hurt_fewer_and_blue_greens_undo_is_a_redeploy_once_blue_is_gone(blast_rows):
    rows, f = blast_rows, Family(7)
    for small in ("canary", "progressive"):  # the slice: its median bad release stays small
        for everyone in ("recreate", "blue_green"):
            f.below(
                f.median(rows, small, "faulty_requests"),
                f.median(rows, everyone, "faulty_requests"),
                f"faulty requests {small} < {everyone}",
            )
    # Time to restore is mostly the wait to notice: the controller, then the person, then the alert
    # or users' reports for a release that already serves everyone.
    f.below(
        f.median(rows, "progressive", "time_to_restore_s"),
        f.median(rows, "canary", "time_to_restore_s"),
        "restore progressive < canary",
    )
    f.below(
        f.median(rows, "canary", "time_to_restore_s"),
        f.median(rows, "blue_green", "time_to_restore_s"),
        "restore canary < blue_green",
    )
    # The undo: at 30 minutes most of blue-green's bad releases are noticed after blue is gone, so
    # its median repair is a redeploy, not the flip the canaries make mid-rollout.
    f.below(
        f.median(rows, "progressive", "time_to_repair_s"),
        f.median(rows, "blue_green", "time_to_repair_s"),
        "repair progressive < blue_green",
    )
    f.done()
    # Exactly: the canaries' median undo is the router's flip; blue-green's starts the old fleet again.
    scn = lesson("lesson_blast_recovery").build(1800)
    redeploy = scn.fleet.start_s + scn.fleet.warmup_s + scn.routing.flip_s
    assert evidence.median_of(rows, "progressive", "time_to_repair_s").value == scn.routing.flip_s
    assert evidence.median_of(rows, "blue_green", "time_to_repair_s").value == redeploy


def test_blast_recovery_keeping_blue_two_hours_makes_the_undo_a_flip_but_not_the_wait_shorter(blast_rows):
    page = lesson("lesson_blast_recovery")
    warm = run(page, 7200, ["blue_green"])
    f = Family(4)
    f.below(
        f.median(warm, "blue_green", "time_to_repair_s"),
        f.median(blast_rows, "blue_green", "time_to_repair_s"),
        "blue-green's repair, 2 h < 30 min",
    )
    # The price: "several times the extra instance-hours" — more than twice, beyond both intervals.
    cheap, dear = (
        f.mean(blast_rows, "blue_green", "extra_instance_hours"),
        f.mean(warm, "blue_green", "extra_instance_hours"),
    )
    f.below(
        Interval(2 * cheap.value, 2 * cheap.lo, 2 * cheap.hi),
        dear,
        "2 × extra instance-hours at 30 min < at 2 h",
    )
    # Users still wait for someone to notice: longer than under progressive, or the manual canary.
    for other in ("progressive", "canary"):
        f.below(
            f.median(blast_rows, other, "time_to_restore_s"),
            f.median(warm, "blue_green", "time_to_restore_s"),
            f"restore {other} < blue_green kept 2 h",
        )
    f.done()
    assert evidence.median_of(warm, "blue_green", "time_to_repair_s").value == page.build(7200).routing.flip_s


# ---- 2 · Noisy neighbours ----


@pytest.fixture(scope="module")
def noisy_rows() -> pd.DataFrame:
    return run(lesson("lesson_noisy_neighbours"))


def test_noisy_neighbours_fixed_limits_throw_away_good_releases_and_buy_no_safety(noisy_rows):
    rows, f = noisy_rows, Family(5)
    for who in ("canary", "progressive"):
        fixed, baseline = f"{who}_fixed", f"{who}_baseline"
        f.below(
            f.rate(rows, baseline, "false_rollback_rate"),
            f.rate(rows, fixed, "false_rollback_rate"),
            f"false rollbacks {baseline} < {fixed}",
        )
        # Both kinds of wrong call, over every deploy: a good release thrown away, a bad one let through.
        wrong = rows["false_rollback"].astype(bool) | rows["escaped"].astype(bool)
        f.below(
            f.share(wrong[rows["strategy"] == baseline]),
            f.share(wrong[rows["strategy"] == fixed]),
            f"wrong calls {baseline} < {fixed}",
        )
        # ... and not by letting fewer bad releases through: the fixed limits' escapes are no lower.
        esc = {s: evidence.rate_of(rows, s, "escaped_rate") for s in (fixed, baseline)}
        assert not esc[fixed].below(esc[baseline]), esc
    f.below(
        f.rate(rows, "canary_fixed", "false_rollback_rate"),
        f.rate(rows, "progressive_fixed", "false_rollback_rate"),
        "the controller looks every minute: more false rollbacks than the person",
    )
    f.done()


def test_noisy_neighbours_without_episodes_fixed_limits_stop_firing_on_good_releases(noisy_rows):
    page = lesson("lesson_noisy_neighbours")
    quiet = run(page, 0.0, ["canary_fixed", "progressive_fixed"])
    f = Family(2)
    for fixed in ("canary_fixed", "progressive_fixed"):
        f.below(
            f.rate(quiet, fixed, "false_rollback_rate"),
            f.rate(noisy_rows, fixed, "false_rollback_rate"),
            f"{fixed}: false rollbacks without episodes < with",
        )
    f.done()


# ---- 3 · Representative canaries ----


@pytest.fixture(scope="module")
def representative_rows() -> pd.DataFrame:
    return run(lesson("lesson_representative"))


def test_representative_a_slice_without_eu_users_promotes_eu_only_bugs(representative_rows):
    rows, f = representative_rows, Family(3)
    eu_only = bad(rows, "fault_kind", "segment_bug")
    everywhere = bad(rows, "fault_kind", "crash", "error_rate")
    for name in ("canary", "progressive"):
        f.below(
            f.rate(everywhere, name, "escaped_rate"),
            f.rate(eu_only, name, "escaped_rate"),
            f"{name}: escapes of faults every region meets < of EU-only bugs",
        )
        # "no less often than blue-green, which has no canary at all"
        mine, bg = (evidence.rate_of(eu_only, s, "escaped_rate") for s in (name, "blue_green"))
        assert not mine.below(bg), (name, mine, bg)
    # Found once everyone has them, mostly by the whole-service burn-rate alert.
    found = eu_only[(eu_only["strategy"] == "progressive") & eu_only["escaped"].astype(bool)]
    f.below(
        Interval(0.5, 0.5, 0.5), f.share(found["detected_by"] == "slo_alert"), "most by the burn-rate alert"
    )
    f.done()


def test_representative_eu_users_in_the_slice_stop_the_eu_bugs(representative_rows):
    fair = run(lesson("lesson_representative"), 1.0, ["canary", "progressive"])
    f = Family(2)
    for name in ("canary", "progressive"):
        f.below(
            f.rate(bad(fair, "fault_kind", "segment_bug"), name, "escaped_rate"),
            f.rate(bad(representative_rows, "fault_kind", "segment_bug"), name, "escaped_rate"),
            f"{name}: EU-only bugs escaping, representative slice < US-only slice",
        )
    f.done()


# ---- 4 · What the gate watches ----


@pytest.fixture(scope="module")
def gate_rows() -> pd.DataFrame:
    return run(lesson("lesson_gate_watches"))


def test_gate_watching_the_median_promotes_tail_regressions_found_only_by_users(gate_rows):
    rows, f = gate_rows, Family(5)
    tail = bad(rows, "fault_kind", "tail_latency")
    for other in ("median_latency", "error_rate"):
        f.below(
            f.rate(bad(rows, "fault_kind", other), "your_gate", "escaped_rate"),
            f.rate(tail, "your_gate", "escaped_rate"),
            f"escapes {other} < tail_latency",
        )
    # Nothing raises errors, so no alert: users' reports find the escaped tail regressions.
    escaped = tail[tail["escaped"].astype(bool)]
    f.below(
        Interval(0.5, 0.5, 0.5), f.share(escaped["detected_by"] == "user_report"), "found by users' reports"
    )
    # "hours where a caught fault's is about a minute"
    caught = bad(rows, "fault_kind", "median_latency")
    f.below(
        f.median(caught, "your_gate", "time_to_restore_s"),
        f.median(tail, "your_gate", "time_to_restore_s"),
        "restore median_latency < tail_latency",
    )
    f.below(Interval(3600.0, 3600.0, 3600.0), f.median(tail, "your_gate", "time_to_restore_s"), "hours")
    f.done()
    assert not rows["detected_by"].isin(["slo_alert", "ticket"]).any()  # the burn-rate alert never fires


def test_gate_watching_the_p99_turns_it_around_and_watching_both_stops_both(gate_rows):
    page = lesson("lesson_gate_watches")
    p99, both = run(page, ("error_rate", "p99")), run(page, ("error_rate", "p50", "p99"))
    f = Family(4)
    med = {name: bad(r, "fault_kind", "median_latency") for name, r in (("p99", p99), ("both", both))}
    tails = {name: bad(r, "fault_kind", "tail_latency") for name, r in (("p50", gate_rows), ("both", both))}
    f.below(
        f.rate(bad(p99, "fault_kind", "tail_latency"), "your_gate", "escaped_rate"),
        f.rate(med["p99"], "your_gate", "escaped_rate"),
        "p99 gate: escapes tail_latency < median_latency",
    )
    # "nobody reports them within the week the run follows them": most escaped ones are censored.
    escaped = med["p99"][med["p99"]["escaped"].astype(bool)]
    f.below(
        Interval(0.5, 0.5, 0.5), f.share(escaped["censored"].astype(bool)), "median regressions unreported"
    )
    f.below(
        f.rate(med["both"], "your_gate", "escaped_rate"),
        f.rate(med["p99"], "your_gate", "escaped_rate"),
        "median_latency escapes: both < p99 only",
    )
    f.below(
        f.rate(tails["both"], "your_gate", "escaped_rate"),
        f.rate(tails["p50"], "your_gate", "escaped_rate"),
        "tail_latency escapes: both < p50 only",
    )
    f.done()


# ---- 5 · Two versions, one database ----


def test_database_a_one_step_rename_fails_the_old_binary_most_under_the_canaries():
    rows, f = run(lesson("lesson_database")), Family(5)
    failed = "migration_failed_requests"
    f.below(f.mean(rows, "recreate", failed), f.mean(rows, "blue_green", failed), "recreate < blue_green")
    for name in ("canary", "progressive"):
        f.below(f.mean(rows, "blue_green", failed), f.mean(rows, name, failed), f"blue_green < {name}")
        # Their gates see the baseline get worse and promote: the burn-rate alert notices.
        good = rows[(rows["strategy"] == name) & ~rows["release_bad"].astype(bool)]
        f.below(
            Interval(0.5, 0.5, 0.5), f.share(good["detected_by"] == "slo_alert"), f"{name}: the alert notices"
        )
    f.done()
    # Exactly: every overlapping deploy fails some, good code or bad; recreate only when it rolls back.
    for name in ("blue_green", "canary", "progressive"):
        assert rows.loc[rows["strategy"] == name, failed].min() > 0, name
    recreate = rows[rows["strategy"] == "recreate"]
    assert (recreate.loc[~recreate["rolled_back"].astype(bool), failed] == 0).all()


def test_database_expand_and_contract_fails_nothing_and_takes_longer():
    page = lesson("lesson_database")
    # Recreate is left out: today the burn-rate alert pages on its second planned outage of the plan
    # and it rolls back a good release, which the page's text does not claim either way.
    rows = run(page, "schema-expand-contract", ["blue_green", "canary", "progressive"])
    assert (rows["migration_failed_requests"] == 0).all()
    single = run(page, "schema-rename-breaking", ["blue_green"])  # a single rollout's lead time, for scale
    f = Family(1)
    f.below(
        f.median(single, "blue_green", "sequence_lead_time_s"),
        f.median(rows, "blue_green", "sequence_lead_time_s"),
        "blue-green: one rollout < the plan",
    )
    f.done()
    assert np.isfinite(evidence.median_of(rows, "progressive", "sequence_lead_time_s").value)


# ---- 6 · Flags vs canaries ----


def test_flags_limit_the_flagged_path_and_only_a_canary_limits_the_binary():
    page = lesson("lesson_flags")
    rows, f = run(page), Family(3)
    binary, flagged = bad(rows, "fault_layer", "binary"), bad(rows, "fault_layer", "flag")
    f.below(
        f.rate(binary, "canary_flag", "escaped_rate"),
        f.rate(binary, "flag", "escaped_rate"),
        "binary faults reaching everyone: canary_flag < flag",
    )
    f.below(
        f.median(flagged, "flag", "faulty_requests"),
        f.median(binary, "flag", "faulty_requests"),
        "flag: faulty requests of flagged faults < of binary faults",
    )
    f.below(
        f.median(flagged, "flag", "time_to_repair_s"),
        f.median(binary, "flag", "time_to_repair_s"),
        "flag: the kill switch < rolling the binary back",
    )
    f.done()
    scn = page.build(page.default)
    for name in ("flag", "canary_flag"):  # the kill switch: the flag's propagation, no redeploy
        assert evidence.median_of(flagged, name, "time_to_repair_s").value == scn.flags.propagation_s
    dark = flagged[flagged["undo"] == "flag_off"]
    assert len(dark) and (dark["faulty_requests"] == 0).all()  # "or nobody"


# ---- 7 · Peeking ----


def test_peeking_a_z_test_every_minute_fails_good_releases_and_the_always_valid_test_does_not():
    page = lesson("lesson_peeking")
    rows, f = run(page), Family(6)
    once, every, valid = "z_test_once", "z_test_every_minute", "always_valid"
    f.below(
        f.rate(rows, once, "false_rollback_rate"), f.rate(rows, every, "false_rollback_rate"), "once < every"
    )
    f.below(
        f.rate(rows, valid, "false_rollback_rate"),
        f.rate(rows, every, "false_rollback_rate"),
        "valid < every",
    )
    f.below(Interval(0.5, 0.5, 0.5), f.rate(rows, every, "false_rollback_rate"), "nearly every good release")
    errors = bad(rows, "fault_kind", "error_rate", "crash", "segment_bug")
    for metric in ("time_to_detect_s", "faulty_requests"):
        f.below(f.median(errors, valid, metric), f.median(errors, once, metric), f"error faults' {metric}")
    latency = bad(rows, "fault_kind", "tail_latency", "median_latency", "latency_shift")
    f.below(
        Interval(0.5, 0.5, 0.5),
        f.share(latency.loc[latency["strategy"] == valid, "escaped"].astype(bool)),
        "latency faults reach everyone past a judge of error rates",
    )
    f.done()
    # "at most α of the good releases" (a bound: only luck can make it fail)
    assert evidence.rate_of(rows, valid, "false_rollback_rate", 1 - ALPHA).lo <= page.default
