"""The comparison table every front end shows: strategies side by side, metrics down, safety before cost.

`how_to_choose` turns a summary into a table of short strings (one unit per row, compact numbers),
`compare` puts several runs side by side, `format_table` lays either out for a terminal within a
fixed width, and `caption` says what the cells are. `summary_json` is the `--json` form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .summary import RATES as SUMMARY_RATES
from .summary import SUMMARY_METRICS

#: Each metric's title with its unit, and the scale to that unit: (summary metric, title, scale,
#: format). The charts label their axes with it (`plots.means`).
TABLE: tuple[tuple[str, str, float, str], ...] = (
    ("faulty_requests", "faulty requests", 1.0, "{:,.0f}"),
    ("affected_users", "affected users", 1.0, "{:,.0f}"),
    ("exposure_at_detection", "exposure at detection %", 100.0, "{:.1f}"),
    ("time_to_detect_s", "time to detect s", 1.0, "{:,.0f}"),
    ("time_to_repair_s", "time to repair s", 1.0, "{:,.0f}"),
    ("time_to_restore_s", "time to restore s", 1.0, "{:,.0f}"),
    ("error_budget_per_bad_release", "error budget burned %", 100.0, "{:.2f}"),
    ("downtime_s", "downtime s", 1.0, "{:,.0f}"),
    ("extra_instance_hours", "extra instance-h", 1.0, "{:.2f}"),
    ("lead_time_s", "lead time min", 1 / 60, "{:,.1f}"),
    ("false_rollback_rate", "false rollbacks %", 100.0, "{:.1f}"),
    ("escaped_rate", "escaped defects %", 100.0, "{:.1f}"),
    ("migration_failed_requests", "schema failures", 1.0, "{:,.0f}"),
    ("sequence_lead_time_s", "plan lead time min", 1 / 60, "{:,.1f}"),
)

#: The rates a summary has beside its metrics (the JSON form reports each).
RATES: tuple[str, ...] = tuple(SUMMARY_RATES)

#: Metrics that are shares, whose t-interval is shown no higher than 1 (100%).
SHARES = ("exposure_at_detection",)

#: The widest line `format_table` prints: a terminal in a 1,280 px window holds about this many.
WIDTH = 150

UNDEFINED = "–"
#: A percentile the Kaplan–Meier curve never reaches: more than that share was never restored.
NOT_REACHED = "> follow-up"

# ---- compact numbers ----


def _sig(x: float) -> str:
    """Two significant digits below 10, whole numbers above: 0.031, 2.5, 1, 42, 297."""
    if x == 0:
        return "0"
    if x >= 9.95:
        return f"{x:.0f}"
    r = float(f"{x:.2g}")  # 0.9967 → 1.0, shown as "1", not "1.00"
    digits = max(0, 1 - math.floor(math.log10(r)))
    return f"{r:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{r:.0f}"


def count(x: float) -> str:
    """1.7 M, 297 k, 3.1 k, 256, 2.5: at most five characters and a suffix."""
    for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        # 999.6 k rounds to "1000 k": it is shown as 1.0 M instead.
        if x >= size * (0.9995 if size < 1e9 else 1.0):
            return _sig(x / size) + suffix
    return _sig(x)


def duration(s: float) -> str:
    """4.2 s, 42 s, 15 min, 4.2 h, 20 h, 3.5 d: the unit in the cell, two significant digits."""
    for size, unit, upto in ((1.0, "s", 60.0), (60.0, "min", 60.0), (3600.0, "h", 48.0)):
        if s / size < upto:
            return f"{_sig(s / size)} {unit}"
    return f"{_sig(s / 86400.0)} d"


TINY = "< 0.01"


def percent(x: float) -> str:
    """A share in percent, to two decimals at most: 100, 21, 2.3, 0.18, 0.07; above 0 but below 0.005%
    as "< 0.01" (not "0", which would say none)."""
    p = x * 100.0
    return TINY if 0 < p < 0.005 else _sig(round(p, 2))


def number(x: float) -> str:
    return _sig(x)


def minutes(s: float) -> str:
    return _sig(s / 60.0)


Fmt = Callable[[float], str]


def _unit(text: str) -> tuple[str, str]:
    """ "297 k" → ("297", " k"); "15 min" → ("15", " min"); "42" → ("42", "")."""
    num, _, unit = text.partition(" ")
    return (num, f" {unit}") if unit else (text, "")


def interval(lo: float, hi: float, fmt: Fmt, top: float = math.inf) -> str:
    """ "[1.2, 3.6] M", "[307 k, 3.6 M]": the unit once when both ends share it."""
    if math.isnan(lo) and math.isnan(hi):
        return UNDEFINED
    if math.isnan(hi):  # the Kaplan–Meier interval's upper end lies beyond the follow-up
        return f"≥ {fmt(_clip(lo, top))}"
    if math.isnan(lo):
        return f"≤ {fmt(_clip(hi, top))}"
    a, b = fmt(_clip(lo, top)), fmt(_clip(hi, top))
    # An end below 0.005% is rounded as the other digits are: down to 0, or up to 0.01 (a bound).
    a, b = ("0" if a == TINY else a), ("0.01" if b == TINY else b)
    (na, ua), (nb, ub) = _unit(a), _unit(b)
    return f"[{na}, {nb}]{ua}" if ua == ub else f"[{a}, {b}]"


def _clip(value: float, top: float) -> float:
    # Every metric is a count, a duration or a share: an interval reaching past what the metric can
    # take (below 0, above 100%) is shown at that bound, and a rounded -0 as 0.
    return min(max(0.0, value), top) + 0.0


# ---- the table's rows ----


@dataclass(frozen=True)
class Shown:
    """How the table shows one metric: its title (with its unit) and the statistics it gets a row each."""

    metric: str
    title: str
    stats: tuple[str, ...]  # of STATS
    fmt: Fmt


#: Row statistics: label after the title ("" = the title alone).
STATS = {
    "mean": "mean",
    "mean_ci": "95% CI",  # of the mean, the row above
    "p50": "median",
    "p50_ci": "95% CI",  # of the median, the row above
    "p90": "p90",
    "cell": "",  # one cell: mean [95% CI] (a rate: the rate and its Wilson interval)
}

BLAST = ("mean", "mean_ci", "p50", "p90")

#: Safety, per bad release, in the order shown.
SAFETY: tuple[Shown, ...] = (
    Shown("faulty_requests", "faulty requests", BLAST, count),
    Shown("affected_users", "affected users", BLAST, count),
    Shown("time_to_restore_s", "time to restore", ("p50", "p50_ci", "p90"), duration),
    Shown("time_to_detect_s", "time to detect", ("p50",), duration),
    Shown("time_to_repair_s", "time to repair", ("p50",), duration),
    Shown("exposure_at_detection", "exposure at detection %", ("cell",), percent),
    Shown("escaped_rate", "escaped defects %", ("cell",), percent),
    Shown("error_budget_per_bad_release", "error budget burned %", ("cell",), percent),
)

#: Cost, per deploy (false rollbacks: per good release).
COST: tuple[Shown, ...] = (
    Shown("downtime_s", "downtime s", ("cell",), number),
    Shown("extra_instance_hours", "extra instance-h", ("cell",), number),
    Shown("lead_time_s", "lead time min", ("cell",), minutes),
    Shown("false_rollback_rate", "false rollbacks %", ("cell",), percent),
    Shown("migration_failed_requests", "schema failures", ("cell",), count),
    Shown("sequence_lead_time_s", "plan lead time min", ("cell",), minutes),
)

SAFETY_HEAD = "SAFETY per bad release"
COST_HEAD = "COST per deploy"
BAD = "bad releases"
CAUGHT = "caught (detected)"
HURT = "hurt users"
LEAD, PLAN = "lead time min", "plan lead time min"


def never_restored(follow_s: float | None) -> str:
    """The censored count's row label, with the follow-up's length when known."""
    return f"never restored in {duration(follow_s)}" if follow_s else "never restored (censored)"


def _label(shown: Shown, stat: str) -> str:
    return f"{shown.title}: {STATS[stat]}" if STATS[stat] else shown.title


def _value(part: pd.DataFrame, metric: str, stat: str, shown: Shown) -> str:
    # One metric's row of the summary: its statistics by name, each a number.
    r: dict[Hashable, Any] = part.loc[metric].to_dict()
    top = 1.0 if metric in SHARES else math.inf
    if stat == "cell":
        if math.isnan(r["mean"]):
            return UNDEFINED
        text = shown.fmt(_clip(r["mean"], top))
        ci = interval(r["ci95_lo"], r["ci95_hi"], shown.fmt, top)
        # An interval that rounds to the mean itself (a fixed lead time, no downtime) adds nothing.
        return text if ci in (UNDEFINED, f"[{text}, {text}]") else f"{text} {ci}"
    if stat in ("mean_ci", "p50_ci"):
        lo, hi = ("ci95_lo", "ci95_hi") if stat == "mean_ci" else ("p50_lo", "p50_hi")
        return interval(r[lo], r[hi], shown.fmt, top)
    value = r[stat]
    if math.isnan(value):
        # A Kaplan–Meier percentile is undefined where more than that share was never restored.
        return NOT_REACHED if r["n"] > 0 and r["censored"] > 0 and stat.startswith("p") else UNDEFINED
    return shown.fmt(_clip(value, top))


def _counts(part: pd.DataFrame, follow_s: float | None) -> dict[str, str]:
    """bad releases, how many were caught, hurt users, and never restored within the follow-up ("–"
    where the summary lacks the rate or metric, as one stored by an earlier version may)."""

    def at(metric: str, stat: str) -> str:
        if metric not in part.index:
            return UNDEFINED
        if part.at[metric, "n"] == 0:  # none to count (a rate of nothing is undefined, its count 0)
            return "0"
        row: dict[Hashable, Any] = part.loc[metric].to_dict()
        value = float(row[stat])
        if stat == "mean":  # a rate: how many of its population
            value *= float(row["n"])
        return f"{round(value)}"

    return {
        BAD: at("escaped_rate", "n"),
        CAUGHT: at("detection_rate", "mean"),
        HURT: at("time_to_restore_s", "n"),
        never_restored(follow_s): at("time_to_restore_s", "censored"),
    }


def _column(part: pd.DataFrame, metrics: Sequence[str] | None, follow_s: float | None) -> dict[str, str]:
    """One strategy's cells, by row label, in the table's order (sections carry empty cells)."""
    cells: dict[str, str] = {}
    for head, section in ((SAFETY_HEAD, SAFETY), (COST_HEAD, COST)):
        chosen = [s for s in section if s.metric in part.index and (metrics is None or s.metric in metrics)]
        if not chosen:
            continue
        cells[head] = ""
        if section is SAFETY:
            cells.update(_counts(part, follow_s))
        for shown in chosen:
            for stat in shown.stats:
                cells[_label(shown, stat)] = _value(part, shown.metric, stat, shown)
    return cells


def _raw(summary: pd.DataFrame, metrics: Sequence[str] | None, follow_s: float | None) -> pd.DataFrame:
    columns = {}
    for strategy in dict.fromkeys(summary["strategy"]):
        part = summary[summary["strategy"] == strategy].set_index("metric")
        columns[str(strategy)] = _column(part, metrics, follow_s)
    return pd.DataFrame(columns)


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    """Drop what would only say "–" (a schema change no run defines) or repeat a row: a plan of one
    deploy takes as long as its release, so its own lead time would only repeat the release's."""
    keep = ~(table == UNDEFINED).all(axis=1)
    table = table[keep]
    if (
        LEAD in table.index
        and PLAN in table.index
        and table.loc[[LEAD]].to_numpy().tolist() == table.loc[[PLAN]].to_numpy().tolist()
    ):
        table = table.drop(index=PLAN)
    # A section whose rows all went is dropped with them.
    heads = [h for h in (SAFETY_HEAD, COST_HEAD) if h in table.index]
    for i, head in enumerate(heads):
        rows = list(table.index)
        start = rows.index(head)
        end = rows.index(heads[i + 1]) if i + 1 < len(heads) else len(rows)
        if end == start + 1:
            table = table.drop(index=head)
    return table


