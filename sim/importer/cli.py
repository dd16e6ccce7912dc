"""The `deploysim import` and `export` commands, and `run --rollout`: thin clients of the importer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..config.scenario import Scenario, load_scenario
from ..core.errors import ConfigError
from ..core.files import write_atomic
from .export import FORMATS, export_manifest
from .load import ManifestWarning, add_rollouts, scenario_from_manifests


class Subcommands(Protocol):
    """What `register` uses of the object `ArgumentParser.add_subparsers()` returns."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def register(sub: Subcommands) -> None:
    """Add the import and export commands to the `deploysim` parser."""
    imp = sub.add_parser("import", help="turn Argo Rollouts / Flagger manifests into a scenario")
    imp.add_argument(
        "manifests",
        nargs="+",
        metavar="MANIFEST.yaml",
        help="Rollouts or Canaries, with the AnalysisTemplates / MetricTemplates they use",
    )
    imp.add_argument("-o", "--output", metavar="FILE", help="write the scenario here (default: stdout)")
    imp.add_argument(
        "--scenario",
        metavar="SCENARIO",
        help="take service, traffic and faults from this scenario (default: the built-in defaults)",
    )
    _options(imp)
    imp.set_defaults(handler=import_command)
    exp = sub.add_parser("export", help="write a scenario's strategy as an Argo Rollout or a Flagger Canary")
    exp.add_argument("scenario", help="a scenario file, or the name of a shipped one")
    exp.add_argument(
        "--strategy", required=True, help="the strategy to export (progressive or blue_green kind)"
    )
    exp.add_argument("--format", required=True, choices=FORMATS, help="argo: Rollout; flagger: Canary")
    exp.add_argument("-o", "--output", metavar="FILE", help="write the manifest here (default: stdout)")
    exp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    exp.set_defaults(handler=export_command)


def add_run_options(run: argparse.ArgumentParser) -> None:
    """`run --rollout MANIFEST.yaml [...]`: simulate imported rollouts beside the scenario's strategies."""
    run.add_argument(
        "--rollout",
        action="append",
        nargs="+",
        default=[],
        metavar="MANIFEST.yaml",
        help="also simulate the Rollouts / Canaries in these manifests (with their templates)",
    )
    _options(run)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--match-share",
        type=float,
        default=0.05,
        metavar="SHARE",
        help="share of users a Flagger A/B match selects when it names no segment (default 0.05)",
    )
    p.add_argument(
        "--pass-probability",
        type=float,
        default=1.0,
        metavar="P",
        help="chance that a check whose outcome cannot be read from the manifest passes (default 1)",
    )


def _opts(args: argparse.Namespace) -> dict[str, float]:
    return {"match_share": args.match_share, "default_pass_probability": args.pass_probability}


def with_rollouts(scn: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario `run` should simulate: its own strategies plus those of `--rollout` manifests.
    Warnings go to stderr; a bad manifest raises ConfigError (the caller exits 2)."""
    paths = [p for group in (getattr(args, "rollout", None) or []) for p in group]
    if not paths:
        return scn
    out, warnings = add_rollouts(scn, paths, **_opts(args))
    _warn(warnings)
    return out


def _warn(warnings: Sequence[ManifestWarning | str]) -> None:
    for w in warnings:
        print(f"deploysim: warning: {w}", file=sys.stderr)


def write_atomically(path: str | Path, text: str) -> None:
    """Write the whole file or nothing (`sim.core.files.write_atomic`: devices and FIFOs such as
    /dev/stdout in place, links and folders refused); any failure is one line naming the file."""
    try:
        write_atomic(Path(path), text)
    except OSError as err:
        raise ConfigError(
            f"cannot write: {err.strerror or err.__class__.__name__}", source=str(path)
        ) from None


def import_command(args: argparse.Namespace) -> int:
    try:
        scn, warnings = scenario_from_manifests(args.manifests, args.scenario, **_opts(args))
        notes = "".join(f"#   {w}\n" for w in warnings) or "#   none\n"
        header = (
            f"# {scn.name} — imported by `deploysim import` from {', '.join(args.manifests)}.\n"
            "# The strategies are the manifests'; service, traffic, faults and judges are the\n"
            "# defaults: edit them to describe your service. What could not be mapped exactly:\n"
            f"{notes}"
        )
        text = header + scn.to_yaml()
        Scenario.from_yaml(text)  # what is written must load back
        _emit(text, args.output)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    _warn(warnings)
    return 0


def _emit(text: str, output: str | None) -> None:
    """Write to the file atomically (nothing half-written on a failure), or to stdout."""
    if output:
        write_atomically(output, text)
    else:
        sys.stdout.write(text)


def export_command(args: argparse.Namespace) -> int:
    try:
        scn = load_scenario(args.scenario, overrides=args.set)
        text, notes = export_manifest(scn, args.strategy, args.format)
        _emit(text, args.output)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    _warn(notes)
    return 0
