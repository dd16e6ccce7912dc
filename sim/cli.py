"""The `deploysim` command (also `python -m sim`): a thin client of the public `sim` API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__, validation
from .batch import run_batch
from .errors import ConfigError
from .importer import cli as manifests  # issue 6: import / export commands and `run --rollout`
from .report import format_table, how_to_choose
from .scenario import load_scenario
from .summary import summarize


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deploysim", description=__doc__)
    p.add_argument("--version", action="version", version=f"deploysim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a scenario's deploys and print the comparison table")
    run.add_argument("scenario", help="a scenario file, or the name of a shipped one (e.g. default)")
    run.add_argument("--deploys", type=int, help="deploys per strategy (default: the scenario's)")
    run.add_argument("--seed", type=int, help="root seed (default: the scenario's)")
    run.add_argument("--jobs", type=int, default=1, help="worker processes")
    run.add_argument("--strategy", action="append", help="only this strategy (repeatable)")
    run.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a value")
    manifests.add_run_options(run)  # issue 6
    manifests.register(sub)  # issue 6
    validation.register(sub)  # issue 8 hook: `deploysim validate-model` lives in sim/validation
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "validate-model":  # issue 8 hook
        return validation.run_from_args(args)
    if args.command != "run":  # issue 6: import / export
        return args.handler(args)
    try:
        scn = load_scenario(args.scenario, overrides=args.set)
        scn = manifests.with_rollouts(scn, args)  # issue 6: --rollout
        if args.deploys is not None and args.deploys < 1:
            raise ConfigError(f"{args.deploys} is not >= 1", ("--deploys",))
        df = run_batch(scn, deploys=args.deploys, seed=args.seed, strategies=args.strategy, jobs=args.jobs)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    print(f"{scn.name}: {df['deploy'].nunique()} deploys per strategy, seed {int(df['seed'].iloc[0])}\n")
    print(format_table(how_to_choose(summarize(df))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
