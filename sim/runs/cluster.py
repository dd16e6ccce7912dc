"""A Dask cluster's side of a batch: what every worker must share with the client (deploysim's version,
the model's hash, the numeric libraries), the check each chunk makes before computing, and how many
threads the cluster has now."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
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


def check_workers(client: Any) -> None:
    """Refuse, before anything runs, a cluster where a connected worker does not match this client;
    workers that join later are checked by each chunk they take (`run_chunk`)."""
    mine = identity()
    answers = client.run(identity, on_error="return")
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


class Threads:
    """A cluster's thread count now: the scheduler is asked at most once per `every_s`, since workers
    join and leave while a batch runs. A scheduler that cannot answer leaves the last count standing
    (the chunks' futures say what became of it)."""

    def __init__(self, client: Any, every_s: float = REREAD_S) -> None:
        self.client, self.every_s = client, every_s
        self.count = self._ask(0)
        self.asked = time.monotonic()

    def _ask(self, last: int) -> int:
        try:
            return int(sum(self.client.nthreads().values()))
        except (OSError, TimeoutError):
            return last

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.asked >= self.every_s:
            self.count, self.asked = self._ask(self.count), now
        return self.count
