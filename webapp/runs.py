"""Batches and replays for the app: cached by (scenario, seed, deploys), run on a pool of worker processes
kept warm between runs, capped at what a page should wait for."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

import sim
from sim import plots

#: The most simulated traffic windows (deploys × strategies × horizon / window) one page run may take:
#: 2,700 deploys of the default scenario under its four strategies, about a minute on two cores at
#: the ~200,000 windows per second per core `make bench` measures. Larger studies belong to the CLI.
APP_MAX_WINDOWS = 12_000_000

#: Below this many deploy-simulations a batch runs in the page's own process: starting worker
#: processes (each imports numpy, pandas and scipy) takes longer than the batch itself.
IN_PROCESS_SIMS = 200


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cap(scn: sim.Scenario, deploys: int, strategies: int) -> tuple[int, str | None]:
    """The deploys a page may run, and a note pointing to the CLI when that is fewer than asked."""
    most = max(1, APP_MAX_WINDOWS // (strategies * sim.batch.windows_per_deploy(scn)))
    if deploys <= most:
        return deploys, None
    return most, (
        f"{deploys:,} deploys × {strategies} strategies is more than this page runs: it simulates the first "
        f"{most:,}. For all {deploys:,}, download the scenario and run it from the command line: "
        f"`deploysim run {scn.name}.yaml --deploys {deploys} --jobs {cores()}` (it keeps its results "
        "on disk and can resume)."
    )


class KeptPool:
    """Worker processes kept for the life of the server: each would otherwise spend seconds importing
    the model before its first deploy of every run."""

    def __init__(self, jobs: int) -> None:
        # The workers start now and import the model while the user is still choosing settings, not
        # after Run (the pool preloads the engine).
        self._context = sim.batch.executor(jobs)
        self.workers = self._context.__enter__()

    def close(self) -> None:
        self._context.__exit__(None, None, None)


@st.cache_resource(show_spinner=False, on_release=KeptPool.close)
def _pool(jobs: int) -> KeptPool:
    return KeptPool(jobs)


def jobs_for(deploys: int, strategies: int) -> int:
    return 1 if deploys * strategies < IN_PROCESS_SIMS else cores()


def warm(deploys: int, strategies: int) -> None:
    """Start the kept workers if a run of this size would use them."""
    jobs = jobs_for(deploys, strategies)
    if jobs > 1:
        _pool(jobs)


@dataclass
class Results:
    """One finished batch, as the pages show it."""

    name: str
    yaml: str  # the scenario (with the strategies compared) that ran
    seed: int
    deploys: int
    strategies: tuple[str, ...]
    rows: pd.DataFrame
    summary: pd.DataFrame
    seconds: float
    cached: bool
    pngs: dict[str, bytes] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.yaml, self.seed, self.deploys)

    @property
    def follow_s(self) -> float:
        """How long a bad release nobody caught was followed: the tables' censoring time."""
        return float(sim.Scenario.from_yaml(self.yaml).run.follow_s)

    def png(self, chart: str) -> bytes:
        """A chart of `plots` as PNG, drawn once per result."""
        if chart not in self.pngs:
            fig = CHARTS[chart](self.rows, self.summary)
            self.pngs[chart] = figure_png(fig)
        return self.pngs[chart]


#: The run charts, by name: (title, draw from rows and summary).
CHARTS: dict[str, Any] = {
    "blast_radius": lambda rows, summary: plots.blast_radius(rows),
    "time_to_restore": lambda rows, summary: plots.time_to_restore(rows),
    "blast_vs_recovery": lambda rows, summary: plots.blast_vs_recovery(rows),
    "cost_vs_safety": lambda rows, summary: plots.cost_vs_safety(summary),
    "rollbacks_vs_escapes": lambda rows, summary: plots.rollbacks_vs_escapes(summary),
    "escapes_by_fault": lambda rows, summary: plots.escapes_by_fault(rows),
}


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=32)
def _batch(
    yaml_text: str, seed: int, deploys: int, strategies: tuple[str, ...], _jobs: int
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Rows, summary and wall time of a batch. The progress bar is made here so that a cache hit
    replays it (already finished, then gone) instead of pointing at a bar of an earlier page run."""
    scn = sim.Scenario.from_yaml(yaml_text)
    bar = st.progress(0.0, text=f"Simulating {deploys:,} deploys × {len(strategies)} strategies …")
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.progress(
            done / total, text=f"{done:,} of {total:,} deploys · {time.perf_counter() - start:.0f} s"
        )

    def run(pool: sim.batch.Workers | None) -> pd.DataFrame:
        # jobs sizes the chunks; the kept pool (not a new one) runs them.
        return sim.run_batch(
            scn, deploys, seed, strategies=strategies, jobs=_jobs, progress=progress, pool=pool
        )

    if _jobs <= 1:
        rows = run(None)
    else:
        try:
            rows = run(_pool(_jobs).workers)
        except sim.batch.WorkerLost:  # a worker died (killed, out of memory): a fresh pool, once
            _pool.clear()
            rows = run(_pool(_jobs).workers)
    bar.empty()
    return rows, sim.summarize(rows), time.perf_counter() - start


def batch(scn: sim.Scenario, deploys: int, seed: int, strategies: Sequence[str]) -> Results:
    """Run (or fetch from the cache) `deploys` deploys of `strategies`; a progress bar meanwhile."""
    text = scn.to_yaml()
    jobs = jobs_for(deploys, len(strategies))
    start = time.perf_counter()
    rows, summary, seconds = _batch(text, int(seed), int(deploys), tuple(strategies), jobs)
    cached = time.perf_counter() - start < 0.5 * seconds
    return Results(scn.name, text, int(seed), int(deploys), tuple(strategies), rows, summary, seconds, cached)


@st.cache_data(show_spinner="Replaying the deploy …", max_entries=64)
def replay(
    yaml_text: str, strategy: str, deploy: int, seed: int, span: plots.Span = "rollout"
) -> tuple[bytes, pd.DataFrame, dict[str, Any]]:
    """One deploy's timeline chart (PNG) over `span` (see `plots.replay`), its events and its row."""
    scn = sim.Scenario.from_yaml(yaml_text)
    run = sim.run_deploy(scn, strategy, deploy=deploy, seed=seed, record=True)
    tl = sim.timeline(run)
    return figure_png(plots.replay(tl, span)), tl.events, dict(run.row)


def rows_csv(rows: pd.DataFrame) -> bytes:
    return rows.to_csv(index=False).encode()


def rows_parquet(rows: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    rows.to_parquet(buf, index=False)
    return buf.getvalue()


def close_pool() -> None:
    """Stop the kept worker processes (the server otherwise keeps them until it exits)."""
    _pool.clear()
