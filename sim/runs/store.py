"""Result folders: rows streamed to disk chunk by chunk, then tables, charts and a manifest that says
whether the run is complete.

Layout of `results/<scenario>-<UTC timestamp>/`:

    manifest.json      what was run (resolved scenario, seed, version, command line), wall time, completeness
    scenario.yaml      the resolved scenario, loadable as it is
    chunks/            while running: one Parquet file per finished chunk of deploys (gone once complete)
    rows.parquet       one row per (deploy, strategy), the columns of `sim.COLUMNS`
    rows.csv           the same rows as CSV
    summary.csv        per strategy and metric: n, mean, p50, p90, p99, 95% CI
    charts/*.png       blast radius, time to recover, blast radius vs recovery, cost vs safety, rollbacks
    .deploysim.lock    while a run or resume writes here: its pid, under an flock (`folder.FolderLock`)

Every file is written to a temporary name and renamed into place, so a file either is whole or
is not there; rows.parquet and rows.csv are filled while the batch runs, each chunk appended as soon
as every chunk before it is on disk, and renamed into place after the last. A chunk file exists only
once its deploys are done; `manifest.json` says
`"complete": true` only after everything else is written, so a run cut short is never read as whole.

What both kinds of result folder share — claiming the folder, atomic writes, the manifest's writer,
reader and format — is `folder`'s; this module is its public face (`sim.store`), and names it too.
The rows' columns and their Parquet types come from the column table, `sim.core.columns`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..config.scenario import Scenario, load_scenario
from ..core.columns import COLUMNS, FLAGS, KINDS, METRICS, Kind
from ..core.errors import ConfigError
from ..core.files import replacing
from ..results.frame import normalize, to_frame
from ..results.summary import SUMMARY_COLUMNS, summarize
from .batch import (
    Progress,
    Rows,
    Span,
    Stopped,
    WorkerLost,
    Workers,
    check_size,
    chunks,
    executor,
    iter_chunks,
)
from .cluster import ClusterRefused

# What both kinds of result folder share (`folder`); `sim.store` names it for the front ends too.
from .folder import FORMAT as FORMAT
from .folder import LOCK as LOCK
from .folder import MANIFEST, complete_manifest, load_manifest, new_manifest, save_manifest, write_atomic
from .folder import FolderLock as FolderLock
from .folder import claim_dir as claim_dir
from .folder import new_run_dir as new_run_dir
from .folder import start_manifest as start_manifest

ROWS_PARQUET, ROWS_CSV, SUMMARY_CSV = "rows.parquet", "rows.csv", "summary.csv"
CHUNKS, CHARTS = "chunks", "charts"

#: Columns the charts read: a run's charts never need the whole table in memory.
CHART_COLUMNS = (
    "strategy",
    "deploy",
    "release_bad",
    "faulty_requests",
    "affected_users",
    "time_to_restore_s",
    "censored",
    "censored_after_s",
    "exposure_at_detection",
    "failed_requests",
    "error_budget_used",
    "error",
)
#: Rows the charts read: they draw bad releases (a good release has no blast radius and nothing to
#: restore); the first deploy's rows keep each strategy's place, colour and legend entry, in the
#: scenario's order, whether or not it met a bad release. A million deploys' charts then hold a
#: fifth of the rows (4 M rows of four strategies: 1.4 GB at the peak, all rows read).
CHART_ROWS = pc.field("release_bad") | (pc.field("deploy") == 0)


#: Each kind of column's Arrow type in rows.parquet.
ARROW_TYPES: dict[Kind, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "flag": pa.bool_(),
    "number": pa.float64(),
}

#: rows.parquet's schema (and each chunk's): the column table's columns, in order.
ROW_SCHEMA = pa.schema([(c, ARROW_TYPES[KINDS[c]]) for c in COLUMNS])


class Interrupted(Exception):
    """A batch stopped before its last chunk (Ctrl-C, a worker that died); finished chunks are kept."""

    def __init__(self, path: Path, done: int, total: int, cause: BaseException) -> None:
        self.path, self.done, self.total, self.cause = path, done, total, cause
        if isinstance(cause, Stopped):
            why = f"stopped by {cause}"
        elif isinstance(cause, KeyboardInterrupt):
            why = "interrupted"
        else:
            why = f"a worker failed ({cause})"
        super().__init__(
            f"{why}: {done} of {total} chunks are saved in {path}; "
            f"finish it with: deploysim run --resume {path}"
        )


@dataclass(frozen=True)
class BatchSpec:
    """What a batch is: everything needed to (re)compute any of its chunks."""

    scenario: Scenario
    deploys: int
    seed: int
    strategies: tuple[str, ...]
    chunk: int
    taper: bool = True  # the last chunks cut smaller (`batch.chunks`); False: a folder from before them

    @property
    def spans(self) -> list[Span]:
        return list(chunks(self.deploys, self.chunk, taper=self.taper))


# ---- manifest ----


def run_manifest(spec: BatchSpec, command: Sequence[str], jobs: int, cluster: str | None) -> dict[str, Any]:
    """A run's manifest before its first chunk: the common fields and the run's own."""
    return new_manifest(
        "run",
        spec.scenario,
        spec.deploys,
        spec.seed,
        command,
        strategies=list(spec.strategies),
        chunk_deploys=spec.chunk,
        chunk_taper=spec.taper,
        chunks={"total": len(spec.spans), "done": 0},
        rows=None,
        failed_runs=None,
        resumed_by=[],
        jobs=jobs,
        cluster=cluster,
        wall_time_s=0.0,
    )


def spec_of(manifest: dict[str, Any], source: str) -> BatchSpec:
    try:
        scn = load_scenario(manifest["scenario"])
        return BatchSpec(
            scn,
            int(manifest["deploys"]),
            int(manifest["seed"]),
            tuple(manifest["strategies"]),
            _chunk(manifest["chunk_deploys"]),
            _taper(manifest.get("chunk_taper", False)),  # absent: a folder from before tapering
        )
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise err.located(f"{source}/{MANIFEST}") from None
        raise ConfigError(f"{MANIFEST} lacks a valid {err}", source=source) from None


def _chunk(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("'chunk_deploys' (a whole number of deploys, at least 1)")
    return value


def _taper(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("'chunk_taper' (true or false)")
    return value


# ---- running ----


def chunk_path(path: Path, span: Span) -> Path:
    return path / CHUNKS / f"{span[0]:012d}-{span[1]:012d}.parquet"


def done_spans(path: Path, spec: BatchSpec) -> list[Span]:
    return [s for s in spec.spans if chunk_path(path, s).exists()]


def _write_chunk(path: Path, span: Span, rows: Rows) -> None:
    table = pa.Table.from_pandas(to_frame(rows), schema=ROW_SCHEMA, preserve_index=False)
    write_atomic(chunk_path(path, span), lambda tmp: pq.write_table(table, tmp))


class _Join:
    """rows.parquet and rows.csv, filled while the batch runs: each chunk is appended, read back from
    its file, as soon as it and every chunk before it are on disk — so the join costs nothing after
    the last chunk. One chunk in memory at a time (one that lands early waits on disk)."""

    def __init__(self, path: Path, spans: list[Span], parquet: pq.ParquetWriter, csv: IO[str]) -> None:
        self.path, self.spans, self.parquet, self.csv = path, spans, parquet, csv
        self.next = 0  # the first span not yet appended
        self.landed: set[Span] = set()

    def add(self, span: Span) -> None:
        """A chunk is on disk: append it, and every chunk after it that was waiting for it."""
        self.landed.add(span)
        while self.next < len(self.spans) and self.spans[self.next] in self.landed:
            span = self.spans[self.next]
            self.landed.discard(span)
            # The reads the join made when it ran after the last chunk: the same bytes.
            self.parquet.write_table(pq.read_table(chunk_path(self.path, span), schema=ROW_SCHEMA))
            frame = normalize(pq.read_table(chunk_path(self.path, span)).to_pandas())
            frame.to_csv(self.csv, header=self.next == 0, index=False)
            self.next += 1


@contextmanager
def _joining(path: Path, spec: BatchSpec) -> Iterator[_Join]:
    """A `_Join` for the block: its two files are written through temporaries (`replacing`), renamed
    into place when the block ends with every chunk in, removed if it raises (a stop, a dead worker)."""
    with (
        replacing(path / ROWS_PARQUET) as parquet_tmp,
        replacing(path / ROWS_CSV) as csv_tmp,
        pq.ParquetWriter(parquet_tmp, ROW_SCHEMA) as parquet,
        open(csv_tmp, "w", encoding="utf-8", newline="") as csv,
    ):
        join = _Join(path, spec.spans, parquet, csv)
        yield join
        if join.next < len(join.spans):
            missing = len(join.spans) - join.next
            raise ConfigError(f"{missing} chunks are missing", source=str(path))


def execute(
    path: Path,
    spec: BatchSpec,
    manifest: dict[str, Any],
    *,
    jobs: int = 1,
    cluster: Any = None,
    pool: Workers | None = None,
    progress: Progress | None = None,
    charts: bool = True,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the chunks not yet on disk, then write tables, charts and the completed manifest. pool: an
    open `batch.executor(...)` to run on (jobs and cluster are then unused). note(text) hears of a
    damaged chunk that is dropped and recomputed."""
    check_size(spec.scenario, spec.deploys, len(spec.strategies))
    started = time.perf_counter()
    (path / CHUNKS).mkdir(exist_ok=True)
    # Writes cut short: a chunk's, or the rows' (written all run long). Each temporary carries its
    # writer's pid; the caller holds the folder's lock (FolderLock), so no other live process writes
    # here and every one not ours is stale.
    mine = f"-{os.getpid()}"
    for stray in [*(path / CHUNKS).glob(".*.tmp-*"), *path.glob(".rows.*.tmp-*")]:
        if not stray.name.endswith(mine):
            stray.unlink(missing_ok=True)
    have = {span for span in done_spans(path, spec) if _sound(path, spec, span, note)}
    todo = [s for s in spec.spans if s not in have]
    done = sum(hi - lo for lo, hi in have)
    if progress is not None:
        progress(done, spec.deploys)
    with nullcontext(pool) if pool is not None else executor(jobs, cluster) as workers:
        try:
            with _joining(path, spec) as join:
                for span in sorted(have):
                    join.add(span)
                finished = iter_chunks(spec.scenario, spec.strategies, spec.seed, todo, pool=workers)
                # Closed on the way out, not when the garbage collector gets to it (and the executor's
                # block, around this one, kills the chunks under way on a stop).
                with contextlib.closing(finished):
                    for span, rows in finished:
                        _write_chunk(path, span, rows)
                        join.add(span)
                        if charts and workers.executor is not None:
                            # The chunks run elsewhere and this process waits between them: it loads
                            # what drawing the charts takes now (the first time), not after the last.
                            _load_plots()
                        done += span[1] - span[0]
                        if progress is not None:
                            progress(done, spec.deploys)
        except (KeyboardInterrupt, WorkerLost) as err:
            _stopped(path, spec, manifest, started, "interrupted")
            raise Interrupted(path, len(done_spans(path, spec)), len(spec.spans), err) from None
        except ClusterRefused as err:
            # A worker that joined mid-run with another deploysim: an input error, yet the chunks the
            # matching workers finished are sound, so say where they are and how to finish.
            _stopped(path, spec, manifest, started, "failed")
            kept = f"{len(done_spans(path, spec))} of {len(spec.spans)} chunks are saved in {path}"
            resume = f"finish it with deploysim run --resume {path}"
            raise ClusterRefused(f"{err.message}; {kept}: {resume}") from None
        except BaseException:
            _stopped(path, spec, manifest, started, "failed")
            raise
        finish(path, spec, manifest, charts)
    wall_time_s = round(manifest["wall_time_s"] + time.perf_counter() - started, 3)
    complete_manifest(path, manifest, wall_time_s=wall_time_s)
    shutil.rmtree(path / CHUNKS, ignore_errors=True)
    return manifest


