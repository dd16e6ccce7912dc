"""Local worker processes for batches: a `concurrent.futures.Executor` whose workers import only `sim`
and die with the process that started them.

Why not `ProcessPoolExecutor` with a spawn context: spawn (and forkserver) re-run the parent's
`__main__` in every worker, so a plain script calling `sim.run_batch(..., jobs=2)` without an
`if __name__ == "__main__":` guard starts its own batch again in each worker and the pool breaks;
fork is unsafe in a threaded parent. And its workers outlive a parent killed with SIGKILL. Here each
worker is `python -c BOOT`: it takes the parent's `sys.path`, imports the modules it is asked to
preload (a batch's: the engine, and nothing else — no pandas, no matplotlib) before its first task,
so that start-up overlaps whatever the parent does meanwhile, and serves tasks (pickled callables
of importable modules, as `sim`'s are) over its stdin and stdout. A worker's
watchdog thread blocks reading a pipe whose only write end the parent holds: when the parent dies,
however it dies, the kernel closes that end and the worker exits at once. (Not PR_SET_PDEATHSIG: it
fires when the *thread* that started the worker ends, which would kill the workers the app keeps
across its script threads.) No multiprocessing primitive is used, so no resource tracker is started.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import IO, Any

#: A worker's first lines: the parent's import path, then `sim`, then the modules to preload;
#: argv[1] is the parent-alive pipe.
BOOT = (
    "import pickle, sys\n"
    "size = int.from_bytes(sys.stdin.buffer.read(8), 'big')\n"
    "path, preload = pickle.loads(sys.stdin.buffer.read(size))\n"
    "sys.path[:0] = path\n"
    "from sim.runs.workers import serve\n"
    "serve(int(sys.argv[1]), preload)\n"
)
_HEADER = struct.Struct(">Q")

#: What a batch's workers preload: the engine (the scenario's records come with it), which computing
#: a chunk needs, and nothing the parent alone needs (pandas, pyarrow, matplotlib).
ENGINE = ("sim.engine.rows",)


class PoolBroken(Exception):
    """A worker process died under a task (killed, out of memory): the pool takes no more work."""


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _recv(stream: IO[bytes]) -> bytes:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the worker's pipe closed")
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the worker's pipe closed mid-message")
    return data


# ---- in the worker ----


def _exit_with_parent(alive_fd: int) -> None:
    # Blocks until the parent's write end closes: its exit, or its death by any signal.
    while os.read(alive_fd, 1):
        pass
    os._exit(0)


def serve(alive_fd: int, preload: Sequence[str] = ()) -> None:
    """A worker's loop: import `preload`, then run each task from stdin and send its result (or
    exception) on stdout."""
    # Ctrl-C reaches the terminal's whole process group; the parent decides what stops, and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(alive_fd,), daemon=True).start()
    for name in preload:  # before the first task arrives: the import overlaps the parent's own work
        importlib.import_module(name)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    # A task that prints must not corrupt the replies: its output goes to stderr.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    tasks = sys.stdin.buffer
    while True:
        try:
            fn, args, kwargs = pickle.loads(_recv(tasks))
        except EOFError:  # the pool shut down
            # Straight out, past the interpreter's teardown (it frees every loaded module's objects:
            # a quarter of a second once pandas and matplotlib are in), which the parent's shutdown
            # would wait for. Every reply is sent; only the standard streams may hold output.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            reply = pickle.dumps((True, fn(*args, **kwargs)), pickle.HIGHEST_PROTOCOL)
        except BaseException as err:  # the parent re-raises it from the task's future
            try:
                reply = pickle.dumps((False, err), pickle.HIGHEST_PROTOCOL)
            except Exception:
                reply = pickle.dumps((False, RuntimeError(repr(err))), pickle.HIGHEST_PROTOCOL)
        _send(replies, reply)


# ---- in the parent ----

_Task = tuple[Future, bytes]


class WorkerPool(Executor):
    """`jobs` worker processes, one task at a time each, fed from one queue by one thread per worker.
    Each imports the modules named in `preload` as soon as it starts, before any task is submitted."""

    def __init__(self, jobs: int, preload: Sequence[str] = ()) -> None:
        self.jobs = jobs
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._stopping = False
        self._broken: str | None = None
        alive_r, self._alive_w = os.pipe()
        try:
            self._procs = [self._start(alive_r, tuple(preload)) for _ in range(jobs)]
        finally:
            os.close(alive_r)  # only the workers keep a read end
        self._threads = [
            threading.Thread(target=self._feed, args=(p,), name=f"deploysim-worker-{p.pid}", daemon=True)
            for p in self._procs
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _start(alive_r: int, preload: tuple[str, ...]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(alive_r)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(alive_r,),
        )
        assert proc.stdin is not None
        _send(proc.stdin, pickle.dumps((list(sys.path), preload)))
        return proc

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._broken is not None:
                raise PoolBroken(self._broken)
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            fut: Future = Future()
            try:
                task = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
            except Exception as err:
                fut.set_exception(err)
                return fut
            self._tasks.put((fut, task))
            return fut

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            while (item := self._tasks.get()) is not None:
                fut, task = item
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    _send(proc.stdin, task)
                    ok, value = pickle.loads(_recv(proc.stdout))
                except (OSError, EOFError, pickle.UnpicklingError):
                    fut.set_exception(PoolBroken(self._lost(proc)))
                    return
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the worker's loop ends on end of input

    def _lost(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.wait()
        why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        with self._lock:
            if self._stopping:
                return "the pool was stopped"
            self._broken = f"a worker process (pid {proc.pid}) {why}"
        self.terminate()  # the others' chunks could not be trusted to finish either
        return self._broken

    def _drain(self, error: BaseException | None) -> None:
        stops = 0
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stops += 1
                continue
            if error is None:
                item[0].cancel()
            elif item[0].set_running_or_notify_cancel():
                item[0].set_exception(error)
        # The stops a terminate() queued for idle feeding threads that had not taken them yet: each
        # thread needs its own to end, or shutdown(wait=True) waits for it forever.
        for _ in range(stops):
            self._tasks.put(None)

    def terminate(self) -> None:
        """Stop now: kill the workers (their chunks under way are lost, and recomputed on resume)."""
        with self._lock:
            self._stopping = self._closed = True
            broken = self._broken
        self._drain(PoolBroken(broken) if broken else None)
        for p in self._procs:
            if p.poll() is None:
                p.kill()
        for _ in self._threads:
            self._tasks.put(None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            already = self._closed
            self._closed = True
        if cancel_futures:
            self._drain(None)
        if not already:
            for _ in self._threads:
                self._tasks.put(None)
        if wait:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join()
            for p in self._procs:
                p.wait()
            if self._alive_w >= 0:
                os.close(self._alive_w)
                self._alive_w = -1


@contextmanager
def running(pool: WorkerPool) -> Iterator[WorkerPool]:
    """Hold a pool for a block: an exception out of it (Ctrl-C, SIGTERM, a dead worker) kills the
    tasks under way rather than waiting for them — a batch's chunks are recomputed, identically, on
    resume; on the way out the pool is shut down and its workers waited for."""
    try:
        yield pool
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