def how_to_choose(
    summary: pd.DataFrame, metrics: Sequence[str] | None = None, follow_s: float | None = None
) -> pd.DataFrame:
    """The comparison table of one run: a column of strings per strategy, a row per statistic shown
    (only those of `metrics`, when given), safety per bad release first, then cost per deploy.
    `follow_s`, the run's follow-up, names the censored count's row."""
    return _tidy(_raw(summary, metrics, follow_s))


def compare(
    runs: Sequence[tuple[str, pd.DataFrame]],
    metrics: Sequence[str] | None = None,
    follow_s: float | None = None,
) -> pd.DataFrame:
    """Several runs side by side: columns (run, strategy), the rows of `how_to_choose`."""
    parts = []
    for label, summary in runs:
        table = _raw(summary, metrics, follow_s)
        table.columns = pd.MultiIndex.from_tuples([(label, s) for s in table.columns])
        parts.append(table)
    # Runs may lack a row another has (a schema change, a section): it reads "–" there, and the rows
    # keep the table's order whatever run brought them.
    table = pd.concat(parts, axis=1, sort=False).fillna(UNDEFINED)
    order = {label: i for i, label in enumerate(_order(follow_s))}
    return _tidy(table.loc[sorted(table.index, key=lambda label: order.get(label, len(order)))])


