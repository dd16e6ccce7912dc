"""Bad input at the command line ends in one line and exit 2, never a traceback: long or deep
expressions in imported manifests, broken stored results, options named as typed, huge sweeps,
too many workers, hostile text in stored files, and a reader that stops reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim import cli
from sim.cli import main
from sim.importer import queries
from sim.runs import store

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "manifests"


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "small"
    args = ["run", "default", "--deploys", "2", "--jobs", "1", "--out", str(out), "--quiet"]
    proc = subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _one_line(capsys: pytest.CaptureFixture[str], args: list[str], code: int = 2) -> str:
    assert main(args) == code, args
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err.strip()


def _copy(stored: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(stored, to)
    return to


# ---- the importer's expressions ----


def _manifest_with(tmp_path: Path, job_args: str) -> Path:
    text = (DATA / "argo-basic-canary.yaml").read_text()
    assert '"N=$(( RANDOM % 4 )) && exit $N"' in text
    path = tmp_path / "rollout.yaml"
    path.write_text(text.replace('"N=$(( RANDOM % 4 )) && exit $N"', json.dumps(job_args)))
    return path


def test_a_long_job_check_is_one_line(tmp_path, capsys):
    path = _manifest_with(tmp_path, "exit $((" + "+".join(["1"] * 3000) + "))")
    err = _one_line(capsys, ["import", str(path)])
    assert f"{path}: AnalysisTemplate/slow-smoke: spec.metrics[0].provider.job" in err
    assert "2,999 operators is over the limit of 200" in err


def test_a_deep_job_check_is_one_line(tmp_path, capsys):
    path = _manifest_with(tmp_path, "exit $((" + "(" * 500 + "1" + ")" * 500 + "))")
    assert "brackets nested 502 deep, over the limit of 50" in _one_line(capsys, ["import", str(path)])


def test_a_deep_query_is_one_line(tmp_path, capsys):
    text = (DATA / "argo-basic-canary.yaml").read_text()
    deep = "2 * (" * 400 + 'sum(rate(x{status=~"5.."}[1m]))' + ")" * 400
    path = tmp_path / "rollout.yaml"
    path.write_text(text.replace('sum(rate(http_requests_total{app="checkout",status=~"5.."}[2m])) /', deep))
    err = _one_line(capsys, ["import", str(path)])
    assert "spec.metrics[0].provider.prometheus.query" in err and "over the limit of 50" in err


def test_expressions_at_the_limits_are_still_read():
    ops = queries.MAX_OPERATORS
    assert queries.job_pass_probability("exit $((" + "+".join(["0"] * (ops + 1)) + "))") == 1.0
    with pytest.raises(queries.TooComplex):
        queries.job_pass_probability("exit $((" + "+".join(["0"] * (ops + 2)) + "))")
    deep = queries.MAX_NESTING
    assert queries.job_pass_probability("exit $((" + "(" * (deep - 2) + "0" + ")" * (deep - 2) + "))") == 1.0
    with pytest.raises(queries.TooComplex):
        queries.classify("(" * (deep + 1) + "x" + ")" * (deep + 1))
    assert queries.job_pass_probability("exit $((99999999999999999999999))") is None  # not 64-bit: unknown


# ---- stored results ----


def test_show_on_a_manifest_missing_keys(stored, tmp_path, capsys):
    for key in ("scenario_name", "deploys", "seed"):
        run = _copy(stored, tmp_path / key)
        manifest = json.loads((run / "manifest.json").read_text())
        del manifest[key]
        (run / "manifest.json").write_text(json.dumps(manifest))
        assert key in _one_line(capsys, ["show", str(run)])


def test_show_on_a_summary_with_text_in_a_number_column(stored, tmp_path, capsys):
    run = _copy(stored, tmp_path / "text")
    lines = (run / store.SUMMARY_CSV).read_text().splitlines()
    cells = lines[1].split(",")
    cells[4] = "lots"  # the mean
    lines[1] = ",".join(cells)
    (run / store.SUMMARY_CSV).write_text("\n".join(lines) + "\n")
    err = _one_line(capsys, ["show", str(run)])
    assert err == f"deploysim: {run}: summary.csv: column 'mean' holds text, not numbers"
    assert "holds text" in _one_line(capsys, ["compare", str(stored), str(run)])


def test_show_escapes_control_characters_from_stored_files(stored, tmp_path, capsys):
    run = _copy(stored, tmp_path / "evil")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["scenario_name"] = "x\x1b[2J\x1b]0;owned\x07\nfake: line"
    (run / "manifest.json").write_text(json.dumps(manifest))
    summary = (run / store.SUMMARY_CSV).read_text()
    (run / store.SUMMARY_CSV).write_text(summary.replace("canary,", "can\x1b[31mary,"))
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert out.splitlines()[0].startswith("x\\x1b[2J\\x1b]0;owned\\x07\\nfake: line: 2 deploys")
    assert "can\\x1b[31mary" in out
    assert main(["compare", str(stored), str(run)]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_show_into_a_reader_that_stops_is_a_quiet_exit_0(stored):
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "show", str(stored)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: gone before the table is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


# ---- options ----


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deploys", "0"], "deploysim: --deploys: 0 is not within 1..10000000"),
        (["--seed", "-1"], "deploysim: --seed: -1 is not within 0..9223372036854775807"),
        (["--set", "run.deploys=0"], "deploysim: --set: run.deploys: 0 is not within 1..10000000"),
    ],
)
def test_options_are_blamed_by_their_own_name(args, message, tmp_path, capsys):
    assert _one_line(capsys, ["run", "default", *args, "--out", str(tmp_path / "o")]) == message
    assert not (tmp_path / "o").exists()


def test_jobs_are_capped_by_cores_and_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli.max_jobs() <= 8
    err = _one_line(capsys, ["run", "default", "--jobs", "9", "--out", str(tmp_path / "o")])
    assert err.startswith(f"deploysim: --jobs: 9 is not within 1..{cli.max_jobs()}")
    assert cli.default_jobs() <= cli.max_jobs()  # the default itself is never refused


def test_jobs_cap_follows_memory(monkeypatch):
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(
        cli.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 1024**2 // 4, "SC_PAGE_SIZE": 4096}[name]
    )
    assert cli.max_jobs() == 4  # 1 GiB of memory / 256 MiB a worker, not 256 for the cores


def test_a_sweep_whose_combinations_overflow_int64_is_refused(tmp_path, capsys):
    keys = ["run.seed", "run.deploys", "traffic.rate_rps", "fleet.capacity_rps", "run.window_s"]
    keys += ["run.horizon_s", "run.follow_s", "run.follow_window_s"]
    args = ["sweep", "default", "--out", str(tmp_path / "o")]
    for key in keys:  # 256⁸ = 2⁶⁴: numpy's product wrapped to 0 and skipped the limit
        args += ["--grid", f"{key}=" + ",".join(str(i + 1) for i in range(256))]
    err = _one_line(capsys, args)
    assert err == "deploysim: --grid: 18,446,744,073,709,551,616 combinations is over the limit of 1,000"
    assert not (tmp_path / "o").exists()
