"""Workshop: noisy neighbours — does a gate with fixed limits blame the release for the neighbours' noise?"""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

LESSON = Lesson(
    key="ws2",
    title="Noisy neighbours and baseline comparison",
    question=(
        "On a shared cluster, neighbours slow everyone down now and then. Does the gate blame the "
        "release for it — and does comparing against the stable version help?"
    ),
    look_for=(
        "Compare the false rollbacks. Judged against fixed limits, the person and the controller both "
        "throw away a large share of good releases: latency crossed a fixed line while the stable "
        "version, hit by the same neighbour, crossed it too. Judged against the stable version over the "
        "same minutes, each throws away only a few. The controller suffers more from fixed limits than "
        "the person, because it looks every minute and every look during an episode is another chance to "
        "fail. The fixed limits do not let fewer bad releases reach everyone in exchange, so counting "
        "both kinds of wrong call — a good release thrown away, a bad one let through — the baseline "
        "comparison makes far fewer. Turn the episodes down to zero and the fixed limits stop firing on "
        "good releases."
    ),
    why=(
        'A fixed threshold answers "is the canary slow?"; a baseline comparison answers "is the canary '
        'slower than what it replaces, right now?". Noise that reaches both versions — a busy node pool, '
        "a slow shared dependency, a traffic surge — turns the first answer to yes and leaves the second "
        "unchanged. Only noise on the canary's own hosts still fools a baseline judge, which is why its "
        "false-rollback rate is small but not zero. A good release thrown away is not free either: it "
        "has to be shipped again, and a team that sees its gate cry wolf learns to wave it through."
    ),
    chart=lambda rows, summary: plots.rollbacks_vs_escapes(summary),
    readings=(
        Reading("false_rollback_rate", "rate", "good releases rolled back", "share"),
        Reading("escaped_rate", "rate", "bad releases that reached everyone", "share"),
        Reading("faulty_requests", "median", "faulty requests per bad release (median)"),
        Reading("time_to_restore_s", "median", "time to restore (median)", "duration"),
    ),
    scenario=lambda value: "noisy-cluster",
    default=1.0,
    deploys=300,
    overrides=lambda value: [f"noise.episodes_per_hour={value}"],
)


def knob(key: str) -> float:
    return st.select_slider(
        "Noisy-neighbour episodes per hour",
        [0.0, 0.25, 0.5, 1.0, 2.0, 4.0],
        value=LESSON.default,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
