"""A release history (`--incidents FILE`): its reader, the bad-release and fault-mix fit, DORA's two figures.

The history is a CSV of past deploys, one a line: `time` (ISO 8601 or epoch seconds), `bad`
(true/false/1/0: the deploy needed a rollback or a fix), `kind` (optional: the fault, one of the
scenario's fault kinds) and `time_to_restore_s` (optional, for bad ones). A history sees only the
bad releases that reached users, so its bad share is the change failure rate, and it fits
`releases.bad_probability` as the rate at which faults reach users (a strategy with a smoke test
then shows a lower simulated rate than the history, as it would in life).

DORA's figures (the 2024 report's tiers, `TIERS`) are read the same way off simulated rows: a change
failure is a deploy whose bad release reached users (`release_bad`, and `time_to_restore_s` set or
the release censored), and the recovery time is the Kaplan–Meier median of `time_to_restore_s`.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..config.faults import FAULT_KINDS
from ..config.scenario import load_scenario
from ..core.errors import ConfigError
from ..core.files import write_atomic

if TYPE_CHECKING:
    import pandas as pd

#: A history file larger than this is refused before it is read (a decade of deploys every few
#: minutes fits in a few megabytes).
MAX_BYTES = 32 * 1024 * 1024
#: Deploys a history may list.
MAX_ROWS = 1_000_000
#: Characters a field may hold (a timestamp or a kind is short; a longer one is not a history).
MAX_FIELD = 64
COLUMNS = ("time", "bad", "kind", "time_to_restore_s")
REQUIRED = ("time", "bad")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")

HOUR, DAY = 3600.0, 86400.0


class Tier(NamedTuple):
    """One performance level of the 2024 DORA report's table."""

    name: str
    change_failure_rate: float
    restore_s: tuple[float, float]  # the recovery time's band, [from, to)


#: "Accelerate State of DevOps Report 2024", DORA / Google Cloud: the software delivery performance
#: levels' change failure rate and failed deployment recovery time.
TIERS: tuple[Tier, ...] = (
    Tier("elite", 0.05, (0.0, HOUR)),
    Tier("high", 0.20, (0.0, DAY)),
    Tier("medium", 0.10, (0.0, DAY)),
    Tier("low", 0.40, (7 * DAY, 30 * DAY)),
)


def rate_tier(rate: float) -> str:
    """The tier whose change failure rate is nearest on a log scale (the tiers' figures are 5%,
    10%, 20%, 40%: each boundary is the geometric mean of its neighbours)."""
    if not rate > 0:
        return "elite"
    return min(TIERS, key=lambda t: abs(math.log(rate / t.change_failure_rate))).name


def restore_tier(restore_s: float) -> str:
    """Under an hour elite, under a day high or medium; a day or more low (the report has no tier
    between a day and a week; low's band starts at a week)."""
    if restore_s < HOUR:
        return "elite"
    return "high/medium" if restore_s < DAY else "low"


@dataclass(frozen=True)
class History:
    """A release history as read: one entry per deploy, in the file's order."""

    source: str
    times: np.ndarray  # epoch seconds
    bad: np.ndarray  # bool
    kinds: tuple[str | None, ...]  # None where not given
    restore_s: np.ndarray  # NaN where not given


def _fail(source: str, where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}", source=source)


