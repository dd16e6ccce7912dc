"""The `deploysim calibrate` command: Prometheus data in, a commented scenario out (whole or not at all)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..config.scenario import Scenario, load_scenario
from ..core.errors import ConfigError
from ..core.files import write_atomic
from . import incidents as release_history
from .fit import Result, Trace, fit_traced
from .prom import KINDS, read_files
from .write import scenario_yaml


class Subcommands(Protocol):
    """What `register` uses of the object `ArgumentParser.add_subparsers()` returns."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def register(sub: Subcommands) -> None:
    """Add the calibrate command to the `deploysim` parser."""
    cal = sub.add_parser(
        "calibrate", help="fit a scenario to a service's Prometheus data (query_range JSON/CSV)"
    )
    cal.add_argument(
        "data", nargs="*", metavar="DATA", help="query_range JSON files or CSV exports, one per query"
    )
    cal.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="KIND=FILE",
        help=f"say which query a file holds ({', '.join(KINDS)}) when its names do not",
    )
    cal.add_argument("-o", "--output", metavar="FILE", help="write the scenario here (default: stdout)")
    cal.add_argument(
        "--utc-offset",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="the service's local time minus UTC, for the local peak hour (default 0)",
    )
    cal.add_argument("--name", default="calibrated", help="the scenario's name (default: calibrated)")
    cal.add_argument(
        "--incidents",
        metavar="FILE",
        help="a release history CSV (time, bad, kind, time_to_restore_s): fit the bad-release"
        " probability and the fault mix from it too (`deploysim incidents` shows the whole fit)",
    )
    cal.set_defaults(handler=calibrate_command)


def explicit_kinds(items: list[str]) -> dict[str, str]:
    """`--series KIND=FILE` options as file → kind."""
    out = {}
    for item in items:
        kind, sep, path = item.partition("=")
        if not sep or not path or kind not in KINDS:
            raise ConfigError(f"{item!r} is not KIND=FILE with KIND one of {', '.join(KINDS)}", ("--series",))
        out[path] = kind
    return out


@dataclass(frozen=True)
class Calibration:
    """A calibration's scenario text, the fits it holds, the notes on the data and the fits' trace."""

    text: str
    results: tuple[Result, ...]
    notes: tuple[str, ...]
    trace: Trace


def calibrate(
    paths: list[str],
    explicit: dict[str, str],
    name: str,
    utc_offset_h: float = 0.0,
    incidents: str | None = None,
) -> Calibration:
    """Read, fit and write (what the command does), or a ConfigError naming the bad input.

    Args:
        incidents: a release history CSV whose bad-release probability and fault mix are fitted too.
    """
    if not paths:
        raise ConfigError("give at least one data file", ("DATA",))
    read = read_files(paths, explicit)
    if not -24.0 <= utc_offset_h <= 24.0:
        raise ConfigError(f"{utc_offset_h:g} is not within -24..24 hours", ("--utc-offset",))
    base = load_scenario("default")
    results, notes, trace = fit_traced(read.series, base, utc_offset_h)
    every = (*read.notes, *notes)
    sources = [*paths, *([incidents] if incidents is not None else [])]
    text = scenario_yaml(results, name, sources, every)
    if incidents is not None:  # the release mix, whole: a fault's other fields are the default's
        history = release_history.fit(release_history.read_history(incidents, tuple(base.releases.faults)))
        text += release_history.releases_yaml(base.to_dict(), history, Path(incidents).name)
        Scenario.from_yaml(text, source="the calibrated scenario")  # what is written loads
    return Calibration(text, tuple(results), every, trace)


def calibrate_command(args: argparse.Namespace) -> int:
    try:
        explicit = explicit_kinds(args.series)
        paths = list(dict.fromkeys([*args.data, *explicit]))
        text = calibrate(paths, explicit, args.name, args.utc_offset, args.incidents).text
        if args.output:
            try:
                write_atomic(Path(args.output), text)
            except OSError as err:
                why = err.strerror or err.__class__.__name__
                raise ConfigError(f"cannot write: {why}", source=args.output) from None
        else:
            sys.stdout.write(text)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    return 0
