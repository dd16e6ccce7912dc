"""Workshop: representative canaries — a canary only catches what its users meet."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

LESSON = Lesson(
    key="ws3",
    title="Representative canaries",
    question=(
        "A bug breaks a code path only EU users take. The canary sits behind the US ingress. Does it "
        "catch the bug?"
    ),
    look_for=(
        "Read the segment_bug rows. With no EU users in the slice, the manual canary and progressive "
        "promote nearly every EU-only bug to everyone — no less often than blue-green, which has no "
        "canary at all — while they still stop most of the crashes and error-rate faults that every "
        "region meets. The EU bugs are found only once everyone has them, mostly by the whole-service "
        "burn-rate alert. Let EU users into the slice in their usual proportion and the same checks stop "
        "the EU bugs at the first steps."
    ),
    why=(
        "A canary is a sample of production, and its checks can only judge the requests in the sample. "
        "Routing by region, platform, customer tier or header can leave whole groups of users out of "
        "it; a fault in their code path stays invisible until the rollout reaches them — at 100%. The "
        "more the slice looks like your traffic, the more of your faults it can see."
    ),
    chart=lambda rows, summary: plots.escapes_by_fault(rows),
    readings=(
        Reading("escaped_rate", "rate", "reached everyone", "share"),
        Reading("faulty_requests", "median", "faulty requests (median)"),
        Reading("time_to_restore_s", "median", "time to restore (median)", "duration"),
    ),
    scenario=lambda value: "unrepresentative-canary",
    default=0.0,
    deploys=300,
    overrides=lambda value: [f"routing.canary_bias.segments.eu={value}"],
    split="fault_kind",
)


def knob(key: str) -> float:
    return st.select_slider(
        "EU users in the canary slice, relative to their share of traffic (0: none, 1: as in production)",
        [0.0, 0.25, 0.5, 0.75, 1.0],
        value=LESSON.default,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
