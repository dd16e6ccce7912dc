"""The Compare page's "Start from my service's metrics": exported series uploaded, their fit shown beside
the default's, the page run on the calibrated scenario; bad files one error line. Widgets by key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import sim
from sim.calibrate import monitor, write_monitored
from tests import test_app as base
from webapp import calibrate, settings

#: A service unlike the default scenario in every value the fit reads (the round trip's "busy noisy"
#: one, smaller): a page that ran on the default would show none of these.
MINE = [
    "traffic.rate_rps=120",
    "traffic.diurnal.amplitude=0.3",
    "traffic.diurnal.peak_hour=20",
    "fleet.error_rate=0.002",
    "fleet.latency.p50_ms=80",
    "fleet.latency.p99_ms=600",
    "fleet.replicas=6",
]
DAYS, STEP, SEED = 2, 300.0, 20261207


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()
    yield


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> list[tuple[str, bytes, str]]:
    """The service's four queries as query_range JSON, as the uploader hands them over."""
    scn = sim.load_scenario("default", overrides=MINE)
    folder = tmp_path_factory.mktemp("metrics")
    paths = write_monitored(monitor(scn, DAYS, STEP, np.random.default_rng(SEED)), folder)
    return [(p.name, p.read_bytes(), "application/json") for p in paths]


def shown(at: AppTest) -> dict[str, dict[str, str]]:
    """The calibration table by parameter (a table has no key in AppTest: found by its columns)."""
    (frame,) = [d.value for d in at.dataframe if list(d.value.columns)[:2] == ["parameter", "default"]]
    return {row["parameter"]: row for row in frame.to_dict("records")}


def test_uploaded_metrics_show_the_fit_beside_the_default_and_the_page_runs_on_them(uploads):
    at = base.app()
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value(uploads).run()
    base.clean(at)
    table = shown(at)
    assert table["fleet.replicas"]["default"] == "10" and table["fleet.replicas"]["calibrated ± SE"] == "6"
    rate = table["traffic.rate_rps"]
    assert (
        rate["default"] == "300" and rate["source series"] == "http_requests_total.json (http_requests_total)"
    )
    value, se = (float(x) for x in rate["calibrated ± SE"].split(" ± "))
    # The round trip states rate_rps within its SE (tests/test_calibrate_roundtrip.py); here the
    # page shows that fit: 120 within 4 SE (z of 99.99%), and nowhere near the default's 300.
    assert abs(value - 120) <= 4 * se
    assert table["fleet.latency.p99_ms"]["default"] == "250"
    assert 480 < float(table["fleet.latency.p99_ms"]["calibrated ± SE"].split(" ± ")[0]) <= 750
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # the traffic and the latency fit over the data
    titles = [json.loads(c.proto.spec)["title"] for c in charts]
    assert titles[0].startswith("Traffic") and titles[1].startswith("Latency"), titles
    assert at.sidebar.selectbox(key=settings.NAME_KEY).value == "default"  # not yet the page's scenario

    at.toggle(key=calibrate.USE_KEY).set_value(True).run()
    base.clean(at)
    # The calibrated scenario is the sidebar's: its knobs open at the fitted values.
    assert at.number_input(key="k.fleet.replicas").value == 6
    assert abs(at.number_input(key="k.traffic.rate_rps").value - value) < 1e-3 * value
    assert any("calibrated from your metrics" in m.value for m in at.markdown)
    at.number_input(key="k.run.deploys").set_value(base.SMALL).run()
    base.ran(at)
    res = at.session_state["results"]
    assert res.name == calibrate.NAME
    assert (res.rows["strategy"].value_counts() == base.SMALL).all()

    # Kept across a rerun with the uploader empty (as after another page), and removable.
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value([]).run()
    base.clean(at)
    assert any(c.value.startswith("Using http_requests_total.json") for c in at.caption)
    assert at.number_input(key="k.fleet.replicas").value == 6
    at.button(key="cal.remove").click().run()
    base.clean(at)
    assert at.sidebar.selectbox(key=settings.NAME_KEY).value == "default"


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("http_requests_total.json", b'{"status":"error","data":{}}', "status"),
        (
            "http_requests_total.json",
            b'{"status":"success","data":{"resultType":"matrix","result":[]}}',
            "empty",
        ),
        ("metrics.txt.csv", b"\x00\x01garbage", "unknown format"),
        (
            "weird.json",
            json.dumps(
                {
                    "status": "success",
                    "data": {
                        "resultType": "matrix",
                        "result": [{"metric": {"__name__": "up"}, "values": [[1, "1"], [2, "1"]]}],
                    },
                }
            ).encode(),
            "which query",
        ),
    ],
)
def test_a_bad_file_shows_one_error_line_and_changes_nothing(uploads, name, data, says):
    at = base.app()
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value([(name, data, "application/json")]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert at.error[0].value.startswith(f"{name}: ") and says in at.error[0].value, at.error[0].value
    assert "tmp" not in at.error[0].value
    assert calibrate.KEPT not in at.session_state and not at.get("vega_lite_chart")
    assert at.sidebar.selectbox(key=settings.NAME_KEY).value == "default"  # the page keeps its scenario
    at.button(key="run").click().run()  # the page still runs, on its own scenario
    assert not at.exception and len(at.error) == 1
    assert at.session_state["results"].name == "default"


def test_a_bad_file_after_a_good_one_keeps_the_good_calibration_unapplied(uploads):
    at = base.app()
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value(uploads).run()
    at.toggle(key=calibrate.USE_KEY).set_value(True).run()
    base.clean(at)
    broken = [(n, d.replace(b'"success"', b'"error"'), t) for n, d, t in uploads]
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value(broken).run()
    assert not at.exception and len(at.error) == 1
    # Nothing half-applied: not the bad files' scenario, and the page is back on the sidebar's.
    assert at.sidebar.selectbox(key=settings.NAME_KEY).value == "default"
    assert list(at.session_state[calibrate.KEPT]) == [(n, d) for n, d, _ in uploads]  # the good files


def test_the_page_module_fits_with_the_commands_code(uploads, tmp_path):
    """The page's values are `deploysim calibrate`'s: the same YAML but for the files' folder."""
    paths = []
    for name, data, _ in sorted(uploads):  # the page reads them in their names' order
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    cli_text = sim.calibrate.calibrate(paths, {}, calibrate.NAME).text
    page = calibrate.fitted([(n, d) for n, d, _ in uploads], 0.0)
    assert page.text == cli_text.replace(str(tmp_path) + "/", "")
    assert Path(paths[0]).name in page.text


def test_files_over_the_pages_cap_are_one_error_line(uploads, monkeypatch):
    monkeypatch.setattr(calibrate, "MAX_BYTES", 1_000)
    at = base.app()
    at.file_uploader(key=calibrate.UPLOAD_KEY).set_value(uploads).run()
    assert not at.exception and len(at.error) == 1
    assert "over the page's 1,000" in at.error[0].value and "\n" not in at.error[0].value
    assert calibrate.KEPT not in at.session_state
