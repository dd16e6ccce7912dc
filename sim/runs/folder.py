"""A result folder, of either kind — a run's (`store`) or a sweep's (`sweep`): claiming a fresh one,
writing each file whole or not at all, and the manifest that says what was run and whether it is
complete. One writer and one reader of manifests, one format number, for both kinds.

Every `manifest.json` holds the common fields —

    format         FORMAT; a reader refuses any other
    kind           "run" or "sweep" (a run's manifest written before the field existed has none: a run)
    complete       true only once every other file of the folder is written
    status         running, then complete, or interrupted or failed (a run keeps its finished chunks)
    scenario_name, deploys, seed
    package        {"name": "deploysim", "version": ...}
    python         the Python version that ran it
    command        the command line that started it
    started_at, finished_at   UTC, ISO 8601 (finished_at null until complete)
    files          the folder's files, once complete
    scenario       the resolved scenario, last

— and between them the kind's own: a run's strategies, chunks, rows, failed runs, jobs, cluster,
resumptions and wall time (`store.run_manifest`); a sweep's grid (`sweep.sweep_manifest`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..config.scenario import Scenario
from ..core.errors import ConfigError
from ..core.files import write_atomic as write_atomic
from ..core.version import __version__

#: The manifest's format. 2: time to repair and restore, censoring, per-population summaries.
#: Adding a field keeps the number; changing or removing one, or what the folder's files hold, bumps it.
FORMAT = 2
MANIFEST = "manifest.json"

Kind = Literal["run", "sweep"]
#: The kinds of result folder, and where each keeps its results (for a reader that opened the other).
KINDS: dict[str, str] = {
    "run": "its tables are rows.csv and summary.csv",
    "sweep": "its table is sweep.csv, its chart pareto.png",
}


# ---- files ----


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def new_run_dir(base: Path, name: str, now: datetime | None = None) -> Path:
    """A fresh folder `base/<name>-<UTC timestamp>` (with -2, -3 ... if that second is taken)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    try:
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = base / (f"{name}-{stamp}" + (f"-{n}" if n > 1 else ""))
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as err:
        raise ConfigError(f"cannot create a results folder in {base}: {_reason(err)}", ("--out",)) from None
    raise ConfigError(f"too many runs named {name}-{stamp} in {base}", ("--out",))


#: The lock file of a result folder. The process that holds an exclusive flock on it owns the folder
#: — its chunks, temporaries and manifest — for the whole run, resume or sweep; it writes its pid there.
LOCK = ".deploysim.lock"


class FolderLock:
    """An exclusive hold on a result folder: `flock` on `LOCK` inside it, from claim (or the start of a
    resume) to the last write.

    flock rather than an O_EXCL lock file: the kernel drops the lock when the process dies however it
    dies (kill -9, out of memory), so a crashed run never leaves a stale lock that needs a pid check
    (pids are reused) or a manual delete. Worker processes never inherit the descriptor (Python opens
    it non-inheritable), so only the holder's own end releases it. The holder removes the file before
    letting go, so a finished folder holds only its results; a process that locked the file just as
    it was removed sees that its inode is no longer the folder's lock file and tries again.
    """

    def __init__(self, path: Path, field: str) -> None:
        self.path = path
        self._fd: int | None = None
        for _ in range(100):
            fd = self._open(field)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"{path} is in use by another deploysim ({holder}); wait for it to finish, "
                    "or stop it and resume the run with --resume",
                    (field,),
                ) from None
            if self._current(fd):
                self._fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return
            os.close(fd)  # the holder removed it as we locked it: lock the folder's new one
        raise ConfigError(f"cannot lock {path}: its lock file keeps changing", (field,))

    def _open(self, field: str) -> int:
        try:
            # No O_TRUNC: the file holds the current holder's pid until we own it.
            return os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ConfigError(f"cannot lock {self.path}: {_reason(err)}", (field,)) from None

    def _current(self, fd: int) -> bool:
        try:
            return os.stat(self.path / LOCK).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # gone with a folder removed under the lock
                (self.path / LOCK).unlink()
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    # Empty: the holder has the lock but has not written its pid yet.
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


