"""Workshop: peeking — a test read at every look fails good releases, unless it is built to be read so."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

ALPHAS = (0.01, 0.05, 0.1)
LOOK = "interval_s: 60, initial_delay_s: 60, starting_step: 1"
ONCE = (
    "steps: [{weight: 1}, {pause_s: 600}, {weight: 5}, {pause_s: 600}, {weight: 25}, {pause_s: 900}, "
    "{weight: 50}, {analysis: {judge: z_test, interval_s: 900, initial_delay_s: 900, count: 1}}]"
)


def overrides(alpha: float) -> list[str]:
    """The default's rollout three ways: a z-test at α read once at its last step, the same test
    read every minute, and the always-valid test read every minute."""
    return [
        f"judges.z_test={{kind: two_proportion, alpha: {alpha}}}",
        f"judges.always_valid={{kind: sequential, alpha: {alpha}}}",
        f"strategies.z_test_once={{kind: progressive, gate_judge: z_test, analyses: [], {ONCE}}}",
        "strategies.z_test_every_minute={kind: progressive, gate_judge: z_test, "
        f"analyses: [{{judge: z_test, {LOOK}}}]}}",
        "strategies.always_valid={kind: progressive, gate_judge: always_valid, "
        f"analyses: [{{judge: always_valid, {LOOK}}}]}}",
    ]


LESSON = Lesson(
    key="ws7",
    title="Peeking: a test read at every look",
    question=(
        "A z-test at α = 5% is the textbook way to compare the canary's error rate with the baseline's. "
        "The rollout can read it once, at its last step, or every minute so as to stop a bad release "
        "early. Is reading it every minute free? And what does a test built to be read every minute cost?"
    ),
    look_for=(
        "Read once, the z-test rolls back about α of the good releases, but every error fault it stops "
        "has run for most of an hour, the last quarter of it at half the traffic. Read every minute, "
        "the same test stops error faults within minutes and rolls back nearly every good release "
        "too: each of its fifty looks is another 5% chance. The always-valid test, read every minute, "
        "stops the error faults about as early and rolls back at most α of the good releases. Latency "
        "faults show what none of the three watches: they reach everyone, unless the z-test's false "
        "alarms happen to fall on them."
    ),
    why=(
        "A significance level is the chance of a false alarm for one look at a fixed amount of data. "
        "Look again as data accumulates and the chances add up (Armitage, 1969): with enough looks a "
        "good canary fails for sure. A sequential test weighs the evidence so far as a likelihood ratio "
        "that, for a good canary, is a fair game: the chance it ever reaches 1/α is at most α, however "
        "often it is read (Ville's inequality). That is what LaunchDarkly's guarded rollouts and "
        "Netflix's canaries use. It pays a little power at any one fixed moment for the freedom to "
        "stop early."
    ),
    chart=lambda rows, summary: plots.escapes_by_fault(rows),
    readings=(
        Reading("false_rollback_rate", "rate", "good releases rolled back", "share"),
        Reading("escaped_rate", "rate", "reached everyone", "share"),
        Reading("time_to_detect_s", "median", "time to detect (median)", "duration"),
        Reading("faulty_requests", "median", "faulty requests (median)"),
    ),
    scenario=lambda value: "default",
    default=0.05,
    deploys=300,
    overrides=overrides,
    strategies=("z_test_once", "z_test_every_minute", "always_valid"),
    split="fault_kind",
)


def knob(key: str) -> float:
    return st.select_slider(
        "α: the false-alarm chance each judge is built for (the z-test's per look, the always-valid "
        "test's per rollout)",
        list(ALPHAS),
        value=LESSON.default,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
