"""Workshop: blast radius vs time to recover — where each strategy lands, and what keeps blue-green fast."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

DELAYS = {0: "0 s", 30: "30 s", 300: "5 min", 1800: "30 min", 7200: "2 h"}

LESSON = Lesson(
    key="ws1",
    title="Blast radius vs time to recover",
    question=(
        "A bad release hurts in two ways: how much traffic meets it, and for how long. Which strategies "
        "keep it small, which undo it fast — and what does blue-green's fast undo depend on?"
    ),
    look_for=(
        "Recreate lands top right: every user meets the release, and undoing it means starting the old "
        "version again. Canary and progressive stay low, because only their slice meets it. Blue-green "
        "sits top left while the old fleet is still running: undo is one switch of the router. Shorten "
        "how long it keeps the old fleet and its points slide right — a bad release found after the old "
        "fleet is gone waits for replicas to start. The price of keeping it is in the extra instance-hours."
    ),
    why=(
        "Blast radius is set by how much traffic the new version takes before anyone judges it; time to "
        "recover by what undo has to do. Shifting weight back is a config change that takes seconds. "
        "Starting replicas — scheduling, pulling, warming up — takes minutes. Recreate and blue-green "
        "expose everyone at once; blue-green buys back fast recovery with a second fleet, for as long "
        "as it pays for it. The burn-rate alert and a person answering the page decide when detection "
        "happens; the strategy decides how much traffic met the release by then."
    ),
    chart=lambda rows, summary: plots.blast_vs_recovery(rows),
    metrics=("exposure_at_detection", "time_to_restore_s", "extra_instance_hours"),
    scenario=lambda value: "default",
    overrides=lambda value: [f"strategies.blue_green.scale_down_delay_s={value}"],
)


def knob(key: str) -> int:
    return st.select_slider(
        "How long blue-green keeps the old fleet after the cut-over",
        list(DELAYS),
        value=1800,
        format_func=DELAYS.get,
        key=key,
        persist_state=PERSIST,
    )


page(LESSON, knob)
