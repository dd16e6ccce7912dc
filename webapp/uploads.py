"""Uploaded files written out for the readers that take paths, and their messages naming the uploads again."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: Uploads as the uploader gives them: (the file's name, its bytes).
Files = Sequence[tuple[str, bytes]]


@contextmanager
def on_disk(files: Files, fallback: str) -> Iterator[tuple[list[Path], Callable[[str], str]]]:
    """The uploads as temporary files, in their order, and a function that puts each upload's own
    name back where a message names its temporary path. Each gets a numbered folder of its own: two
    uploads may share a name, and a name is no path; the name itself stays, as readers tell a
    file's kind by it (`fallback` for an upload without one)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths, names = [], {}
        for i, (name, data) in enumerate(files):
            path = Path(tmp) / f"{i:04d}" / (Path(name).name or fallback)
            path.parent.mkdir()
            path.write_bytes(data)
            paths.append(path)
            names[str(path)] = name

        def own(text: str) -> str:
            for path_text, name in names.items():
                text = text.replace(path_text, name)
            return text

        yield paths, own
