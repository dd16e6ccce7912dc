"""Mechanics added for imported rollouts: analysis runs of several metrics, Flagger's checks, routing a
strategy brings with it, and blue-green's preview fleet, timed auto-promotion and abort delay."""

from __future__ import annotations

import pytest

import sim
from sim.core.errors import ConfigError
from tests.conftest import QUIET, scenario

CRASH = {"_replace": True, "crash": {"weight": 1, "severity": 1.0, "smoke_catch": 0}}
READY, FLIP = 70.0, 2.0  # the default fleet's start + warm-up, and the router's flip time


def _progressive(steps, **extra):
    return {"kind": "progressive", "steps": steps, "analyses": [], **extra}


def _run(patch, name="x", deploy=0, seed=1):
    return sim.run_deploy(scenario({**QUIET, **patch}), name, deploy=deploy, seed=seed)


def _times(run, kind, detail=""):
    return [t for t, k, d in run.deploy.events if k == kind and d.startswith(detail)]


def test_a_run_of_several_metrics_takes_as_long_as_its_longest_metric():
    # Argo merges a run's templates: 3 measurements a minute apart beside one taken after 30 s take
    # 120 s together, not 150 s one after the other.
    run_ = {
        "judge": "fixed",
        "pass_probability": 1.0,
        "count": 3,
        "interval_s": 60,
        "also": [{"judge": "fixed", "pass_probability": 1.0, "count": 1, "initial_delay_s": 30}],
    }
    run = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {
                "_replace": True,
                "x": _progressive([{"weight": 10}, {"analysis": run_}, {"weight": 20}]),
            },
        }
    )
    assert _times(run, "analysis") == [_times(run, "weight")[0] + 120.0]


def test_a_run_ends_at_its_first_failing_metric():
    run_ = {
        "judge": "fixed",
        "pass_probability": 1.0,
        "count": 5,
        "interval_s": 60,
        "also": [{"judge": "fixed", "pass_probability": 0.0, "count": 1, "initial_delay_s": 10}],
    }
    run = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {
                "_replace": True,
                "x": _progressive([{"weight": 10}, {"analysis": run_}, {"weight": 20}]),
            },
        }
    )
    start = _times(run, "weight")[0]
    assert _times(run, "detected") == [start + 10.0]
    # The other metric measured once at the start and takes no more measurements after the failure.
    assert len(_times(run, "measurement", "step 1 #0")) == 1


def test_every_metric_of_a_blocking_step_needs_a_count():
    run_ = {"judge": "fixed", "count": 1, "also": [{"judge": "fixed"}]}
    with pytest.raises(
        ConfigError, match=r"strategies\.x\.steps\[0\]\.analysis\.also\[0\]\.count: an analysis"
    ):
        scenario({"strategies": {"x": _progressive([{"analysis": run_}])}})


def _flagger(pass_probability: float, failure_limit: int, weights=(10, 20, 30)):
    steps = [{"canary_scale": 10}]
    for w in weights:
        steps += [{"weight": w}, {"checks": 1}]
    checks = {
        "judge": "fixed",
        "interval_s": 15,
        "failure_limit": failure_limit,
        "pass_probability": pass_probability,
    }
    return _progressive(steps, checks=checks)


def test_flagger_checks_advance_one_weight_per_interval_from_the_pass_that_set_it():
    run = _run({"releases": {"bad_probability": 0}, "strategies": {"_replace": True, "x": _flagger(1.0, 0)}})
    # The router flip takes 2 s of each pass; the controller's next pass still comes 15 s after the last.
    assert _times(run, "weight") == [READY + FLIP, READY + 15 + FLIP, READY + 30 + FLIP, READY + 45 + FLIP]


def test_failed_checks_hold_the_weight_and_add_up_over_the_rollout():
    run = _run(
        {"releases": {"bad_probability": 0}, "strategies": {"_replace": True, "x": _flagger(0.5, 99)}},
        seed=11,
    )
    events = [(t, k, d) for t, k, d in run.deploy.events if k in ("weight", "measurement")]
    failures, tick = 0, READY
    for t, kind, detail in events:
        if kind == "measurement":
            assert t == tick + 15.0  # one check per pass
            tick = t
            failures += detail.endswith("fail")
        elif t > READY + FLIP:  # each weight after the first comes at the pass of a passing check
            assert t == tick + FLIP
    assert failures > 0  # the seed makes some checks fail: each cost a pass at the same weight


def test_past_the_threshold_the_rollback_comes_at_the_next_pass():
    run = _run({"releases": {"bad_probability": 0}, "strategies": {"_replace": True, "x": _flagger(0.0, 2)}})
    checks = _times(run, "measurement")
    assert checks == [READY + 15, READY + 30, READY + 45]  # three failures exceed failure_limit 2
    assert _times(run, "detected") == [READY + 60]


def test_a_checks_step_needs_the_checks_analysis():
    with pytest.raises(ConfigError, match=r"steps\[0\]\.checks: a checks step needs the strategy's checks"):
        scenario({"strategies": {"x": _progressive([{"checks": 1}])}})


