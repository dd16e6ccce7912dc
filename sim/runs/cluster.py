"""A Dask cluster's side of a batch: what every worker must share with the client (deploysim's version,
the model's hash, the numeric libraries), a chunk as a worker of any deploysim can read it, the
check each chunk makes before computing, and how many threads the cluster has now."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import pickle
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.scenario import Scenario
from ..core.errors import ConfigError
from ..core.version import __version__
from ..engine.rows import Rows, simulate_deploys

#: The floors whose code decides the rows (see `model_hash`).
MODEL_FLOORS = ("core", "config", "engine")
#: Distributions whose versions decide the rows too: the draws (numpy, scipy's normal quantiles), the
#: event order (simpy). The locks pin them; a worker with other versions gives other rows.
LIBRARIES = ("numpy", "scipy", "simpy")
#: How long the count of a cluster's threads is trusted before the scheduler is asked again: often
#: enough that a worker that joins is busy within a second, rarely enough to cost nothing.
REREAD_S = 1.0


def source_hash(root: Path) -> str:
    """sha256 over the source of the floors that decide a deploy's rows, under `root` (a copy of the
    `sim` package): sim/core, sim/config and sim/engine, every .py file in the order of its path, each
    as its path relative to `root`, a NUL, its text with line ends made LF (a checkout with CRLF runs
    the same model) and a NUL.

    Not the scenarios' YAML: the client loads the scenario and ships the resolved record with every
    chunk, so a worker's copies are never read. Not sim/results or the floors above: they run on the
    client only (a worker computes `simulate_deploys` and nothing else)."""
    digest = hashlib.sha256()
    # Sorted as text, not as Paths: Windows compares Paths ignoring case, and the order must not move.
    files = sorted(
        (p.relative_to(root).as_posix(), p) for floor in MODEL_FLOORS for p in (root / floor).rglob("*.py")
    )
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


@functools.cache
def model_hash() -> str:
    """This installation's `source_hash`, computed once per process (about 2 ms)."""
    return source_hash(Path(__file__).resolve().parent.parent)


#: What decides a chunk's rows besides its arguments, as plain text a worker of any version can send
#: and read: "deploysim", "model" (the hash), "python" (major.minor: float arithmetic in the
#: interpreter, sum and fsum, may change between them) and each of LIBRARIES by name.
Identity = dict[str, str]

#: The order a mismatch names them in; keys not listed (a newer worker's) follow, by name.
SHOWN = ("deploysim", "model", "python", *LIBRARIES)


@functools.cache
def _identity() -> tuple[tuple[str, str], ...]:
    found = [("deploysim", __version__), ("model", model_hash())]
    found.append(("python", f"{sys.version_info.major}.{sys.version_info.minor}"))
    for name in LIBRARIES:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            found.append((name, "missing"))
    return tuple(found)


def identity() -> Identity:
    """This process's Identity (computed once; a fresh dict each call, so no caller can change it)."""
    return dict(_identity())


def differences(theirs: Identity, mine: Identity) -> list[str]:
    """The keys whose values differ, in SHOWN's order."""
    keys = [*SHOWN, *sorted((set(theirs) | set(mine)) - set(SHOWN))]
    return [k for k in keys if theirs.get(k) != mine.get(k)]


def describe(who: Identity, shown: Sequence[str]) -> str:
    """Who runs what, as a refusal names it — deploysim 0.1.0 (model 1a2b3c4d5e6f, numpy 2.4.6): the
    version and model always, the rest only when named in `shown`."""
    extra = [f"model {str(who.get('model', 'unknown'))[:12]}"]
    extra += [f"{k} {who.get(k, 'missing')}" for k in shown if k not in ("deploysim", "model")]
    return f"deploysim {who.get('deploysim', 'unknown')} ({', '.join(extra)})"


class WorkerMismatch(Exception):
    """A worker that runs another deploysim, model or numeric library than the client: it refuses to
    compute. One argument, the one-line message, so it pickles back to the client whole."""


class ClusterRefused(ConfigError):
    """The client's side of a worker's refusal (or of one found before the batch): an input error
    about --cluster, one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ("--cluster",))


def mismatch(worker: str, theirs: Identity, mine: Identity) -> str | None:
    """The one-line refusal for a worker whose Identity is not the client's; None when they match."""
    differ = differences(theirs, mine)
    if not differ:
        return None
    what = list(dict.fromkeys("deploysim" if k == "model" else k for k in differ))  # a model is deploysim's
    pinned = [k for k in what if k not in ("deploysim", "python")]
    lock = f" (requirements.lock pins {' and '.join(pinned)})" if pinned else ""
    return (
        f"worker {worker} runs {describe(theirs, differ)}, this client {describe(mine, differ)}: "
        f"install the same {' and '.join(what)} on every worker{lock}"
    )


