"""The per-deploy rows as a table: a pandas frame whose column types are the same however the rows
were made (a batch in this process, chunks from workers) or read back (Parquet, CSV).

Each column's type comes from its kind in the column table (`sim.core.columns.ROW`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..core.columns import COLUMNS, KINDS, Kind
from ..engine.rows import Rows

#: pandas' default dtype for text columns (str from pandas 3 on, object before).
_TEXT = pd.Series(["", None]).dtype

#: Each kind's pandas dtype. Flags are nullable ("boolean"): the row of a run that raised has none.
DTYPES: dict[Kind, Any] = {"text": _TEXT, "int": "int64", "flag": "boolean", "number": float}


def dtype(column: str) -> Any:
    """A column's pandas dtype; a column the table does not know is text."""
    return DTYPES[KINDS.get(column, "text")]


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The per-deploy frame's column types, the same however the rows were made or read back
    (any subset of the columns)."""
    for col in df.columns:
        # An all-empty text column would otherwise be objects in one chunk, strings in another.
        df[col] = df[col].astype(dtype(col))
    return df


def to_frame(rows: Rows) -> pd.DataFrame:
    return normalize(pd.DataFrame(rows, columns=list(COLUMNS)))
