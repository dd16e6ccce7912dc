"""Every bad release is eventually found: tickets, users' reports, the follow-up, the margin, censoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
import sim.engine.tape
from sim.engine.exogenous import hit_probability, rate_profile, user_requests_before
from sim.engine.people import working_delay
from sim.engine.user_reports import UserReports
from sim.validation.common import error_fault
from tests.conftest import QUIET, scenario

NO_REPORTS = {"reports": {"per_harmed_user": 0}}


def _one(scn: sim.Scenario, strategy: str, deploy: int = 0) -> sim.engine.simulate.Simulation:
    return sim.run_deploy(scn, strategy, deploy=deploy)


def _event(run: sim.engine.simulate.Simulation, kind: str, text: str) -> float:
    return next(t for t, k, d in run.deploy.events if k == kind and text in d)


def _cutover(run: sim.engine.simulate.Simulation) -> float:
    return _event(run, "weight", "100%")


def test_a_slow_burn_no_page_sees_is_caught_by_the_ticket_at_the_workbook_time():
    # 0.4% errors on every request: below the 6 h pair's 0.6% (never pages), above the ticket's
    # 0.1%. With no baseline errors and flat traffic, the 3-day window burns once e·T ≥ 0.001·3 d.
    e = 0.004
    scn = scenario(
        {
            **QUIET,
            **NO_REPORTS,
            "fleet": {"error_rate": 0},
            "releases": error_fault(e),
            "humans": {"ticket_response_s": 3600},
            "strategies": {"_replace": True, "blue_green": {"kind": "blue_green", "smoke_test_s": 0}},
        }
    )
    workbook = 0.001 * 3 * 86400 / e  # 64,800 s: 10% of the budget spent
    # The failures by then are Poisson with mean about e·λ·T: their spread moves the crossing by
    # T/√(e·λ·T) (about 240 s); 4 of those either way keeps the three deploys' joint miss rate
    # below 1e-4. Evaluated every follow-up window (300 s) on complete windows: up to 600 s late.
    spread = 4 * workbook / math.sqrt(e * 285 * workbook)
    for deploy in range(3):
        run = _one(scn, "blue_green", deploy)
        fired = _event(run, "alert", "ticket opened")
        assert workbook - spread <= fired - _cutover(run) <= workbook + 600 + spread
        assert not any(k == "alert" and "paged" in d for _, k, d in run.deploy.events)
        assert run.row["detected_by"] == "ticket"
        # Worked in business hours: an hour of working time from the hour the ticket opened.
        hour = run.exo.traffic.hour_at(fired)
        detected = _event(run, "detected", "ticket")
        assert detected - fired == pytest.approx(working_delay(hour, 3600, (9.0, 18.0)))
        assert run.follow is not None and run.row["time_to_repair_s"] == pytest.approx(72.0)


def test_working_delay_counts_business_hours_only():
    assert working_delay(10, 3600, (9, 18)) == 3600
    assert working_delay(17.5, 3600, (9, 18)) == pytest.approx(16 * 3600)  # half today, half tomorrow
    assert working_delay(20, 3600, (9, 18)) == pytest.approx(14 * 3600)  # waits for 9:00
    assert working_delay(8, 40 * 3600, (9, 18)) == pytest.approx(101 * 3600)  # four days and 4 h


def _latency_release(kind: str, severity: float) -> dict:
    return {
        "bad_probability": 1,
        "faults": {"_replace": True, kind: {"weight": 1, "severity": severity, "smoke_catch": 0}},
    }


def test_users_report_a_slow_release_no_alert_watches_and_more_reporters_report_sooner():
    def at(per_user: float) -> list[float]:
        scn = scenario(
            {
                **QUIET,
                "releases": _latency_release("tail_latency", 4.0),
                "reports": {"per_harmed_user": per_user, "response_s": 0},
            }
        )
        df = sim.run_batch(scn, deploys=6, seed=5, strategies=["recreate"])
        assert (df["detected_by"] == "user_report").all()
        return (df["time_to_detect_s"]).tolist()

    eager, reluctant = at(0.1), at(0.01)
    # The same deploys meet the same escalating report (common random numbers): ten times the
    # reporters reach it sooner, deploy by deploy — or at the same working-hours start.
    assert all(a <= b + 1e-9 for a, b in zip(eager, reluctant, strict=True))
    assert sum(eager) < sum(reluctant)


def test_expected_reports_follow_the_gamma_poisson_users():
    scn = scenario({**QUIET, "releases": _latency_release("tail_latency", 4.0)})
    run = _one(scn, "recreate")
    reports = UserReports(run.world.env, run.world, 3.0, lambda: None)
    hurt = np.array([[10.0, 1000.0, 0.0]])
    users = scn.traffic.users.population * scn.traffic.shares
    want = 0.04 * float(hit_probability(hurt[0] / users, 0.5) @ users)
    assert reports.expected_reports(hurt)[0] == pytest.approx(want, rel=1e-12)


def test_a_release_nobody_notices_is_followed_to_the_cap_and_censored():
    # A slower median (p99 unchanged): no alert watches latency, no request passes 1 s.
    scn = scenario({**QUIET, "releases": _latency_release("median_latency", 1.3)})
    run = _one(scn, "recreate")
    row = run.row
    assert not row["detected"] and row["censored"]
    first = row["censored_after_s"]
    assert math.isnan(row["time_to_restore_s"]) and math.isnan(row["time_to_detect_s"])
    # Followed from the first faulty request (the new fleet is ready at 85 s) to the cap.
    assert first == pytest.approx(scn.run.follow_s - 85.0, abs=10.0)
    assert run.follow is not None and run.follow.end == scn.run.follow_s


def test_a_week_of_follow_up_is_served_in_a_few_draws(monkeypatch):
    rows: list[int] = []
    real = sim.engine.tape.serve

    def counting(*args, **kw):  # type: ignore[no-untyped-def]
        rows.append(len(args[1].k))  # rows (pieces of windows) served in the call
        return real(*args, **kw)

    monkeypatch.setattr(sim.engine.tape, "serve", counting)
    patch = {**QUIET, "releases": _latency_release("median_latency", 1.3)}
    _one(scenario({**patch, "run": {"follow_s": 10800}}), "recreate")
    watch = len(rows)
    _one(scenario(patch), "recreate")
    follow = rows[2 * watch :]  # the same watch again, then the follow-up
    # The week after the watch is 2,016 coarse windows (not 60,480 fine ones), drawn a day at a time:
    # seven draws, each of a day's 288 windows, whatever the request rate.
    assert len(follow) <= 8
    assert sum(follow) == pytest.approx((7 * 86400 - 10800) / 300, abs=2)


def test_a_repair_under_way_at_the_horizon_is_finished_in_the_margin():
    # A broken build under recreate is paged at 85 + 300 s; the on-call answers 150 s later, near
    # the end of a 10-minute watch; the redeploy (85 s) runs past it.
    scn = scenario(
        {
            **QUIET,
            **NO_REPORTS,
            "releases": {
                "bad_probability": 1,
                "faults": {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0}},
            },
            "humans": {"page_response_s": 150},
            "run": {"horizon_s": 600},
        }
    )
    row = _one(scn, "recreate").row
    detected = row["time_to_detect_s"] + 85.0
    assert 500 < detected < 600
    assert row["time_to_repair_s"] == pytest.approx(85.0) and not row["censored"]


def test_recreate_holds_pages_for_the_outage_and_the_shortest_short_window_only():
    scn = scenario(
        {
            **QUIET,
            **NO_REPORTS,
            "releases": {
                "bad_probability": 1,
                "faults": {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0}},
            },
            "humans": {"page_response_s": 0},
        }
    )
    df = sim.run_batch(scn, deploys=8, seed=4, strategies=["recreate"])
    # The fault bites when the new fleet is ready (85 s); pages wait 300 s more, then the first
    # rule evaluation on complete windows fires: 300 to 300 + 60 + 10 s after the fault.
    ttd = df["time_to_detect_s"].to_numpy()
    assert np.all(ttd >= 300 - 1e-6) and np.all(ttd <= 370 + 1e-6)
    assert (df["detected_by"] == "slo_alert").all()


def test_the_alert_history_is_the_expected_daily_curve():
    scn = scenario()
    start = 13.3
    seconds = np.array([0.0, 600.0, 3600.0, 6 * 3600.0, 3 * 86400.0])
    got = user_requests_before(scn.traffic, start, seconds)
    for s, g in zip(seconds, got, strict=True):
        t = np.linspace(-s, 0, 200_001)
        rate = rate_profile(scn.traffic, start, t) * (1 - scn.traffic.synthetic_share)
        want = float(np.sum((rate[1:] + rate[:-1]) / 2 * np.diff(t))) if s else 0.0
        assert g == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_a_planned_outage_never_rolls_a_good_release_back():
    # Four recreate deploys in an hour (expand and contract) burn the 6 h pair after each outage's
    # silence: the page comes, the on-call finds the service healthy (or mid-outage) and
    # acknowledges it. Every good release finishes its plan.
    df = sim.run_batch("schema-expand-contract", deploys=40, seed=3, strategies=["recreate"])
    good = df[~df["release_bad"].astype(bool)]
    assert len(good) > 20
    assert not good["rolled_back"].astype(bool).any()
    assert good["sequence_lead_time_s"].notna().all()
    # ... while a broken build behind the same silence is still rolled back (it keeps burning).
    broken = df[df["release_bad"].astype(bool) & (df["fault_kind"] == "crash")]
    assert len(broken) == 0 or broken["rolled_back"].astype(bool).all()


def test_the_acknowledged_page_is_in_the_log_and_the_alert_fires_again():
    scn = sim.load_scenario("schema-expand-contract")
    for deploy in range(10):
        run = sim.run_deploy(scn, "recreate", deploy=deploy)
        kinds = [d for _, k, d in run.deploy.events if k == "alert"]
        acknowledged = [d for d in kinds if "acknowledged" in d]
        if acknowledged and not run.row["release_bad"]:
            pages = [d for d in kinds if "paged" in d]
            assert len(pages) >= len([d for d in acknowledged if d.startswith("page")])
            assert not run.row["rolled_back"]
            return
    pytest.fail("no deploy of the plan paged on its own outages: nothing was checked")


def test_blue_kept_past_the_watch_is_scaled_down_on_time_in_the_follow_up():
    # Blue is kept 4 h, past the 3 h watch: a slow tail that only users notice is followed on and
    # caught by their reports; undo is a flip while blue is up and a redeploy once it has gone.
    scn = scenario(
        {
            **QUIET,
            "releases": _latency_release("tail_latency", 3.0),
            "strategies": {
                "_replace": True,
                "blue_green": {"kind": "blue_green", "smoke_test_s": 0, "scale_down_delay_s": 14400},
            },
        }
    )
    df = sim.run_batch(scn, deploys=12, seed=8)
    assert not df["censored"].astype(bool).any()
    assert (df["detected_by"] == "user_report").all()
    cutover = 72.0  # green ready (70 s) and the flip (2 s)
    warm = df["time_to_detect_s"] + cutover < cutover + 14400
    assert (df.loc[warm, "time_to_repair_s"] == 2.0).all()
    assert (df.loc[~warm, "time_to_repair_s"] == 72.0).all()
    assert warm.any() and (~warm).any()