def _order(follow_s: float | None) -> list[str]:
    """Every row label a table can have, in the table's order."""
    counts = [BAD, CAUGHT, HURT, never_restored(follow_s)]
    safety = [_label(s, stat) for s in SAFETY for stat in s.stats]
    return [SAFETY_HEAD, *counts, *safety, COST_HEAD, *(_label(s, stat) for s in COST for stat in s.stats)]


def bad_releases(summary: pd.DataFrame) -> str:
    """The n of "per bad release (n = …)": one number, or the range when strategies differ (failed runs)."""
    n = summary.loc[summary["metric"] == "escaped_rate", "n"].astype(int)
    lo, hi = (int(n.min()), int(n.max())) if len(n) else (0, 0)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def caption(summary: pd.DataFrame, follow_s: float | None = None) -> list[str]:
    """What the table's cells are, in lines that fit WIDTH: the CLI prints them above the table, the
    app under it."""
    follow = f" ({duration(follow_s)})" if follow_s else ""
    return [
        f"Safety per bad release (n = {bad_releases(summary)}): mean, its 95% CI, median and p90; times are "
        "Kaplan–Meier estimates from the first user hurt,",
        f'over the bad releases that hurt users; "{NOT_REACHED}": more than that share was never restored '
        f"within the follow-up{follow}.",
        "Cost per deploy: mean [95% CI]; rates with Wilson intervals (false rollbacks: % of good releases).",
    ]


