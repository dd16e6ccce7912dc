"""The frame of a workshop page: a question, one knob, the chart that answers it, the numbers behind it.

A lesson's knob becomes `--set` overrides of a shipped scenario, so the page validates it the way the
CLI does and can show the command that reproduces the chart. Each lesson opens at its own knob value
and deploy count, chosen so that the comparison it teaches stands outside the noise at the page's
seed; `tests/test_workshop_lessons.py` runs every page at those defaults and checks it does.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

import sim
from sim import ConfigError

from . import runs, show

#: The seed every workshop page opens with (the Run settings change it, for every page at once).
SEED = 42
SEED_KEY = "ws.seed"
DEPLOY_CHOICES = (10, 30, 100, 200, 300, 500, 1000, 2000)
PERSIST = "session"

Chart = Callable[[pd.DataFrame, pd.DataFrame], Figure]

#: How a reading is summarised. Medians for per-bad-release counts and durations: one release that
#: reached everyone and went unnoticed for days moves a mean more than every other release together.
#: Rates with their Wilson intervals. Means for what every deploy pays (instance-hours, failed
#: requests), where the total is the point.
STATS = ("median", "rate", "mean")
UNITS = ("count", "duration", "share", "hours")


@dataclass(frozen=True)
class Reading:
    """One number a lesson is read from: a metric of `sim.summarize`, the statistic that carries the
    lesson, and how to show it."""

    metric: str
    stat: str  # one of STATS
    label: str  # the column's heading
    unit: str = "count"  # one of UNITS

    def __post_init__(self) -> None:
        if self.stat not in STATS or self.unit not in UNITS:
            raise ValueError(f"{self.metric}: stat {self.stat!r} or unit {self.unit!r} unknown")


@dataclass(frozen=True)
class Lesson:
    key: str  # this page's widget keys start with it
    title: str
    question: str
    look_for: str
    why: str
    chart: Chart
    readings: tuple[Reading, ...]  # the numbers shown under the chart
    scenario: Callable[[Any], str]  # the shipped scenario, given the knob's value
    default: Any  # the knob's value when the page opens
    deploys: int  # deploys per strategy when the page opens (one of DEPLOY_CHOICES)
    overrides: Callable[[Any], list[str]] = lambda value: []
    strategies: Sequence[str] | None = None  # None: the scenario's own
    split: str | None = None  # also show each strategy's bad releases grouped by this row column

    def __post_init__(self) -> None:
        if self.deploys not in DEPLOY_CHOICES:
            raise ValueError(f"{self.key}: {self.deploys} deploys is not one of {DEPLOY_CHOICES}")

    @property
    def knob_key(self) -> str:
        return f"{self.key}.knob"

    @property
    def deploys_key(self) -> str:
        return f"{self.key}.deploys"

    def build(self, value: Any) -> sim.Scenario:
        """The scenario the page runs for a knob value, with the strategies it compares (a
        ConfigError for a value the scenario refuses)."""
        scn = sim.load_scenario(self.scenario(value), overrides=self.overrides(value))
        return scn.only(list(self.strategies or scn.strategies))


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "–"
    if unit == "duration":
        return duration(value)
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "hours":
        return f"{value:.1f}"
    return f"{value:,.0f}"


def cell(summary: pd.DataFrame, strategy: str, reading: Reading) -> str:
    """A reading of one strategy as "value [95% interval]"."""
    row = summary[(summary["strategy"] == strategy) & (summary["metric"] == reading.metric)]
    if row.empty:
        return "–"
    r = row.iloc[0]
    columns = ("p50", "p50_lo", "p50_hi") if reading.stat == "median" else ("mean", "ci95_lo", "ci95_hi")
    value, lo, hi = (r[c] for c in columns)
    text = _number(float(value), reading.unit)
    if text == "–" or math.isnan(float(lo)):
        return text
    return f"{text} [{_number(float(lo), reading.unit)}, {_number(float(hi), reading.unit)}]"


def numbers(lesson: Lesson, rows: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The lesson's readings per strategy (and, with `split`, per group of its bad releases): each cell
    the statistic its column names with its 95% interval, as `sim.summarize` computes them."""
    records = []
    strategies = list(dict.fromkeys(summary["strategy"]))
    groups: list[tuple[str, pd.DataFrame]] = [("every release", summary)]
    if lesson.split is not None:
        bad = rows[rows["release_bad"].fillna(False).astype(bool)]
        for group in sorted(g for g in bad[lesson.split].dropna().unique() if g):
            groups.append((str(group), sim.summarize(bad[bad[lesson.split] == group])))
    for strategy in strategies:
        for group, part in groups:
            n = part[(part["strategy"] == strategy) & (part["metric"] == "escaped_rate")]["n"]
            record = {"strategy": strategy}
            if lesson.split is not None:
                record[lesson.split.replace("_", " ")] = group
            record["bad releases"] = int(n.iloc[0]) if len(n) else 0
            record.update({r.label: cell(part, strategy, r) for r in lesson.readings})
            records.append(record)
    return pd.DataFrame(records).set_index("strategy")


