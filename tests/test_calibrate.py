"""`deploysim calibrate`: reading query_range JSON and CSV, counters to rates, histogram_quantile, and bad
data refused in one line with exit 2 (never a traceback, never a half-written output)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import sim
import sim.cli
from sim.calibrate import bucket_quantile, read_file
from sim.calibrate import prom as prom_module
from sim.core.errors import ConfigError

T0 = 1_767_571_200


def matrix(name: str, values: list, labels: dict | None = None, extra: list | None = None) -> dict:
    series = [{"metric": {"__name__": name, **(labels or {})}, "values": values}, *(extra or [])]
    return {"status": "success", "data": {"resultType": "matrix", "result": series}}


def counter(n: int, step: float = 60.0, per_step: float = 600.0, start: float = 1000.0) -> list:
    return [[T0 + i * step, str(start + i * per_step)] for i in range(n)]


def put(tmp_path: Path, name: str, doc: dict | str) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def refused(capsys, argv: list[str]) -> str:
    """Exit 2 with exactly one line on stderr, nothing on stdout."""
    assert sim.cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("deploysim: "), err
    return err


# ---- reading ----


def test_a_counter_becomes_the_per_second_rate_rate_would_give(tmp_path):
    s = read_file(put(tmp_path, "requests.json", matrix("http_requests_total", counter(5)))).series[0]
    assert s.kind == "requests" and s.step == 60.0 and s.lag == 30.0
    assert math.isnan(s.values[0]) and s.values[1:].tolist() == [10.0] * 4


def test_a_counter_reset_counts_the_new_value_as_the_increase(tmp_path):
    values = [[T0, "100"], [T0 + 60, "700"], [T0 + 120, "30"], [T0 + 180, "630"]]
    read = read_file(put(tmp_path, "requests.json", matrix("http_requests_total", values)))
    assert read.series[0].values[1:].tolist() == [10.0, 0.5, 10.0]
    assert "1 counter resets" in read.notes[0]


def test_nan_samples_are_dropped_with_a_note_and_a_small_gap_is_noted(tmp_path):
    values = counter(20)
    values[7][1] = "NaN"
    del values[12]
    read = read_file(put(tmp_path, "requests.json", matrix("http_requests_total", values)))
    assert any("1 NaN/Inf samples dropped" in n for n in read.notes)
    assert any("2 of 20 steps missing" in n for n in read.notes)
    assert len(read.series[0].values) == 20


def test_a_query_that_applied_rate_is_read_as_a_rate(tmp_path):
    values = [[T0 + i * 60, "12.5"] for i in range(5)]
    doc = matrix("", values)
    del doc["data"]["result"][0]["metric"]["__name__"]
    s = read_file(put(tmp_path, "requests.json", doc)).series[0]
    assert s.values.tolist() == [12.5] * 5 and s.lag == 0.0


def test_a_wide_csv_with_labels_in_its_columns_reads_like_the_json(tmp_path):
    rows = ['timestamp,http_requests_total,latency_bucket{le="0.1"},latency_bucket{le="+Inf"}']
    rows += [f"{T0 + i * 60},{1000 + 600 * i},{60 * i},{100 * i}" for i in range(5)]
    read = read_file(put(tmp_path, "export.csv", "\n".join(rows) + "\n"))
    kinds = [(s.kind, dict(s.labels).get("le")) for s in read.series]
    assert kinds == [("requests", None), ("latency", "0.1"), ("latency", "+Inf")]
    assert read.series[0].values[1:].tolist() == [10.0] * 4


def test_an_iso_timestamp_column_reads_as_unix_seconds(tmp_path):
    rows = [
        "timestamp,replicas",
        "2026-01-05T00:00:00Z,4",
        "2026-01-05T00:01:00Z,4",
        "2026-01-05T00:02:00Z,5",
    ]
    s = read_file(put(tmp_path, "fleet.csv", "\n".join(rows))).series[0]
    assert s.kind == "replicas" and s.timestamps[0] == T0 and s.values.tolist() == [4, 4, 5]


# ---- histogram_quantile ----


@pytest.mark.parametrize(
    ("q", "want"),
    [
        (0.5, 0.3),  # rank 50 in (0.2, 0.5]: 0.2 + 0.3·(50 − 30)/60
        (0.05, 0.05),  # the first bucket interpolates from 0
        (0.2, 0.15),
        (0.95, 0.5),  # in the +Inf bucket: the highest finite bound
        (1.5, math.inf),
        (-0.1, -math.inf),
    ],
)
def test_histogram_quantile_as_promql_computes_it(q, want):
    les = np.array([0.1, 0.2, 0.5, np.inf])
    assert bucket_quantile(q, les, np.array([10.0, 30.0, 90.0, 100.0])) == pytest.approx(want)


def test_histogram_quantile_without_inf_bucket_or_observations_is_nan():
    assert math.isnan(bucket_quantile(0.5, np.array([0.1, 0.2]), np.array([1.0, 2.0])))
    assert math.isnan(bucket_quantile(0.5, np.array([0.1, np.inf]), np.array([0.0, 0.0])))


# ---- the command ----


def test_a_partial_set_calibrates_what_it_can_and_says_what_kept_its_default(tmp_path, capsys):
    path = put(tmp_path, "requests.json", matrix("http_requests_total", counter(200)))
    out = tmp_path / "s.yaml"
    assert sim.cli.main(["calibrate", path, "-o", str(out)]) == 0
    text = out.read_text()
    assert "rate_rps: 10  #" in text
    assert "#   fleet.latency: no latency histogram" in text
    assert "#   traffic.diurnal.amplitude:" in text  # 200 minutes: no whole day
    assert sim.load_scenario(out).traffic.rate_rps == 10


def test_series_kind_file_names_a_file_whose_names_say_nothing(tmp_path, capsys):
    path = put(tmp_path, "q1.json", matrix("foo_total", counter(30)))
    refused(capsys, ["calibrate", path])
    assert sim.cli.main(["calibrate", "--series", f"requests={path}"]) == 0
    assert "rate_rps: 10  #" in capsys.readouterr().out


BAD = {
    "empty matrix": ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "empty matrix"),
    "status error": ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "'error'"),
    "vector": ({"status": "success", "data": {"resultType": "vector", "result": []}}, "'matrix'"),
    "mostly missing": (
        matrix("http_requests_total", [*counter(3), [T0 + 60 * 50, "99999"]]),
        "steps are missing",
    ),
    "all NaN": (matrix("http_requests_total", [[T0 + i, "NaN"] for i in range(5)]), "finite samples"),
    "not a number": (matrix("http_requests_total", [[T0, "1"], [T0 + 60, "lots"]]), "not a number"),
    "time goes back": (
        matrix("http_requests_total", [[T0, "1"], [T0 - 60, "2"], [T0 + 60, "3"]]),
        "increase",
    ),
    "irregular": (
        matrix("http_requests_total", [[T0, "1"], [T0 + 60, "2"], [T0 + 90, "3"], [T0 + 180, "4"]]),
        "regular",
    ),
    "bucket without le": (matrix("latency_bucket", counter(5)), "'le' label"),
    "le is NaN": (matrix("latency_bucket", counter(5), {"le": "NaN"}), "not a number"),
    "no +Inf bucket": (matrix("latency_bucket", counter(5), {"le": "0.1"}), "+Inf"),
    "pair": (matrix("http_requests_total", [[T0, "1", "2"]]), "[timestamp"),
    "a list": ([1, 2, 3], "JSON object"),
    "truncated": ('{"status": "success", "data": {"resultTy', "not valid JSON"),
    "unknown format": ("\x00\x01\x02 garbage", "unknown format"),
    "csv without timestamp": ("when,requests\n1,2\n", "timestamp"),
    "yaml": ("- a: 1\n", "unknown format"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_data_is_one_line_naming_the_file_and_exit_2(tmp_path, capsys, case):
    doc, says = BAD[case]
    path = put(tmp_path, "requests.json", doc if isinstance(doc, (dict, str)) else json.dumps(doc))
    err = refused(capsys, ["calibrate", path])
    assert path in err and says in err, err


def test_files_with_different_steps_are_refused(tmp_path, capsys):
    a = put(tmp_path, "requests.json", matrix("http_requests_total", counter(10, step=60)))
    b = put(tmp_path, "errors.json", matrix("http_errors_total", counter(10, step=30)))
    err = refused(capsys, ["calibrate", a, b])
    assert "steps differ" in err and "every 30 s" in err and "every 60 s" in err


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(prom_module, "MAX_BYTES", 100)
    path = put(tmp_path, "requests.json", matrix("http_requests_total", counter(20)))
    assert "larger than" in refused(capsys, ["calibrate", path])


def test_a_missing_file_and_a_bad_series_option_are_one_line(tmp_path, capsys):
    assert "cannot read" in refused(capsys, ["calibrate", str(tmp_path / "nope.json")])
    assert "KIND=FILE" in refused(capsys, ["calibrate", "--series", "latency"])
    assert "at least one" in refused(capsys, ["calibrate"])


def test_bad_input_leaves_the_output_file_as_it_was(tmp_path, capsys):
    out = tmp_path / "s.yaml"
    out.write_text("old\n")
    bad = put(tmp_path, "requests.json", "{")
    refused(capsys, ["calibrate", bad, "-o", str(out)])
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "requests.json",
        "s.yaml",
    ]
    good = put(tmp_path, "requests.json", matrix("http_requests_total", counter(20)))
    assert "is a folder" in refused(capsys, ["calibrate", good, "-o", str(tmp_path)])


def test_truncated_or_garbled_json_never_raises_a_traceback(tmp_path, capsys):
    """Every cut of a good file, and random byte flips of it, end in exit 0 or a one-line exit 2."""
    rng = np.random.default_rng(19)
    good = json.dumps(
        matrix(
            "http_requests_total",
            counter(12),
            extra=[
                {
                    "metric": {"__name__": "http_requests_total", "code": "500"},
                    "values": counter(12, per_step=6),
                }
            ],
        )
    ).encode()
    cuts = [good[:n] for n in range(0, len(good), 7)]
    flips = []
    for _ in range(150):
        b = bytearray(good)
        for i in rng.integers(0, len(b), rng.integers(1, 6)):
            b[i] = int(rng.integers(0, 256))
        flips.append(bytes(b))
    _calibrates_or_refuses_in_one_line(tmp_path / "requests.json", [*cuts, *flips], capsys)


def test_read_errors_are_config_errors_with_the_source(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_file(put(tmp_path, "requests.json", {"status": "success"}))
    assert caught.value.source and caught.value.path == ("data",)


def test_the_utc_offset_moves_the_fitted_peak_to_local_time(tmp_path, capsys):
    """A day of a rate peaking at 12:00 UTC is a 14:00 peak two hours east."""
    t = T0 + 300.0 * np.arange(289)
    rate = 100 * (1 + 0.5 * np.cos(2 * np.pi * ((t - 150.0) % 86400 / 3600 - 12) / 24))
    cum = 1000 + np.concatenate([[0], np.cumsum(rate[1:] * 300)])
    values = [[float(a), repr(float(b))] for a, b in zip(t, cum, strict=True)]
    path = put(tmp_path, "requests.json", matrix("http_requests_total", values))
    for offset, want in (("0", 12.0), ("2", 14.0), ("-13", 23.0)):
        assert sim.cli.main(["calibrate", path, "--utc-offset", offset]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if "peak_hour:" in x)
        assert float(line.split(":")[1].split("#")[0]) == pytest.approx(want, abs=0.01), line
    assert "--utc-offset" in refused(capsys, ["calibrate", path, "--utc-offset", "30"])


def test_truncated_or_garbled_csv_never_raises_a_traceback(tmp_path, capsys):
    rng = np.random.default_rng(1919)
    rows = ['timestamp,http_requests_total,latency_bucket{le="0.1"},latency_bucket{le="+Inf"}']
    rows += [f"{T0 + i * 60},{1000 + 600 * i},{60 * i},{100 * i}" for i in range(12)]
    good = ("\n".join(rows) + "\n").encode()
    cases = [good[:n] for n in range(0, len(good), 5)]
    for _ in range(150):
        b = bytearray(good)
        for i in rng.integers(0, len(b), rng.integers(1, 6)):
            b[i] = int(rng.choice(list(b'0123456789,.{}"=\n-eE+x\x00\xff')))
        cases.append(bytes(b))
    _calibrates_or_refuses_in_one_line(tmp_path / "export.csv", cases, capsys)


def _calibrates_or_refuses_in_one_line(path, cases: list[bytes], capsys) -> None:
    """Each of `cases` written to `path` and calibrated: it succeeds, or exits 2 with one line and
    no traceback."""
    for data in cases:
        path.write_bytes(data)
        code = sim.cli.main(["calibrate", str(path)])
        _, err = capsys.readouterr()
        assert code in (0, 2), data
        if code == 2:
            assert err.count("\n") == 1 and "Traceback" not in err, err
