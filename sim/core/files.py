"""Writing a file whole or not at all — the one implementation behind result folders and `-o FILE`.

What is at the path decides how:

- nothing, or a regular file: a temporary file beside it, flushed to disk, renamed over it. A file
  it replaces keeps its permission bits; a new one gets the umask's (0644 under the usual 022), not
  a temporary file's 0600.
- a character device or a FIFO (`/dev/null`, a named pipe), or a name of an open descriptor
  (`/dev/stdout`, `/dev/fd/N`): written in place. Renaming over it would replace the device with a
  plain file, and a stream cannot be half-written "atomically" anyway.
- a directory, any other symbolic link, a socket or block device: refused with one line naming
  the path. Replacing a link would cut it; writing through it would change a file elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError

Data = str | bytes | Callable[[Path], None]

#: Symbolic links that name an open descriptor of this process: written through, whatever they point at.
DESCRIPTOR_NAMES = ("/dev/stdin", "/dev/stdout", "/dev/stderr")
DESCRIPTOR_DIRS = ("/dev/fd/", "/proc/self/fd/")


def _put(path: Path, data: Data) -> None:
    if callable(data):
        data(path)
    elif isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def _is_descriptor_name(path: Path) -> bool:
    name = os.path.abspath(path)
    return name in DESCRIPTOR_NAMES or name.startswith(DESCRIPTOR_DIRS)


def _in_place(path: Path) -> bool:
    """Whether to write into what is at `path` rather than replace it; refuse what must be neither."""
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(here.st_mode):
        return False
    if stat.S_ISCHR(here.st_mode) or stat.S_ISFIFO(here.st_mode):
        return True
    if stat.S_ISDIR(here.st_mode):
        raise ConfigError("is a folder; give a file name", source=str(path))
    if stat.S_ISLNK(here.st_mode):
        target = os.path.realpath(path)
        try:
            there = os.stat(path)
        except OSError:
            why = f"is a symbolic link to {target}, which does not exist"
            raise ConfigError(why, source=str(path)) from None
        if _is_descriptor_name(path) or stat.S_ISCHR(there.st_mode) or stat.S_ISFIFO(there.st_mode):
            return True
        raise ConfigError(
            f"is a symbolic link (to {target}); give the file itself, or remove the link", source=str(path)
        )
    raise ConfigError("is not a regular file (a socket or block device); give a file name", source=str(path))


def write_atomic(path: Path, data: Data) -> None:
    """Write `data` (text, bytes, or a function that writes the file it is given) to `path`, whole or
    not at all (see the module's docstring for devices, FIFOs, links and folders).

    A refused path raises ConfigError; a failed write raises OSError and leaves the old file as it was.
    """
    with replacing(path) as target:
        _put(target, data)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """The file to write `path` through, for a writer that fills it over a while (a table appended
    chunk by chunk as they are computed): whole or not at all, as `write_atomic` — renamed over
    `path` when the block ends, removed if the block raises (or the process dies: a stray temporary,
    never a half-written `path`). A device, FIFO or descriptor name is yielded itself."""
    path = Path(path)
    if _in_place(path):
        yield path
        return
    try:
        keep: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        keep = None
    # The temporary's name carries our pid (whose it is) and a random part (one per write).
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}-{os.getpid()}")
    try:
        # 0666 less the umask, as any new file; O_EXCL: never someone else's file or link.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        if keep is not None:
            os.chmod(tmp, keep)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
