"""The validation report: every check, a printed table, Markdown and CSV in results/validation/."""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.scenario import load_scenario, shipped_scenarios
from ..core.errors import ConfigError
from . import checks_alerting as alerting
from . import checks_article as article
from . import checks_judges as judges
from . import checks_rollout as rollout
from .record import FIELDS, Record, fmt, pct

DEFAULT_OUT = Path("results") / "validation"

#: The chance, on a correct model, that a run fails any check at all. Some fifty statistical checks at
#: 95% each would fail one by chance in most runs on a new seed or library version, so each interval
#: is widened to the Bonferroni level 1 − FAMILY_ALPHA/m (m statistical checks in the run): by the union
#: bound the family's false failures stay ≤ FAMILY_ALPHA whatever the checks' dependence.
FAMILY_ALPHA = 0.05
METHOD = "Bonferroni"


def family_level(m: int) -> float:
    """Each statistical check's confidence level when m of them run together."""
    return 1.0 - FAMILY_ALPHA / max(m, 1)


def family_note(m: int) -> str:
    """One line saying how the family-wise error rate is held, for the table and the report."""
    if not m:
        return "no statistical check in this run: every verdict is exact"
    return (
        f"family-wise error rate ≤ {FAMILY_ALPHA:.0%}: {METHOD} over the {m} statistical checks, "
        f"each interval at 1 − {FAMILY_ALPHA:g}/{m} = {pct(family_level(m))}"
    )


@dataclass(frozen=True)
class Case:
    """One check with its arguments; `fast` overrides them for the test suite's quick tier."""

    function: Callable[..., Record]
    kwargs: dict[str, Any] = field(default_factory=dict)
    fast: dict[str, Any] = field(default_factory=dict)

    def run(self, fast: bool = False, level: float | None = None) -> Record:
        """The check's record; `level` (a statistical check's interval level) defaults to the
        family level of the full report's statistical checks."""
        chosen = {"level": family_level(statistical_count(cases())) if level is None else level}
        return self.function(
            **{**self.kwargs, **(self.fast if fast else {}), **(chosen if self.statistical else {})}
        )

    @property
    def statistical(self) -> bool:
        return "level" in inspect.signature(self.function).parameters


