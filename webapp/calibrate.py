"""Start from my service's metrics: Prometheus data uploaded and fitted by `sim.calibrate` (what
`deploysim calibrate` does), its values beside the default's, its fit drawn over the data."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import sim
from sim import ConfigError, calibrate

from . import uploads

UPLOAD_KEY = "cal.upload"
USE_KEY = "cal.use"
OFFSET_KEY = "cal.utc_offset"
KEPT = "_calibrate"  # (name, bytes) of the files last calibrated, kept across pages
DONE = "_calibrated"  # (digest of the files and offset, the Calibration), so a rerun does not refit
#: A week at a 60 s step of a 43-bucket histogram is about 12 MB of query_range JSON: the largest
#: file a page should need. Larger data is the command's (`deploysim calibrate`, 64 MB a file).
#: `.streamlit/config.toml`'s server.maxUploadSize is this: the server refuses larger bodies first.
MAX_FILE_MB = 16
MAX_BYTES = 32 * 2**20  # all the files together
NAME = "calibrated"
TITLE = "Start from my service's metrics"

Files = uploads.Files


@dataclass(frozen=True)
class Use:
    """The calibrated scenario the page runs: its commented text, the scenario and the files' names."""

    text: str
    scenario: sim.Scenario
    files: str


def fitted(files: Files, utc_offset_h: float) -> calibrate.Calibration:
    """The files calibrated; errors, notes and sources name the uploads, never a temporary path."""
    total = sum(len(data) for _, data in files)
    if total > MAX_BYTES:
        raise ConfigError(
            f"{total:,} bytes together, over the page's {MAX_BYTES:,}; query a shorter range or a wider"
            " step, or run `deploysim calibrate`",
            source=", ".join(name for name, _ in files),
        )
    # In the names' order, so sources listed by path are listed by name.
    with uploads.on_disk(sorted(files), "metrics.json") as (paths, own):
        try:
            got = calibrate.calibrate([str(p) for p in paths], {}, NAME, utc_offset_h)
        except ConfigError as err:
            raise ConfigError(own(str(err))) from None
    results = tuple(
        replace(r, source=own(r.source)) if isinstance(r, calibrate.Fit) else replace(r, reason=own(r.reason))
        for r in got.results
    )
    return replace(got, text=own(got.text), results=results, notes=tuple(own(n) for n in got.notes))