def _sound(path: Path, spec: BatchSpec, span: Span, note: Callable[[str], None] | None) -> bool:
    """Whether a chunk on disk reads whole, with its rows; a damaged one (a disk that filled, a
    file truncated by hand) is deleted, to be recomputed: deploy i's rows depend only on the seed
    and i, so the new chunk is the lost one, byte for byte. One chunk in memory at a time."""
    file = chunk_path(path, span)
    expected = (span[1] - span[0]) * len(spec.strategies)
    try:
        rows = pq.read_table(file, schema=ROW_SCHEMA).num_rows
        why = None if rows == expected else f"{rows} rows where {expected} belong"
    except (OSError, pa.ArrowException) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
    if why is None:
        return True
    file.unlink(missing_ok=True)
    if note is not None:
        note(f"{file} is damaged ({why}); it is deleted and recomputed from the seed (the same rows)")
    return False


def _stopped(path: Path, spec: BatchSpec, manifest: dict[str, Any], started: float, status: str) -> None:
    manifest["wall_time_s"] = round(manifest["wall_time_s"] + time.perf_counter() - started, 3)
    manifest["status"] = status
    manifest["chunks"]["done"] = len(done_spans(path, spec))
    # The chunks on disk are what resume trusts; the manifest only reports progress.
    with contextlib.suppress(OSError):
        save_manifest(path, manifest)


