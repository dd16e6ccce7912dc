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
