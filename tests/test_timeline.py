"""One deploy's timeline: the data a replay chart draws."""

from __future__ import annotations

import numpy as np

import sim
from tests.conftest import QUIET, scenario


def test_timeline_shows_the_ramp_the_events_and_the_noise():
    scn = scenario(
        {
            **QUIET,
            "releases": {"bad_probability": 0},
            "noise": {"episodes_per_hour": 3, "targets": {"both": 1, "new": 0, "stable": 0}},
        }
    )
    run = sim.run_deploy(scn, "progressive", deploy=0, seed=1)
    tl = sim.timeline(run)
    w = tl.windows
    assert len(w) == scn.run.horizon_s / scn.run.window_s
    # The user share on the new version follows the steps 1 → 5 → 25 → 50 → 100%.
    share = w["share_new"].to_numpy()
    assert share[0] == 0 and share[-1] == 1
    assert np.all(np.diff(np.nan_to_num(share)) > -0.05)  # sticky slices only grow (binomial noise aside)
    plateaus = [
        w.loc[(w.t_s > t0) & (w.t_s < t1), "share_new"].mean()
        for t0, t1 in ((100, 600), (800, 1200), (1500, 2100), (2400, 3000))
    ]
    assert np.allclose(plateaus, [0.01, 0.05, 0.25, 0.5], atol=0.01)  # ±4 binomial SEs at ~3,000 req/window
    assert (w["requests_stable"] + w["requests_new"] > 0).all()
    assert {"weight", "measurement", "step"} <= set(tl.events["kind"])
    assert len(tl.noise) == len(run.exo.episodes) > 0
    assert w["noise_both"].any()
    # Windows inside an episode are slower on both versions than those outside it.
    inside = w[w.noise_both & (w.t_s > 3300)]
    outside = w[~w.noise_both & (w.t_s > 3300)]
    assert inside["p99_ms_new"].median() > 1.3 * outside["p99_ms_new"].median()


DEFAULT = sim.load_scenario("default")


def test_a_release_nobody_caught_is_followed_in_coarse_windows_to_the_end():
    # Deploy 76 of seed 2: a median-latency fault no check, alert or user catches within the week.
    run = sim.run_deploy(DEFAULT, "recreate", deploy=76, seed=2)
    tl = sim.timeline(run)
    assert run.row["censored"] and run.follow is not None
    follow_w = DEFAULT.run.follow_window_s
    assert tl.follow_window_s == follow_w and tl.window_s == DEFAULT.run.window_s
    t = tl.follow["t_s"].to_numpy()
    assert (
        t[0] == run.follow.start
        and np.all(np.diff(t) == follow_w)
        and t[-1] + follow_w == DEFAULT.run.follow_s
    )
    assert list(tl.follow.columns) == list(tl.windows.columns)
    # Watch and follow-up together count every faulty request of the row.
    total = tl.windows["faulty_requests"].sum() + tl.follow["faulty_requests"].sum()
    assert total == run.row["faulty_requests"]
    assert tl.detected_s is None and tl.restored_s is None and tl.end_s == DEFAULT.run.follow_s
    assert tl.rollout_end_s == tl.shipped_s < 120  # a recreate: the new version serves in a minute or so


def test_the_verdicts_and_the_judges_of_a_rollout():
    run = sim.run_deploy(DEFAULT, "progressive", deploy=1, seed=2)
    tl = sim.timeline(run)
    looks = tl.events[tl.events["kind"] == "measurement"]
    assert len(tl.looks) == len(looks) and list(tl.looks["t_s"]) == list(looks["t_s"])
    # Deploy 1 of seed 2 is a latency shift: its looks pass until one catches it, the last.
    statuses = tl.looks["status"].tolist()
    assert len(statuses) > 5 and set(statuses[:-1]) == {"pass"} and statuses[-1] == "fail"
    assert set(tl.looks["what"]) == {"background 0"}
    assert dict(tl.judges) == {"baseline": DEFAULT.judges["baseline"]}
    # Caught during the rollout: users are off it at once, the rollout ends when its undo is done.
    assert tl.shipped_s is None and tl.detected_s < tl.restored_s < tl.rollout_end_s
    assert tl.events.iloc[-1].tolist() == [tl.rollout_end_s, "rollback", "done"]


def test_a_release_caught_after_it_shipped_ends_its_rollout_where_it_shipped():
    tl = sim.timeline(sim.run_deploy(DEFAULT, "blue_green", deploy=68, seed=2))
    cut_over = tl.events.loc[tl.events["detail"] == "100%", "t_s"].iloc[0]
    assert tl.rollout_end_s == tl.shipped_s == cut_over
    assert tl.detected_s > 3 * 3600 and len(tl.follow)  # users reported it during the follow-up
    assert tl.restored_s is not None and tl.restored_s <= tl.end_s
