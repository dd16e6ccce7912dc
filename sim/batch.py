"""Batches of deploys: chunks of deploys run in-process or in a process pool, rows in deploy order.

Deploy i's draws depend only on (seed, i), so the rows are identical whatever the number of
workers and however deploys are chunked. A run that raises becomes a row with its error recorded;
a batch never loses a row.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from .metrics import COLUMNS, FLAGS, METRICS, error_row
from .model import draw_exogenous, simulate
from .scenario import Scenario, load_scenario

Progress = Callable[[int, int], None]


def run_chunk(scn: Scenario, strategies: Sequence[str], seed: int, lo: int, hi: int) -> list[dict[str, Any]]:
    """Rows of deploys lo..hi-1 for each strategy (exogenous draws shared by the strategies)."""
    rows = []
    for i in range(lo, hi):
        try:
            exo = draw_exogenous(scn, seed, i)
        except Exception as err:  # a bad draw must not sink the batch: record it on every row
            rows += [error_row(scn, s, i, seed, err) for s in strategies]
            continue
        for s in strategies:
            try:
                rows.append(simulate(scn, s, exo, seed, i).row)
            except Exception as err:  # recorded with its row, never dropped (desmod's rule)
                rows.append(error_row(scn, s, i, seed, err))
    return rows


def chunks(deploys: int, size: int, start: int = 0) -> Iterator[tuple[int, int]]:
    for lo in range(start, deploys, size):
        yield lo, min(deploys, lo + size)


def chunk_size(deploys: int, jobs: int) -> int:
    # Enough chunks per worker to balance load, few enough that scheduling stays cheap.
    return max(1, min(500, deploys // max(1, 8 * jobs)))


def iter_chunks(
    scn: Scenario, strategies: Sequence[str], seed: int, spans: Sequence[tuple[int, int]], jobs: int
) -> Iterator[tuple[tuple[int, int], list[dict[str, Any]]]]:
    """Yield (span, rows) as chunks finish, in span order."""
    if jobs <= 1 or len(spans) <= 1:
        for lo, hi in spans:
            yield (lo, hi), run_chunk(scn, strategies, seed, lo, hi)
        return
    # An explicit spawn context: no fork of a threaded parent, no global start-method change.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_chunk, scn, list(strategies), seed, lo, hi) for lo, hi in spans]
        for span, fut in zip(spans, futures, strict=True):
            yield span, fut.result()


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in METRICS:
        df[col] = df[col].astype(float)
    for col in FLAGS:
        df[col] = df[col].astype("boolean")
    for col in ("deploy", "seed"):
        df[col] = df[col].astype("int64")
    return df


def run_batch(
    scenario: Scenario | str | dict,
    deploys: int | None = None,
    seed: int | None = None,
    strategies: Sequence[str] | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Simulate `deploys` deploys of every (or the named) strategy; one row per (deploy, strategy)."""
    scn = load_scenario(scenario)
    names = list(strategies) if strategies else list(scn.strategies)
    scn.only(names)  # validates the names
    deploys = scn.run.deploys if deploys is None else deploys
    seed = scn.run.seed if seed is None else seed
    spans = list(chunks(deploys, chunk_size(deploys, jobs)))
    rows: list[dict[str, Any]] = []
    for (_lo, hi), part in iter_chunks(scn, names, seed, spans, jobs):
        rows += part
        if progress is not None:
            progress(hi, deploys)
    return to_frame(rows)
