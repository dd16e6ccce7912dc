"""Batches of deploys: chunks of deploys run in-process, in a local process pool or on a Dask cluster.

Deploy i's draws depend only on (seed, i), so the rows are identical whatever the number of
workers, wherever they run and however deploys are chunked. A run that raises becomes a row with
its error recorded; a batch never loses a row. A cluster's workers must run what the client runs
(`cluster.identity`): one that does not refuses its chunk, and the batch stops with one line.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import socket
import struct
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..config.scenario import Scenario, load_scenario
from ..core.errors import ConfigError
from ..engine.arrays import BLOCK
from ..engine.rows import Rows, simulate_deploys
from ..results.frame import to_frame
from .cluster import (
    CHUNK_CODE,
    ClusterRefused,
    Threads,
    WorkerMismatch,
    check_workers,
    identity,
    packed_chunk,
    refuse,
)
from .workers import ENGINE, PoolBroken, WorkerPool, running

Progress = Callable[[int, int], None]
Span = tuple[int, int]

#: The largest batch accepted: simulated traffic windows, deploys × strategies × horizon_s / window_s.
#: At the measured ~250,000 windows per second per core (`make bench`) this is about 11 core-hours —
#: 2.3 million deploys of the default scenario under its four strategies. Larger studies are split
#: into several runs (different seeds) rather than left to run for days.
MAX_WINDOWS = 10**10

#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 10
#: Seconds between looks at a cluster's size while no chunk finishes (a cluster with no worker yet,
#: or slow chunks): a worker that joins gets chunks within about this long.
POLL_S = 1.0


def chunks(deploys: int, size: int, *, taper: bool = True) -> Iterator[Span]:
    """The spans of a batch of `deploys` in chunks of `size`. Tapered, the last two chunks' worth is
    cut in halves down to one block (`BLOCK`, when `size` is whole blocks): the workers then finish
    within a block's time of each other, not a chunk's (with two workers, one sat idle for half a
    chunk on average while the other computed the last). Rows do not depend on the spans."""
    lo = 0
    while lo < deploys:
        step, rest = size, deploys - lo
        if taper and size % BLOCK == 0 and rest < 2 * size:
            step = max(BLOCK, rest // 2 // BLOCK * BLOCK)
        yield lo, min(deploys, lo + step)
        lo += step


def chunk_size(deploys: int, jobs: int) -> int:
    # Enough chunks per worker to balance load, few enough that scheduling stays cheap; about 500
    # deploys at most, so a chunk's rows stay small in memory and an interrupted batch loses little
    # work. Whole blocks of the array engine once a batch has one: a chunk that cuts a block serves
    # all of it (cheap next to its deploys' own work, but not free).
    size = max(1, min(500, deploys // max(1, 8 * jobs)))
    return max(BLOCK, size // BLOCK * BLOCK) if deploys >= BLOCK else size


def windows_per_deploy(scn: Scenario) -> int:
    return math.ceil(scn.run.horizon_s / scn.run.window_s - 1e-9)


def check_size(scn: Scenario, deploys: int, strategies: int) -> None:
    """Refuse a batch too large to finish (see MAX_WINDOWS)."""
    if deploys < 1:
        raise ConfigError(f"{deploys} is not >= 1", ("run", "deploys"))
    windows = deploys * strategies * windows_per_deploy(scn)
    if windows > MAX_WINDOWS:
        raise ConfigError(
            f"{deploys:,} deploys × {strategies} strategies × {windows_per_deploy(scn):,} windows is "
            f"{windows:.2e} simulated windows, over the limit of {MAX_WINDOWS:.0e} (about 11 core-hours); "
            "use fewer deploys, fewer strategies or longer windows",
            ("run", "deploys"),
        )


#: Seconds a Dask scheduler has to say its first bytes (its handshake, sent unasked on connect).
HELLO_TIMEOUT_S = 4
#: A scheduler's handshake is one small message: its 8-byte length prefix is under this.
HELLO_MAX_BYTES = 2**20


def _tcp_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of a tcp:// or scheme-less address; None for other transports (tls, ucx, ...)."""
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "tcp":
        return None
    host, _, port = (rest if sep else address).rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_scheduler(address: str) -> None:
    """Refuse, in seconds, an address where no Dask scheduler listens. distributed's own connect
    waits its full timeout on a port that accepts and stays silent, and reads the first bytes of
    any other server's reply (an HTTP server's, the dashboard's) as a frame length, which can ask
    for exabytes. A scheduler speaks first: its handshake, behind an 8-byte length prefix; so
    read those bytes, with a timeout, before distributed does."""
    endpoint = _tcp_endpoint(address)
    if endpoint is None:
        return
    try:
        conn = socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        why = f"cannot reach the Dask scheduler at {address}: {_why(err)}"
        raise ConfigError(why, ("--cluster",)) from None
    head = b""
    with conn:
        conn.settimeout(HELLO_TIMEOUT_S)
        with contextlib.suppress(OSError):  # a timeout or a reset: too few bytes, said below
            while len(head) < 8 and (more := conn.recv(8 - len(head))):
                head += more
    if len(head) < 8:
        raise ConfigError(
            f"{address} sent {len(head)} bytes in {HELLO_TIMEOUT_S} s where a Dask scheduler greets at "
            "once: not a scheduler (its usual port is 8786; 8787 is the dashboard's)",
            ("--cluster",),
        )
    (size,) = struct.unpack("<Q", head)
    if not 0 < size < HELLO_MAX_BYTES:
        raise ConfigError(
            f"{address} answers, but not as a Dask scheduler does (it began {head!r}); "
            "its usual port is 8786, 8787 is the dashboard's",
            ("--cluster",),
        )


