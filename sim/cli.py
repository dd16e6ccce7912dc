"""The `deploysim` command (also `python -m sim`): a thin client of the public `sim` API.

Exit codes: 0 ok; 1 validation failed (`validate`); 2 usage or input error (one line on stderr,
nothing written); 3 a batch cut short by a worker that died; 130 interrupted (Ctrl-C); 143 stopped
by SIGTERM; 70 a bug. A batch cut short keeps every finished chunk, and `deploysim run --resume DIR`
finishes it; a second Ctrl-C or SIGTERM during the stop exits at once (the chunks stay).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

# Only what parsing needs is imported here: the rest (pandas, the engine, the results floor; a second
# in all) loads on first use through `sim`'s namespaces, after a run's workers have started (`main`).
import sim

from . import ConfigError, __version__

if TYPE_CHECKING:
    import pandas as pd

OK, INVALID, USAGE, WORKER_DIED, INTERRUPTED = 0, 1, 2, 3, 130
RESULTS = Path("results")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def default_jobs() -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return min(usable, max_jobs())


def _parser() -> Parser:
    p = Parser(prog="deploysim", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"deploysim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    def batch_options(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--deploys", type=int, help="deploys per strategy (default: the scenario's run.deploys)"
        )
        cmd.add_argument("--seed", type=int, help="root seed (default: the scenario's run.seed)")
        cmd.add_argument(
            "--jobs", type=int, default=default_jobs(), help="local worker processes (default: all cores)"
        )
        cmd.add_argument("--strategy", action="append", default=[], help="only this strategy (repeatable)")
        cmd.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY.PATH=VALUE",
            help="override a scenario value, e.g. strategies.canary.steps[0].weight=2 (repeatable)",
        )
        cmd.add_argument("--out", type=Path, help="results folder (default: results/<scenario>-<UTC time>)")
        cmd.add_argument(
            "--cluster", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://scheduler:8786"
        )
        cmd.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        cmd.add_argument("--quiet", action="store_true", help="no progress bar and no notes on stderr")

    run = sub.add_parser("run", help="simulate a scenario's deploys; print the comparison table")
    run.add_argument("scenario", nargs="?", help="a scenario file or a shipped name (e.g. default)")
    batch_options(run)
    run.add_argument("--resume", type=Path, metavar="DIR", help="finish a run that was cut short")
    sim.importer.add_run_options(run)  # --rollout: imported Argo Rollouts / Flagger strategies beside these
    sw = sub.add_parser(
        "sweep", help="run every combination of a parameter grid; a tidy table and a Pareto chart"
    )
    sw.add_argument("scenario", help="a scenario file or a shipped name")
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY.PATH=V1,V2,...",
        required=True,
        help="values to try for one key (repeatable: every combination runs)",
    )
    batch_options(sw)
    show = sub.add_parser("show", help="print a stored run's table")
    show.add_argument("dir", type=Path)
    show.add_argument("--json", action="store_true")
    cmp_ = sub.add_parser("compare", help="one table across stored runs")
    cmp_.add_argument("dirs", type=Path, nargs="+")
    cmp_.add_argument("--json", action="store_true")
    val = sub.add_parser("validate", help="check scenario files; exit 1 on the first invalid one")
    val.add_argument("files", nargs="+")
    sub.add_parser("schema", help="print the scenario file reference (docs/scenarios.md)")
    sim.importer.register(sub)  # import, export
    sim.calibrate.register(sub)  # calibrate, judge
    sim.validation.register(sub)  # validate-model
    sim.incidents.register(sub)  # incidents: a release history's fit
    return p


def _dispatch(args: argparse.Namespace, argv: list[str], early: sim.workers.WorkerPool | None) -> int:
    if args.command in ("run", "sweep"):
        args.pool = None
        if early is not None and args.jobs == early.jobs and args.cluster is None:
            args.pool = sim.batch.local(early)
        elif early is not None:
            early.terminate()  # the guess was wrong (see _wanted_workers): free the cores now
        with _stops():
            return COMMANDS[args.command](args, argv)
    if args.command in COMMANDS:
        return COMMANDS[args.command](args, argv)
    if args.command == "validate-model":
        return sim.validation.run_from_args(args)
    return int(args.handler(args))  # import, export, calibrate, incidents


def _wanted_workers(argv: list[str]) -> int:
    """The local worker processes a run or sweep in `argv` will want (0: none), read before the
    parser is built: building it, and the command's own imports, take about a second, in which the
    workers start and import the engine instead of after it. Only a guess, which the full parse
    overrules: a pool it did not ask for is stopped unused (`_dispatch`)."""
    if not argv or argv[0] not in ("run", "sweep") or not {"-h", "--help"}.isdisjoint(argv):
        return 0
    ahead = Parser(prog="deploysim", add_help=False)
    ahead.add_argument("--jobs", type=int)
    ahead.add_argument("--cluster")
    try:
        known, _ = ahead.parse_known_args(argv[1:])
    except UsageError:  # the full parse says what is wrong
        return 0
    jobs = default_jobs() if known.jobs is None else known.jobs
    return jobs if known.cluster is None and 1 < jobs <= max_jobs() else 0


@contextmanager
def _early_workers(argv: list[str]) -> Iterator[sim.workers.WorkerPool | None]:
    jobs = _wanted_workers(argv)
    if not jobs:
        yield None
        return
    with sim.workers.running(sim.workers.WorkerPool(jobs, sim.workers.ENGINE)) as pool:
        yield pool


def _loaded(module: str) -> bool:
    """Whether a module is imported: an exception class of one that is not raised nothing, and asking
    `sim`'s namespace about it would import it (a second, at an error or Ctrl-C) just to say no."""
    return module in sys.modules


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _early_workers(argv) as early:
            args = _parser().parse_args(argv)
            code = _dispatch(args, argv, early)
        sys.stdout.flush()  # here, not at exit: a reader that went away is handled below
        return code
    except BrokenPipeError:
        return _reader_gone()
    except UsageError as err:
        print(err, file=sys.stderr)
        return USAGE
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt as err:
        if _loaded("sim.runs.batch") and isinstance(err, sim.batch.Stopped):  # SIGTERM, or Ctrl-C in a batch
            print(f"deploysim: stopped by {err}", file=sys.stderr)
            return 128 + err.signum
        print("deploysim: interrupted", file=sys.stderr)
        return INTERRUPTED
    except OSError as err:
        print(f"deploysim: cannot write {err.filename or 'results'}: {err.strerror or err}", file=sys.stderr)
        return USAGE
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    except Exception as err:
        if _loaded("sim.runs.store") and isinstance(err, sim.store.Interrupted):  # a batch cut short
            return _cut_short(err)
        # A bug, not the user's input: say so, with the traceback.
        traceback.print_exc()
        print("deploysim: internal error (please report it with the traceback above)", file=sys.stderr)
        return 70