def finish(path: Path, spec: BatchSpec, manifest: dict[str, Any], charts: bool = True) -> None:
    """After the rows (rows.parquet, rows.csv): the summary, the resolved scenario and the charts."""
    summary = summarize_file(path / ROWS_PARQUET, spec.strategies)
    write_atomic(path / SUMMARY_CSV, summary.to_csv(index=False))
    errors = pq.read_table(path / ROWS_PARQUET, columns=["error"]).column("error").drop_null()
    scenario_yaml = f"# resolved scenario of this run\n{spec.scenario.to_yaml()}"
    write_atomic(path / "scenario.yaml", scenario_yaml)
    files = [ROWS_PARQUET, ROWS_CSV, SUMMARY_CSV, "scenario.yaml"]
    if charts:
        files += write_charts(path, summary)
    manifest.update(
        rows=spec.deploys * len(spec.strategies),
        failed_runs=len(errors),
        files=files,
        chunks={"total": len(spec.spans), "done": len(spec.spans)},
    )


def read_columns(
    rows: Path, columns: Sequence[str], strategy: str | None = None, *, where: pc.Expression | None = None
) -> pd.DataFrame:
    """Some columns of a rows.parquet (optionally one strategy's rows, and only those `where` holds
    for), read a batch at a time so that only what is kept, never the whole file, is in memory at
    once."""
    pieces = []
    for batch in pq.ParquetFile(rows).iter_batches(batch_size=50_000, columns=list(columns)):
        table = pa.Table.from_batches([batch])
        if strategy is not None:
            table = table.filter(pc.equal(table["strategy"], strategy))
        if where is not None:
            table = table.filter(where)
        pieces.append(table)
    return normalize(pa.concat_tables(pieces).to_pandas())


