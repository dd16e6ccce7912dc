"""The deploysim command: run, show, compare, validate, schema; the results folder; exit codes; bad input."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
import sim.engine.rows
from sim.cli import main
from sim.results.frame import normalize
from sim.results.report import RATES, WIDTH, summary_json
from sim.results.summary import SUMMARY_METRICS
from sim.runs import store

ROOT = Path(__file__).resolve().parent.parent
CHARTS = {"blast_radius", "time_to_restore", "blast_vs_recovery", "cost_vs_safety", "rollbacks_vs_escapes"}


def run_cli(*args: str, cwd: Path | None = None, stdout: int | None = None) -> subprocess.CompletedProcess:
    """`python -m sim ...` in a fresh process: what a CI script sees, exit code included."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd or ROOT,
        text=True,
        timeout=300,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One small stored run of the default scenario, and what `run` printed."""
    out = tmp_path_factory.mktemp("runs") / "default-small"
    args = ["run", "default", "--deploys", "8", "--seed", "5", "--jobs", "1", "--out", str(out), "--quiet"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "--quiet prints nothing on stderr, and no progress bar when stdout is a pipe"
    return out, proc.stdout


def test_run_prints_one_table_with_the_strategies_side_by_side(stored):
    out, text = stored
    rows = store.read_rows(out)
    bad = rows[rows["strategy"] == "recreate"]["release_bad"].astype(bool).sum()
    head, table = text.split("\n\n", 1)
    assert head.startswith("default: 8 deploys per strategy, seed 5\n")
    assert f"Safety per bad release (n = {bad})" in head and "follow-up (7 d)" in head
    assert table.splitlines()[0].split() == ["recreate", "blue_green", "canary", "progressive"]
    labels = [re.split(r"\s{2,}", line.strip())[0] for line in table.splitlines()]
    for label in (
        "SAFETY per bad release",
        "bad releases",
        "caught (detected)",
        "never restored in 7 d",
        "faulty requests: mean",
        "affected users: mean",
        "time to restore: median",
        "time to detect: median",
        "time to repair: median",
        "exposure at detection %",
        "escaped defects %",
        "error budget burned %",
        "COST per deploy",
        "downtime s",
        "extra instance-h",
        "lead time min",
        "false rollbacks %",
    ):
        assert label in labels, label
    assert labels.index("escaped defects %") < labels.index("COST per deploy") < labels.index("downtime s")
    bad_row = next(line for line in table.splitlines() if line.startswith("bad releases"))
    assert bad_row.split()[2:] == [str(bad)] * 4
    # One table, not a block per strategy: it fits a terminal in a 1,280 px window, in few lines.
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert len(text.splitlines()) <= 36


def test_results_folder_holds_rows_summary_manifest_and_charts(stored):
    out, _ = stored
    assert {p.name for p in out.iterdir()} == {
        "manifest.json",
        "scenario.yaml",
        "rows.parquet",
        "rows.csv",
        "summary.csv",
        "charts",
    }
    assert {p.stem for p in (out / "charts").glob("*.png")} == CHARTS
    for png in (out / "charts").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is True and m["status"] == "complete"
    assert (m["deploys"], m["seed"], m["strategies"]) == (
        8,
        5,
        ["recreate", "blue_green", "canary", "progressive"],
    )
    assert m["package"] == {"name": "deploysim", "version": sim.__version__}
    assert m["command"][:3] == ["deploysim", "run", "default"]
    assert m["wall_time_s"] > 0 and m["rows"] == 32 and m["failed_runs"] == 0
    assert m["chunks"]["done"] == m["chunks"]["total"]
    resolved = sim.load_scenario(m["scenario"])
    assert resolved == sim.load_scenario("default", overrides=["run.deploys=8", "run.seed=5"])
    assert sim.load_scenario(out / "scenario.yaml") == resolved


def test_stored_rows_are_the_rows_of_the_batch(stored):
    out, _ = stored
    expected = sim.run_batch("default", deploys=8, seed=5)
    pd.testing.assert_frame_equal(store.read_rows(out), expected)
    pd.testing.assert_frame_equal(normalize(pd.read_parquet(out / "rows.parquet")), expected)
    csv = pd.read_csv(out / "rows.csv")
    assert list(csv.columns) == list(sim.COLUMNS)
    pd.testing.assert_frame_equal(csv[list(sim.METRICS)], expected[list(sim.METRICS)])
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary, sim.summarize(expected), check_dtype=False)


def test_json_is_one_object_of_the_documented_shape(stored, capsys):
    out, _ = stored
    assert main(["show", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"scenario", "deploys", "seed", "strategies"}
    assert (doc["scenario"], doc["deploys"], doc["seed"]) == ("default", 8, 5)
    assert list(doc["strategies"]) == ["recreate", "blue_green", "canary", "progressive"]
    for entry in doc["strategies"].values():
        assert list(entry) == [*SUMMARY_METRICS, *RATES]
        for metric in SUMMARY_METRICS:
            assert set(entry[metric]) == {"n", "censored", "mean", "p50", "p90", "p99", "ci95", "p50_ci95"}
            assert len(entry[metric]["ci95"]) == len(entry[metric]["p50_ci95"]) == 2
        for rate in RATES:
            assert set(entry[rate]) == {"n", "mean", "ci95"}
    rows = store.read_rows(out)
    canary = doc["strategies"]["canary"]
    bad = int(rows[rows["strategy"] == "canary"]["release_bad"].astype(bool).sum())
    assert canary["escaped_rate"]["n"] == canary["detection_rate"]["n"] == bad
    assert canary["lead_time_s"]["n"] == rows[rows["strategy"] == "canary"]["lead_time_s"].notna().sum()
    expected = summary_json(sim.summarize(sim.run_batch("default", deploys=8, seed=5)), "default", 8, 5)
    assert doc == json.loads(json.dumps(expected))


def test_run_json_prints_only_json_on_stdout(tmp_path, capsys):
    args = ["run", "default", "--deploys", "3", "--jobs", "1", "--out", str(tmp_path / "o"), "--json"]
    assert main([*args, "--strategy", "canary", "--set", "run.seed=9"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert list(doc["strategies"]) == ["canary"] and doc["seed"] == 9 and doc["deploys"] == 3
    assert "results in" in captured.err


def test_default_folder_is_results_scenario_utc_timestamp(tmp_path):
    proc = run_cli("run", "default", "--deploys", "2", "--jobs", "1", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (made,) = (tmp_path / "results").iterdir()
    assert (
        made.name.startswith("default-")
        and made.name.endswith("Z")
        and len(made.name) == len("default-") + 16
    )
    assert json.loads((made / "manifest.json").read_text())["complete"] is True


def test_show_and_compare_read_stored_runs(stored, tmp_path, capsys):
    out, printed = stored
    assert main(["show", str(out)]) == 0
    assert capsys.readouterr().out == printed
    other = tmp_path / "other"
    assert (
        main(
            [
                "run",
                "default",
                "--deploys",
                "3",
                "--jobs",
                "1",
                "--strategy",
                "canary",
                "--out",
                str(other),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["compare", str(out), str(other)]) == 0
    text = capsys.readouterr().out
    head, table = text.split("\n\n", 1)
    assert head.splitlines()[:2] == [
        f"{out.name}: default, 8 deploys per strategy, seed 5, {_bad(out)} bad releases",
        f"{other.name}: default, 3 deploys per strategy, seed 42, {_bad(other)} bad releases",
    ]
    # A header line per run over its strategies, then the strategies: five columns side by side.
    runs, rule, strategies = table.splitlines()[:3]
    assert runs.split() == [out.name, other.name] and set(rule.split()) == {
        "─" * len(r) for r in rule.split()
    }
    assert strategies.split() == ["recreate", "blue_green", "canary", "progressive", "canary"]
    assert runs.index(other.name) == strategies.rindex("canary"), "each run's name over its own columns"
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert main(["compare", str(out), str(other), "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["dir"] for d in docs] == [str(out), str(other)] and docs[1]["deploys"] == 3


def _bad(run: Path) -> int:
    rows = store.read_rows(run)
    return int(rows[rows["strategy"] == rows["strategy"].iloc[0]]["release_bad"].astype(bool).sum())


def test_validate_stops_at_the_first_invalid_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfleet:\n  replicas: ten\n")
    assert main(["validate", "default", "payments"]) == 0
    assert capsys.readouterr().out.count("ok: ") == 2
    assert main(["validate", "default", str(bad), "payments"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("ok: ") == 1, "stops at the first invalid file"
    assert (
        captured.err
        == f"deploysim: invalid: {bad}: fleet.replicas: expected a whole number, got 'ten' (line 3)\n"
    )
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2


def test_every_shipped_scenario_validates():
    assert main(["validate", *sim.shipped_scenarios()]) == 0


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "broken.yaml").write_text("name: [unclosed\n")
    (tmp / "typed.yaml").write_text("name: t\ntraffic:\n  rate_rps: lots\n")
    (tmp / "afile").write_text("x")
    return [
        (["run", str(tmp / "broken.yaml")], "not valid YAML"),
        (["run", str(tmp / "typed.yaml")], "traffic.rate_rps: expected a number, got 'lots' (line 3)"),
        (["run", str(tmp / "missing.yaml")], "no such file"),
        (["run", "default", "--set", "fleet.replicaz=3"], "did you mean 'replicas'?"),
        (["run", "default", "--set", "noequals"], "is not key.path=value"),
        (["run", "default", "--strategy", "rolling"], "'rolling' is not a strategy of this scenario"),
        (["run", "default", "--deploys", "0"], "--deploys: 0 is not within 1..10000000"),
        (["run", "default", "--deploys", "9000000"], "over the limit of 1e+10"),
        (["run", "default", "--jobs", "0"], "--jobs: 0 is not within 1.."),
        (["run", "default", "--bogus"], "unrecognized arguments: --bogus"),
        (["run"], "give a SCENARIO"),
        ([], "the following arguments are required"),
        (["sweep", "default", "--grid", "strategies.canary.stepz=1,2"], "did you mean 'steps'?"),
        (["sweep", "default", "--grid", "fleet.replicas=5,-1"], "fleet.replicas: -1 is not within"),
        (["sweep", "default", "--grid", "nokey"], "is not key.path=v1,v2"),
        (["show", str(tmp)], "not a deploysim results folder"),
        (["run", "--resume", str(tmp / "nothing")], "no such folder"),
    ]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    for args, message in _bad_inputs(tmp_path):
        full = [*args, "--out", str(out)] if args[:1] in (["run"], ["sweep"]) and len(args) > 1 else args
        if "--resume" in args:
            full = args
        assert main(full) == 2, args
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err, (args, err)
        assert not out.exists(), f"{args} left {out} behind"


def test_unwritable_or_occupied_out_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["run", "default", "--deploys", "2", "--out", str(tmp_path / "afile" / "sub")]) == 2
    assert "--out: cannot create" in capsys.readouterr().err
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    assert main(["run", "default", "--deploys", "2", "--out", str(occupied)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


def test_unreachable_cluster_is_an_input_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sim.runs.batch.CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "o"
    assert (
        main(["run", "default", "--deploys", "2", "--cluster", "tcp://127.0.0.1:9", "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err
    assert (
        "--cluster: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
        and len(err.splitlines()) == 1
    )
    assert not out.exists()


def test_exit_codes_seen_by_a_script(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstrategies:\n  progressive:\n    steps:\n      - weight: 140\n")
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        "strategies.progressive.steps[0].weight: 140 is not within 0..100 % (line 5)"
    )
    proc = run_cli("run", str(bad))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = run_cli(
        "run",
        "default",
        "--deploys",
        "1",
        "--jobs",
        "1",
        "--strategy",
        "recreate",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert proc.returncode == 0 and proc.stdout.startswith("default: 1 deploys")
    assert run_cli("--version").stdout.strip() == f"deploysim {sim.__version__}"


def _with_terminal(*args: str) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal (as in an interactive shell); return (code, stderr)."""
    leader, follower = pty.openpty()
    try:
        proc = run_cli(*args, stdout=follower)
    finally:
        os.close(follower)
        os.close(leader)
    return proc.returncode, proc.stderr


