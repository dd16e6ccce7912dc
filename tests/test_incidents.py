"""`deploysim incidents`: a simulated release history fits back to the scenario it came from; bad input
is one line and exit 2, with nothing written."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.calibrate import incidents
from sim.calibrate.incidents import compare, fit, fitted_scenario, read_history
from sim.cli import main

#: Joint level of the round trip's two families (the bad-release probability; the fault mix, whose
#: intervals `fit` Bonferroni-corrects over the kinds): 99.8%, 99.9% each.
LEVEL = 0.999
DEPLOYS = 3000
SEED = 19


@pytest.fixture(scope="module")
def history_rows() -> pd.DataFrame:
    # Recreate runs no smoke test: every bad release reaches users, as a history records it.
    scn = sim.load_scenario("default").only(["recreate"])
    df = sim.run_batch(scn, deploys=DEPLOYS, seed=SEED, jobs=2)
    assert df["error"].isna().all()
    return df


def write_history(rows: pd.DataFrame, path: Path) -> Path:
    """The rows as a team's deploy log: three deploys a day, times alternately ISO 8601 and epoch s."""
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "bad", "kind", "time_to_restore_s"])
        for i, r in enumerate(rows.itertuples()):
            t = start + i * 8 * 3600
            stamp = datetime.fromtimestamp(t, UTC).isoformat() if i % 2 else f"{t:.0f}"
            restore = "" if pd.isna(r.time_to_restore_s) else f"{r.time_to_restore_s:.3f}"
            w.writerow(
                [
                    stamp,
                    "true" if r.release_bad else "false",
                    r.fault_kind if isinstance(r.fault_kind, str) else "",
                    restore,
                ]
            )
    return path


def test_a_simulated_history_fits_back_to_its_scenario(history_rows, tmp_path):
    scn = sim.load_scenario("default")
    h = read_history(write_history(history_rows, tmp_path / "h.csv"))
    result = fit(h, LEVEL)
    b = result.bad_probability
    assert b.of == DEPLOYS and b.low <= scn.releases.bad_probability <= b.high
    weights = {k: s.weight for k, s in scn.releases.faults.items()}
    total = sum(weights.values())
    assert set(result.mix) == set(weights)
    for kind, share in result.mix.items():
        assert share.low <= weights[kind] / total <= share.high, kind
    assert result.span_s == pytest.approx((DEPLOYS - 1) * 8 * 3600)
    # The history's figures are the simulated run's own: one source, read two ways.
    table = compare(h, history_rows).set_index("strategy")
    assert table.at["history", "change_failure_rate"] == table.at["recreate", "change_failure_rate"]


def test_the_fit_can_miss(history_rows, tmp_path):
    """The round trip's intervals are tight enough to tell another scenario's rate and mix apart."""
    result = fit(read_history(write_history(history_rows, tmp_path / "h.csv")), LEVEL)
    assert not result.bad_probability.low <= 0.1 <= result.bad_probability.high
    assert not result.mix["crash"].low <= 0.05 / 1.05 <= result.mix["crash"].high


def test_fitted_scenario_replaces_the_rate_and_the_weights_only(history_rows, tmp_path):
    path = write_history(history_rows.head(200), tmp_path / "h.csv")
    base = sim.load_scenario("default").to_dict()
    result = fit(read_history(path))
    out = fitted_scenario(base, result)
    scn = sim.load_scenario(out)
    assert scn.releases.bad_probability == pytest.approx(result.bad_probability.value, abs=1e-6)
    for kind, spec in scn.releases.faults.items():
        expected = result.mix[kind].value if kind in result.mix else 0.0
        assert spec.weight == pytest.approx(expected, abs=1e-6)
        assert spec.severity == sim.load_scenario(base).releases.faults[kind].severity
    assert {**out, "releases": None} == {**base, "releases": None}


