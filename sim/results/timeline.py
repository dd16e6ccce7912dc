"""One deploy, window by window: traffic share, requests, errors and latency per version, noise, events.

This is the data a replay chart draws, read from a finished run (made with record=True for its
events and verdicts to be listed): the watch in its fine windows, the follow-up of a release nobody
caught in its coarse ones, the judges the strategy's checks used, and when the rollout shipped,
was caught and was undone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..config.judges import GateJudge, JudgeConfig
from ..engine.simulate import Simulation
from ..engine.world import NEW, STABLE, World

VERSIONS = {STABLE: "stable", NEW: "new"}

#: Event kinds that record a judge's verdict, "what: status[: metric=value (limit x), ...]".
VERDICT_KINDS = ("measurement", "review")
STATUSES = ("pass", "fail", "inconclusive", "error")

#: Event kinds that watch the release rather than move it: they do not end a rollout.
WATCHING_KINDS = (*VERDICT_KINDS, "analysis", "alert", "report", "follow-up")


def _frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})


@dataclass(frozen=True)
class Timeline:
    windows: pd.DataFrame  # one row per window of the watch (`window_s`)
    events: pd.DataFrame  # t_s, kind, detail: the whole run's, follow-up included
    noise: pd.DataFrame  # start_s, end_s, target, latency_factor, error_rate
    strategy: str
    deploy: int
    #: The follow-up of a bad release the watch did not catch: the same columns as `windows`, in
    #: its coarse windows (`follow_window_s`); empty when there was none.
    follow: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Every verdict the log records: t_s, kind (measurement or review), what (the analysis or the
    #: step), status (pass, fail, inconclusive, error).
    looks: pd.DataFrame = field(default_factory=lambda: _frame(["t_s", "kind", "what", "status"]))
    judges: Mapping[str, JudgeConfig] = field(default_factory=dict)  # the strategy's, by name
    window_s: float = 10.0
    follow_window_s: float | None = None
    shipped_s: float | None = None  # the release first reached every user
    detected_s: float | None = None
    restored_s: float | None = None  # a bad release: no user meets it any more
    end_s: float = math.nan  # when the run ended (the follow-up's end if it had one)

    @property
    def watch_end_s(self) -> float:
        """The end of the watch's fine windows (where a follow-up, if any, takes over)."""
        return float(self.windows["t_s"].iloc[-1]) + self.window_s if len(self.windows) else 0.0

    @property
    def rollout_end_s(self) -> float:
        """When the rollout was over: when the release reached everyone, or — caught before that,
        or never shipped — when the watch saw its last step (its undo included). A detection after
        it shipped is no part of the rollout."""
        moved = self.events[
            ~self.events["kind"].isin(WATCHING_KINDS) & (self.events["t_s"] <= self.watch_end_s)
        ]
        shipped = self.shipped_s
        if shipped is not None and (self.detected_s is None or self.detected_s > shipped):
            # The steps logged at the moment it shipped (a promotion) belong to it; later ones do not.
            return max([shipped, *moved.loc[moved["t_s"] <= shipped + 1e-6, "t_s"]])
        ends = [float(moved["t_s"].max()) if len(moved) else 0.0]
        if self.restored_s is not None and self.restored_s <= self.watch_end_s:
            ends.append(self.restored_s)
        return max(ends)


def _windows(world: World, episodes: tuple, k_from: int = 0) -> pd.DataFrame:
    """The windows of one phase's world from window k_from to what it drew."""
    tel = world.telemetry
    W = world.window_s
    n = int(np.ceil(world.materialized / W - 1e-9))
    k_from = min(k_from, n)
    cols: dict[str, np.ndarray] = {"t_s": np.arange(k_from, n) * W}
    user = tel.user[k_from:n]
    total = user.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["share_new"] = np.where(total > 0, user[:, NEW] / total, np.nan)
    for v, name in VERSIONS.items():
        s = tel.series(v, k_from, n)
        cols[f"requests_{name}"] = s["requests"]
        cols[f"errors_{name}"] = s["errors"]
        cols[f"error_rate_{name}"] = s["error_rate"]
        cols[f"p50_ms_{name}"] = s["p50_ms"]
        cols[f"p99_ms_{name}"] = s["p99_ms"]
        cols[f"saturation_{name}"] = s["saturation"]
    L = world.ledger
    keep = L["k"] >= k_from
    k, m = L["k"][keep] - k_from, n - k_from
    cols["faulty_requests"] = np.bincount(k, weights=L["faulty"][keep].sum(1), minlength=m)[:m]
    cols["down_s"] = np.bincount(k, weights=(L["dt"] * L["down"])[keep], minlength=m)[:m]
    cols["service_requests"] = tel.svc_user[k_from:n]
    cols["service_errors"] = tel.svc_err[k_from:n]
    t_mid = cols["t_s"] + W / 2
    for target in ("both", "new", "stable"):
        on = np.zeros(m, bool)
        for ep in episodes:
            if ep.target == target:
                on |= (t_mid >= ep.start) & (t_mid < ep.end)
        cols[f"noise_{target}"] = on
    return pd.DataFrame(cols)


def _looks(events: pd.DataFrame) -> pd.DataFrame:
    """The verdicts among the events (the log writes them as "what: status[: values]")."""
    rows = []
    for t, kind, detail in events[events["kind"].isin(VERDICT_KINDS)].itertuples(index=False):
        parts = str(detail).split(": ")
        if len(parts) >= 2 and parts[1] in STATUSES:
            rows.append((float(t), kind, parts[0], parts[1]))
    return pd.DataFrame(rows, columns=["t_s", "kind", "what", "status"])


def timeline(run: Simulation) -> Timeline:
    world, d = run.world, run.deploy
    events = pd.DataFrame(d.events, columns=["t_s", "kind", "detail"])
    noise = pd.DataFrame(
        [(e.start, e.end, e.target, e.latency_factor, e.error_rate) for e in run.exo.episodes],
        columns=["start_s", "end_s", "target", "latency_factor", "error_rate"],
    )
    follow, follow_w, end = pd.DataFrame(), None, world.materialized
    marks = world.marks
    if run.follow is not None:
        f = run.follow
        follow_w = f.world.window_s
        # The follow-up's windows count from t = 0; its own start in the window that holds it.
        follow = _windows(f.world, (), int(f.start // follow_w))
        marks, end = f.world.marks, f.end
    scn = d.scn
    spec = scn.strategies.get(run.strategy)
    names = dict.fromkeys(spec.judges_used()) if spec is not None else {}
    judges = {n: scn.judges[n] for n in names if isinstance(scn.judges.get(n), GateJudge)}
    return Timeline(
        _windows(world, run.exo.episodes),
        events,
        noise,
        run.strategy,
        int(run.row["deploy"]),
        follow=follow,
        looks=_looks(events),
        judges=judges,
        window_s=world.window_s,
        follow_window_s=follow_w,
        shipped_s=marks.full_at,
        detected_s=marks.detected_at,
        restored_s=marks.recovered_at if run.row.get("release_bad") else None,
        end_s=float(end),
    )