def summarize_file(rows: Path, strategies: Sequence[str]) -> pd.DataFrame:
    """`summarize` of a rows.parquet, one strategy in memory at a time (percentiles need its values)."""
    cols = ["strategy", "error", *FLAGS, *METRICS]
    return pd.concat([summarize(read_columns(rows, cols, s)) for s in strategies], ignore_index=True)


def _load_plots() -> None:
    from ..results import plots  # noqa: F401  (loaded now; drawing later finds it in sys.modules)


def write_charts(path: Path, summary: pd.DataFrame) -> list[str]:
    from ..results import plots  # matplotlib is imported only when charts are drawn

    df = read_columns(path / ROWS_PARQUET, CHART_COLUMNS, where=CHART_ROWS)
    (path / CHARTS).mkdir(exist_ok=True)
    names = []
    for name, fig in plots.run_charts(df, summary).items():
        target = path / CHARTS / f"{name}.png"
        write_atomic(target, functools.partial(fig.savefig, format="png", dpi=110))
        names.append(f"{CHARTS}/{name}.png")
    return names


# ---- reading ----


def open_results(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """(manifest, summary) of a complete run; a run cut short is an error naming how to finish it."""
    path = Path(path)
    manifest = load_manifest(path, "run")
    if manifest.get("complete") is not True:
        done, total = manifest.get("chunks", {}).get("done"), manifest.get("chunks", {}).get("total")
        raise ConfigError(
            f"incomplete run ({manifest.get('status')}, {done} of {total} chunks); "
            f"finish it with: deploysim run --resume {path}",
            source=str(path),
        )
    try:
        summary = pd.read_csv(path / SUMMARY_CSV)
    except (OSError, ValueError) as err:
        raise ConfigError(f"unreadable {SUMMARY_CSV}: {err}", source=str(path)) from None
    if list(summary.columns) != SUMMARY_COLUMNS:
        raise ConfigError(
            f"{SUMMARY_CSV} does not have the columns {', '.join(SUMMARY_COLUMNS)}", source=str(path)
        )
    for column in SUMMARY_COLUMNS[2:]:  # the tables do arithmetic on these: text in one is refused here
        if not pd.api.types.is_numeric_dtype(summary[column]) or pd.api.types.is_bool_dtype(summary[column]):
            raise ConfigError(f"{SUMMARY_CSV}: column {column!r} holds text, not numbers", source=str(path))
    return manifest, summary


def read_rows(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The per-deploy rows of a complete run (optionally only some columns)."""
    open_results(path)
    frame = pq.read_table(Path(path) / ROWS_PARQUET, columns=list(columns) if columns else None).to_pandas()
    return normalize(frame)