def _at(data: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def _num(v: float) -> str:
    return f"{v:.4g}"


def _default(v: Any) -> str:
    if isinstance(v, dict):  # a distribution
        return f"{_num(v['low'])}–{_num(v['high'])}" if v["kind"] == "uniform" else _num(v["value"])
    return _num(v)


def _calibrated(f: calibrate.Fit) -> str:
    v = f.value
    shown = f"{_num(v[0])}–{_num(v[1])}" if isinstance(v, tuple) else _num(v)
    if not math.isfinite(f.se):
        return f"{shown} (one event)"
    if f.se == 0:
        return shown
    return f"{shown} ± {f.se:.2g}" + (" (mean)" if isinstance(v, tuple) else "")


def table(cal: calibrate.Calibration) -> pd.DataFrame:
    """Every fitted value: the default scenario's, the calibrated one ± its standard error, its series."""
    default = sim.load_scenario("default").to_dict()
    rows = [
        {
            "parameter": f.key,
            "default": _default(_at(default, f.key)),
            "calibrated ± SE": _calibrated(f),
            "source series": f.source,
        }
        for f in cal.results
        if isinstance(f, calibrate.Fit)
    ]
    return pd.DataFrame(rows, columns=["parameter", "default", "calibrated ± SE", "source series"])


def _fit_value(cal: calibrate.Calibration, key: str) -> float | None:
    for r in cal.results:
        if isinstance(r, calibrate.Fit) and r.key == key:
            return r.centre
    return None


def _spans(cal: calibrate.Calibration, flag: np.ndarray) -> pd.DataFrame:
    """[start, end) times of each run of flagged steps, for shading."""
    found = cal.trace.spans(flag)
    return pd.DataFrame(
        {
            "start": pd.to_datetime([a for a, _ in found], unit="s", utc=True),
            "end": pd.to_datetime([b for _, b in found], unit="s", utc=True),
        }
    )


def _shaded(cal: calibrate.Calibration, flag: np.ndarray, what: str) -> list[Any]:
    """A layer shading each run of flagged steps (none: no layer)."""
    spans = _spans(cal, flag)
    if not len(spans):
        return []
    rect = alt.Chart(spans.assign(what=what)).mark_rect(opacity=0.25, color="orange")
    return [rect.encode(x="start:T", x2="end:T", tooltip=["start:T", "end:T", "what:N"])]


def _lines(t: np.ndarray, value: str, series: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long-form rows (time, `value`, series) of each named series over the steps' times, gaps dropped."""
    time = pd.Series(pd.to_datetime(t, unit="s", utc=True))
    return pd.concat(
        [pd.DataFrame({"time": time, value: v, "series": name}) for name, v in series.items()]
    ).dropna()


def _colors(shades: dict[str, str]) -> alt.Color:
    """The series' colours, in the legend below the chart in this order."""
    return alt.Color(
        "series:N",
        legend=alt.Legend(orient="bottom", title=None),
        scale=alt.Scale(domain=list(shades), range=list(shades.values())),
    )


def _over_time(lines: pd.DataFrame, y: alt.Y, color: alt.Color) -> alt.Chart:
    """`_lines`' rows as thin lines over time (UTC)."""
    return (
        alt.Chart(lines)
        .mark_line(strokeWidth=1)
        .encode(x=alt.X("time:T", title="time (UTC)"), y=y, color=color)
    )


def traffic_chart(cal: calibrate.Calibration) -> alt.LayerChart | None:
    """The request rate with the fitted daily curve; surges shaded."""
    tr = cal.trace
    if not np.isfinite(tr.requests).any():
        return None
    lines = _lines(tr.t, "req/s", {"request rate (data)": tr.requests, "fitted daily curve": tr.curve})
    layers = _shaded(cal, tr.surge, "surge")
    colors = _colors({"request rate (data)": "#9e9e9e", "fitted daily curve": "#08519c"})
    layers.append(_over_time(lines, alt.Y("req/s:Q", title="requests per second"), colors))
    return alt.LayerChart(layer=layers, title="Traffic: the data, the fitted curve, surges (shaded)")


def latency_chart(cal: calibrate.Calibration) -> alt.LayerChart | None:
    """Each step's p50 and p99 with the fitted levels; noise episodes shaded."""
    tr = cal.trace
    if not np.isfinite(tr.p50_ms).any():
        return None
    lines = _lines(tr.t, "ms", {"p50 (data)": tr.p50_ms, "p99 (data)": tr.p99_ms})
    levels = pd.DataFrame(
        [
            {"ms": v, "series": f"fitted {q}"}
            for q, key in (("p50", "fleet.latency.p50_ms"), ("p99", "fleet.latency.p99_ms"))
            if (v := _fit_value(cal, key)) is not None
        ],
        columns=["ms", "series"],
    )
    # The data light, the fits dark: p50 in blues, p99 in reds.
    shades = {
        "p50 (data)": "#9ecae1",
        "fitted p50": "#08519c",
        "p99 (data)": "#fcbba1",
        "fitted p99": "#a50f15",
    }
    color = _colors(shades)
    layers = _shaded(cal, tr.noisy, "noise episode")
    layers.append(
        _over_time(lines, alt.Y("ms:Q", title="latency (ms, log)", scale=alt.Scale(type="log")), color)
    )
    if len(levels):
        layers.append(
            alt.Chart(levels).mark_rule(strokeDash=[6, 3], strokeWidth=2).encode(y="ms:Q", color=color)
        )
    return alt.LayerChart(layer=layers, title="Latency: each step's p50 and p99, the fitted levels, episodes")


def _forget() -> None:
    for key in (KEPT, DONE):
        st.session_state.pop(key, None)
    st.session_state[USE_KEY] = False


def _run(files: Files, utc_offset_h: float) -> calibrate.Calibration:
    """The calibration of the files, refitted only when they or the offset changed."""
    digest = hashlib.sha256(
        repr(utc_offset_h).encode() + b"".join(name.encode() + b"\0" + data for name, data in files)
    ).hexdigest()
    done = st.session_state.get(DONE)
    if done is not None and done[0] == digest:
        return done[1]
    cal = fitted(files, utc_offset_h)
    st.session_state[DONE] = (digest, cal)
    return cal


def section() -> Use | None:
    """Draw the section; the calibrated scenario when the page is to run on it. A bad upload shows one
    error line and changes nothing: the page keeps its scenario, and earlier files stay kept."""
    kept: Files = st.session_state.get(KEPT) or []
    with st.expander(TITLE, expanded=bool(kept)):
        st.caption(
            "Prometheus `query_range` JSON or CSV exports, one file per query over the same range and "
            "step: the request rate, errors, latency histogram buckets (`*_bucket` with `le`), replicas. "
            "Fitted as `deploysim calibrate` does (docs/calibrate.md); what the data cannot give keeps "
            "the default scenario's value."
        )
        uploads = st.file_uploader(
            "Your service's metrics",
            type=["json", "csv"],
            accept_multiple_files=True,
            key=UPLOAD_KEY,
            max_upload_size=MAX_FILE_MB,
        )
        st.session_state.setdefault(OFFSET_KEY, 0.0)
        offset = st.number_input(
            "Your service's local time minus UTC (hours), for the peak hour",
            min_value=-24.0,
            max_value=24.0,
            step=1.0,
            format="%g",
            key=OFFSET_KEY,
            persist_state="session",
        )
        files: Files = [(f.name, f.getvalue()) for f in uploads or []]
        if not files and not kept:
            return None
        try:
            cal = _run(files or kept, float(offset))
        except ConfigError as err:
            st.error(str(err))
            return None
        if files:
            st.session_state[KEPT] = files
        else:
            st.caption(f"Using {', '.join(n for n, _ in kept)}, uploaded earlier.")
            st.button("Remove them", key="cal.remove", on_click=_forget)
        named = ", ".join(n for n, _ in (files or kept))
        scn = sim.Scenario.from_yaml(cal.text, source="the calibrated scenario")
        st.dataframe(table(cal), hide_index=True)
        for r in cal.results:
            if isinstance(r, calibrate.Kept):
                st.caption(f"Kept at the default: {r.key} ({r.reason}).")
        for note in cal.notes:
            st.caption(f"Note: {note}")
        for chart in (traffic_chart(cal), latency_chart(cal)):
            if chart is not None:
                st.altair_chart(chart, width="stretch")
        st.download_button(
            "Download the calibrated scenario (YAML, commented)",
            cal.text,
            file_name=f"{NAME}.yaml",
            mime="application/x-yaml",
            key="cal.download",
            on_click="ignore",
        )
        use = st.toggle(
            "Compare strategies on the calibrated scenario",
            key=USE_KEY,
            help="The sidebar's scenario becomes the calibrated one; its knobs start at the fitted values.",
            persist_state="session",
        )
    return Use(cal.text, scn, named) if use else None
