"""The per-deploy row: one table of its columns, from which everything else about the row is made.

A simulation yields one flat row per (deploy, strategy) — one record type that goes straight into a
DataFrame, as Ciw's `DataRecord` does for its customers. `ROW` lists its columns in order, each with
its kind, unit and one-line meaning; nothing else in the package spells the row out again:

- the engine's `deploy_row` fills exactly these columns (`check_row` says where a row departs);
- `sim.results.frame` gives each kind its pandas dtype, `sim.runs.store` its Arrow type (rows.parquet);
- the column order is the frame's, the Parquet file's and rows.csv's header;
- `METRICS` (summarised with intervals), `FLAGS` (rates) and `DURATIONS` (Kaplan–Meier) are read off it;
- `reference()` is README's "Per-deploy columns" table (a test holds the README to it).

Undefined values are NaN, never 0; a text column is empty (None) where it does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

#: What a column holds: `text` (a name or a word; None when it does not apply), `int`, `flag`
#: (true/false; None only in the row of a run that raised), `number` (a float; NaN when undefined).
Kind = Literal["text", "int", "flag", "number"]

#: Each kind's Python values in a row as the engine builds it.
VALUE_TYPES: dict[Kind, tuple[type, ...]] = {
    "text": (str, type(None)),
    "int": (int,),
    "flag": (bool, type(None)),
    "number": (float,),
}

#: How a kind reads in the reference table.
KIND_WORDS: dict[Kind, str] = {"text": "text", "int": "integer", "flag": "true/false", "number": "number"}


class Column(NamedTuple):
    """One column of the per-deploy row."""

    name: str
    kind: Kind
    unit: str  # "" for text, flags and counts of nothing in particular
    meaning: str  # one line, Markdown
    #: For a duration from a bad release's first user impact, right-censored when the deploy's
    #: follow-up ended first: the moment that ends it ("" for every other column).
    ends: str = ""


#: Every column of a row, in order: which run, what happened, the metrics, how it ended.
ROW: tuple[Column, ...] = (
    # which run
    Column("scenario", "text", "", "the scenario's name"),
    Column("strategy", "text", "", "the strategy's name in the scenario"),
    Column("deploy", "int", "", "the deploy's number in the batch, from 0"),
    Column(
        "seed",
        "int",
        "",
        "the batch's seed: `sim.run_deploy(scn, strategy, deploy=deploy, seed=seed)` replays the row",
    ),
    # what happened
    Column("release_bad", "flag", "", "the release carried a fault"),
    Column(
        "fault_kind",
        "text",
        "",
        "which fault (`error_rate`, `tail_latency`, `latency_shift`, `median_latency`, "
        "`saturation_leak`, `crash`, `segment_bug`), empty for a good release",
    ),
    Column(
        "detected", "flag", "", "someone or something with the authority to undo decided the release was bad"
    ),
    Column(
        "detected_by",
        "text",
        "",
        "`analysis` (a controller's analysis), `operator` (a person judging a canary step or gate), "
        "`slo_alert` (the burn-rate alert's page, answered by the on-call), `ticket` (its slow-burn "
        "ticket, worked in business hours), `user_report` (users told support, who escalated), "
        "`smoke_test`, `shadow_traffic` (a flag's dark launch)",
    ),
    Column("rolled_back", "flag", "", "the rollback ran"),
    Column("false_rollback", "flag", "", "rolled back, but the release was good"),
    Column("escaped", "flag", "", "the release was bad and still reached 100% of user traffic"),
    Column(
        "censored",
        "flag",
        "",
        "the release hurt users and was still not restored when its follow-up ended "
        "(`run.follow_s` after the deploy began)",
    ),
    # the metrics
    Column(
        "time_to_detect_s",
        "number",
        "s",
        "from the first user request the active fault reached to detection; NaN when no user met the "
        "fault before detection, or nobody detected it",
        ends="detection",
    ),
    Column(
        "time_to_repair_s",
        "number",
        "s",
        "from detection until no user request reaches faulty code and the service serves again "
        "(a request that finds no version up is not repaired)",
        ends="restoration",
    ),
    Column(
        "time_to_restore_s",
        "number",
        "s",
        "from the first user request the fault reached until then: detect + repair, DORA's time to "
        'restore service — the headline "how long"',
        ends="restoration",
    ),
    Column(
        "censored_after_s",
        "number",
        "s",
        "for a censored release: how long it was followed after its first user impact; NaN otherwise",
    ),
    Column(
        "faulty_requests",
        "number",
        "requests",
        "user requests served by the faulty version while its fault was active (for a segment-only "
        "bug, that segment's requests), until it was undone or the follow-up ended; NaN for a good release",
    ),
    Column(
        "failed_requests",
        "number",
        "requests",
        "user requests that failed because of the deploy: the fault, overload the release brought, "
        "downtime; not baseline or noise failures",
    ),
    Column("affected_users", "number", "users", "distinct users who met faulty code; NaN for a good release"),
    Column(
        "exposure_at_detection",
        "number",
        "share, 0–1",
        "share of user traffic on the faulty version at detection; NaN when good or undetected",
    ),
    Column("downtime_s", "number", "s", "seconds with no version up"),
    Column(
        "error_budget_used",
        "number",
        "share",
        "`failed_requests` as a share of the 30-day error budget of the scenario's SLO",
    ),
    Column(
        "lead_time_s",
        "number",
        "s",
        "from the start of the deploy until 100% of user traffic is on the new version; "
        "NaN if it never got there",
    ),
    Column(
        "extra_instance_hours",
        "number",
        "instance-hours",
        "instance-hours above the steady fleet (a second fleet, canary replicas)",
    ),
    Column(
        "migration_failed_requests",
        "number",
        "requests",
        "user requests that failed because the binary serving them could not read the schema "
        "(a breaking migration); NaN when the scenario has no migration",
    ),
    Column(
        "sequence_lead_time_s",
        "number",
        "s",
        "from the start until the last deploy of the release's plan reached everyone "
        "(expand-and-contract: four deploys; otherwise the release's own lead time)",
    ),
    # how it ended
    Column(
        "fault_layer",
        "text",
        "",
        "where a bad release's fault lives: `flag` (in the code path behind its feature flag) or "
        "`binary` (anywhere else); only the flag strategies keep a `flag` fault dark",
    ),
    Column(
        "undo",
        "text",
        "",
        "how the release was taken back: `rollback` (the binary), `kill_switch` (the flag, no "
        "redeploy), `kill_switch+rollback` (the fault was in the binary after all), `flag_off` "
        "(caught dark, never turned on)",
    ),
    Column("error", "text", "", "empty, or the exception a failed run raised (the batch keeps the row)"),
)

#: The column names, in order: the frame's, rows.parquet's and rows.csv's.
COLUMNS: tuple[str, ...] = tuple(c.name for c in ROW)

#: Each column's kind.
KINDS: dict[str, Kind] = {c.name: c.kind for c in ROW}

#: Numeric per-deploy metrics, summarised with means, percentiles and confidence intervals.
METRICS: tuple[str, ...] = tuple(c.name for c in ROW if c.kind == "number")

#: What happened, true or false: summarised as rates.
FLAGS: tuple[str, ...] = tuple(c.name for c in ROW if c.kind == "flag")

#: Durations measured from a bad release's first user impact, right-censored when the deploy's
#: follow-up ended first (`censored_after_s` is then how long it was followed): name → the moment
#: that ends it.
DURATIONS: dict[str, str] = {c.name: c.ends for c in ROW if c.ends}


def check_row(row: Mapping[str, Any]) -> list[str]:
    """Where a row departs from the table: missing, extra or misplaced columns, and values not of
    their column's kind (a NaN is a number; text may be None, a flag only in the row of a run that
    raised). Empty: the row fits."""
    problems = []
    names = list(row)
    if names != list(COLUMNS):
        missing = [c for c in COLUMNS if c not in row]
        extra = [c for c in names if c not in KINDS]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if extra:
            problems.append(f"not in the table: {', '.join(extra)}")
        if not missing and not extra:
            problems.append("columns out of the table's order")
    for name, value in row.items():
        kind = KINDS.get(name)
        if kind is None:
            continue
        ok = isinstance(value, VALUE_TYPES[kind]) and not (kind == "int" and isinstance(value, bool))
        if kind == "flag" and value is None and not row.get("error"):
            ok = False  # a flag is unknown only when the run raised
        if not ok:
            problems.append(f"{name} = {value!r} is not {KIND_WORDS[kind]}")
        elif kind == "number" and math.isinf(value):
            problems.append(f"{name} = {value!r} is not finite")
    return problems


def reference() -> str:
    """README's "Per-deploy columns" table, in Markdown."""
    lines = ["| column | type | unit | meaning |", "|---|---|---|---|"]
    for c in ROW:
        lines.append(f"| `{c.name}` | {KIND_WORDS[c.kind]} | {c.unit} | {c.meaning} |")
    return "\n".join(lines) + "\n"
