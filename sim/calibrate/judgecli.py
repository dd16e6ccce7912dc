"""The `deploysim judge` command: a scenario's judge and analysis run replayed over recorded series."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from typing import Any

from ..config.analysis import AnalysisConfig
from ..config.judges import JUDGES, GateJudge
from ..config.scenario import Scenario, load_scenario
from ..config.strategies import ProgressiveConfig
from ..core.errors import ConfigError
from .cli import Subcommands, explicit_kinds
from .prom import KINDS, read_files
from .replay import BASELINE_VALUES, Recorded, Replay, parse_label, replay, split_versions

#: The options that override the analysis run's fields, and the fields they set.
LIMITS = {
    "interval": "interval_s",
    "count": "count",
    "initial_delay": "initial_delay_s",
    "failure_limit": "failure_limit",
    "inconclusive_limit": "inconclusive_limit",
    "consecutive_success_limit": "consecutive_success_limit",
}


def register(sub: Subcommands) -> None:
    """Add the judge command to the `deploysim` parser."""
    cmd = sub.add_parser(
        "judge", help="replay a judge and its analysis run over recorded canary and baseline series"
    )
    cmd.add_argument("data", nargs="*", metavar="DATA", help="query_range JSON files or CSV exports")
    cmd.add_argument(
        "--judge", required=True, metavar="NAME", help="a judge of the scenario, by name or by kind"
    )
    cmd.add_argument("--scenario", default="default", metavar="NAME", help="whose judges and run (default)")
    cmd.add_argument(
        "--series", action="append", default=[], metavar="KIND=FILE", help=f"({', '.join(KINDS)})"
    )
    cmd.add_argument(
        "--canary-label", default="version=canary", metavar="K=V", help="(default version=canary)"
    )
    cmd.add_argument(
        "--baseline-label",
        default="version=" + "|".join(BASELINE_VALUES),
        metavar="K=V",
        help="the version serving now; V may list values with | (default version=stable|baseline|primary)",
    )
    cmd.add_argument("--interval", type=float, metavar="S", help="seconds between looks")
    cmd.add_argument("--count", type=int, metavar="N", help="looks to take (default: until the data ends)")
    cmd.add_argument("--initial-delay", type=float, metavar="S", help="wait before the first look")
    cmd.add_argument("--failure-limit", type=int, metavar="N")
    cmd.add_argument("--inconclusive-limit", type=int, metavar="N")
    cmd.add_argument("--consecutive-success-limit", type=int, metavar="N")
    cmd.add_argument("--start", type=float, default=0.0, metavar="S", help="the run starts S s into the data")
    cmd.add_argument(
        "--json", action="store_true", help="one JSON object a line: each look, then the outcome"
    )
    cmd.set_defaults(handler=judge_command)


def pick_judge(scn: Scenario, name: str) -> tuple[str, GateJudge]:
    """The scenario's judge of that name, else its first of that kind, else that kind's defaults."""
    if name in scn.judges:
        j = scn.judges[name]
    else:
        found = [(k, j) for k, j in scn.judges.items() if j.kind == name]
        if found:
            name, j = found[0]
        elif name in JUDGES:
            j = JUDGES[name]()
        else:
            gates = sorted({*scn.judges, *JUDGES})
            raise ConfigError(
                f"{name!r} is not a judge of the scenario nor a kind ({', '.join(gates)})", ("--judge",)
            )
    if not isinstance(j, GateJudge):
        raise ConfigError(f"{name!r} is a {j.kind} judge, not one that gates a rollout", ("--judge",))
    return name, j


def pick_run(scn: Scenario, judge: str, over: dict[str, Any]) -> AnalysisConfig:
    """The scenario's first analysis run with this judge (a progressive strategy's), the options
    applied; else an analysis run of the judge with the defaults."""
    runs = [
        a
        for s in scn.strategies.values()
        if isinstance(s, ProgressiveConfig)
        for a in s.analyses
        if a.judge == judge
    ]
    cfg = dataclasses.replace(runs[0], also=()) if runs else AnalysisConfig(judge=judge)
    try:
        return dataclasses.replace(cfg, **over)
    except ConfigError as err:
        field = next((k for k, v in LIMITS.items() if err.path and v == err.path[0]), None)
        raise ConfigError(err.message, (f"--{field.replace('_', '-')}",) if field else err.path) from None


def judge_replay(args: argparse.Namespace) -> tuple[Replay, GateJudge, AnalysisConfig, tuple[str, ...]]:
    explicit = explicit_kinds(args.series)
    paths = list(dict.fromkeys([*args.data, *explicit]))
    if not paths:
        raise ConfigError("give at least one data file", ("DATA",))
    scn = load_scenario(args.scenario)
    name, judge = pick_judge(scn, args.judge)
    over = {field: getattr(args, opt) for opt, field in LIMITS.items() if getattr(args, opt) is not None}
    cfg = pick_run(scn, name, over)
    read = read_files(paths, explicit)
    versions = split_versions(
        read.series,
        parse_label(args.canary_label, "--canary-label"),
        parse_label(args.baseline_label, "--baseline-label"),
    )
    if not math.isfinite(args.start) or args.start < 0:
        raise ConfigError(f"{args.start:g} is not a time into the data (0 or more)", ("--start",))
    return replay(Recorded(versions, scn), judge, cfg, args.start), judge, cfg, (*read.notes, *versions.notes)


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no NaN or Infinity


def judge_command(args: argparse.Namespace) -> int:
    try:
        run, judge, cfg, notes = judge_replay(args)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    out = sys.stdout
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        for look in run.looks:
            row = {
                "t": look.t,
                "verdict": look.verdict.status,
                "score": _num(look.verdict.score),
                "values": {m: [_num(v), _num(lim)] for m, (v, lim) in look.verdict.values.items()},
                "canary": {"requests": look.canary.requests, "errors": look.canary.errors},
                "baseline": {"requests": look.baseline.requests, "errors": look.baseline.errors},
            }
            out.write(json.dumps(row) + "\n")
        out.write(json.dumps({"outcome": run.outcome, "looks": len(run.looks)}) + "\n")
        return 0
    count = cfg.count or "until the data ends"
    out.write(
        f"judge {judge.kind} ({', '.join(judge.watch)}); every {cfg.interval_s:g} s"
        f" after {cfg.initial_delay_s:g} s, failure limit {cfg.failure_limit},"
        f" inconclusive limit {cfg.inconclusive_limit},"
        f" consecutive successes {cfg.consecutive_success_limit}, count {count}\n"
    )
    out.write(
        f"{'t (s)':>8}  {'verdict':<12} {'canary n/err':>14} {'baseline n/err':>15}  read (value, limit)\n"
    )
    for look in run.looks:
        shown = ", ".join(f"{m}={v:.4g} ({lim:.4g})" for m, (v, lim) in look.verdict.values.items())
        c, b = look.canary, look.baseline
        out.write(
            f"{look.t:>8g}  {look.verdict.status:<12} {f'{c.requests}/{c.errors}':>14}"
            f" {f'{b.requests}/{b.errors}':>15}  {shown}\n"
        )
    out.write(f"outcome: {run.outcome} after {len(run.looks)} looks\n")
    return 0