# ---- text layout ----


def _display_labels(labels: Sequence[str]) -> list[str]:
    """Row labels with a repeated "title: " prefix blanked, so a metric's statistics read as a group."""
    out, previous = [], ""
    for label in labels:
        title, sep, stat = label.rpartition(": ")
        if sep and title == previous:
            out.append(" " * (len(title) + 2) + stat)
        else:
            out.append(label)
        previous = title if sep else ""
    return out


def _wrap(text: str, width: int) -> list[str]:
    """A header in lines of at most `width`, broken after ", " where it can be, else after a space,
    "_", "-" or ":", else anywhere."""
    lines: list[str] = []
    rest = text
    while len(rest) > width:
        cut = rest.rfind(", ", 0, width)  # between a combination's values first
        cut = cut + 1 if cut > 0 else max(rest.rfind(ch, 0, width + (ch == " ")) for ch in " _-:")
        cut = cut + 1 if cut > 0 else width
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*lines, rest] if rest else lines


def _widths(table: pd.DataFrame, room: int) -> list[int]:
    """Each column's width: its widest cell or its header, whichever is wider, when every column fits
    in `room`; otherwise headers wrap (at their longest word), and columns are at most `room` wide."""
    names = [str(c[-1] if isinstance(c, tuple) else c) for c in table.columns]
    cells = [max((len(v) for v in table.iloc[:, i]), default=0) for i in range(len(names))]
    full = [max(c, len(n), 6) for c, n in zip(cells, names, strict=True)]
    if sum(len(GAP) + w for w in full) <= room:
        return full
    most = max(6, room - len(GAP))
    return [min(most, max(c, max(len(w) for w in _words(n)), 6)) for c, n in zip(cells, names, strict=True)]


def _words(text: str) -> list[str]:
    """The pieces `_wrap` never breaks."""
    pieces, cur = [], ""
    for ch in text:
        cur += ch
        if ch in " _-:":
            pieces.append(cur.strip())
            cur = ""
    return [p for p in [*pieces, cur] if p]


GAP = "  "


def _blocks(groups: list[tuple[str, list[int]]], widths: list[int], room: int) -> list[list[int]]:
    """Columns split into blocks that fit in `room` characters, whole groups where they fit."""
    blocks: list[list[int]] = []
    cur: list[int] = []
    used = 0

    def need(cols: list[int]) -> int:
        return sum(len(GAP) + widths[c] for c in cols)

    for _, cols in groups:
        if cur and used + need(cols) > room:
            blocks.append(cur)
            cur, used = [], 0
        for c in cols:  # a group wider than the room is split across blocks
            if cur and used + need([c]) > room:
                blocks.append(cur)
                cur, used = [], 0
            cur.append(c)
            used += need([c])
    if cur:
        blocks.append(cur)
    return blocks