def _time(text: str, source: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(
                source,
                where,
                f"{text!r} is not a time (ISO 8601, e.g. 2024-05-01T12:00:00Z, or epoch seconds)",
            ) from None
        # A stamp without a zone is read as UTC, the usual zone of deploy logs.
        return stamp.timestamp() if stamp.tzinfo else stamp.replace(tzinfo=UTC).timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise _fail(source, where, f"{text!r} is not a time (epoch seconds from 0 to 1e11, or ISO 8601)")
    return value


def read_history(path: str | Path, kinds: Sequence[str] = FAULT_KINDS) -> History:
    """Read a history CSV; anything wrong raises ConfigError naming the file, the row or column and
    the values allowed. `kinds`: the fault kinds a `kind` may name (the scenario's)."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"is {size:,} bytes; a history may hold at most {MAX_BYTES:,}", source=source)
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)  # a file that grows while read is still bounded
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a folder; give a CSV file", source=source) from None
    except OSError as err:
        raise ConfigError(f"cannot be read: {err.strerror or err}", source=source) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"holds more than {MAX_BYTES:,} bytes", source=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"is not UTF-8 text (byte {err.start})", source=source) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ConfigError(
                f"is empty; a history needs a header row with {', '.join(COLUMNS)}", source=source
            )
        names = [h.strip().lower()[:MAX_FIELD] for h in header]
        for name in names:
            if name not in COLUMNS:
                raise _fail(
                    source, "header", f"unknown column {name[:MAX_FIELD]!r}; allowed: {', '.join(COLUMNS)}"
                )
        if len(set(names)) < len(names):
            raise _fail(source, "header", "a column is named twice")
        for need in REQUIRED:
            if need not in names:
                raise _fail(source, "header", f"missing column {need!r} (required: {', '.join(REQUIRED)})")
        col = {n: i for i, n in enumerate(names)}
        times: list[float] = []
        bad: list[bool] = []
        kind_of: list[str | None] = []
        restore: list[float] = []
        for fields in reader:
            row = reader.line_num
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if len(times) >= MAX_ROWS:
                raise _fail(source, f"row {row}", f"a history may list at most {MAX_ROWS:,} deploys")
            if len(fields) != len(names):
                raise _fail(source, f"row {row}", f"has {len(fields)} fields; the header has {len(names)}")
            for name, i in col.items():
                if len(fields[i]) > MAX_FIELD:
                    where = f"row {row}, column {name}"
                    raise _fail(source, where, f"holds {len(fields[i]):,} characters; at most {MAX_FIELD}")
            cell = {n: fields[i].strip() for n, i in col.items()}
            times.append(_time(cell["time"], source, f"row {row}, column time"))
            flag = cell["bad"].lower()
            if flag not in TRUE + FALSE:
                raise _fail(
                    source,
                    f"row {row}, column bad",
                    f"{cell['bad'][:MAX_FIELD]!r}; allowed: true, false, 1, 0",
                )
            bad.append(flag in TRUE)
            kind = cell.get("kind") or None
            if kind is not None and kind not in kinds:
                raise _fail(
                    source, f"row {row}, column kind", f"{kind[:MAX_FIELD]!r}; allowed: {', '.join(kinds)}"
                )
            if kind is not None and not bad[-1]:
                raise _fail(
                    source, f"row {row}, column kind", "a good deploy has no fault kind; leave it empty"
                )
            kind_of.append(kind)
            restore.append(_restore(cell.get("time_to_restore_s", ""), bad[-1], source, row))
    except csv.Error as err:
        raise _fail(source, f"row {reader.line_num}", f"not CSV ({err})") from None
    if not times:
        raise ConfigError("lists no deploys (a header and no rows)", source=source)
    return History(source, np.array(times), np.array(bad, bool), tuple(kind_of), np.array(restore))


def _restore(text: str, bad: bool, source: str, row: int) -> float:
    where = f"row {row}, column time_to_restore_s"
    if not text:
        return math.nan
    if not bad:
        raise _fail(source, where, "a good deploy has no time to restore; leave it empty")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise _fail(source, where, f"{text[:MAX_FIELD]!r}; allowed: seconds, a number ≥ 0")
    return value


class Share(NamedTuple):
    """A fitted share and its Wilson interval."""

    value: float
    low: float
    high: float
    hits: int
    of: int


@dataclass(frozen=True)
class Fit:
    """What a history says: the rate of bad releases and the mix of their faults."""

    deploys: int
    span_s: float
    bad_probability: Share
    mix: dict[str, Share]  # kind → its share among the bad releases whose kind is given
    untyped: int  # bad releases without a kind
    restore_s: list[float]  # survival(): [n, censored, mean, p50, p90, p99, mean CI, median CI]
    level: float


def fit(history: History, level: float = 0.95) -> Fit:
    """The bad-release probability with its Wilson interval at `level`, and each fault kind's share
    with Wilson intervals Bonferroni-corrected over the kinds seen (jointly at `level`)."""
    from ..results.summary import survival, wilson

    n, k = len(history.bad), int(history.bad.sum())
    typed = [x for x in history.kinds if x is not None]
    seen = sorted(set(typed), key=typed.index)
    each = 1 - (1 - level) / max(1, len(seen))
    mix = {
        kind: Share(
            typed.count(kind) / len(typed),
            *wilson(typed.count(kind), len(typed), each),
            typed.count(kind),
            len(typed),
        )
        for kind in seen
    }
    restore = history.restore_s[history.bad & ~np.isnan(history.restore_s)]
    return Fit(
        deploys=n,
        span_s=float(history.times.max() - history.times.min()),
        bad_probability=Share(k / n, *wilson(k, n, level), k, n),
        mix=mix,
        untyped=k - len(typed),
        restore_s=survival(restore, np.ones(len(restore), bool), level),
        level=level,
    )


def fitted_scenario(base: Mapping[str, Any], result: Fit) -> dict[str, Any]:
    """`base` (a scenario's dict) with `releases.bad_probability` and the fault weights replaced by
    the fit's; a kind the history never names keeps its severity but gets weight 0. Without any
    kinds in the history, the mix is left as it was."""
    out = {**base, "releases": dict(base.get("releases", {}))}
    rel = out["releases"]
    rel["bad_probability"] = round(result.bad_probability.value, 6)
    if result.mix:
        faults = {kind: dict(spec) for kind, spec in rel.get("faults", {}).items()}
        for kind in faults:
            faults[kind]["weight"] = round(result.mix[kind].value, 6) if kind in result.mix else 0.0
        rel["faults"] = faults
    return out


# ---- DORA's figures from simulated rows ----


def dora_figures(rows: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per strategy of simulated rows: deploys, change failures, the change failure rate with its
    Wilson interval, the recovery time's Kaplan–Meier median with its interval (s), and the tier
    each figure falls in (`rate_tier`, `restore_tier`)."""
    import pandas as pd

    from ..results.summary import change_failed, durations, survival, wilson

    out = []
    for strategy, part in rows.groupby("strategy", sort=False):
        spans, ended = durations(part, "time_to_restore_s")
        failures, n = int(change_failed(part).sum()), len(part)
        lo, hi = wilson(failures, n, level)
        km = survival(spans, ended, level)
        out.append(
            {
                "strategy": strategy,
                "deploys": n,
                "change_failures": failures,
                "change_failure_rate": failures / n if n else math.nan,
                "rate_low": lo,
                "rate_high": hi,
                "restore_p50_s": km[3],
                "restore_low_s": km[8],
                "restore_high_s": km[9],
                "rate_tier": rate_tier(failures / n) if n else "",
                "restore_tier": restore_tier(km[3]) if math.isfinite(km[3]) else "",
            }
        )
    return pd.DataFrame(out)


def compare(history: History, rows: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The history's change failure rate and median time to restore beside each simulated strategy's
    (`dora_figures`), with a row `history` first."""
    import pandas as pd

    own = fit(history, level)
    mine = {
        "strategy": "history",
        "deploys": own.deploys,
        "change_failures": own.bad_probability.hits,
        "change_failure_rate": own.bad_probability.value,
        "rate_low": own.bad_probability.low,
        "rate_high": own.bad_probability.high,
        "restore_p50_s": own.restore_s[3],
        "restore_low_s": own.restore_s[8],
        "restore_high_s": own.restore_s[9],
        "rate_tier": rate_tier(own.bad_probability.value),
        "restore_tier": restore_tier(own.restore_s[3]) if math.isfinite(own.restore_s[3]) else "",
    }
    return pd.concat([pd.DataFrame([mine]), dora_figures(rows, level)], ignore_index=True)


# ---- the command ----


def describe(result: Fit) -> list[str]:
    """The fit, as lines for a terminal."""
    pct = round(result.level * 100)
    b = result.bad_probability
    days = result.span_s / DAY
    lines = [
        f"{result.deploys:,} deploys over {days:.1f} days"
        + (f" ({result.deploys / days:.2f} a day)" if days > 0 else ""),
        f"bad_probability: {b.value:.4f}  ({b.hits} of {b.of}; {pct}% Wilson interval "
        f"{b.low:.4f}–{b.high:.4f})  change failure rate tier: {rate_tier(b.value)}",
    ]
    if result.mix:
        lines.append(f"fault mix ({pct}% Wilson intervals, Bonferroni over {len(result.mix)} kinds):")
        lines += [
            f"  {kind}: {s.value:.3f}  ({s.hits} of {s.of}; {s.low:.3f}–{s.high:.3f})"
            for kind, s in result.mix.items()
        ]
    if result.untyped:
        lines.append(f"{result.untyped} bad deploys name no kind (not in the mix)")
    r = result.restore_s
    if r[0]:
        lines.append(
            f"time to restore: median {r[3] / HOUR:.2f} h "
            f"({pct}% interval {r[8] / HOUR:.2f}–{r[9] / HOUR:.2f} h) "
            f"over {int(r[0])} bad deploys; tier: {restore_tier(r[3])}"
        )
    return lines


def register(sub: Any) -> None:
    """Add `deploysim incidents FILE [--scenario NAME] [-o scenario.yaml]`."""
    p = sub.add_parser("incidents", help="fit the bad-release rate and fault mix from a release history CSV")
    p.add_argument(
        "file", metavar="FILE", help="CSV: time, bad, kind (optional), time_to_restore_s (optional)"
    )
    p.add_argument(
        "--scenario", metavar="NAME", help="its fault kinds; with -o, the scenario to write fitted"
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the fitted scenario here (needs --scenario)")
    p.set_defaults(handler=incidents_command)


def incidents_command(args: argparse.Namespace) -> int:
    if args.output and not args.scenario:
        raise ConfigError("give --scenario: the scenario whose release mix to replace", ("--output",))
    scn = load_scenario(args.scenario) if args.scenario else None
    kinds = tuple(scn.releases.faults) if scn is not None else FAULT_KINDS
    result = fit(read_history(args.file, kinds))
    if scn is not None and args.output:
        import yaml

        out = fitted_scenario(scn.to_dict(), result)
        load_scenario(out)  # what is written loads
        b = result.bad_probability
        # A file name is the user's text: a line break in it would end the comment and start YAML.
        name = "".join(c if c.isprintable() else "?" for c in str(args.file))
        note = (
            f"# {scn.name}, with releases.bad_probability and the fault weights fitted from {name}\n"
            f"# ({result.deploys} deploys; bad_probability {b.value:.4f}, 95% Wilson interval "
            f"{b.low:.4f}–{b.high:.4f}): `deploysim incidents {name}` prints the whole fit.\n"
        )
        write_atomic(Path(args.output), note + yaml.safe_dump(out, sort_keys=False))
    print("\n".join(describe(result)))
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
