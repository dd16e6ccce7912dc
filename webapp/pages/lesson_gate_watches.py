"""Workshop: what the gate watches — a p99 regression is invisible to a gate on the median, and back."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

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
        "Watching the median (p50), tail_latency faults sail through: the typical request is as fast as "
        "ever. Watching only the p99, median_latency faults pass instead. Watch both to catch both. "
        "Neither fault raises errors, so the error rate never sees them and the burn-rate alert never "
        "fires: whatever the gate misses reaches everyone."
    ),
    why=(
        "A judge compares the numbers it is given and nothing else. Averages and medians describe the "
        "typical request; users feel the slow ones, and a cold cache path or a retry storm on one shard "
        "can triple the p99 while the median does not move. Each watched metric is also one more chance "
        "of a false alarm, which is why gates do not simply watch everything."
    ),
    chart=lambda rows, summary: plots.escapes_by_fault(rows),
    metrics=("escaped_rate", "false_rollback_rate", "faulty_requests"),
    scenario=lambda value: "tail-latency",
    overrides=lambda value: [f"judges.your_gate={{kind: baseline, watch: [{', '.join(value)}]}}", GATE],
    strategies=("your_gate",),
)


def knob(key: str) -> list[str]:
    return st.multiselect(
        "The gate watches",
        WATCHABLE,
        default=["error_rate", "p50"],
        key=key,
        persist_state=PERSIST,
    )


page(LESSON, knob)