def _cut_short(err: sim.store.Interrupted) -> int:
    """A batch cut short, its chunks kept: the exit code says by what — a signal, Ctrl-C, a dead worker."""
    print(f"deploysim: {err}", file=sys.stderr)
    if isinstance(err.cause, sim.batch.Stopped):
        return 128 + err.cause.signum
    return INTERRUPTED if isinstance(err.cause, KeyboardInterrupt) else WORKER_DIED


def _reader_gone() -> int:
    """stdout's reader stopped reading (`deploysim show DIR | head`): it had all it wanted, so a quiet
    exit 0. As the Python docs advise (signal module, "Note on SIGPIPE"), stdout is pointed at devnull
    so the flush at exit does not fail again; their example exits 1, but with `set -o pipefail` that
    would fail `show | head`, which did what was asked."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (a test's capture): nothing will flush it
        pass
    return OK


# ---- shared pieces ----


@contextmanager
def _stops() -> Iterator[None]:
    """SIGTERM handled as Ctrl-C is, for a run, resume or sweep: the first SIGINT or SIGTERM raises
    `sim.batch.Stopped` (finished chunks kept, the manifest says interrupted, exit 128 + the signal); a
    second one while that stop is under way exits at once. The workers die with us (their watchdog),
    the folder's lock is the kernel's to drop, and resume trusts only the chunks on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller there keeps its own
        return
    stopping: list[int] = []
    stopped = sim.batch.Stopped  # imported now, not inside the handler

    def handler(signum: int, frame: object) -> None:
        if stopping:
            os.write(2, f"deploysim: stopped at once by a second {signal.Signals(signum).name}\n".encode())
            os._exit(128 + signum)
        stopping.append(signum)
        raise stopped(signum)

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