def format_table(table: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as text no wider than `width`: row labels on the left, a column per strategy (or per
    run and strategy, under a header line per run); too many columns continue in further blocks."""
    labels = _display_labels([str(i) for i in table.index])
    heads = {SAFETY_HEAD, COST_HEAD}
    # Section heads stand on a line of their own: only the other labels set the column's width.
    label_w = max((len(lb) for lb, i in zip(labels, table.index, strict=True) if i not in heads), default=0)
    room = width - label_w
    widths = _widths(table, room)
    two_level = isinstance(table.columns, pd.MultiIndex)
    keys = [c[0] if two_level else "" for c in table.columns]
    groups: list[tuple[str, list[int]]] = []
    for i, key in enumerate(keys):
        if groups and groups[-1][0] == key:
            groups[-1][1].append(i)
        else:
            groups.append((key, [i]))
    for run, cols in groups:
        # A run's name spans its columns, a line per ", "-separated part at most ("pause_s=60,",
        # "max_latency_ratio=1.2"): the last column widens for it (within the room).
        part = max((len(p) for p in str(run).split(", ")), default=0) + 1
        span = sum(widths[c] for c in cols) + len(GAP) * (len(cols) - 1)
        widths[cols[-1]] += max(0, min(part, room - len(GAP)) - span)
    out = []
    for block in _blocks(groups, widths, room):
        lines = _header(table, block, widths, label_w, two_level)
        for label, index, (_, row) in zip(labels, table.index, table.iterrows(), strict=True):
            if index in heads:
                lines.append(str(index))
                continue
            cells = GAP.join(f"{row.iloc[c]:<{widths[c]}}" for c in block)
            lines.append(f"{label:<{label_w}}{GAP}{cells}".rstrip())
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _header(
    table: pd.DataFrame, block: list[int], widths: list[int], label_w: int, two_level: bool
) -> list[str]:
    """The header lines of a block of columns: the run's name over its columns, then each column's."""
    pad = " " * (label_w + len(GAP))
    lines = []
    if two_level:
        spans: list[tuple[str, int]] = []  # (run, width of its columns in this block)
        for c in block:
            run = str(table.columns[c][0])
            if spans and spans[-1][0] == run:
                spans[-1] = (run, spans[-1][1] + len(GAP) + widths[c])
            else:
                spans.append((run, widths[c]))
        wrapped = [_wrap(run, w) for run, w in spans]
        for k in range(max(len(w) for w in wrapped)):
            parts = [
                f"{(w[k] if k < len(w) else ''):<{span}}" for w, (_, span) in zip(wrapped, spans, strict=True)
            ]
            lines.append((pad + GAP.join(parts)).rstrip())
        rule = GAP.join("─" * span for _, span in spans)
        lines.append(pad + rule)
    names = [_wrap(str(table.columns[c][-1] if two_level else table.columns[c]), widths[c]) for c in block]
    for k in range(max(len(n) for n in names)):
        parts = [f"{(n[k] if k < len(n) else ''):<{widths[c]}}" for n, c in zip(names, block, strict=True)]
        lines.append((pad + GAP.join(parts)).rstrip())
    return lines


# ---- JSON ----


def _plain(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


def summary_json(summary: pd.DataFrame, scenario: str, deploys: int, seed: int) -> dict[str, Any]:
    """The summary as one JSON-ready object; NaN (undefined) becomes null.

    {"scenario", "deploys", "seed", "strategies": {NAME: {METRIC: {"n", "censored", "mean", "p50", "p90",
    "p99", "ci95": [lo, hi], "p50_ci95": [lo, hi]}, ..., RATE: {"n", "mean", "ci95"}, ...}}}: every
    metric of `SUMMARY_METRICS`, then every rate of `RATES`.
    """
    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(summary["strategy"]):
        part = summary[summary["strategy"] == strategy].set_index("metric")
        entry: dict[str, Any] = {}
        for m in (*SUMMARY_METRICS, *RATES):
            r = part.loc[m]
            if m in RATES:
                entry[m] = {"n": int(r["n"]), "mean": _plain(r["mean"])}
            else:
                entry[m] = {"n": int(r["n"]), "censored": int(r["censored"])}
                entry[m] |= {k: _plain(r[k]) for k in ("mean", "p50", "p90", "p99")}
                entry[m]["p50_ci95"] = [_plain(r["p50_lo"]), _plain(r["p50_hi"])]
            entry[m]["ci95"] = [_plain(r["ci95_lo"]), _plain(r["ci95_hi"])]
        out[str(strategy)] = entry
    return {"scenario": scenario, "deploys": int(deploys), "seed": int(seed), "strategies": out}
