"""Workshop: noisy neighbours — does a gate with fixed limits blame the release for the neighbours' noise?"""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

LESSON = Lesson(
    key="ws2",
    title="Noisy neighbours and baseline comparison",
    question=(
        "On a shared cluster, neighbours slow everyone down now and then. Does the gate blame the "
        "release for it — and does comparing against the stable version help?"
    ),
    look_for=(
        "With no noise the four strategies agree. Add episodes and the two judged against fixed limits "
        "move right: they roll back good releases because latency crossed a fixed line — while the "
        "stable version crossed it too. The two judged against the stable version over the same minutes "
        "stay near zero. Escaped defects hardly move: the fixed limits buy no safety for the good "
        "releases they throw away."
    ),
    why=(
        'A fixed threshold answers "is the canary slow?"; a baseline comparison answers "is the canary '
        'slower than what it replaces, right now?". Noise that hits both versions — a busy node pool, '
        "a slow shared dependency, a traffic surge — makes the first question come out yes and leaves "
        "the second unchanged. Only noise that hits the canary's hosts alone still fools a baseline "
        "judge, which is why its false-rollback rate is small but not zero."
    ),
    chart=lambda rows, summary: plots.rollbacks_vs_escapes(summary),
    metrics=("false_rollback_rate", "escaped_rate", "lead_time_s"),
    scenario=lambda value: "noisy-cluster",
    overrides=lambda value: [f"noise.episodes_per_hour={value}"],
)


def knob(key: str) -> float:
    return st.select_slider(
        "Noisy-neighbour episodes per hour",
        [0.0, 0.25, 0.5, 1.0, 2.0, 4.0],
        value=1.0,
        key=key,
        persist_state=PERSIST,
    )


page(LESSON, knob)
