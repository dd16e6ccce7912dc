"""Workshop: flags vs canaries — a flag limits the behaviour it guards, a canary the binary around it."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

LESSON = Lesson(
    key="ws6",
    title="Flags vs canaries",
    question=(
        "Deploying code and releasing a behaviour can be two steps: ship the binary with the new path "
        "dark, then turn it on for growing cohorts behind a flag. When is the flag enough, and when "
        "does the binary still need a canary?"
    ),
    look_for=(
        "When every fault lies behind the flag, flag alone does as well as canary_flag: only the "
        "flag's cohort met it, and the kill switch undoes it in seconds. Move faults out of the flag — "
        "a crash at start-up, a dependency upgrade — and flag ships them to everyone at once: exposure "
        "near 100% and a rollback that redeploys. canary_flag's binary canary still holds them to its slice."
    ),
    why=(
        "A flag can only limit what it guards. The rest of the binary — its dependencies, its start-up, "
        "its shared code — reaches every user the moment the binary does. Flags and canaries are not "
        "alternatives: a canary limits the new binary, the flag limits the new behaviour, and the kill "
        "switch undoes the behaviour without a deploy."
    ),
    chart=lambda rows, summary: plots.means(
        summary, ["exposure_at_detection", "time_to_restore_s", "faulty_requests"]
    ),
    metrics=("exposure_at_detection", "time_to_restore_s", "faulty_requests", "affected_users"),
    scenario=lambda value: "flagged-release",
    overrides=lambda value: [f"releases.flagged_share={value}"],
)


def knob(key: str) -> float:
    return st.select_slider(
        "Share of faults in the code behind the flag",
        [0.0, 0.25, 0.5, 0.7, 1.0],
        value=0.7,
        key=key,
        persist_state=PERSIST,
    )


page(LESSON, knob)
