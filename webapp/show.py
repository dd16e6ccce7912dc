"""What the pages draw from results: the "how to choose" table, charts with their PNG downloads, the rows."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from sim.report import how_to_choose

from .runs import Results, rows_csv, rows_parquet

#: The run charts the comparison shows, in order: (chart name, tab title, what to read from it).
RUN_CHARTS = (
    (
        "blast_radius",
        "Blast radius",
        "For each strategy, the share of bad releases whose faulty requests (left) or affected users "
        "(right) exceed x. A curve further left caught bad releases smaller.",
    ),
    (
        "time_to_recover",
        "Time to recover",
        "From detection until no user meets the fault: flipping traffic back takes seconds, "
        "starting the old version again takes minutes.",
    ),
    (
        "blast_vs_recovery",
        "Blast radius vs recovery",
        "Each detected bad release: the share of traffic on it at detection against the time to "
        "recover, in the four quadrants of small/large blast radius and fast/slow recovery. "
        "Large dots are medians.",
    ),
    (
        "cost_vs_safety",
        "Cost vs safety",
        "What each strategy pays — extra instance-hours, lead time — against faulty requests per bad "
        "release. Lower left is cheaper and safer; nothing sits there alone.",
    ),
    (
        "rollbacks_vs_escapes",
        "False rollbacks vs escapes",
        "Good releases rolled back against bad releases that reached everyone: a stricter gate moves "
        "a strategy right and down.",
    ),
    (
        "escapes_by_fault",
        "Escapes by fault kind",
        "Which kinds of fault each strategy lets through to everyone.",
    ),
)


def png(data: bytes, name: str, stem: str, caption: str | None = None) -> None:
    """A chart and its PNG download."""
    st.image(data, width="stretch")
    if caption:
        st.caption(caption)
    st.download_button(
        "Download PNG",
        data,
        file_name=f"{stem}-{name}.png",
        mime="image/png",
        key=f"png.{name}",
        on_click="ignore",
    )


def choose_table(summary: pd.DataFrame) -> None:
    st.dataframe(how_to_choose(summary), width="stretch")
    st.caption(
        "Each cell: the mean, and in brackets its 95% confidence interval. Blast-radius columns are per "
        "bad release, recovery per detected bad release, cost and lead time per deploy; false rollbacks "
        "are a share of good releases, escaped defects a share of bad ones (Wilson intervals)."
    )


CHARTS_KEY = "charts"


def charts(res: Results) -> None:
    """One tab per chart; only the open tab's chart is drawn (the others when their tab is opened)."""
    tabs = st.tabs([title for _, title, _ in RUN_CHARTS], key=CHARTS_KEY, on_change="rerun")
    for tab, (name, _, caption) in zip(tabs, RUN_CHARTS, strict=True):
        if tab.open:
            with tab:
                png(res.png(name), name, res.name, caption)


def downloads(res: Results) -> None:
    """The rows and the summary; each file is made only when its button is pressed."""
    stem = f"{res.name}-{res.deploys}x{len(res.strategies)}-seed{res.seed}"
    a, b, c = st.columns(3)
    with a:
        st.download_button(
            "Rows (CSV)",
            partial(rows_csv, res.rows),
            f"{stem}.csv",
            "text/csv",
            key="rows.csv",
            on_click="ignore",
        )
    with b:
        st.download_button(
            "Rows (Parquet)",
            partial(rows_parquet, res.rows),
            f"{stem}.parquet",
            "application/vnd.apache.parquet",
            key="rows.parquet",
            on_click="ignore",
        )
    with c:
        st.download_button(
            "Summary (CSV)",
            partial(rows_csv, res.summary),
            f"{stem}-summary.csv",
            "text/csv",
            key="summary.csv",
            on_click="ignore",
        )