def test_a_strategy_can_bring_its_own_routing():
    patch = {
        "releases": {"bad_probability": 1, "faults": CRASH},
        "routing": {"mode": "router"},
        "strategies": {
            "basic": _progressive(
                [{"weight": 20}, {"pause_s": 600}], routing={"mode": "replicas", "max_surge": 0}
            ),
            "routed": _progressive([{"weight": 20}, {"pause_s": 600}]),
        },
    }
    scn = scenario({**QUIET, **patch})
    basic = sim.run_deploy(scn, "basic", 0, 3)
    routed = sim.run_deploy(scn, "routed", 0, 3)
    assert next(d for _, k, d in basic.deploy.events if k == "weight") == "20% asked, 2/10 replicas"
    assert next(d for _, k, d in routed.deploy.events if k == "weight") == "20%"
    assert scn.routing.mode == "router"  # the scenario's own routing is untouched
    with pytest.raises(
        ConfigError, match=r"strategies\.b\.routing\.canary_bias\.segments\.tv: 'tv' is not a segment"
    ):
        scenario({"strategies": {"b": _progressive([], routing={"canary_bias": {"segments": {"tv": 2}}})}})


def test_a_header_match_routes_only_its_segment_to_the_canary():
    # All android users on the canary (15% of user traffic), nobody else: a bug in the web client
    # goes unseen until the promotion, one in the android client is met by android users only.
    routing = {"sticky": True, "canary_bias": {"segments": {"web": 0, "ios": 0, "android": 1 / 0.15}}}
    strategy = _progressive([{"weight": 15}, {"pause_s": 1200}], routing=routing)
    before = {}
    for segment in ("web", "android"):
        faults = {
            "_replace": True,
            "segment_bug": {"weight": 1, "severity": 1.0, "smoke_catch": 0, "segment": segment},
        }
        run = _run(
            {
                "releases": {"bad_probability": 1, "faults": faults},
                "safety_net": None,
                "strategies": {"_replace": True, "x": strategy},
            }
        )
        ledger = run.world.ledger
        canary_phase = ledger["t0"] + ledger["dt"] <= run.row["lead_time_s"]
        before[segment] = ledger["faulty"][canary_phase].sum()
        span = run.row["lead_time_s"] - _times(run, "weight")[0]  # the pause and the scale-up to 100%
    assert before["web"] == 0
    # Every android request while the canary held 15% met the bug: 300 req/s, 95% from users, 15%
    # android. The Poisson count's relative sd is 1/sqrt(54,000) ≈ 0.4%; whole windows only: ±1.5%.
    assert before["android"] / (span * 300 * 0.95 * 0.15) == pytest.approx(1.0, abs=0.015)


def test_blue_green_preview_fleet_is_scaled_up_before_the_cutover():
    base = {"kind": "blue_green", "smoke_test_s": 600, "scale_down_delay_s": 0}
    full = _run({"releases": {"bad_probability": 0}, "strategies": {"_replace": True, "x": base}}).row
    small = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {"_replace": True, "x": {**base, "preview_replicas": 2}},
        }
    ).row
    # Two preview replicas through the smoke test, then eight more start and warm before the switch.
    assert small["lead_time_s"] == full["lead_time_s"] + READY
    assert small["extra_instance_hours"] < full["extra_instance_hours"]


def test_blue_green_auto_promotion_waits_and_abort_delay_keeps_green():
    base = {"kind": "blue_green", "smoke_test_s": 0}
    now = _run({"releases": {"bad_probability": 0}, "strategies": {"_replace": True, "x": base}}).row
    later = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {"_replace": True, "x": {**base, "auto_promotion_s": 300}},
        }
    ).row
    assert later["lead_time_s"] == now["lead_time_s"] + 300
    post = {"judge": "fixed", "pass_probability": 0.0, "count": 1, "initial_delay_s": 60}
    quick = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {"_replace": True, "x": {**base, "post_promotion": post}},
        }
    )
    kept = _run(
        {
            "releases": {"bad_probability": 0},
            "strategies": {
                "_replace": True,
                "x": {**base, "post_promotion": post, "abort_scale_down_delay_s": 600},
            },
        }
    )
    done = [_times(r, "rollback", "done")[0] - _times(r, "rollback", "started")[0] for r in (quick, kept)]
    assert done[1] == done[0] + 600
    assert kept.row["extra_instance_hours"] > quick.row["extra_instance_hours"]


def _gated(pass_probability: float, failure_limit: int, decision_s: float):
    steps = [
        {"canary_scale": 10},
        {"weight": 10},
        {"checks": 1},
        {"manual_gate": True},
        {"weight": 20},
        {"checks": 1},
    ]
    checks = {
        "judge": "fixed",
        "interval_s": 15,
        "failure_limit": failure_limit,
        "pass_probability": pass_probability,
    }
    return {
        "releases": {"bad_probability": 0},
        "humans": {"decision_s": decision_s},
        "strategies": {"_replace": True, "x": _progressive(steps, checks=checks)},
    }


