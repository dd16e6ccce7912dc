"""What the pages draw from results: the comparison table, charts with their PNG downloads, the rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from sim import report

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
        "time_to_restore",
        "Time to restore",
        "For each strategy, the share of bad releases that hurt users and are not yet restored x after "
        "the first user was hurt (Kaplan–Meier). Time to restore is time to detect plus time to repair; "
        "a release still not restored when its follow-up ended counts until then (tick marks). A curve "
        "further left restores sooner.",
    ),
    (
        "blast_vs_recovery",
        "Blast radius vs time to restore",
        "Each bad release that hurt users: its faulty requests against its time to restore, both on log "
        "scales, in the quadrants of small/large blast radius (2% of the SLO's error budget) and "
        "fast/slow restore (an hour). Hollow markers with an arrow: not restored when the follow-up "
        "ended (at least that long and large). Large markers are medians; each strategy's points are "
        "shifted slightly sideways so none hides another.",
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


#: The width the app's tables must fit in: a 1,280 px window with the sidebar open leaves 820 px for
#: the page's content (`tests/test_app_browser.py` measures it).
CONTENT_PX = 820
#: Widths in px of characters in the grid's font (14 px Source Sans, measured in Chromium with a
#: canvas's measureText), by class, each rounded up; any other character takes DEFAULT_PX.
GLYPH_PX = (
    (" ", 2.8),
    ("|ij',.:;lI!", 4.1),
    ("f()[]{}-tr/\\", 4.9),
    ('*sz?"xcvy', 6.6),
    ("0123456789#$+<=>^~≥≤–_agekJLFY", 7.1),
    ("`ohunbdpqXVESTZAP", 7.8),
    ("RCKB&DGUNH", 9.1),
    ("OQw─", 10.1),
    ("Mm%@W…", 13.3),
)
DEFAULT_PX = 9.3
#: A cell's padding and border, and a grid row's height (the header's too).
PAD_PX, ROW_PX = 18, 35


def text_px(text: str) -> float:
    """How wide `text` is drawn in a cell of the grid, rounded up."""
    return sum(next((w for chars, w in GLYPH_PX if ch in chars), DEFAULT_PX) for ch in text)


def _fit(texts: Any) -> int:
    return math.ceil(max((text_px(str(t)) for t in texts), default=0.0) + PAD_PX)


def column_widths(table: pd.DataFrame, room: int = CONTENT_PX) -> dict[str, Any]:
    """`column_config` giving the label column and each strategy's column the width of its longest
    text when they all fit in `room` pixels; otherwise a header longer than its cells gives way first
    (it then ends in "…" and shows in full on hover), and only then do cells: the table never needs
    a horizontal scroll."""
    label = _fit(table.index)
    cells = {str(c): _fit(table[c]) for c in table.columns}
    wanted = {str(c): max(cells[str(c)], _fit([c])) for c in table.columns}
    over = label + sum(wanted.values()) - room
    if over > 0:
        slack = {c: wanted[c] - cells[c] for c in wanted}
        give = min(1.0, over / max(1, sum(slack.values())))
        wanted = {c: math.floor(wanted[c] - give * slack[c]) for c in wanted}
        over = label + sum(wanted.values()) - room
        if over > 0:
            scale = (room - label) / sum(wanted.values())
            wanted = {c: math.floor(w * scale) for c, w in wanted.items()}
    config: dict[str, Any] = {"_index": st.column_config.TextColumn(width=label)}
    for c, w in wanted.items():
        config[c] = st.column_config.TextColumn(c, width=w, help=c)
    return config


def comparison(table: pd.DataFrame, notes: list[str], key: str) -> None:
    """A comparison table (strategies side by side), sized to fit the page, and what its cells are."""
    height = ROW_PX * (len(table) + 1) + 3  # the rows, the header, the borders
    st.dataframe(table, width="stretch", height=height, column_config=column_widths(table), key=key)
    st.caption(" ".join(notes))


CHOOSE_KEY = "choose"


def choose_table(summary: pd.DataFrame, follow_s: float | None) -> None:
    table = report.how_to_choose(summary, follow_s=follow_s)
    comparison(table, report.caption(summary, follow_s), key=CHOOSE_KEY)


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


def outcome(rows: pd.DataFrame) -> pd.Series:
    """Each deploy's story in a few words: a bad release caught or escaped, a good one kept or rolled back."""
    bad = rows["release_bad"].fillna(False).astype(bool)
    escaped = rows["escaped"].fillna(False).astype(bool)
    false_rb = rows["false_rollback"].fillna(False).astype(bool)
    out = pd.Series("good release, kept", index=rows.index)
    out[false_rb] = "good release, rolled back"
    out[bad & ~escaped] = "bad release, caught"
    out[bad & escaped] = "bad release, reached everyone"
    return out


PICK = "pick"  # the chart's point selection


def clicked(event: Any) -> int | None:
    """The deploy of the point clicked on `deploy_picker`'s chart, if any."""
    selection = event.get("selection", {}) if isinstance(event, Mapping) else getattr(event, "selection", {})
    points = selection.get(PICK, []) if isinstance(selection, Mapping) else []
    deploys = [p["deploy"] for p in points if isinstance(p, Mapping) and "deploy" in p]
    return int(deploys[0]) if deploys else None


def deploy_picker(rows: pd.DataFrame, key: str) -> int | None:
    """Every deploy of one strategy as a point (faulty requests, coloured by outcome, details on
    hover); returns the deploy the user clicks."""
    data = rows[["deploy", "fault_kind", "detected_by", "faulty_requests"]].copy()
    data["faulty_requests"] = data["faulty_requests"].fillna(0.0)
    data["outcome"] = outcome(rows)
    data["restored in"] = rows["time_to_restore_s"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f} s")
    for col in ("fault_kind", "detected_by"):
        data[col] = data[col].fillna("–").replace("", "–")
    chart = (
        alt.Chart(data)
        .mark_circle(size=60, opacity=0.8)
        .add_params(alt.selection_point(name=PICK, fields=["deploy"]))
        .encode(
            x=alt.X("deploy:Q", title="deploy"),
            y=alt.Y("faulty_requests:Q", title="faulty requests", scale=alt.Scale(type="symlog")),
            color=alt.Color("outcome:N", title=None, legend=alt.Legend(orient="top", labelLimit=0)),
            tooltip=["deploy", "outcome", "fault_kind", "detected_by", "faulty_requests", "restored in"],
        )
        .properties(height=220)
    )
    return clicked(st.altair_chart(chart, key=key, on_select="rerun", selection_mode=PICK))