def test_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path):
    # 800 deploys of the four strategies take several seconds (about 4 s on the 2-core host, where
    # one strategy's 600 now take under one): well past the bar's one-second delay.
    args = ["run", "default", "--deploys", "800", "--jobs", "1"]
    code, err = _with_terminal(*args, "--out", str(tmp_path / "a"))
    assert code == 0 and "800/800" in err and "deploy" in err
    code, err = _with_terminal(*args, "--out", str(tmp_path / "b"), "--quiet")
    assert code == 0 and err == ""
    proc = run_cli(*args, "--out", str(tmp_path / "c"))
    assert proc.returncode == 0 and "800/800" not in proc.stderr, "no bar when stdout is not a terminal"


def test_failed_runs_keep_their_rows_and_are_reported(tmp_path, capsys, monkeypatch):
    # A row fails as it is made, whichever engine makes it: the event engine, or the array engine
    # for a deploy that follows its plan (the manual canary's good releases do).
    from sim.engine import simulate as event_engine
    from sim.engine.arrays import outcome

    real = sim.engine.metrics.deploy_row

    def flaky(scn, strategy, deploy, *args, **kw):
        if deploy == 1 and strategy == "canary":
            raise RuntimeError("boom")
        return real(scn, strategy, deploy, *args, **kw)

    monkeypatch.setattr(event_engine, "deploy_row", flaky)
    monkeypatch.setattr(outcome, "deploy_row", flaky)
    out = tmp_path / "o"
    assert main(["run", "default", "--deploys", "3", "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    assert "1 runs raised an error" in capsys.readouterr().err
    rows = store.read_rows(out)
    assert len(rows) == 12
    failed = rows[rows["error"].notna()]
    assert list(failed[["deploy", "strategy"]].itertuples(index=False, name=None)) == [(1, "canary")]
    assert failed["error"].iloc[0] == "RuntimeError: boom"
    assert json.loads((out / "manifest.json").read_text())["failed_runs"] == 1


def test_resolved_scenario_in_the_manifest_reruns_the_same_rows(stored, tmp_path):
    out, _ = stored
    again = tmp_path / "again.yaml"
    again.write_text(
        yaml.safe_dump(json.loads((out / "manifest.json").read_text())["scenario"], sort_keys=False)
    )
    assert main(["run", str(again), "--jobs", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    pd.testing.assert_frame_equal(store.read_rows(tmp_path / "o"), store.read_rows(out))


# ---- a run's workers start before the command's own imports ----

EARLY = (
    "import json, sys\n"
    "from sim.runs import workers\n"
    "started = []\n"
    "real = workers.WorkerPool.__init__\n"
    "def init(self, *args, **kwargs):\n"
    "    started.append(sorted(m for m in ('pandas', 'pyarrow', 'sim.runs.store') if m in sys.modules))\n"
    "    real(self, *args, **kwargs)\n"
    "workers.WorkerPool.__init__ = init\n"
    "from sim.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(json.dumps({'code': code, 'started': started}))\n"
)


def test_a_run_starts_its_workers_before_the_command_loads_pandas_and_uses_them(tmp_path):
    args = ["run", "default", "--deploys", "4", "--jobs", "2", "--quiet", "--out", str(tmp_path / "run")]
    proc = subprocess.run(
        [sys.executable, "-c", EARLY, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen == {"code": 0, "started": [[]]}, "one pool, started before pandas, used for the run"


def test_only_a_run_or_sweep_on_local_workers_starts_them_early(monkeypatch):
    from sim import cli

    monkeypatch.setattr(cli, "default_jobs", lambda: 2)
    assert cli._wanted_workers(["run", "default"]) == 2
    assert cli._wanted_workers(["sweep", "default", "--grid", "fleet.replicas=4,6", "--jobs", "3"]) == 3
    assert cli._wanted_workers(["run", "--resume", "results/x", "--jobs=2"]) == 2
    for argv in (
        ["run", "default", "--jobs", "1"],
        ["run", "default", "--cluster", "tcp://127.0.0.1:8786"],
        ["run", "default", "--jobs", "two"],
        ["run", "default", "--jobs", "100000"],
        ["run", "--help"],
        ["show", "results/x"],
        ["validate-model"],
        [],
    ):
        assert cli._wanted_workers(argv) == 0, argv


def test_bad_input_read_after_the_workers_started_is_still_one_line_and_writes_nothing(tmp_path):
    # The workers start before the scenario is read; a bad one stops them and says one line.
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: {deploys: -1}\n")
    proc = run_cli("run", str(bad), "--jobs", "2", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()