def test_a_flagger_confirm_gate_opens_at_the_first_passing_check_after_the_approval():
    """Flagger's confirm-traffic-increase: the checks go on every pass while the person decides; the
    weight rises at the first pass after the approval whose check passes (scheduler.go)."""
    run = _run(_gated(1.0, 0, 100.0))
    weights, checks = _times(run, "weight"), _times(run, "measurement")
    first_check = READY + 15
    # Gate from the first check's pass; approval 100 s later; the passes at 15 s steps until then.
    passes_while_gated = [first_check + 15 * k for k in range(1, 8)]  # ..., +105 s: the first after +100
    assert checks[: 1 + len(passes_while_gated)] == [first_check, *passes_while_gated]
    assert weights[1] == passes_while_gated[-1] + FLIP


def test_failed_checks_while_a_confirm_gate_is_closed_roll_the_canary_back():
    run = _run(_gated(0.0, 2, 3600.0))
    assert run.deploy.detected_by == "analysis"
    # The first check (failure 1) and two more while the gate is closed exceed failure_limit 2.
    assert _times(run, "detected") == [READY + 60]
    assert _times(run, "weight", "20") == []  # the second weight never came


def _pre_rollout(caught: bool, threshold: int):
    fault = {
        "_replace": True,
        "error_rate": {"weight": 1, "severity": 0.05, "smoke_catch": 1.0 if caught else 0.0},
    }
    steps = [{"canary_scale": 10}, {"weight": 10}, {"checks": 1}, {"weight": 20}, {"checks": 1}]
    checks = {"judge": "fixed", "interval_s": 15, "failure_limit": threshold - 1, "pass_probability": 1.0}
    return {
        "releases": {"bad_probability": 1, "faults": fault},
        "strategies": {"_replace": True, "x": _progressive(steps, checks=checks, pre_rollout=True)},
    }


def test_a_flagger_pre_rollout_test_that_catches_the_fault_rolls_back_before_any_user_meets_it():
    """scheduler.go: while the canary's weight is 0 each pass runs the pre-rollout hooks; a failure
    counts a failed check and holds the weight; at `threshold` failed checks the next pass rolls back."""
    run = _run(_pre_rollout(True, 3))
    assert run.deploy.detected_by == "smoke_test"
    assert _times(run, "smoke test") == [READY, READY + 15, READY + 30]  # three failed passes
    assert _times(run, "detected") == [READY + 45]
    assert _times(run, "weight", "10%") == [] and run.row["faulty_requests"] == 0


def test_a_pre_rollout_test_that_misses_the_fault_changes_nothing():
    with_test = _run(_pre_rollout(False, 3))
    without = _run(
        {**_pre_rollout(False, 3), "strategies": {"_replace": True, "x": _flagger(1.0, 2, weights=(10, 20))}}
    )
    assert _times(with_test, "weight", "10%") == [READY + FLIP]
    assert _times(with_test, "smoke test") == []
    for column in ("detected_by", "time_to_detect_s", "faulty_requests", "lead_time_s"):
        assert with_test.row[column] == without.row[column] or with_test.row[column] != with_test.row[column]
    with pytest.raises(
        ConfigError, match=r"pre_rollout: Flagger's pre-rollout webhook needs the strategy's checks"
    ):
        scenario({"strategies": {"x": _progressive([{"weight": 10}], pre_rollout=True)}})


def _paged(spec):
    # A crash every check passes over (the checks are jobs that always pass): only the SLO alert's
    # page, answered in a fixed 107 s (off the passes' 15 s grid), calls it back.
    crash = {"_replace": True, "crash": {"weight": 1, "severity": 1.0}}
    return {
        "releases": {"bad_probability": 1, "faults": crash},
        "humans": {"page_response_s": 107.0, "off_hours_factor": 1.0},
        "strategies": {"_replace": True, "x": spec},
    }


def test_a_persons_abort_of_a_flagger_rollout_lands_at_the_controllers_next_pass():
    """scheduler.go runs the rollback hooks at each pass, before the pass's checks: the on-call's
    abort waits for it. An Argo-style rollout aborts when the person decides."""
    run = _run(_paged(_flagger(1.0, 0, weights=tuple(range(2, 100, 2)))))
    decided = _times(run, "detected")[0]
    assert run.deploy.detected_by == "slo_alert"
    passes = [READY + 15 * k for k in range(60)]
    due = min(p for p in passes if p >= decided - 1e-9)
    assert due > decided  # the decision came between passes
    assert _times(run, "rollback", "started")[0] == pytest.approx(due, abs=1e-5)
    argo = [{"weight": 50}, {"pause_s": 600}]
    plain = _run(_paged(_progressive(argo)))
    assert plain.deploy.detected_by == "slo_alert"
    assert _times(plain, "rollback", "started") == _times(plain, "detected")
