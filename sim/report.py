"""The article's "how to choose" table, computed from runs: one row per strategy, each cell a mean, 95% CI."""

from __future__ import annotations

import math

import pandas as pd

#: (summary metric, column title, unit scale, format) in the order the table shows them.
TABLE: tuple[tuple[str, str, float, str], ...] = (
    ("faulty_requests", "faulty requests", 1.0, "{:,.0f}"),
    ("affected_users", "affected users", 1.0, "{:,.0f}"),
    ("exposure_at_detection", "exposure at detection %", 100.0, "{:.1f}"),
    ("time_to_detect_s", "time to detect s", 1.0, "{:,.0f}"),
    ("time_to_recover_s", "time to recover s", 1.0, "{:,.0f}"),
    ("downtime_s", "downtime s", 1.0, "{:,.0f}"),
    ("extra_instance_hours", "extra instance-h", 1.0, "{:.2f}"),
    ("lead_time_s", "lead time min", 1 / 60, "{:,.1f}"),
    ("false_rollback_rate", "false rollbacks %", 100.0, "{:.1f}"),
    ("escaped_rate", "escaped defects %", 100.0, "{:.1f}"),
)


def _cell(mean: float, lo: float, hi: float, scale: float, fmt: str) -> str:
    if math.isnan(mean):
        return "–"
    text = fmt.format(mean * scale)
    if not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{fmt.format(lo * scale)}, {fmt.format(hi * scale)}]"
    return text


def how_to_choose(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide table of strings: strategies down, the article's columns across, "mean [lo, hi]"."""
    rows = {}
    for strategy in dict.fromkeys(summary["strategy"]):
        part = summary[summary["strategy"] == strategy].set_index("metric")
        rows[strategy] = {
            title: _cell(part.at[m, "mean"], part.at[m, "ci95_lo"], part.at[m, "ci95_hi"], scale, fmt)
            for m, title, scale, fmt in TABLE
            if m in part.index
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def format_table(table: pd.DataFrame) -> str:
    """Plain-text rendering, one strategy per block, so wide cells stay readable in a terminal."""
    width = max(len(c) for c in table.columns)
    blocks = []
    for strategy, row in table.iterrows():
        lines = [str(strategy)] + [f"  {col:<{width}}  {row[col]}" for col in table.columns]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