def test_the_command_prints_the_fit_and_writes_a_loadable_scenario(history_rows, tmp_path, capsys):
    path = write_history(history_rows.head(300), tmp_path / "h.csv")
    out = tmp_path / "mine.yaml"
    assert main(["incidents", str(path), "--scenario", "dora-high", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "bad_probability:" in printed and "fault mix" in printed and "time to restore" in printed
    scn = sim.load_scenario(out)
    assert scn.name == "dora-high"
    assert scn.releases.bad_probability == pytest.approx(
        fit(read_history(path)).bad_probability.value, abs=1e-6
    )
    assert out.read_text().startswith("# dora-high, with releases.bad_probability")


def run_bad(tmp_path: Path, text: str | bytes, capsys, *more: str) -> str:
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "out.yaml"
    out.write_text("kept\n")
    code = main(["incidents", str(path), "--scenario", "default", "-o", str(out), *more])
    err = capsys.readouterr().err
    assert code == 2
    assert out.read_text() == "kept\n", "nothing half-written"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")], "no temporary left"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0]
    return lines[0]


GOOD_HEADER = "time,bad,kind,time_to_restore_s\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty; a history needs a header row with time, bad, kind, time_to_restore_s"),
        ("time,bad\n", "lists no deploys"),
        ("time,kind\n2024-01-01,crash\n", "header: missing column 'bad' (required: time, bad)"),
        ("time,bad,colour\n", "header: unknown column 'colour'; allowed: time, bad, kind, time_to_restore_s"),
        ("time,bad,bad\n", "header: a column is named twice"),
        (
            GOOD_HEADER + "2024-01-01,true,gremlins,60\n",
            "row 2, column kind: 'gremlins'; allowed: error_rate",
        ),
        (GOOD_HEADER + "2024-01-01,false,crash,\n", "row 2, column kind: a good deploy has no fault kind"),
        (GOOD_HEADER + "2024-02-30T10:00:00,true,crash,60\n", "row 2, column time: '2024-02-30T10:00:00' is"),
        (GOOD_HEADER + "1e300,true,crash,60\n", "row 2, column time: '1e300' is not a time"),
        (GOOD_HEADER + "nan,true,crash,60\n", "row 2, column time: 'nan' is not a time"),
        (GOOD_HEADER + "2024-01-01,maybe,,\n", "row 2, column bad: 'maybe'; allowed: true, false, 1, 0"),
        (GOOD_HEADER + "2024-01-01,1,crash,-5\n", "row 2, column time_to_restore_s: '-5'; allowed: seconds"),
        (GOOD_HEADER + "2024-01-01,1,crash,inf\n", "row 2, column time_to_restore_s: 'inf'"),
        (GOOD_HEADER + "2024-01-01,0,,60\n", "row 2, column time_to_restore_s: a good deploy has no time"),
        (GOOD_HEADER + "2024-01-01,0,\n", "row 2: has 3 fields; the header has 4"),
        (
            GOOD_HEADER + '2024-01-01,0,"' + "x" * 1000 + '",\n',
            "row 2, column kind: holds 1,000 characters; at most 64",
        ),
        (b"time,bad\n\xff\xfe,1\n", "is not UTF-8 text (byte 9)"),
        ("time,bad\n" + "1" * 200_000 + ",1\n", "row 2: not CSV (field larger than field limit"),
    ],
)
def test_bad_input_is_one_line_naming_file_row_and_column(tmp_path, capsys, text, says):
    assert says in run_bad(tmp_path, text, capsys)


def test_a_kind_must_be_one_of_the_scenarios(tmp_path, capsys):
    # The default names all seven kinds; high-frequency's mix leaves some out.
    path = tmp_path / "h.csv"
    path.write_text(GOOD_HEADER + "2024-01-01,1,median_latency,60\n")
    assert main(["incidents", str(path), "--scenario", "high-frequency"]) == 2
    err = capsys.readouterr().err
    assert "column kind: 'median_latency'; allowed: error_rate, latency_shift, tail_latency" in err


def test_hostile_sizes_are_refused_before_they_are_read(tmp_path, capsys, monkeypatch):
    big = tmp_path / "bad.csv"
    with open(big, "wb") as f:  # sparse: no disk is spent on it
        f.truncate(incidents.MAX_BYTES + 1)
    assert main(["incidents", str(big)]) == 2
    assert f"is {incidents.MAX_BYTES + 1:,} bytes; a history may hold at most" in capsys.readouterr().err
    monkeypatch.setattr(incidents, "MAX_ROWS", 3)
    line = run_bad(tmp_path, "time,bad\n" + "1700000000,0\n" * 4, capsys)
    assert "row 5: a history may list at most 3 deploys" in line


def test_missing_file_and_output_without_scenario(tmp_path, capsys):
    assert main(["incidents", str(tmp_path / "none.csv")]) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
    path = tmp_path / "h.csv"
    path.write_text("time,bad\n1700000000,1\n")
    assert main(["incidents", str(path), "-o", str(tmp_path / "o.yaml")]) == 2
    assert "--output: give --scenario" in capsys.readouterr().err
    assert not (tmp_path / "o.yaml").exists()


def test_a_history_without_kinds_keeps_the_mix(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("time,bad\n1700000000,1\n1700086400,0\n1700172800,no\n1700259200,yes\n")
    result = fit(read_history(path))
    assert (result.bad_probability.hits, result.bad_probability.of, result.untyped) == (2, 4, 2)
    base = sim.load_scenario("default").to_dict()
    assert fitted_scenario(base, result)["releases"]["faults"] == base["releases"]["faults"]


def test_a_file_name_cannot_write_yaml_into_the_scenario(tmp_path, capsys):
    path = tmp_path / "h\nsafety_net: null\n.csv"
    path.write_text("time,bad,kind\n1700000000,1,crash\n1700086400,0,\n")
    out = tmp_path / "out.yaml"
    assert main(["incidents", str(path), "--scenario", "default", "-o", str(out)]) == 0
    assert sim.load_scenario(out).safety_net == "slo"


def test_an_output_folder_is_refused_before_anything_is_printed(tmp_path, capsys):
    path = tmp_path / "h.csv"
    path.write_text("time,bad\n1700000000,1\n")
    assert main(["incidents", str(path), "--scenario", "default", "-o", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is a folder; give a file name" in captured.err
