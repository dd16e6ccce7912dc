"""One deploy, window by window: traffic share, requests, errors and latency per version, noise, events.

This is the data a replay chart draws. It is read from a finished run; the run must have been made
with record=True for its events to be listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model import Run
from .world import NEW, STABLE

VERSIONS = {STABLE: "stable", NEW: "new"}


@dataclass(frozen=True)
class Timeline:
    windows: pd.DataFrame  # one row per window
    events: pd.DataFrame  # t_s, kind, detail
    noise: pd.DataFrame  # start_s, end_s, target, latency_factor, error_rate
    strategy: str
    deploy: int


def timeline(run: Run) -> Timeline:
    world = run.world
    tel = world.telemetry
    W = world.window_s
    n = int(np.ceil(world.materialized / W - 1e-9))
    cols: dict[str, np.ndarray] = {"t_s": np.arange(n) * W}
    user = tel.user[:n]
    total = user.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["share_new"] = np.where(total > 0, user[:, NEW] / total, np.nan)
    for v, name in VERSIONS.items():
        s = tel.series(v, 0, n)
        cols[f"requests_{name}"] = s["requests"]
        cols[f"errors_{name}"] = s["errors"]
        cols[f"error_rate_{name}"] = s["error_rate"]
        cols[f"p50_ms_{name}"] = s["p50_ms"]
        cols[f"p99_ms_{name}"] = s["p99_ms"]
        cols[f"saturation_{name}"] = s["saturation"]
    L = world.ledger
    faulty = np.bincount(L["k"], weights=L["faulty"].sum(1), minlength=n)[:n]
    down = np.bincount(L["k"], weights=L["dt"] * L["down"], minlength=n)[:n]
    cols["faulty_requests"] = faulty
    cols["down_s"] = down
    cols["service_requests"] = tel.svc_user[:n]
    cols["service_errors"] = tel.svc_err[:n]
    t_mid = cols["t_s"] + W / 2
    for target in ("both", "new", "stable"):
        on = np.zeros(n, bool)
        for ep in run.exo.episodes:
            if ep.target == target:
                on |= (t_mid >= ep.start) & (t_mid < ep.end)
        cols[f"noise_{target}"] = on
    events = pd.DataFrame(run.deploy.events, columns=["t_s", "kind", "detail"])
    noise = pd.DataFrame(
        [(e.start, e.end, e.target, e.latency_factor, e.error_rate) for e in run.exo.episodes],
        columns=["start_s", "end_s", "target", "latency_factor", "error_rate"],
    )
    return Timeline(pd.DataFrame(cols), events, noise, run.strategy, int(run.row["deploy"]))
