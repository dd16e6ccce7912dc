"""Result folders under contention and stops: one process per folder (a lock held for the whole run),
files replaced only when they are regular files, clean stops on SIGTERM and Ctrl-C, no worker
outliving its parent, and the library usable from a plain script."""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import socketserver
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.core.files import write_atomic
from sim.runs import folder, store

ROOT = Path(__file__).resolve().parent.parent

# Both processes import the model first, then sleep until the same instant: the race is real.
AT_ONCE = (
    "import sys, time\n"
    "from sim.cli import main\n"
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
TINY = ["run", "default", "--deploys", "3", "--strategy", "canary", "--jobs", "1", "--quiet"]


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_two_runs_on_one_folder_started_together_exactly_one_wins(tmp_path):
    expected = {
        seed: sim.run_batch("default", deploys=3, seed=seed, strategies=["canary"]) for seed in (1, 2)
    }
    refused_while_held = 0
    for attempt in range(10):
        out = tmp_path / f"out{attempt}"
        go = time.time() + 4  # past both imports
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", AT_ONCE, str(go), *TINY, "--seed", str(seed), "--out", str(out)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        results = [(p, *p.communicate(timeout=120)) for p in procs]
        codes = sorted(p.returncode for p, _, _ in results)
        assert codes == [0, 2], [(p.returncode, err) for p, _, err in results]
        (loser_err,) = [err for p, _, err in results if p.returncode == 2]
        assert len(loser_err.splitlines()) == 1 and "Traceback" not in loser_err
        # Refused while the winner ran (naming it), or after it finished (the folder is not empty).
        assert "in use by another deploysim (pid " in loser_err or "is not empty" in loser_err, loser_err
        refused_while_held += "in use by another deploysim" in loser_err
        (winner,) = [p for p, _, _ in results if p.returncode == 0]
        seed = manifest(out)["seed"]
        assert winner.args[winner.args.index("--seed") + 1] == str(seed)
        pd.testing.assert_frame_equal(store.read_rows(out), expected[seed])
    assert refused_while_held, "started together, the second run meets the first one's lock"


def test_a_resume_while_the_run_is_going_is_refused_and_the_run_completes(tmp_path):
    out = tmp_path / "run"
    cmd = [
        *["run", "default", "--deploys", "400", "--seed", "8"],
        *["--strategy", "recreate", "--strategy", "progressive", "--jobs", "1", "--quiet"],
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", *cmd, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("0*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    # A leftover temporary of a dead writer: only the lock's holder may judge it stale.
    stale = out / "chunks" / ".000000000000-000000000050.parquet.tmp-999999"
    stale.write_bytes(b"PAR1 half")
    resume = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--resume", str(out), "--jobs", "1", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resume.returncode == 2, resume.stderr
    assert resume.stderr.strip() == (
        f"deploysim: --resume: {out} is in use by another deploysim (pid {proc.pid}); wait for it to "
        "finish, or stop it and resume the run with --resume"
    )
    assert stale.exists(), "a refused resume deletes nothing"
    assert manifest(out)["resumed_by"] == []
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    expected = sim.run_batch("default", deploys=400, seed=8, strategies=["recreate", "progressive"])
    pd.testing.assert_frame_equal(store.read_rows(out), expected)


# ---- stops: SIGTERM as Ctrl-C, no worker outliving its parent, a second signal exits at once ----

# 400 deploys of two strategies on two workers: chunks of 25 deploys, several seconds in all.
BIG = [
    *["run", "default", "--deploys", "400", "--seed", "8"],
    *["--strategy", "recreate", "--strategy", "progressive", "--jobs", "2", "--quiet"],
]


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start time) of a live process, from /proc (no psutil: what the kernel says)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def descendants(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of every process below `root`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            if (st := _stat(pid)) is not None:
                found.add((pid, st[2]))
                todo.append(pid)
    return found


def alive(procs: set[tuple[int, int]]) -> set[int]:
    """Those still running: the same start time (not a reused pid), and not a zombie."""
    return {pid for pid, start in procs if (st := _stat(pid)) is not None and st[2] == start and st[1] != "Z"}


def start_big_run(out: Path) -> tuple[subprocess.Popen, set[tuple[int, int]]]:
    """Start the batch; return once its first chunk is on disk, with its worker processes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", *BIG, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("0*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    below = descendants(proc.pid)
    assert len(alive(below)) >= 2, "the two workers run"
    return proc, below


def gone_within(procs: set[tuple[int, int]], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(procs)


def test_sigterm_stops_like_ctrl_c_exit_143_and_resume_gives_the_same_rows(tmp_path):
    from tests.test_store import resume_real_run

    out = tmp_path / "run"
    proc, workers = start_big_run(out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("deploysim: stopped by SIGTERM: ") and f"deploysim run --resume {out}" in err
    m = manifest(out)
    assert m["status"] == "interrupted" and m["complete"] is False
    assert not alive(workers), "no worker outlives the run"
    assert not (out / folder.LOCK).exists()
    resume_real_run(out)  # rows identical to an uninterrupted batch's


def test_workers_die_with_a_parent_killed_with_sigkill(tmp_path):
    proc, workers = start_big_run(tmp_path / "run")
    proc.kill()
    proc.wait(timeout=30)
    assert not gone_within(workers, 10), "orphaned workers"


def test_two_ctrl_c_exit_promptly_and_leave_no_worker(tmp_path):
    proc, workers = start_big_run(tmp_path / "run")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # a hang fails here
    assert proc.returncode == 130, err
    assert not gone_within(workers, 10)


# The second signal while the first one's stop is still under way (here: a stop that would hang).
SECOND = (
    "import os, signal, time\n"
    "from sim.cli import _stops\n"
    "with _stops():\n"
    "    try:\n"
    "        os.kill(os.getpid(), signal.SIGTERM)\n"
    "        time.sleep(30)\n"
    "    except KeyboardInterrupt:\n"
    "        os.kill(os.getpid(), signal.SIGINT)\n"
    "        time.sleep(30)\n"
)


def test_a_second_signal_during_the_stop_exits_at_once():
    proc = subprocess.run(
        [sys.executable, "-c", SECOND], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == 130 and proc.stderr == "deploysim: stopped at once by a second SIGINT\n"


# ---- the library from a plain script ----

PLAIN = """\
import sys
import sim

print("top level ran")  # once: workers must not run this script again
scn = sim.load_scenario("default")
df = sim.run_batch(scn, deploys=12, seed=7, jobs=2)
df.to_csv(sys.argv[1], index=False)
print(len(df))
"""


def test_run_batch_with_jobs_from_a_plain_script_without_a_main_guard(tmp_path):
    script = tmp_path / "study.py"
    script.write_text(PLAIN)
    rows = tmp_path / "rows.csv"
    proc = subprocess.run(
        [sys.executable, str(script), str(rows)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    expected = sim.run_batch("default", deploys=12, seed=7, jobs=1)
    assert proc.stdout == f"top level ran\n{len(expected)}\n"
    pd.testing.assert_frame_equal(pd.read_csv(rows), pd.read_csv(io.StringIO(expected.to_csv(index=False))))


# ---- atomic writes replace only regular files ----


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_new_file_gets_the_umask_mode_and_a_replaced_one_keeps_its_mode(tmp_path):
    new = tmp_path / "new.txt"
    write_atomic(new, "a")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_atomic(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt", "new.txt"]


def test_a_fifo_is_written_in_place_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, "through the pipe")
    reader.join(timeout=30)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root (CAP_MKNOD)")
def test_a_character_device_is_written_in_place_not_replaced(tmp_path):
    null = tmp_path / "null"  # our own /dev/null (1, 3): the real one is shared with the machine
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this root may not make device nodes (no CAP_MKNOD)")
    write_atomic(null, "gone")
    write_atomic(null, lambda path: path.write_bytes(b"gone too"))
    assert stat.S_ISCHR(os.lstat(null).st_mode) and sorted(tmp_path.iterdir()) == [null]


def test_links_and_folders_are_refused_with_one_line_and_left_alone(tmp_path):
    target = tmp_path / "target.yaml"
    target.write_text("mine")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(sim.ConfigError) as err:
        write_atomic(link, "other")
    assert str(err.value) == (
        f"{link}: is a symbolic link (to {target}); give the file itself, or remove the link"
    )
    assert link.is_symlink() and target.read_text() == "mine"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(sim.ConfigError, match="which does not exist"):
        write_atomic(dangling, "x")
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()
    with pytest.raises(sim.ConfigError, match="is a folder; give a file name"):
        write_atomic(tmp_path, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "link.yaml", "target.yaml"]


EXPORT = ["export", "default", "--strategy", "progressive", "--format", "argo"]


def test_export_to_a_link_is_refused_and_to_dev_stdout_is_printed(tmp_path):
    target = tmp_path / "rollout.yaml"
    target.write_text("mine")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    cmd = [sys.executable, "-m", "sim", *EXPORT, "-o"]
    refused = subprocess.run([*cmd, str(link)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"deploysim: {link}: is a symbolic link")
    assert link.is_symlink() and target.read_text() == "mine"
    printed = subprocess.run([*cmd, "/dev/stdout"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    plain = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "kind: Rollout" in printed.stdout and printed.stdout == plain.stdout


# ---- a damaged chunk on resume: named, deleted and recomputed ----


def test_an_empty_or_corrupt_chunk_is_named_and_recomputed_on_resume(tmp_path, monkeypatch, capsys):
    from tests.test_store import ARGS, Recorder

    out = tmp_path / "run"
    monkeypatch.setattr(store, "iter_chunks", Recorder(store.iter_chunks, stop_after=4))
    assert main([*ARGS, "--out", str(out)]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    chunks = sorted((out / "chunks").glob("0*.parquet"))
    assert len(chunks) == 4
    chunks[0].write_bytes(b"")  # a disk that filled
    chunks[1].write_bytes(chunks[1].read_bytes()[:200])  # cut short
    chunks[2].write_bytes(b"PAR1" + bytes(range(256)) * 40 + b"PAR1")  # garbage that looks like Parquet
    assert main(["run", "--resume", str(out), "--jobs", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all("Traceback" not in line for line in err)
    for line, chunk in zip(err, chunks, strict=False):
        assert line.startswith(f"deploysim: {chunk} is damaged (")
        assert line.endswith("); it is deleted and recomputed from the seed (the same rows)")
    pd.testing.assert_frame_equal(store.read_rows(out), sim.run_batch("default", deploys=40, seed=3))


# ---- --cluster at an address where no Dask scheduler listens ----


class _Silent(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        time.sleep(30)  # accepts, says nothing


class _Chatty(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")  # read as a length: exabytes
        time.sleep(30)


class _Http(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # as the dashboard does, once asked
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<html>dashboard</html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    "server, says",
    [
        (lambda: http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Http), "sent 0 bytes in 4 s"),
        (lambda: socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Silent), "sent 0 bytes in 4 s"),
        (lambda: socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Chatty), "not as a Dask scheduler"),
    ],
    ids=["http", "silent", "chatty"],
)
def test_cluster_at_a_port_that_is_no_scheduler_fails_fast_with_one_line(tmp_path, capsys, server, says):
    srv = server()
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{srv.server_address[1]}"
    out = tmp_path / "out"
    try:
        began = time.monotonic()
        code = main(["run", "default", "--deploys", "2", "--cluster", address, "--out", str(out), "--quiet"])
        took = time.monotonic() - began
    finally:
        srv.shutdown()
        srv.server_close()
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"deploysim: --cluster: {address} ")
    assert says in err and took < 15 and not out.exists()


def test_cluster_at_a_real_scheduler_still_runs(tmp_path, capsys):
    import distributed

    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as cluster:
        args = ["run", "default", "--deploys", "2", "--strategy", "canary", "--quiet"]
        out = tmp_path / "out"
        assert main([*args, "--cluster", cluster.scheduler_address, "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(
        store.read_rows(out), sim.run_batch("default", deploys=2, seed=None, strategies=["canary"])
    )


def test_a_stop_that_lands_inside_a_simpy_process_stays_a_stop():
    """SimPy re-raises a process's exception as `type(e)(*e.args)`: a stop rebuilt that way must still
    be a stop (a KeyboardInterrupt), not a ValueError recorded as the deploy's error row."""
    import simpy

    from sim.runs.batch import Stopped

    env = simpy.Environment()

    def deploy():
        yield env.timeout(1)
        raise Stopped(signal.SIGTERM)

    env.process(deploy())
    with pytest.raises(Stopped) as caught:
        env.run()
    assert caught.value.signum == signal.SIGTERM and str(caught.value) == "SIGTERM"
