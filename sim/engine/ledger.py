"""The record the per-deploy metrics are measured from: one row per stretch of constant state in a window.

Rows are appended as traffic is drawn and dropped again when a state change lands inside a stretch
drawn ahead. What monitoring sees lives in `telemetry`; the ledger keeps what only the simulator
knows — which requests ran faulty code, which failures the deploy caused, where users were routed.
"""

from __future__ import annotations

import numpy as np

# Per-row columns: name → (shape after the row axis, dtype).
_COLUMNS: dict[str, tuple[tuple[str, ...], type]] = {
    "t0": ((), float),
    "dt": ((), float),
    "k": ((), np.int64),
    "taken": (("S1",), np.int64),  # requests of the window this row took: by segment, then synthetic
    "caused": ((), np.int64),  # failures the deploy caused: fault, schema, overload it brought, downtime
    "schema_failed": ((), np.int64),  # failures from a schema the serving binary could not read
    "faulty": (("S",), np.int64),  # user requests that ran faulty code, by segment
    "share": (("S",), float),  # share of each segment's users routed to the new version
    "down": ((), bool),  # no version was up: every request failed
}


class Ledger:
    def __init__(self, capacity: int, n_segments: int) -> None:
        self.n = 0
        self._cap = max(capacity, 16)
        self.cols: dict[str, np.ndarray] = {
            name: np.zeros((self._cap, *(n_segments + (d == "S1") for d in shape)), dtype=dt)
            for name, (shape, dt) in _COLUMNS.items()
        }

    def append(self, **values: np.ndarray | float) -> None:
        """Append rows; per-row arrays, or one value broadcast to every row. Rows not yet written are
        zero (see `truncate`), so a column whose value is a plain zero is left as it is."""
        m = len(values["t0"])  # type: ignore[arg-type]
        if self.n + m > self._cap:
            self._grow(self.n + m)
        sl = slice(self.n, self.n + m)
        for name, value in values.items():
            if isinstance(value, np.ndarray) or value:
                self.cols[name][sl] = value
        self.n += m

    def _grow(self, need: int) -> None:
        self._cap = max(need, 2 * self._cap)
        for name, arr in self.cols.items():
            grown = np.zeros((self._cap, *arr.shape[1:]), dtype=arr.dtype)
            grown[: self.n] = arr[: self.n]
            self.cols[name] = grown

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]

    def first_row_of_window(self, k: int) -> int:
        return int(np.searchsorted(self["k"], k, side="left"))

    def truncate(self, i: int) -> None:
        for arr in self.cols.values():
            arr[i : self.n] = 0
        self.n = i
