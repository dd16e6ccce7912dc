"""Workshop: blast radius vs time to restore — where each strategy lands, and what keeps blue-green's
undo fast."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

DELAYS = {0: "0 s", 30: "30 s", 300: "5 min", 1800: "30 min", 7200: "2 h"}

LESSON = Lesson(
    key="ws1",
    title="Blast radius vs time to restore",
    question=(
        "A bad release hurts in two ways: how many requests meet it, and for how long. Which strategies "
        "keep it small, which end it soon — and what does blue-green's instant undo depend on?"
    ),
    look_for=(
        "Read the medians: they describe the typical bad release, where a mean is swamped by the few "
        "that nobody noticed for days. Canary and progressive keep the blast radius small: their median "
        "bad release meets a small fraction of the requests it meets under recreate or blue-green, which "
        "move everyone at once. Time to restore counts from the first user hurt, and most of it is the "
        "wait for someone to notice: progressive's analysis notices within minutes, the manual canary's "
        "person a little later, while blue-green's bad releases pass its smoke test, reach everyone and "
        "wait for the burn-rate alert or for users' reports. Time to repair is the undo alone. Blue-green "
        "flips the router back only while its old fleet still runs, and after 30 minutes most of its bad "
        "releases have not been noticed yet, so its median repair is a redeploy. Keep the old fleet for "
        "two hours and the median repair becomes the flip — for several times the extra instance-hours — "
        "while its time to restore stays longer than progressive's: users sit through the wait to "
        "notice, not the undo."
    ),
    why=(
        "Blast radius is set by how much traffic the new version carries before anyone judges it, and "
        "by how soon the judgement comes. Time to restore has two parts. Detection: a controller that "
        "compares the canary with the stable version every minute sees a difference within minutes; "
        "once a release serves everyone there is nothing left to compare it with, and it takes the "
        "burn-rate alert, a slow-burn ticket or users' complaints — minutes, hours or days, depending "
        "on how bad it is. Repair: moving traffic back is a routing change of seconds, but only while "
        "the old version still runs; once its replicas are gone they must be scheduled, started and "
        "warmed first. Recreate always repairs by redeploying, and is down while it does. Blue-green "
        "buys the fast flip with a second fleet, for as long as it pays for it."
    ),
    chart=lambda rows, summary: plots.blast_vs_recovery(rows),
    readings=(
        Reading("faulty_requests", "median", "faulty requests per bad release (median)"),
        Reading("time_to_restore_s", "median", "time to restore (median)", "duration"),
        Reading("time_to_repair_s", "median", "time to repair: the undo (median)", "duration"),
        Reading("escaped_rate", "rate", "bad releases that reached everyone", "share"),
        Reading("extra_instance_hours", "mean", "extra instance-hours per deploy (mean)", "hours"),
    ),
    scenario=lambda value: "default",
    default=1800,
    deploys=1000,
    overrides=lambda value: [f"strategies.blue_green.scale_down_delay_s={value}"],
)


def knob(key: str) -> int:
    return st.select_slider(
        "How long blue-green keeps the old fleet after the cut-over",
        list(DELAYS),
        value=LESSON.default,
        format_func=DELAYS.get,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