@contextmanager
def _progress(args: argparse.Namespace, what: str) -> Iterator[sim.batch.Progress]:
    """A progress bar on stderr for batches longer than a second; off with --quiet or when stdout is
    not a terminal (a pipe, a CI log)."""
    from tqdm import tqdm

    bar = tqdm(
        total=0,
        desc=what,
        unit="deploy",
        delay=1.0,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=args.quiet or not sys.stdout.isatty(),
    )

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[tuple[Any, int | None]]:
    """Connect before anything is written, so an unreachable scheduler, or a worker that runs another
    deploysim, leaves no folder behind."""
    if args.cluster is None:
        yield None, None
        return
    client, _ = sim.batch.connect(args.cluster)
    try:
        threads = sum(client.nthreads().values())
        if not threads:
            # Not an error: workers may still be starting (an autoscaler, a job queue). Said once.
            _note(
                args, f"deploysim: the scheduler at {args.cluster} has no worker yet; waiting for one to join"
            )
        yield client, max(1, threads)
    finally:
        client.close()


#: Memory one local worker process needs (the package, numpy and pandas loaded, one chunk of rows):
#: measured at ~190 MB resident, rounded up.
WORKER_BYTES = 256 * 1024 * 1024


def max_jobs() -> int:
    """The most local workers allowed: 4 per core (more only queue for the cores, each holding its own
    memory) and no more than the machine's memory holds."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on a POSIX system: the cores decide
        memory = cores * 4 * WORKER_BYTES
    return max(1, min(cores * 4, memory // WORKER_BYTES))


def _check_jobs(jobs: int) -> None:
    """Refused, not clamped: a number the user typed that cannot be honoured is an error to see."""
    if not 1 <= jobs <= max_jobs():
        raise ConfigError(
            f"{jobs} is not within 1..{max_jobs()} (4 per core, as many as memory holds)", ("--jobs",)
        )


def _scenario(args: argparse.Namespace) -> Any:
    sets = list(args.set)
    own = {"deploys": args.deploys, "seed": args.seed}
    sets += [f"run.{key}={value}" for key, value in own.items() if value is not None]
    try:
        scn = sim.load_scenario(args.scenario, overrides=sets)
    except ConfigError as err:
        # --deploys and --seed travel as overrides; a bad one is blamed on its own option, not --set.
        key = err.path[1] if len(err.path) == 2 and err.path[0] == "run" else None
        if err.source == "--set" and own.get(str(key)) is not None:
            raise ConfigError(err.message, (f"--{key}",)) from None
        raise
    scn = sim.importer.with_rollouts(scn, args)
    return scn.only(args.strategy or list(scn.strategies))


def _claim(args: argparse.Namespace, name: str) -> sim.store.FolderLock:
    """The new run's folder, locked for as long as the run writes into it."""
    if args.out is not None:
        return sim.store.claim_dir(args.out)
    return sim.store.FolderLock(sim.store.new_run_dir(RESULTS, name), "--out")


@dataclass(frozen=True)
class Stored:
    """What a table's header says about a run: from its spec, or from a stored manifest."""

    name: str
    deploys: int
    seed: int
    follow_s: float | None  # None: unknown (a manifest whose scenario this version cannot read)

    @classmethod
    def of(cls, spec: sim.store.BatchSpec) -> Stored:
        return cls(spec.scenario.name, spec.deploys, spec.seed, spec.scenario.run.follow_s)

    @classmethod
    def read(cls, manifest: dict[str, Any]) -> Stored:
        try:
            follow_s: float | None = sim.load_scenario(manifest["scenario"]).run.follow_s
        except (ConfigError, KeyError, TypeError):
            follow_s = None  # the table only loses the follow-up's length from a row label
        return cls(manifest["scenario_name"], int(manifest["deploys"]), int(manifest["seed"]), follow_s)


def _safe(text: str) -> str:
    """Text from a stored file, fit for a terminal: control characters and escape codes (a scenario
    name holding ESC[2J, a strategy holding a newline) are shown escaped, never obeyed."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(text))


def _out(text: str, end: str = "\n") -> None:
    """Print lines built from stored files, each line made safe (the line breaks are ours)."""
    print("\n".join(_safe(line) for line in text.split("\n")), end=end)


def _readable(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with its strategy names made safe: they become column headers of the table."""
    return summary.assign(strategy=summary["strategy"].map(_safe))