def _why(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def connect(cluster: Any) -> tuple[Any, bool]:
    """A Dask client for an address (or an existing Client), and whether we opened it; refused
    (ClusterRefused) if a worker connected now runs another deploysim than this client."""
    from distributed import Client  # imported here: only a cluster run pays for it

    if isinstance(cluster, Client):
        check_workers(cluster)
        return cluster, False
    if isinstance(cluster, str):
        check_scheduler(cluster)
    try:
        client = Client(cluster, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        why = f"cannot reach the Dask scheduler at {cluster}: {_why(err)}"
        raise ConfigError(why, ("--cluster",)) from None
    try:
        check_workers(client)
    except BaseException:
        client.close()
        raise
    return client, True


class WorkerLost(Exception):
    """A worker died under a chunk (killed, out of memory): the batch cannot go on as it is."""


class Stopped(KeyboardInterrupt):
    """A batch stopped by a signal (SIGTERM, or SIGINT as Ctrl-C sends it): handled as Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        # args stays (signum,): SimPy copies an exception raised inside a process as
        # `type(e)(*e.args)`, so a stop that lands mid-deploy must rebuild from its args.
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return signal.Signals(self.signum).name


@dataclass(frozen=True)
class Workers:
    """Where chunks run: an executor (None: in this process), how many at once, the errors by which
    the executor says a worker was lost, what a chunk runs, and for a cluster: its thread count
    now (it grows and shrinks; `count` is then only the count at connect time), how a chunk is
    packed for it (checked against this client's identity first) and how a failure is told."""

    executor: Executor | None
    count: int
    lost: tuple[type[BaseException], ...] = ()
    threads: Callable[[], int] | None = None
    task: Callable[..., Rows] = simulate_deploys
    # A cluster's: chunks go out packed (`cluster.CHUNK_CODE`: a worker reads nothing of
    # deploysim's until it runs one), and a chunk failure there is told by `refuse` (it names the
    # worker that differs from this client).
    pack: Callable[..., dict[str, bytes]] | None = None
    refuse: Callable[[Exception], None] | None = None

    def submit(self, scn: Scenario, names: list[str], seed: int, span: Span) -> Future:
        assert self.executor is not None
        if self.pack is not None:
            return self.executor.submit(eval, CHUNK_CODE, self.pack(scn, names, seed, span))
        return self.executor.submit(self.task, scn, names, seed, *span)

    def cap(self) -> int:
        """How many chunks may be queued or running now: two per worker thread, so each thread has
        the next chunk at hand; one while a cluster has no worker (it waits at the scheduler)."""
        return max(1, 2 * (self.count if self.threads is None else self.threads()))


@contextmanager
def executor(jobs: int, cluster: Any = None) -> Iterator[Workers]:
    """A Dask cluster's workers, local worker processes (`workers.WorkerPool`), or this process."""
    if cluster is not None:
        from distributed import KilledWorker

        client, opened = connect(cluster)
        ex = client.get_executor(pure=False)
        threads = Threads(client)
        expected = identity()  # every chunk carries what its worker must match
        try:
            yield Workers(
                ex,
                max(1, threads.count),
                (KilledWorker,),
                threads,
                pack=functools.partial(packed_chunk, expected),
                refuse=functools.partial(refuse, client),
            )
        finally:
            ex.shutdown(wait=False)
            if opened:
                client.close()
        return
    if jobs <= 1:
        yield Workers(None, 1)
        return
    # Workers that import only the engine (never the caller's __main__) and die with this process.
    with running(WorkerPool(jobs, ENGINE)) as pool:
        yield local(pool)


def local(pool: WorkerPool) -> Workers:
    """A running local pool (`workers.WorkerPool`) as the place chunks run."""
    return Workers(pool, pool.jobs, (PoolBroken,))


def iter_chunks(
    scn: Scenario,
    strategies: Sequence[str],
    seed: int,
    spans: Sequence[Span],
    *,
    jobs: int = 1,
    cluster: Any = None,
    pool: Workers | None = None,
) -> Generator[tuple[Span, Rows], None, None]:
    """Yield (span, rows) as chunks finish (not necessarily in span order).

    At most two chunks per worker thread are queued or running at a time (`Workers.cap`), so
    finished rows never pile up in memory while the caller writes them out, whatever the number of
    chunks. On a cluster the cap follows its thread count as workers join and leave, looked at as
    chunks finish and every POLL_S while none does; a cluster with no worker gets one chunk and the
    batch waits, however long, for a worker to take it (Ctrl-C stops it as any batch; the run can be
    resumed). `pool`, an open `executor(...)`, lets several batches share one set of workers (jobs
    and cluster are then unused). A lost worker raises WorkerLost, a worker that refuses the chunk
    ClusterRefused; the chunks already yielded stay valid.
    """
    names = list(strategies)
    with nullcontext(pool) if pool is not None else executor(jobs, cluster) as workers:
        ex = workers.executor
        if ex is None:
            for lo, hi in spans:
                yield (lo, hi), simulate_deploys(scn, names, seed, lo, hi)
            return
        todo = iter(spans)
        pending: dict[Future, Span] = {}
        poll = None if workers.threads is None else POLL_S  # a local pool's size does not change
        try:
            while True:
                cap = workers.cap()
                while len(pending) < cap and (span := next(todo, None)) is not None:
                    # A pool whose worker died refuses new work here, before any result says so.
                    pending[workers.submit(scn, names, seed, span)] = span
                if not pending:
                    return
                done, _ = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=pending.__getitem__):
                    rows = fut.result()
                    yield pending.pop(fut), rows
        except workers.lost as err:
            raise WorkerLost(str(err) or type(err).__name__) from err
        except WorkerMismatch as err:
            raise ClusterRefused(str(err)) from None
        except Exception as err:
            if workers.refuse is None:
                raise
            workers.refuse(err)  # raises ClusterRefused
            raise


def run_batch(
    scenario: Scenario | str | dict,
    deploys: int | None = None,
    seed: int | None = None,
    *,
    strategies: Sequence[str] | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    cluster: Any = None,
    pool: Workers | None = None,
) -> pd.DataFrame:
    """Simulate `deploys` deploys of every (or the named) strategy; one row per (deploy, strategy).

    jobs: local worker processes. cluster: a Dask scheduler address (or a `distributed.Client`)
    to run the chunks on instead; pool: an open `executor(...)` to share. progress(done, total) is
    called as deploys finish.
    """
    scn = load_scenario(scenario)
    names = list(strategies) if strategies else list(scn.strategies)
    scn.only(names)  # validates the names
    deploys = scn.run.deploys if deploys is None else deploys
    seed = scn.run.seed if seed is None else seed
    check_size(scn, deploys, len(names))
    spans = list(chunks(deploys, chunk_size(deploys, jobs)))
    parts: dict[Span, Rows] = {}
    done = 0
    for (lo, hi), part in iter_chunks(scn, names, seed, spans, jobs=jobs, cluster=cluster, pool=pool):
        parts[lo, hi] = part
        done += hi - lo
        if progress is not None:
            progress(done, deploys)
    return to_frame([row for span in sorted(parts) for row in parts[span]])
