"""Workshop: representative canaries — a canary only catches what its users meet."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

LESSON = Lesson(
    key="ws3",
    title="Representative canaries",
    question=(
        "A bug breaks a code path only EU users take. The canary sits behind the US ingress. Does it "
        "catch the bug?"
    ),
    look_for=(
        "Look at the segment_bug bars of canary and progressive. While EU users never reach the canary, "
        "the bug passes every check and is promoted to everyone — they escape it about as often as "
        "blue-green, which has no canary at all. Let EU users into the slice in their usual proportion "
        "and the same checks catch it while it is small."
    ),
    why=(
        "A canary is a sample of production, and its checks can only judge the requests in the sample. "
        "Routing by region, platform, customer tier or header can leave whole groups of users out of "
        "it; a fault in their code path stays invisible until the rollout reaches them — at 100%. The "
        "whole-service burn-rate alert catches it then, with everyone on the bad version."
    ),
    chart=lambda rows, summary: plots.escapes_by_fault(rows),
    metrics=("escaped_rate", "faulty_requests", "affected_users"),
    scenario=lambda value: "unrepresentative-canary",
    overrides=lambda value: [f"routing.canary_bias.segments.eu={value}"],
)


def knob(key: str) -> float:
    return st.select_slider(
        "EU users in the canary slice, relative to their share of traffic (0: none, 1: as in production)",
        [0.0, 0.25, 0.5, 0.75, 1.0],
        value=0.0,
        key=key,
        persist_state=PERSIST,
    )


page(LESSON, knob)
