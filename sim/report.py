"""The article's "how to choose" table, computed from runs: a row per strategy, each cell a mean and CI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .summary import SUMMARY_METRICS

#: (summary metric, column title, unit scale, format) in the order the table shows them.
TABLE: tuple[tuple[str, str, float, str], ...] = (
    ("faulty_requests", "faulty requests", 1.0, "{:,.0f}"),
    ("affected_users", "affected users", 1.0, "{:,.0f}"),
    ("exposure_at_detection", "exposure at detection %", 100.0, "{:.1f}"),
    ("time_to_detect_s", "time to detect s", 1.0, "{:,.0f}"),
    ("time_to_repair_s", "time to repair s", 1.0, "{:,.0f}"),
    ("time_to_restore_s", "time to restore s", 1.0, "{:,.0f}"),
    ("downtime_s", "downtime s", 1.0, "{:,.0f}"),
    ("extra_instance_hours", "extra instance-h", 1.0, "{:.2f}"),
    ("lead_time_s", "lead time min", 1 / 60, "{:,.1f}"),
    ("false_rollback_rate", "false rollbacks %", 100.0, "{:.1f}"),
    ("escaped_rate", "escaped defects %", 100.0, "{:.1f}"),
    ("migration_failed_requests", "schema failures", 1.0, "{:,.0f}"),
    ("sequence_lead_time_s", "plan lead time min", 1 / 60, "{:,.1f}"),
)


#: The rates the JSON summary reports beside the metrics (the table shows them too).
RATES = ("false_rollback_rate", "escaped_rate")


#: Metrics that are shares, whose t-interval is shown no higher than 1 (100%).
SHARES = ("exposure_at_detection",)


def _num(value: float, scale: float, fmt: str, top: float) -> str:
    # Every metric is a count, a duration or a share: a t-interval reaching past what the metric can
    # take (below 0, above 100%) is shown at that bound, and a rounded -0 as 0.
    return fmt.format(min(max(0.0, value), top) * scale + 0.0)


def _cell(metric: str, mean: float, lo: float, hi: float, scale: float, fmt: str) -> str:
    if math.isnan(mean):
        return "–"
    top = 1.0 if metric in SHARES else math.inf
    text = _num(mean, scale, fmt, top)
    if not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{_num(lo, scale, fmt, top)}, {_num(hi, scale, fmt, top)}]"
    return text


def how_to_choose(summary: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Wide table of strings: strategies down, the article's columns across, "mean [lo, hi]"
    (only `metrics`, when given)."""
    rows = {}
    for strategy in dict.fromkeys(summary["strategy"]):
        part = summary[summary["strategy"] == strategy].set_index("metric")
        rows[strategy] = {
            title: _cell(m, part.at[m, "mean"], part.at[m, "ci95_lo"], part.at[m, "ci95_hi"], scale, fmt)
            for m, title, scale, fmt in TABLE
            if m in part.index and (metrics is None or m in metrics)
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    # Columns no run defines (no schema change) would only say "–"; a plan of one deploy takes as
    # long as its release, so its own column would only repeat the lead time.
    table = table.loc[:, ~(table == "–").all()]
    lead, plan = "lead time min", "plan lead time min"
    if lead in table and plan in table and table[lead].equals(table[plan]):
        table = table.drop(columns=plan)
    return table


def compare(runs: Sequence[tuple[str, pd.DataFrame]], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One table across several runs: a row per (run, strategy), labelled "run: strategy"."""
    parts = []
    for label, summary in runs:
        table = how_to_choose(summary, metrics)
        table.index = [f"{label}: {s}" for s in table.index]
        parts.append(table)
    return pd.concat(parts)


def _plain(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


def summary_json(summary: pd.DataFrame, scenario: str, deploys: int, seed: int) -> dict[str, Any]:
    """The summary as one JSON-ready object; NaN (undefined) becomes null.

    {"scenario", "deploys", "seed", "strategies": {NAME: {METRIC: {"mean", "p50", "p90", "p99",
    "ci95": [lo, hi]}, ..., "false_rollback_rate": {"mean", "ci95"}, "escaped_rate": {"mean", "ci95"}}}}
    """
    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(summary["strategy"]):
        part = summary[summary["strategy"] == strategy].set_index("metric")
        entry: dict[str, Any] = {}
        for m in (*SUMMARY_METRICS, *RATES):
            r = part.loc[m]
            stats = ("mean",) if m in RATES else ("mean", "p50", "p90", "p99")
            entry[m] = {k: _plain(r[k]) for k in stats}
            entry[m]["ci95"] = [_plain(r["ci95_lo"]), _plain(r["ci95_hi"])]
        out[str(strategy)] = entry
    return {"scenario": scenario, "deploys": int(deploys), "seed": int(seed), "strategies": out}


def format_table(table: pd.DataFrame) -> str:
    """Plain-text rendering, one strategy per block, so wide cells stay readable in a terminal."""
    width = max(len(c) for c in table.columns)
    blocks = []
    for strategy, row in table.iterrows():
        lines = [str(strategy)] + [f"  {col:<{width}}  {row[col]}" for col in table.columns]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