def _address() -> str:
    from distributed import get_worker  # on a worker, distributed is loaded already

    try:
        return str(get_worker().address)
    except ValueError:  # called outside a worker's task (a test, a local pool)
        return socket.gethostname()


def check(expected: Identity) -> None:
    """Raise WorkerMismatch unless this process runs what the client expects."""
    why = mismatch(_address(), identity(), expected)
    if why is not None:
        raise WorkerMismatch(why)


def run_chunk(
    expected: Identity, scn: Scenario, strategies: Sequence[str], seed: int, lo: int, hi: int
) -> Rows:
    """A chunk as a cluster's worker runs it: checked against the client's Identity, then computed."""
    check(expected)
    return simulate_deploys(scn, strategies, seed, lo, hi)


#: What a cluster's worker runs for a chunk: builtins only until the chunk is inside, so that any
#: deploysim — one too old to know `run_packed`, or this client's records — fails the chunk as a
#: task (an error the client reads and explains: `refuse`) instead of failing to read the message,
#: which drops the worker's connection and leaves the chunk waiting for a worker for good.
CHUNK_CODE = "__import__('sim.runs.cluster', fromlist=['run_packed']).run_packed(packed)"


def packed_chunk(
    expected: Identity, scn: Scenario, strategies: Sequence[str], seed: int, span: tuple[int, int]
) -> dict[str, bytes]:
    """A chunk as `CHUNK_CODE` reads it: the Identity a worker must match and the chunk, pickled."""
    return {"packed": pickle.dumps((expected, scn, list(strategies), seed, *span))}


def run_packed(packed: bytes) -> Rows:
    """`run_chunk` of a packed chunk (`packed_chunk`)."""
    return run_chunk(*pickle.loads(packed))


def refuse(client: Any, err: Exception) -> None:
    """A chunk failed on a worker, which a chunk never does there but for the worker itself (a
    chunk's own errors are rows): raise ClusterRefused naming a worker that differs from this
    client, or, if all match, saying what failed."""
    check_workers(client)
    said = str(err).splitlines()[0][:200] if str(err) else ""
    what = ": ".join(part for part in (type(err).__name__, said) if part)
    raise ClusterRefused(
        f"a worker failed a chunk ({what}); install {describe(identity(), ())} on every worker"
    )


def check_workers(client: Any, workers: Sequence[str] | None = None) -> set[str]:
    """Refuse a cluster where a connected worker (or one of `workers`) does not match this client:
    before anything runs, and each worker that joins while a batch runs (`Threads`). Returns the
    workers that answered, all matching."""
    mine = identity()
    answers = client.run(
        identity, on_error="return", **({} if workers is None else {"workers": list(workers)})
    )
    matching = set()
    for worker, theirs in sorted(answers.items()):
        if isinstance(theirs, (OSError, TimeoutError)):
            continue  # unreachable, likely leaving: should it stay, the chunks it takes check it
        if isinstance(theirs, dict):
            why = mismatch(worker, theirs, mine)
        else:  # an error: no sim.runs.cluster there (no deploysim, or one too old to say what it runs)
            said = str(theirs).splitlines()[0][:200] if str(theirs) else ""
            # distributed wraps a failure to load the function in a bare Exception holding the real one.
            kind = "" if type(theirs) is Exception else type(theirs).__name__
            err = ": ".join(part for part in (kind, said) if part) or "no answer"
            why = (
                f"worker {worker} cannot say which deploysim it runs ({err}): "
                f"install {describe(mine, ())} on every worker"
            )
        if why is not None:
            raise ClusterRefused(why)
        matching.add(worker)
    return matching


class Threads:
    """A cluster's thread count now: the scheduler is asked at most once per `every_s`, since workers
    join and leave while a batch runs. A scheduler that cannot answer leaves the last count standing
    (the chunks' futures say what became of it). A worker seen for the first time is checked
    against this client (`check_workers`): one that differs stops the batch with ClusterRefused
    (one that has not answered yet is asked again next time)."""

    def __init__(self, client: Any, every_s: float = REREAD_S) -> None:
        self.client, self.every_s = client, every_s
        self.known: set[str] = set()
        self.count = self._ask(0)
        self.asked = time.monotonic()

    def _ask(self, last: int) -> int:
        try:
            threads = self.client.nthreads()
        except (OSError, TimeoutError):
            return last
        joined = [w for w in threads if w not in self.known]
        if joined:
            self.known |= check_workers(self.client, joined)
        return int(sum(threads.values()))

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.asked >= self.every_s:
            self.count, self.asked = self._ask(self.count), now
        return self.count
