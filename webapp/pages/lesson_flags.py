"""Workshop: flags vs canaries — a flag limits the behaviour it guards, a canary the binary around it."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

LESSON = Lesson(
    key="ws6",
    title="Flags vs canaries",
    question=(
        "Deploying code and releasing a behaviour can be two steps: ship the binary with the new path "
        "dark, then turn it on for growing cohorts behind a flag. When is the flag enough, and when "
        "does the binary still need a canary?"
    ),
    look_for=(
        "Read the rows by fault layer. A fault in the flagged code path meets only the flag's first "
        "cohorts — or nobody, when the dark launch's shadow calls catch it — and the kill switch undoes "
        "it in seconds, no redeploy. A fault elsewhere in the binary is out of the flag's reach: flag "
        "ships the binary to every replica at once, so those releases reach everyone, meet far more "
        "requests, and need the binary rolled back, which takes minutes, not seconds. canary_flag's "
        "binary canary stops most of them at its slice. Slide the share to 1 and flag alone does as "
        "well as canary_flag; slide it to 0 and flag is an all-at-once deploy with a flag on top."
    ),
    why=(
        "A flag can only limit what it guards. The rest of the binary — its dependencies, its start-up, "
        "its shared code — reaches every user the moment the binary does. Flags and canaries are not "
        "alternatives: a canary limits the new binary, the flag limits the new behaviour, and the kill "
        "switch undoes the behaviour without a deploy. Doing both costs time: the binary's canary, then "
        "the flag's ramp, one after the other."
    ),
    chart=lambda rows, summary: plots.blast_radius(rows),
    readings=(
        Reading("escaped_rate", "rate", "reached everyone", "share"),
        Reading("faulty_requests", "median", "faulty requests (median)"),
        Reading("time_to_repair_s", "median", "time to repair: the undo (median)", "duration"),
        Reading("time_to_restore_s", "median", "time to restore (median)", "duration"),
    ),
    scenario=lambda value: "flagged-release",
    default=0.7,
    deploys=500,
    overrides=lambda value: [f"releases.flagged_share={value}"],
    split="fault_layer",
)


def knob(key: str) -> float:
    return st.select_slider(
        "Share of faults in the code behind the flag",
        [0.0, 0.25, 0.5, 0.7, 1.0],
        value=LESSON.default,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
