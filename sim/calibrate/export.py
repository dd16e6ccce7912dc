"""A scenario's traffic and monitoring, simulated and written as Prometheus query_range JSON.

The round trip's data (and a demo's): the engine's own draws — the daily curve and surges
(`sim.engine.exogenous.draw_span`), noisy-neighbour episodes (`draw_episodes`) and the fleet's
latency distribution (`sim.engine.fleet.share_slower`) — counted per step as a service's
Prometheus would: a request counter, an error counter, latency histogram buckets and a replica
gauge. Latency is the fleet's at its mean utilisation (no queueing over the day), and the
histogram counts user requests (synthetic ones are probes that never reach application code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config.fleet import Latency
from ..config.scenario import Scenario
from ..core.files import write_atomic
from ..engine.exogenous import Episode, draw_episodes, draw_span
from ..engine.fleet import share_slower
from ..engine.simulate import Simulation

#: A counter's value before the first step (a service's counters seldom start at 0).
COUNTER_START = 1_000_000.0
#: Midnight UTC, 2026-01-05: day 0 of the simulated data.
T0 = 1_767_571_200.0


@dataclass(frozen=True)
class Monitored:
    """What Prometheus would hold for `days` of the scenario, and what really happened."""

    timestamps: np.ndarray  # n + 1 scrape times: the start, then every step's end
    requests: np.ndarray  # counter, all requests
    errors: np.ndarray  # counter
    les: np.ndarray  # bucket bounds, seconds, +Inf last
    buckets: np.ndarray  # (n + 1, buckets) counters
    replicas: np.ndarray  # gauge
    surges: tuple[tuple[float, float, float], ...]
    episodes: tuple[Episode, ...]


def default_les() -> np.ndarray:
    """Buckets 1.25× apart from 5 ms to 60 s, then +Inf."""
    finite = 0.005 * 1.25 ** np.arange(0, 43)
    return np.append(finite[finite <= 60.0], np.inf)


def monitor(scn: Scenario, days: float, step: float, rng: np.random.Generator) -> Monitored:
    """Simulate `days` of the scenario's traffic, errors, latency and replicas, scraped every `step`."""
    n = round(days * 86400.0 / step)
    traffic = draw_span(scn.traffic, step, 0, n, 0.0, rng)
    user = traffic.user.sum(axis=1)
    total = user + traffic.synthetic
    errors = rng.binomial(user, scn.fleet.error_rate)
    episodes = draw_episodes(scn.noise, n * step, rng)
    les = default_les()
    cover = np.zeros((n, len(episodes)))
    starts = np.arange(n) * step
    for j, e in enumerate(episodes):
        cover[:, j] = np.clip(np.minimum(starts + step, e.end) - np.maximum(starts, e.start), 0, None) / step
    quiet = _cdf(scn.fleet.latency, les, 1.0)
    cdf = np.tile(quiet, (n, 1)) * (1.0 - cover.sum(axis=1, keepdims=True).clip(0, 1))
    for j, e in enumerate(episodes):
        cdf += cover[:, [j]] * _cdf(scn.fleet.latency, les, e.latency_factor)
    cdf /= np.where(cover.sum(axis=1, keepdims=True) > 1, cover.sum(axis=1, keepdims=True), 1.0)
    probs = np.diff(np.concatenate([np.zeros((n, 1)), cdf], axis=1), axis=1).clip(0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    per_bucket = rng.multinomial(user, probs)
    cum_buckets = np.cumsum(per_bucket, axis=1)

    def counter(per_step: np.ndarray) -> np.ndarray:
        return COUNTER_START + np.concatenate(
            [np.zeros((1, *per_step.shape[1:])), np.cumsum(per_step, axis=0)]
        )

    return Monitored(
        T0 + step * np.arange(n + 1),
        counter(total.astype(float)),
        counter(errors.astype(float)),
        les,
        counter(cum_buckets.astype(float)),
        np.full(n + 1, float(scn.fleet.replicas)),
        traffic.surges,
        episodes,
    )


def _cdf(lat: Latency, les: np.ndarray, factor: float) -> np.ndarray:
    """Share of requests at or under each bound, latency scaled by `factor` (+Inf: all)."""
    scaled = Latency(lat.p50_ms * factor, lat.p99_ms * factor)
    out = np.array([1.0 - share_slower(scaled, le * 1000.0) if np.isfinite(le) else 1.0 for le in les])
    return out


def export_series(
    name: str, labels: list[dict[str, str]], timestamps: np.ndarray, columns: np.ndarray
) -> dict[str, Any]:
    """The JSON a Prometheus `query_range` returns: one series per column of `columns`."""
    cols = columns.reshape(len(timestamps), -1)
    result = [
        {
            "metric": dict(labels[i], __name__=name),
            "values": [[float(t), repr(float(v))] for t, v in zip(timestamps, cols[:, i], strict=True)],
        }
        for i in range(cols.shape[1])
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def write_monitored(m: Monitored, folder: Path) -> list[Path]:
    """One query_range JSON file per query, as `deploysim calibrate` reads them."""
    le_labels = [{"le": "+Inf" if np.isinf(le) else repr(float(le))} for le in m.les]
    files = {
        "http_requests_total.json": export_series("http_requests_total", [{}], m.timestamps, m.requests),
        "http_errors_total.json": export_series("http_errors_total", [{}], m.timestamps, m.errors),
        "http_request_duration_seconds_bucket.json": export_series(
            "http_request_duration_seconds_bucket", le_labels, m.timestamps, m.buckets
        ),
        "kube_deployment_status_replicas.json": export_series(
            "kube_deployment_status_replicas", [{}], m.timestamps, m.replicas
        ),
    }
    out = []
    for name, doc in files.items():
        path = Path(folder) / name
        write_atomic(path, json.dumps(doc, separators=(",", ":")))
        out.append(path)
    return out


def write_versions(sim: Simulation, folder: Path) -> list[Path]:
    """A simulated deploy's monitoring per version — request and error counters labelled
    `version="stable"` and `version="canary"`, one sample per engine window (its end) — as
    query_range JSON: what `deploysim judge` replays. Counts are the engine's own; percentiles are
    drawn per look in the engine and have no histogram here, so only counts are written."""
    acc = sim.world.telemetry.acc
    user, syn, err = (acc[:, :, sim.world.telemetry.FIELDS.index(f)] for f in ("user", "syn", "err"))
    window = sim.world.window_s
    ts = T0 + window * np.arange(len(acc) + 1)
    labels = [{"version": "stable"}, {"version": "canary"}]

    def counter(per_window: np.ndarray) -> np.ndarray:
        return COUNTER_START + np.concatenate([np.zeros((1, 2)), np.cumsum(per_window, axis=0)])

    out = []
    for name, values in (("http_requests_total", user + syn), ("http_errors_total", err)):
        path = Path(folder) / f"{name}.json"
        write_atomic(
            path, json.dumps(export_series(name, labels, ts, counter(values)), separators=(",", ":"))
        )
        out.append(path)
    return out
