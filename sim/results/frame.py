"""The per-deploy rows as a table: a pandas frame whose column types are the same however the rows
were made (a batch in this process, chunks from workers) or read back (Parquet, CSV)."""

from __future__ import annotations

import pandas as pd

from ..engine.metrics import COLUMNS, FLAGS, METRICS
from ..engine.simulate import Rows

#: pandas' default dtype for text columns (str from pandas 3 on, object before).
_TEXT = pd.Series(["", None]).dtype


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The per-deploy frame's column types, the same however the rows were made or read back
    (any subset of the columns)."""
    for col in df.columns:
        if col in METRICS:
            df[col] = df[col].astype(float)
        elif col in FLAGS:
            df[col] = df[col].astype("boolean")
        elif col in ("deploy", "seed"):
            df[col] = df[col].astype("int64")
        else:
            # An all-empty text column would otherwise be objects in one chunk, strings in another.
            df[col] = df[col].astype(_TEXT)
    return df


def to_frame(rows: Rows) -> pd.DataFrame:
    return normalize(pd.DataFrame(rows, columns=list(COLUMNS)))