def claim_dir(out: Path) -> FolderLock:
    """Use `out` for a new run: it must not exist yet, or be an empty folder. The folder is locked
    before it is checked, so of two runs started together on one folder exactly one gets it."""
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} exists and is not a folder", ("--out",))
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create {out}: {_reason(err)}", ("--out",)) from None
    lock = FolderLock(out, "--out")
    try:
        if any(p.name != LOCK for p in out.iterdir()):
            raise ConfigError(
                f"{out} is not empty; pick another folder, or finish a cut-short run with --resume {out}",
                ("--out",),
            )
    except OSError as err:
        lock.release()
        raise ConfigError(f"cannot read {out}: {_reason(err)}", ("--out",)) from None
    except ConfigError:
        lock.release()
        raise
    return lock


# ---- the manifest ----

#: The fields every manifest has, whatever its kind, in the order they are written.
COMMON: tuple[str, ...] = (
    "format",
    "kind",
    "complete",
    "status",
    "scenario_name",
    "deploys",
    "seed",
    "package",
    "python",
    "command",
    "started_at",
    "finished_at",
    "files",
    "scenario",
)


def now() -> str:
    """This moment in UTC, to the second, as the manifest writes it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_manifest(
    kind: Kind, scenario: Scenario, deploys: int, seed: int, command: Sequence[str], **own: Any
) -> dict[str, Any]:
    """The manifest of a folder about to be filled: the common fields, the kind's `own` fields
    between them, the resolved scenario last."""
    if kind not in KINDS:
        raise ValueError(f"a result folder is a {' or a '.join(KINDS)}, not a {kind!r}")
    if set(own) & set(COMMON):
        raise ValueError(f"{', '.join(sorted(set(own) & set(COMMON)))}: common fields, not a {kind}'s own")
    return {
        "format": FORMAT,
        "kind": kind,
        "complete": False,
        "status": "running",
        "scenario_name": scenario.name,
        "deploys": deploys,
        "seed": seed,
        **own,
        "package": {"name": "deploysim", "version": __version__},
        "python": platform.python_version(),
        "command": list(command),
        "started_at": now(),
        "finished_at": None,
        "files": None,
        "scenario": scenario.to_dict(),
    }


def save_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write `path/manifest.json`, whole or not at all."""
    write_atomic(path / MANIFEST, json.dumps(manifest, indent=2, allow_nan=False) + "\n")


def start_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """The first write into a freshly claimed folder: a folder that cannot be written is removed,
    and the error names it as a bad --out."""
    try:
        save_manifest(path, manifest)
    except OSError as err:
        shutil.rmtree(path, ignore_errors=True)
        raise ConfigError(f"cannot write in {path}: {err.strerror or err}", ("--out",)) from None


def complete_manifest(path: Path, manifest: dict[str, Any], **fields: Any) -> None:
    """Mark the folder complete (with any last `fields`) — call it only once every other file is
    written — and save the manifest."""
    manifest.update(fields)
    manifest.update(complete=True, status="complete", finished_at=now())
    save_manifest(path, manifest)


def _valid(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


#: The fields every format-2 manifest has always had, and their JSON types.
REQUIRED: dict[str, type] = {
    "complete": bool,
    "scenario_name": str,
    "deploys": int,
    "seed": int,
    "package": dict,
    "command": list,
    "scenario": dict,
}


def load_manifest(path: Path, kind: Kind | None = None) -> dict[str, Any]:
    """The manifest of a result folder, checked: its format, its kind (`kind`: the one the caller
    reads) and the common fields; a bad one is an error naming the folder."""
    f = Path(path) / MANIFEST
    try:
        manifest = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        why = (
            "no such folder" if not Path(path).is_dir() else f"no {MANIFEST}: not a deploysim results folder"
        )
        raise ConfigError(why, source=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"unreadable {MANIFEST}: {err}", source=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigError(f"{MANIFEST} is not a format-{FORMAT} deploysim manifest", source=str(path))
    manifest.setdefault("kind", "run")
    found = manifest["kind"]
    if found not in KINDS:
        raise ConfigError(f"{MANIFEST} lacks a valid 'kind'", source=str(path))
    for key, type_ in REQUIRED.items():
        if not _valid(manifest.get(key), type_):
            raise ConfigError(f"{MANIFEST} lacks a valid {key!r}", source=str(path))
    if kind is not None and found != kind:
        raise ConfigError(f"a {found}, not a {kind}: {KINDS[found]}", source=str(path))
    return manifest
