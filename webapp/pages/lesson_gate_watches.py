"""Workshop: what the gate watches — a p99 regression is invisible to a gate on the median, and back."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

WATCHABLE = ("error_rate", "p50", "p99")
GATE = (
    "strategies.your_gate={kind: progressive, gate_judge: your_gate, "
    "analyses: [{judge: your_gate, interval_s: 60, initial_delay_s: 60, starting_step: 1}]}"
)

LESSON = Lesson(
    key="ws4",
    title="What the gate watches: p99 vs median",
    question=(
        "Most bad releases of this search API slow down only the slowest requests; some slow the "
        "typical one instead. An automated rollout compares canary and baseline every minute. What "
        "must it watch to catch them?"
    ),
    look_for=(
        "Watching the error rate and the median (p50), the gate stops every median regression and "
        "error fault, and promotes most tail_latency faults to everyone: the typical request is as "
        "fast as ever. Neither latency fault raises errors, so the burn-rate alert never fires; the "
        "tail regressions that get through are found when users complain, and their time to restore "
        "is hours where a caught fault's is about a minute. Watch the p99 instead and it turns around: "
        "the median regressions get through, and nobody reports them within the week the run follows "
        "them. Watch both to stop both."
    ),
    why=(
        "A judge compares the numbers it is given and nothing else. Averages and medians describe the "
        "typical request; users feel the slow ones, and a cold cache path or a retry storm on one shard "
        "can triple the p99 while the median does not move. Each watched metric is also one more chance "
        "of a false alarm, which is why gates do not simply watch everything."
    ),
    chart=lambda rows, summary: plots.escapes_by_fault(rows),
    readings=(
        Reading("escaped_rate", "rate", "reached everyone", "share"),
        Reading("time_to_restore_s", "median", "time to restore (median)", "duration"),
        Reading("faulty_requests", "median", "faulty requests (median)"),
        Reading("false_rollback_rate", "rate", "good releases rolled back", "share"),
    ),
    scenario=lambda value: "tail-latency",
    default=("error_rate", "p50"),
    deploys=500,
    overrides=lambda value: [f"judges.your_gate={{kind: baseline, watch: [{', '.join(value)}]}}", GATE],
    strategies=("your_gate",),
    split="fault_kind",
)


def knob(key: str) -> list[str]:
    return st.multiselect(
        "The gate watches",
        WATCHABLE,
        default=list(LESSON.default),
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