def _print_summary(args: argparse.Namespace, summary: Any, run: Stored) -> None:
    name, deploys, seed, follow_s = run.name, run.deploys, run.seed, run.follow_s
    if args.json:  # json.dumps escapes control characters itself
        print(json.dumps(sim.report.summary_json(summary, name, deploys, seed), indent=2))
        return
    _out(f"{_safe(name)}: {deploys:,} deploys per strategy, seed {seed}")
    _out("\n".join(sim.report.caption(summary, follow_s)), end="\n\n")
    _out(sim.report.format_table(sim.report.how_to_choose(summary, follow_s=follow_s)))


# ---- commands ----


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    _check_jobs(args.jobs)
    command = ["deploysim", *argv]
    if args.resume is not None:
        return _resume(args, command)
    if args.scenario is None:
        raise UsageError("deploysim run: give a SCENARIO (or --resume DIR) (see deploysim run --help)")
    scn = _scenario(args)
    sim.batch.check_size(scn, scn.run.deploys, len(scn.strategies))
    with _cluster(args) as (client, workers):
        spec = sim.store.BatchSpec(
            scn,
            scn.run.deploys,
            scn.run.seed,
            tuple(scn.strategies),
            sim.batch.chunk_size(scn.run.deploys, workers or args.jobs),
        )
        with _claim(args, scn.name) as lock:
            manifest = sim.store.run_manifest(spec, command, args.jobs, args.cluster)
            sim.store.start_manifest(lock.path, manifest)
            return _execute(args, lock.path, spec, manifest, client)


def _resume(args: argparse.Namespace, command: list[str]) -> int:
    path = args.resume
    sim.store.load_manifest(path, "run")  # a results folder, before a lock file is made in it
    with sim.store.FolderLock(path, "--resume"):
        # Read again under the lock: a run that held the folder until now may have changed it.
        return _resume_locked(args, command, sim.store.load_manifest(path, "run"))


def _resume_locked(args: argparse.Namespace, command: list[str], manifest: dict[str, Any]) -> int:
    path = args.resume
    spec = sim.store.spec_of(manifest, str(path))
    made_by = manifest.get("package", {}).get("version")
    if made_by != __version__ and manifest.get("complete") is not True:
        # Chunks from another version of the model would not belong with these.
        raise ConfigError(f"{path} was started by deploysim {made_by}, this is {__version__}; run it again")
    if (
        args.scenario is not None
        or args.set
        or args.deploys is not None
        or args.seed is not None
        or args.strategy
    ):
        asked = _scenario(
            argparse.Namespace(**{**vars(args), "scenario": args.scenario or manifest["scenario"]})
        )
        if asked.to_dict() != spec.scenario.to_dict() or tuple(asked.strategies) != spec.strategies:
            raise ConfigError(
                f"{path} holds a run of another scenario, seed, deploys or strategies; "
                "resume it with --resume alone",
                ("--resume",),
            )
    if manifest.get("complete") is True:
        _note(args, f"{path} is already complete")
        _, summary = sim.store.open_results(path)
        _print_summary(args, summary, Stored.of(spec))
        return OK
    manifest["resumed_by"].append(command)
    with _cluster(args) as (client, _):
        return _execute(args, path, spec, manifest, client)


def _execute(
    args: argparse.Namespace, path: Path, spec: sim.store.BatchSpec, manifest: dict, client: Any
) -> int:
    _note(args, f"deploysim: writing {path}")
    with _progress(args, spec.scenario.name) as progress:
        manifest = sim.store.execute(
            path,
            spec,
            manifest,
            jobs=args.jobs,
            cluster=client,
            pool=args.pool,
            progress=progress,
            note=lambda text: print(f"deploysim: {text}", file=sys.stderr),
        )
    _, summary = sim.store.open_results(path)
    _print_summary(args, summary, Stored.of(spec))
    if manifest["failed_runs"]:
        print(
            f"deploysim: {manifest['failed_runs']} runs raised an error; their rows say which "
            f"(the error column of {path / sim.store.ROWS_CSV})",
            file=sys.stderr,
        )
    _note(args, f"deploysim: results in {path} ({manifest['wall_time_s']:.1f} s)")
    return OK


