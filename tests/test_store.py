"""Runs cut short keep their finished chunks; --resume finishes them without recomputing; a half-written
run is never taken for a complete one."""

from __future__ import annotations

import json
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil  # installed with dask[distributed]
import pytest

import sim
from sim.cli import main
from sim.results import plots
from sim.results.frame import normalize
from sim.runs import folder, store
from sim.runs import sweep as sweep_module
from sim.runs.batch import WorkerLost

ROOT = Path(__file__).resolve().parent.parent
# 40 deploys on one job: chunks of 5 deploys (sim.batch.chunk_size), eight chunks.
ARGS = ["run", "default", "--deploys", "40", "--seed", "3", "--jobs", "1", "--quiet"]


class Recorder:
    """Stands in for store.iter_chunks: records which spans were computed, and can stop after n chunks."""

    def __init__(self, real, stop_after: int | None = None, raise_: BaseException | None = None) -> None:
        self.real, self.stop_after, self.raise_ = real, stop_after, raise_
        self.spans: list[tuple[int, int]] = []

    def __call__(self, scn, strategies, seed, spans, *, jobs=1, cluster=None, pool=None):
        for span, rows in self.real(scn, strategies, seed, spans, jobs=jobs, cluster=cluster, pool=pool):
            if self.stop_after is not None and len(self.spans) == self.stop_after:
                raise self.raise_ or KeyboardInterrupt()
            self.spans.append(span)
            yield span, rows


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_interrupted_run_keeps_finished_chunks_and_resume_computes_only_the_rest(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    first = Recorder(store.iter_chunks, stop_after=3)
    monkeypatch.setattr(store, "iter_chunks", first)
    assert main([*ARGS, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"3 of 8 chunks are saved in {out}" in err and f"deploysim run --resume {out}" in err
    m = manifest(out)
    assert m["complete"] is False and m["status"] == "interrupted" and m["chunks"] == {"total": 8, "done": 3}
    assert sorted(p.name for p in (out / "chunks").iterdir()) == [
        f"{lo:012d}-{hi:012d}.parquet" for lo, hi in sorted(first.spans)
    ]
    assert not (out / "rows.parquet").exists() and not (out / "summary.csv").exists()

    # A cut-short run is never read as a whole one.
    assert main(["show", str(out)]) == 2
    assert "incomplete run (interrupted, 3 of 8 chunks)" in capsys.readouterr().err
    with pytest.raises(sim.ConfigError, match="incomplete run"):
        store.read_rows(out)

    second = Recorder(store.iter_chunks.real)
    monkeypatch.setattr(store, "iter_chunks", second)
    assert main(["run", "--resume", str(out), "--jobs", "1", "--quiet"]) == 0
    assert set(second.spans).isdisjoint(first.spans), "finished chunks are not computed again"
    assert sorted(first.spans + second.spans) == [(lo, lo + 5) for lo in range(0, 40, 5)]
    m = manifest(out)
    assert m["complete"] is True and m["chunks"] == {"total": 8, "done": 8}
    assert m["resumed_by"] == [["deploysim", "run", "--resume", str(out), "--jobs", "1", "--quiet"]]
    assert not (out / "chunks").exists()
    pd.testing.assert_frame_equal(store.read_rows(out), sim.run_batch("default", deploys=40, seed=3))


def test_a_dead_worker_stops_the_batch_with_exit_3_and_it_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setattr(store, "iter_chunks", Recorder(store.iter_chunks, 2, WorkerLost("worker died")))
    assert main([*ARGS, "--out", str(out)]) == 3
    assert "a worker failed (worker died): 2 of 8 chunks" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    pd.testing.assert_frame_equal(store.read_rows(out), sim.run_batch("default", deploys=40, seed=3))


def test_a_half_written_chunk_is_discarded_and_recomputed(tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(store, "iter_chunks", Recorder(store.iter_chunks, 2))
    assert main([*ARGS, "--out", str(out)]) == 130
    # A write cut off mid-way leaves only a temporary file, never a chunk under its final name.
    (out / "chunks" / f".{0:012d}-{5:012d}.parquet.tmp-999").write_bytes(b"PAR1 half")
    (out / "chunks" / f"{5:012d}-{10:012d}.parquet").unlink()  # as if it had never been written
    again = Recorder(store.iter_chunks.real)
    monkeypatch.setattr(store, "iter_chunks", again)
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert (5, 10) in again.spans
    pd.testing.assert_frame_equal(store.read_rows(out), sim.run_batch("default", deploys=40, seed=3))


def test_resume_refuses_another_run_and_reprints_a_complete_one(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    monkeypatch.setattr(store, "iter_chunks", Recorder(store.iter_chunks, 1))
    assert main([*ARGS, "--out", str(out)]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["run", "default", "--seed", "4", "--resume", str(out)]) == 2
    assert "holds a run of another scenario, seed" in capsys.readouterr().err
    meta = manifest(out)
    store.save_manifest(out, {**meta, "package": {"name": "deploysim", "version": "0.0.1"}})
    assert main(["run", "--resume", str(out)]) == 2
    assert "was started by deploysim 0.0.1" in capsys.readouterr().err
    store.save_manifest(out, meta)
    assert main(["run", "default", "--deploys", "40", "--seed", "3", "--resume", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    again = Recorder(store.iter_chunks)
    monkeypatch.setattr(store, "iter_chunks", again)
    assert main(["run", "--resume", str(out)]) == 0
    captured = capsys.readouterr()
    assert again.spans == [] and captured.out == table and "already complete" in captured.err


class Reversed(Recorder):
    """Stands in for store.iter_chunks: hands the chunks over last first, as a slow first chunk would."""

    def __call__(self, scn, strategies, seed, spans, *, jobs=1, cluster=None, pool=None):
        finished = list(self.real(scn, strategies, seed, spans, jobs=jobs, cluster=cluster, pool=pool))
        for span, rows in reversed(finished):
            self.spans.append(span)
            yield span, rows


def test_the_rows_are_joined_in_deploy_order_whatever_order_the_chunks_land_in(tmp_path, monkeypatch):
    assert main([*ARGS, "--out", str(tmp_path / "in_order")]) == 0
    late = Reversed(store.iter_chunks)
    monkeypatch.setattr(store, "iter_chunks", late)
    assert main([*ARGS, "--out", str(tmp_path / "reversed")]) == 0
    assert late.spans == [(lo, lo + 5) for lo in range(35, -5, -5)]
    for name in (store.ROWS_PARQUET, store.ROWS_CSV):
        assert (tmp_path / "reversed" / name).read_bytes() == (tmp_path / "in_order" / name).read_bytes()


def test_rows_filled_while_a_run_goes_are_never_left_half_written(tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(store, "iter_chunks", Recorder(store.iter_chunks, stop_after=3))
    assert main([*ARGS, "--out", str(out)]) == 130
    assert sorted(p.name for p in out.iterdir()) == ["chunks", "manifest.json"], "no rows, whole or temporary"
    # What a run killed outright (kill -9) leaves: its temporaries; resume clears them.
    stale = out / f".{store.ROWS_CSV}.tmp-0badc0de-999999"
    stale.write_text("deploy,strategy\n1,canary\n")
    monkeypatch.undo()
    assert main(["run", "--resume", str(out), "--jobs", "1", "--quiet"]) == 0
    assert not stale.exists()
    pd.testing.assert_frame_equal(store.read_rows(out), sim.run_batch("default", deploys=40, seed=3))


def test_every_file_is_renamed_into_place(tmp_path):
    target = tmp_path / "f.txt"
    store.write_atomic(target, "whole")
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]

    def breaks(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.write_atomic(target, breaks)
    assert target.read_text() == "whole", "a failed write leaves the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"], "and no temporary file"


# A real process: 400 deploys of two strategies, chunks of 50 (one job) or 25 (two jobs) deploys.
REAL = [
    "run",
    "default",
    "--deploys",
    "400",
    "--seed",
    "8",
    "--strategy",
    "recreate",
    "--strategy",
    "progressive",
]


def start_real_run(out: Path, jobs: int) -> subprocess.Popen:
    """Start the batch and return once its first chunk is on disk."""
    cmd = [sys.executable, "-m", "sim", *REAL, "--jobs", str(jobs), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("0*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def resume_real_run(out: Path) -> None:
    """Resume in a fresh process; the finished run holds exactly the rows of an uninterrupted batch."""
    m = manifest(out)
    assert m["complete"] is False and 1 <= m["chunks"]["done"] < m["chunks"]["total"]
    assert len(list((out / "chunks").glob("0*.parquet"))) == m["chunks"]["done"]
    cmd = [sys.executable, "-m", "sim", "run", "--resume", str(out), "--jobs", "1", "--quiet"]
    resume = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr
    expected = sim.run_batch("default", deploys=400, seed=8, strategies=["recreate", "progressive"])
    pd.testing.assert_frame_equal(store.read_rows(out), expected)


def test_ctrl_c_in_a_real_process_keeps_chunks_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    proc = start_real_run(out, jobs=1)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    resume_real_run(out)


def test_a_worker_killed_mid_batch_stops_with_exit_3_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    proc = start_real_run(out, jobs=2)
    workers = [
        c
        for c in psutil.Process(proc.pid).children(recursive=True)
        if "sim.runs.workers" in " ".join(c.cmdline())
    ]
    assert workers, "the pool's worker processes"
    workers[0].kill()  # SIGKILL, as the out-of-memory killer would
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "a worker failed" in err and f"--resume {out}" in err
    resume_real_run(out)


# ---- manifests: one writer and one reader for both kinds of result folder ----

OLD = ROOT / "tests" / "data" / "results"  # folders written by deploysim before the manifest had one writer


def _tiny_run(out: Path) -> dict:
    args = ["run", "default", "--deploys", "2", "--strategy", "canary", "--jobs", "1", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    return manifest(out)


def _tiny_sweep(out: Path) -> dict:
    args = ["sweep", "default", "--grid", "fleet.replicas=6,10", "--strategy", "canary", "--deploys", "2"]
    assert main([*args, "--jobs", "1", "--out", str(out), "--quiet"]) == 0
    return manifest(out)


def test_runs_and_sweeps_write_the_same_common_fields(tmp_path, capsys):
    run, sweep = _tiny_run(tmp_path / "run"), _tiny_sweep(tmp_path / "sweep")
    for m, kind in ((run, "run"), (sweep, "sweep")):
        assert set(folder.COMMON) <= set(m), kind
        assert m["format"] == store.FORMAT == folder.FORMAT and m["kind"] == kind
        assert m["complete"] is True and m["status"] == "complete"
        assert m["package"] == {"name": "deploysim", "version": sim.__version__}
        assert m["python"] == platform.python_version()
        assert m["command"][:2] == ["deploysim", kind] and m["scenario_name"] == "default"
        assert (m["deploys"], m["seed"]) == (2, sim.load_scenario("default").run.seed)
        assert m["started_at"] <= m["finished_at"] and m["finished_at"].endswith("+00:00")
        assert list(m)[-1] == "scenario" and sim.load_scenario(m["scenario"]).name == "default"
        assert all((tmp_path / kind / f).exists() for f in m["files"])
        assert folder.load_manifest(tmp_path / kind, kind) == m
    # Each kind adds its own fields, and only those.
    assert set(run) - set(folder.COMMON) == {
        "strategies",
        "chunk_deploys",
        "chunk_taper",
        "chunks",
        "rows",
        "failed_runs",
        "resumed_by",
        "jobs",
        "cluster",
        "wall_time_s",
    }
    assert set(sweep) - set(folder.COMMON) == {"grid"}


def test_one_format_number_and_one_writer_of_manifests():
    assert store.FORMAT is folder.FORMAT and not hasattr(sweep_module, "FORMAT")
    writers = [p.name for p in (ROOT / "sim").rglob("*.py") if '"format":' in p.read_text(encoding="utf-8")]
    assert writers == ["folder.py"]
    with pytest.raises(ValueError, match="common fields"):
        folder.new_manifest("run", sim.load_scenario("default"), 1, 1, [], files=[])
    with pytest.raises(ValueError, match="not a 'batch'"):
        folder.new_manifest("batch", sim.load_scenario("default"), 1, 1, [])


def test_folders_written_before_still_show_and_compare(capsys):
    """Format-2 folders from before the one writer (a run's manifest had no "kind") read as they did."""
    old_run = OLD / "format2-run"
    assert "kind" not in json.loads((old_run / "manifest.json").read_text())
    assert folder.load_manifest(old_run)["kind"] == "run"
    assert main(["show", str(old_run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("default: 4 deploys per strategy, seed 2\n")
    assert "canary" in out and "recreate" in out
    assert main(["compare", str(old_run), str(old_run)]) == 0
    assert "format2-run: default, 4 deploys per strategy, seed 2" in capsys.readouterr().out
    rows = store.read_rows(old_run)
    assert list(rows.columns) == list(sim.COLUMNS) and len(rows) == 8
    pd.testing.assert_frame_equal(rows, normalize(rows.copy()))
    # An old sweep is still not a run.
    assert main(["show", str(OLD / "format2-sweep")]) == 2
    assert "a sweep, not a run: its table is sweep.csv" in capsys.readouterr().err


def _with_manifest(tmp_path: Path, **changes) -> Path:
    m = json.loads((OLD / "format2-run" / "manifest.json").read_text())
    m.update(changes)
    for key in [k for k, v in changes.items() if v is _GONE]:
        del m[key]
    out = tmp_path / "bad"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(m))
    return out


_GONE = object()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 1}, "manifest.json is not a format-2 deploysim manifest"),
        ({"format": 3}, "manifest.json is not a format-2 deploysim manifest"),
        ({"kind": "batch"}, "manifest.json lacks a valid 'kind'"),
        ({"deploys": "4"}, "manifest.json lacks a valid 'deploys'"),
        ({"complete": "yes"}, "manifest.json lacks a valid 'complete'"),
        ({"seed": _GONE}, "manifest.json lacks a valid 'seed'"),
        ({"kind": "sweep"}, "a sweep, not a run: its table is sweep.csv, its chart pareto.png"),
    ],
)
def test_the_reader_refuses_a_manifest_it_cannot_trust(tmp_path, capsys, changes, message):
    bad = _with_manifest(tmp_path, **changes)
    with pytest.raises(sim.ConfigError, match=re.escape(message)):
        store.open_results(bad)
    assert main(["show", str(bad)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"chunk_deploys": 0}, "lacks a valid 'chunk_deploys' (a whole number of deploys, at least 1)"),
        ({"chunk_deploys": "5"}, "lacks a valid 'chunk_deploys' (a whole number of deploys, at least 1)"),
        ({"chunk_deploys": _GONE}, "lacks a valid 'chunk_deploys'"),
        ({"chunk_taper": "yes"}, "lacks a valid 'chunk_taper' (true or false)"),
    ],
)
def test_resume_refuses_chunks_it_cannot_cut(tmp_path, capsys, changes, message):
    # A zero chunk once looped forever cutting spans; the run's own spans are what resume trusts.
    bad = _with_manifest(tmp_path, **changes)
    assert main(["run", "--resume", str(bad)]) == 2
    assert f"manifest.json {message}" in capsys.readouterr().err


def test_a_folder_from_before_tapered_chunks_resumes_with_its_even_spans():
    m = json.loads((OLD / "format2-run" / "manifest.json").read_text())
    m.update(deploys=1000, chunk_deploys=128)
    even = [(lo, min(1000, lo + 128)) for lo in range(0, 1000, 128)]
    assert store.spec_of(m, "old").spans == even
    tapered = store.spec_of({**m, "chunk_taper": True}, "new").spans
    assert tapered[-3:] == [(832, 896), (896, 960), (960, 1000)]


def test_resuming_a_sweep_says_it_is_a_sweep(tmp_path, capsys):
    assert main(["run", "--resume", str(OLD / "format2-sweep")]) == 2
    assert "a sweep, not a run" in capsys.readouterr().err


def test_a_folder_whose_manifest_cannot_be_written_is_removed(tmp_path, monkeypatch, capsys):
    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder, "write_atomic", full)
    for args in (ARGS, ["sweep", "default", "--grid", "fleet.replicas=6,10", "--deploys", "2", "--quiet"]):
        out = tmp_path / args[0]
        assert main([*args, "--out", str(out)]) == 2
        assert f"cannot write in {out}: No space left on device" in capsys.readouterr().err
        assert not out.exists()


def test_a_sweep_cut_short_is_never_marked_complete(tmp_path, monkeypatch, capsys):
    def broken(tidy, axes):
        raise RuntimeError("no chart")

    monkeypatch.setattr(sweep_module, "chart", broken)
    out = tmp_path / "sweep"
    args = ["sweep", "default", "--grid", "fleet.replicas=6,10", "--strategy", "canary", "--deploys", "2"]
    assert main([*args, "--jobs", "1", "--out", str(out), "--quiet"]) == 70
    m = manifest(out)
    assert m["complete"] is False and m["status"] == "running" and m["finished_at"] is None
    assert not (out / "pareto.png").exists()


@pytest.mark.parametrize("overrides", [[], ["--set", "releases.bad_probability=0"]])
def test_the_charts_read_a_fifth_of_the_rows_and_draw_what_all_of_them_draw(tmp_path, overrides):
    """A run's charts read only its bad releases and its first deploy's rows (`store.CHART_ROWS`: a
    million deploys' charts took 1.4 GB with every row read): the same PNGs, byte for byte, as
    charts drawn from every row — with bad releases, and with none at all (each strategy keeps its
    colour and legend entry)."""
    out = tmp_path / "run"
    assert main([*ARGS, *overrides, "--out", str(out)]) == 0
    rows = out / "rows.parquet"
    kept = store.read_columns(rows, store.CHART_COLUMNS, where=store.CHART_ROWS)
    every = store.read_columns(rows, store.CHART_COLUMNS)
    first_or_bad = every["release_bad"].fillna(False).astype(bool) | (every["deploy"] == 0)
    assert len(kept) == int(first_or_bad.sum()) < len(every) / 2
    summary = pd.read_csv(out / "summary.csv")
    for name, fig in plots.run_charts(every, summary).items():
        drawn = tmp_path / f"{name}.png"
        fig.savefig(drawn, format="png", dpi=110)
        assert (out / "charts" / f"{name}.png").read_bytes() == drawn.read_bytes(), name