def run_settings(lesson: Lesson) -> tuple[int, int]:
    with st.expander("Run settings"):
        left, right = st.columns(2)
        deploys = left.select_slider(
            "Deploys per strategy",
            DEPLOY_CHOICES,
            value=lesson.deploys,
            key=lesson.deploys_key,
            persist_state=PERSIST,
        )
        seed = right.number_input(
            "Seed (shared by the workshop pages)",
            min_value=0,
            value=SEED,
            step=1,
            key=SEED_KEY,
            persist_state=PERSIST,
        )
        st.caption(
            f"This page opens at {lesson.deploys:,} deploys per strategy: enough, at seed {SEED}, that the "
            "comparison it teaches lies outside the 95% intervals. Fewer run faster, and their intervals "
            "may overlap."
        )
    return int(deploys), int(seed)


def command(lesson: Lesson, value: Any, deploys: int, seed: int, strategies: Sequence[str]) -> str:
    parts = ["deploysim", "run", lesson.scenario(value), "--deploys", str(deploys), "--seed", str(seed)]
    for item in lesson.overrides(value):
        parts += ["--set", item]
    if lesson.strategies is not None:
        for s in strategies:
            parts += ["--strategy", s]
    return shlex.join(parts)


CAPTION = (
    "Each cell: the statistic its column names and, in brackets, its 95% interval. Medians are per bad "
    "release (times from the first user the fault hurt, Kaplan–Meier: a release not restored within the "
    "follow-up counts as still open); a median of blast radius leaves out the few bad releases nobody "
    "caught within the follow-up, a mean would be dominated by them. Rates carry Wilson intervals; means "
    "are per deploy."
)


def page(lesson: Lesson, knob: Callable[[str], Any]) -> None:
    """Draw the lesson; `knob(key)` draws its one control and returns the value."""
    st.title(lesson.title)
    st.info(f"**{lesson.question}**")
    value = knob(lesson.knob_key)
    asked, seed = run_settings(lesson)
    try:
        scn = lesson.build(value)
    except ConfigError as err:
        # The knob's value reached the scenario as an override: name the key, not the CLI flag.
        st.error(str(err.located(None) if err.source != "--set" else ConfigError(err.message, err.path)))
        return
    strategies = list(scn.strategies)
    deploys, note = runs.cap(scn, asked, len(strategies))
    if note:
        st.warning(note)
    runs.warm(deploys, len(strategies))
    res = runs.batch(scn, deploys, seed, strategies)
    name = f"lesson-{lesson.key}"
    if name not in res.pngs:
        res.pngs[name] = runs.figure_png(lesson.chart(res.rows, res.summary))
    show.png(res.pngs[name], name, res.name)
    st.markdown(f"**What to look for.** {lesson.look_for}")
    # Sized like every table that compares strategies, to fit a 1,280 px window.
    show.comparison(numbers(lesson, res.rows, res.summary), [CAPTION], key=f"{lesson.key}.table")
    with st.expander("Why it happens"):
        st.markdown(lesson.why)
    st.caption("The same run from the command line:")
    st.code(command(lesson, value, deploys, seed, strategies), language="bash")
