"""The frame of a workshop page: a question, one knob, the chart that answers it, the numbers behind it.

A lesson's knob becomes `--set` overrides of a shipped scenario, so the page validates it the way the
CLI does and can show the command that reproduces the chart.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

import sim
from sim.errors import ConfigError
from sim.report import caption, how_to_choose

from . import runs, show

#: The workshop's run settings, shared by every lesson page (and kept across them).
DEPLOYS_KEY, SEED_KEY = "ws.deploys", "ws.seed"
DEPLOY_CHOICES = (10, 30, 100, 200, 500, 1000)
PERSIST = "session"

Chart = Callable[[pd.DataFrame, pd.DataFrame], Figure]


@dataclass(frozen=True)
class Lesson:
    key: str  # this page's widget keys start with it
    title: str
    question: str
    look_for: str
    why: str
    chart: Chart
    metrics: tuple[str, ...]  # the comparison table's metrics shown under the chart
    scenario: Callable[[Any], str]  # the shipped scenario, given the knob's value
    overrides: Callable[[Any], list[str]] = lambda value: []
    strategies: Sequence[str] | None = None  # None: the scenario's own

    @property
    def knob_key(self) -> str:
        return f"{self.key}.knob"


def run_settings() -> tuple[int, int]:
    with st.expander("Run settings (shared by the workshop pages)"):
        left, right = st.columns(2)
        deploys = left.select_slider(
            "Deploys per strategy", DEPLOY_CHOICES, value=100, key=DEPLOYS_KEY, persist_state=PERSIST
        )
        seed = right.number_input("Seed", min_value=0, value=42, step=1, key=SEED_KEY, persist_state=PERSIST)
    return int(deploys), int(seed)


def command(lesson: Lesson, value: Any, deploys: int, seed: int, strategies: Sequence[str]) -> str:
    parts = ["deploysim", "run", lesson.scenario(value), "--deploys", str(deploys), "--seed", str(seed)]
    for item in lesson.overrides(value):
        parts += ["--set", item]
    if lesson.strategies is not None:
        for s in strategies:
            parts += ["--strategy", s]
    return shlex.join(parts)


def page(lesson: Lesson, knob: Callable[[str], Any]) -> None:
    """Draw the lesson; `knob(key)` draws its one control and returns the value."""
    st.title(lesson.title)
    st.info(f"**{lesson.question}**")
    value = knob(lesson.knob_key)
    deploys, seed = run_settings()
    try:
        scn = sim.load_scenario(lesson.scenario(value), overrides=lesson.overrides(value))
        strategies = list(lesson.strategies or scn.strategies)
        scn = scn.only(strategies)
    except ConfigError as err:
        # The knob's value reached the scenario as an override: name the key, not the CLI flag.
        st.error(str(err.located(None) if err.source != "--set" else ConfigError(err.message, err.path)))
        return
    res = runs.batch(scn, deploys, seed, strategies)
    name = f"lesson-{lesson.key}"
    if name not in res.pngs:
        res.pngs[name] = runs.figure_png(lesson.chart(res.rows, res.summary))
    show.png(res.pngs[name], name, res.name)
    st.markdown(f"**What to look for.** {lesson.look_for}")
    table = how_to_choose(res.summary, lesson.metrics, follow_s=res.follow_s)
    show.comparison(table, caption(res.summary, res.follow_s), key=f"{lesson.key}.table")
    with st.expander("Why it happens"):
        st.markdown(lesson.why)
    st.caption("The same run from the command line:")
    st.code(command(lesson, value, deploys, seed, strategies), language="bash")