def cmd_sweep(args: argparse.Namespace, argv: list[str]) -> int:
    _check_jobs(args.jobs)
    axes = [sim.sweep.parse_grid(g) for g in args.grid]
    base = _scenario(argparse.Namespace(**{**vars(args), "strategy": []}))
    points = sim.sweep.plan(base, [], axes, args.strategy)
    deploys, seed = base.run.deploys, base.run.seed
    for p in points:  # the limit holds for the whole sweep
        sim.batch.check_size(p.scenario, deploys * len(points), len(p.scenario.strategies))
    with _cluster(args) as (client, _), _claim(args, f"{base.name}-sweep") as lock:
        path = lock.path
        meta = sim.sweep.sweep_manifest(base, axes, deploys, seed, ["deploysim", *argv])
        sim.store.start_manifest(path, meta)
        _note(args, f"deploysim: writing {path} ({len(points)} combinations)")
        for line in sim.sweep.reuse_notes(points, axes):
            _note(args, f"deploysim: {line}")
        try:
            with _progress(args, f"{base.name} sweep") as progress:
                tidy = sim.sweep.run(
                    points,
                    axes,
                    deploys,
                    seed,
                    jobs=args.jobs,
                    cluster=client,
                    pool=args.pool,
                    progress=progress,
                )
        except (KeyboardInterrupt, sim.batch.ClusterRefused) as err:
            # A sweep keeps no partial results (it cannot resume); its manifest says why it stopped.
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            sim.store.save_manifest(path, {**meta, "status": status})
            raise
        sim.sweep.save(path, tidy, axes, meta)
    if args.json:
        print(tidy.to_json(orient="records", indent=2))
    else:
        follow = {p.scenario.run.follow_s for p in points}
        follow_s = follow.pop() if len(follow) == 1 else None
        print(
            f"{base.name} sweep: {len(points)} combinations × {deploys:,} deploys per strategy, seed {seed}"
        )
        print("\n".join(sim.report.caption(tidy, follow_s)), end="\n\n")
        print(sim.sweep.format_sweep(tidy, axes, follow_s))
    _note(args, f"deploysim: results in {path}")
    return OK


def cmd_show(args: argparse.Namespace, argv: list[str]) -> int:
    manifest, summary = sim.store.open_results(args.dir)
    _print_summary(args, summary if args.json else _readable(summary), Stored.read(manifest))
    return OK


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    runs = [
        (d, m, s if args.json else _readable(s)) for d in args.dirs for m, s in [sim.store.open_results(d)]
    ]
    if args.json:
        out = [
            sim.report.summary_json(s, m["scenario_name"], m["deploys"], m["seed"]) | {"dir": str(d)}
            for d, m, s in runs
        ]
        print(json.dumps(out, indent=2))
        return OK
    stored = [Stored.read(m) for _, m, _ in runs]
    for (d, _, summary), run in zip(runs, stored, strict=True):
        _out(
            f"{_safe(d.name)}: {_safe(run.name)}, {run.deploys:,} deploys per strategy, seed {run.seed}, "
            f"{sim.report.bad_releases(summary)} bad releases"
        )
    follow = {run.follow_s for run in stored}
    follow_s = follow.pop() if len(follow) == 1 else None  # else each run's own, in its manifest
    import pandas as pd

    _out("\n".join(sim.report.caption(pd.concat([s for _, _, s in runs]), follow_s)), end="\n\n")
    _out(sim.report.format_table(sim.report.compare([(d.name, s) for d, _, s in runs], follow_s=follow_s)))
    return OK


def cmd_validate(args: argparse.Namespace, argv: list[str]) -> int:
    for ref in args.files:
        path = sim.resolve_path(ref)
        if not path.exists():
            raise ConfigError("no such file", source=str(path))
        try:
            scn = sim.load_scenario(path)
        except ConfigError as err:
            print(f"deploysim: invalid: {err}", file=sys.stderr)
            return INVALID
        print(f"ok: {path} ({scn.name}: {', '.join(scn.strategies)})")
    return OK


def cmd_schema(args: argparse.Namespace, argv: list[str]) -> int:
    print(sim.schema_reference(), end="")
    return OK


COMMANDS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "show": cmd_show,
    "compare": cmd_compare,
    "validate": cmd_validate,
    "schema": cmd_schema,
}

if __name__ == "__main__":
    sys.exit(main())