def cases() -> list[Case]:
    out = [
        Case(alerting.check_burn_rate_detection, {"error_ratio": e}, {"deploys": 6})
        for e in (0.005, 0.01, 0.02, 0.05, 0.2)
    ]
    out += [
        Case(alerting.check_burn_rate_budget, {"error_ratio": e}, {"deploys": 6}) for e in (0.01, 0.02, 0.2)
    ]
    out += [Case(judges.check_canary_power, {"p1": p}, {"deploys": 60}) for p in (0.01, 0.0115, 0.013, 0.015)]
    out += [
        Case(judges.check_repeated_looks, {"looks": k, "cumulative": c}, {"deploys": 60})
        for c in (False, True)
        for k in (5, 10, 20)
    ]
    out += [Case(judges.check_sequential_looks, {"looks": k}, {"deploys": 60}) for k in (5, 20, 60)]
    out += [
        Case(judges.check_sequential_latency_looks, {"looks": k, "both": both}, {"deploys": 60})
        for k, both in ((5, False), (20, False), (60, False), (60, True))
    ]
    out += shipped_policy_cases()
    out += [Case(judges.check_mann_whitney, {}, {"count": 25}), Case(judges.check_kayenta_scorer)]
    out += [
        Case(
            rollout.check_flagger_promotion,
            {"interval_s": 60, "max_weight": 50, "step_weight": 2},
            {"deploys": 2},
        ),
        Case(
            rollout.check_flagger_promotion,
            {"interval_s": 60, "max_weight": 100, "step_weight": 20},
            {"deploys": 2},
        ),
        Case(rollout.check_flagger_rollback, {"interval_s": 60, "threshold": 10}, {"deploys": 2}),
        Case(
            rollout.check_flagger_rollback,
            {"interval_s": 60, "threshold": 1, "step_weight": 20},
            {"deploys": 2},
        ),
    ]
    out += [Case(rollout.check_exposure, {"weight": w}, {"deploys": 20}) for w in (1, 5, 25, 50)]
    out += [
        Case(rollout.check_exposure, {"weight": 5, "mode": "replicas"}, {"deploys": 20}),
        Case(rollout.check_argo_test_table),
        Case(rollout.check_argo_grid),
        Case(rollout.check_argo_analysis_limits),
        Case(rollout.check_dynamic_stable_scale, {}, {"deploys": 3}),
        Case(rollout.check_header_route, {}, {"deploys": 3}),
        Case(rollout.check_session_affinity, {"measure": "traffic"}, {"deploys": 4}),
        Case(rollout.check_session_affinity, {"measure": "users"}, {"deploys": 2}),
        Case(rollout.check_mirror_route, {}, {"deploys": 3}),
        Case(rollout.check_flagger_webhooks, {"hook": "pre_rollout"}, {"deploys": 2}),
        Case(rollout.check_flagger_webhooks, {"hook": "confirm"}, {"deploys": 2}),
        Case(rollout.check_load_test, {}, {"deploys": 4}),
        Case(rollout.check_experiment_step, {}, {"deploys": 2}),
        Case(rollout.check_change_failure_rate, {}, {"deploys": 120}),
        Case(rollout.check_argo_simulated_weights, {}, {"max_replicas": 3, "weights": (1, 5, 33, 50, 99)}),
    ]
    out += [
        # A canary's escapes, caught days later at full exposure, widen its spread: ≪ at 99.9% needs
        # more deploys than the other pairs.
        Case(article.check_blast_radius, {"pair": p}, {"deploys": 150 if p == "blue_green>>canary" else 60})
        for p in ("recreate~blue_green", "blue_green>>canary", "canary>=progressive")
    ]
    out += [
        Case(article.check_time_to_repair, {}, {"deploys": 60}),
        Case(article.check_no_human, {}, {"deploys": 20}),
        Case(article.check_blue_green_cost, {}, {"deploys": 3}),
    ]  # fmt: skip
    return out


def shipped_policy_cases() -> list[Case]:
    """The repeated-looks check for every canary and progressive policy of every shipped scenario."""
    out = []
    for name in shipped_scenarios():
        scn = load_scenario(name)
        for strategy, spec in scn.strategies.items():
            if spec.kind in ("canary", "progressive"):
                args = {"strategy": strategy, "scenario_name": name}
                out.append(Case(judges.check_shipped_policy_looks, args, {"deploys": 30}))
    return out


def statistical_count(selected: Iterable[Case]) -> int:
    """How many of the checks have intervals that can fail by chance: the Bonferroni family's m."""
    return sum(c.statistical for c in selected)


def run_all(
    selected: Iterable[Case], fast: bool = False, progress: Callable[[Record], None] | None = None
) -> list[Record]:
    """Run the checks, each statistical one at the family level of the checks run together."""
    chosen = list(selected)
    level = family_level(statistical_count(chosen))
    records = []
    for case in chosen:
        record = case.run(fast, level)
        records.append(record)
        if progress is not None:
            progress(record)
    return records


# ---- output ----


def _cell(r: Record) -> tuple[str, str, str]:
    ci = "" if r.ci_lo == r.ci_hi else f" [{fmt(r.ci_lo, r.unit)}, {fmt(r.ci_hi, r.unit)}]"
    return ("PASS" if r.passed else "FAIL", fmt(r.reference, r.unit), fmt(r.simulated, r.unit) + ci)


