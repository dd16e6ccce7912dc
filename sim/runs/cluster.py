"""A Dask cluster's side of a batch: how many threads the cluster has now (workers join and leave
while a batch runs)."""

from __future__ import annotations

import time
from typing import Any

#: How long the count of a cluster's threads is trusted before the scheduler is asked again: often
#: enough that a worker that joins is busy within a second, rarely enough to cost nothing.
REREAD_S = 1.0


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
