"""The per-deploy row has one definition, the column table (`sim.core.columns`): every row the engine
builds has exactly its columns with values of their kinds, and the frame's dtypes, the Parquet schema
and the CSV header are made from it."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import sim
from sim.core import columns
from sim.core.columns import COLUMNS, DURATIONS, FLAGS, KINDS, METRICS, ROW, check_row
from sim.engine.metrics import error_row
from sim.engine.rows import simulate_deploys
from sim.results.frame import DTYPES, normalize, to_frame
from sim.runs import store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """20 deploys of every strategy of every shipped scenario, as the engine builds them."""
    out = []
    for name in sim.shipped_scenarios():
        scn = sim.load_scenario(name)
        out += simulate_deploys(scn, list(scn.strategies), 1, 0, 20)
    return out


def test_every_row_the_engine_builds_has_exactly_the_tables_columns_of_their_kinds(rows):
    for row in rows:
        assert check_row(row) == [], (row["scenario"], row["strategy"], row["deploy"], check_row(row))
        assert list(row) == list(COLUMNS)
    # The check is not vacuous: every column takes a defined value (not NaN, not empty) somewhere,
    # and every flag is both true and false (`error` only when a run raises: the next test).
    for c in ROW[:-1]:
        values = [row[c.name] for row in rows]
        defined = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        assert defined, f"{c.name} is never defined in these rows"
        if c.kind == "flag":
            assert set(values) == {True, False}, c.name


def test_the_row_of_a_run_that_raised_fits_the_table_too():
    assert COLUMNS[-1] == "error"
    row = error_row(sim.load_scenario("default"), "canary", 3, 7, RuntimeError("boom"))
    assert check_row(row) == []
    assert row["error"] == "RuntimeError: boom" and all(row[f] is None for f in FLAGS)


def test_check_row_names_what_departs_from_the_table(rows):
    good = rows[0]
    assert check_row({k: v for k, v in good.items() if k != "downtime_s"}) == ["missing downtime_s"]
    assert check_row({**good, "extra": 1.0}) == ["not in the table: extra"]
    assert check_row(dict(reversed(good.items()))) == ["columns out of the table's order"]
    assert check_row({**good, "downtime_s": 3}) == ["downtime_s = 3 is not number"]
    assert check_row({**good, "deploy": True}) == ["deploy = True is not integer"]
    assert check_row({**good, "deploy": 1.0}) == ["deploy = 1.0 is not integer"]
    assert check_row({**good, "detected": None}) == ["detected = None is not true/false"]
    assert check_row({**good, "strategy": 5}) == ["strategy = 5 is not text"]
    assert check_row({**good, "lead_time_s": math.inf}) == ["lead_time_s = inf is not finite"]


def test_the_names_the_package_uses_are_read_off_the_table():
    assert len(set(COLUMNS)) == len(COLUMNS) == len(ROW)
    assert sim.COLUMNS is COLUMNS and sim.METRICS is METRICS
    assert tuple(c.name for c in ROW if c.kind == "number") == METRICS
    assert tuple(c.name for c in ROW if c.kind == "flag") == FLAGS
    # Durations are metrics in seconds, and each says what ends it.
    assert DURATIONS == {
        "time_to_detect_s": "detection",
        "time_to_repair_s": "restoration",
        "time_to_restore_s": "restoration",
    }
    assert all(KINDS[d] == "number" and ROW[COLUMNS.index(d)].unit == "s" for d in DURATIONS)
    for c in ROW:
        assert c.meaning and c.kind in columns.VALUE_TYPES and c.kind in columns.KIND_WORDS
        assert c.name.endswith("_s") == (c.unit == "s"), c.name  # a name in seconds says so
        assert "|" not in c.meaning and "\n" not in c.meaning  # one Markdown table cell


def test_frame_dtypes_and_the_parquet_schema_follow_the_kinds(rows):
    assert set(DTYPES) == set(store.ARROW_TYPES) == set(columns.VALUE_TYPES)
    frame = to_frame(rows)
    assert list(frame.columns) == list(COLUMNS)
    for c in ROW:
        assert frame[c.name].dtype == pd.Series([], dtype=DTYPES[c.kind]).dtype, c.name
    assert store.ROW_SCHEMA.names == list(COLUMNS)
    assert [store.ROW_SCHEMA.field(c.name).type for c in ROW] == [store.ARROW_TYPES[c.kind] for c in ROW]
    assert {
        "text": pa.string(),
        "int": pa.int64(),
        "flag": pa.bool_(),
        "number": pa.float64(),
    } == store.ARROW_TYPES
    # A frame read back from Parquet has the same types as the one the rows made.
    table = pa.Table.from_pandas(frame, schema=store.ROW_SCHEMA, preserve_index=False)
    pd.testing.assert_frame_equal(normalize(table.to_pandas()), frame)
    assert set(store.CHART_COLUMNS) <= set(COLUMNS)


def test_the_table_imports_nothing_that_runs():
    tree = ast.parse((ROOT / "sim" / "core" / "columns.py").read_text(encoding="utf-8"))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "math", "collections.abc", "typing"}, imported