def table(records: Sequence[Record], family: str = "") -> str:
    """The terminal table: status, check, reference, simulated value with its confidence interval."""
    rows = [(s, r.check, ref, sim) for r in records for s, ref, sim in [_cell(r)]]
    head = ("", "check", "reference", f"simulated [{_levels(records)} CI]")
    widths = [max(len(str(x[i])) for x in (head, *rows)) for i in range(4)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (head, *rows)
    ]
    failed = sum(not r.passed for r in records)
    lines.append(
        f"\n{len(records) - failed} of {len(records)} checks pass" + (f", {failed} FAIL" if failed else "")
    )
    lines += [family] if family else []
    return "\n".join(lines)


def markdown(records: Sequence[Record], fast: bool, family: str = "") -> str:
    out = [
        "# deploysim validation report",
        "",
        "Each check compares the simulator with a published figure, formula or controller rule. "
        f"Simulated values carry {_levels(records)} confidence intervals; the tolerance says how each "
        "accepted band was derived. Re-run with `make validate` (or `deploysim validate-model`).",
        "",
    ]
    if family:
        out += [f"**Multiple checks**: {family}. Checks without a level are exact or deterministic.", ""]
    if fast:
        out += ["**Quick tier**: small samples, for the test suite; not the report of record.", ""]
    out += [f"| | check | reference | simulated [{_levels(records)} CI] | n |", "|---|---|---|---|---|"]
    for r in records:
        status, ref, sim = _cell(r)
        out.append(f"| {status} | {r.check} | {ref} | {sim} | {r.n} |")
    out += ["", "## Checks in detail", ""]
    for r in records:
        status, ref, sim = _cell(r)
        out += [
            f"### {r.check} — {status}",
            "",
            f"- **Claim**: {r.claim}",
            f"- **Reference**: {ref} — {r.source}",
            f"- **Simulated**: {sim} (n = {r.n})",
            f"- **Tolerance**: {r.tolerance}",
        ]
        out += [f"- **Note**: {r.note}"] if r.note else []
        out.append("")
    return "\n".join(out)


def _levels(records: Sequence[Record]) -> str:
    return "/".join(sorted({f"{r.level * 100:g}%" for r in records})) or "95%"


def csv_text(records: Sequence[Record]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow(r.row())
    return buf.getvalue()


def write(records: Sequence[Record], out_dir: Path, fast: bool = False, family: str = "") -> list[Path]:
    """Write validation.md and validation.csv, each atomically (a temp file renamed into place)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    md = markdown(records, fast, family)
    for name, text in (("validation.md", md), ("validation.csv", csv_text(records))):
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out_dir / name)
        written.append(out_dir / name)
    return written


# ---- the command ----


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder for validation.md and validation.csv"
    )
    p.add_argument("--only", action="append", default=[], metavar="TEXT",
                   help="run only checks whose function name contains TEXT (repeatable)")  # fmt: skip
    p.add_argument("--fast", action="store_true", help="small samples (the test suite's quick tier)")


def register(subparsers: Any) -> None:
    """Add `validate-model` to the deploysim command's subcommands."""
    p = subparsers.add_parser("validate-model", help="check the model against published figures")
    add_arguments(p)


def run_from_args(args: argparse.Namespace) -> int:
    selected = [c for c in cases() if not args.only or any(t in c.function.__name__ for t in args.only)]
    if not selected:
        print(f"deploysim: --only: no check matches {args.only}", file=sys.stderr)
        return 2

    def progress(r: Record) -> None:
        print(f"  {'ok  ' if r.passed else 'FAIL'} {r.check}", file=sys.stderr, flush=True)

    family = family_note(statistical_count(selected))
    try:
        records = run_all(selected, fast=args.fast, progress=progress)
        paths = write(records, args.out, fast=args.fast, family=family)
    except ConfigError as err:
        print(f"deploysim: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"deploysim: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(table(records, family))
    print("written: " + ", ".join(str(p) for p in paths))
    return 0 if all(r.passed for r in records) else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploysim validate-model", description=__doc__)
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
