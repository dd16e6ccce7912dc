"""Workshop: two versions, one database — a one-step rename breaks the old binary under every overlap."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, Reading, page

PLANS = {
    "schema-rename-breaking": "in one step (rename the column)",
    "schema-expand-contract": "in four compatible deploys (expand, backfill, move reads, contract)",
}

LESSON = Lesson(
    key="ws5",
    title="Two versions, one database",
    question=(
        "A release renames a database column. While the old and the new binary run side by side, "
        "whose requests fail — and does a canary protect you?"
    ),
    look_for=(
        "In one step, every strategy that runs both binaries fails requests on every deploy, good code "
        "or bad: the old binary's requests that touch the column. The manual canary and progressive "
        "keep the old binary serving most of the traffic for longest, so they fail more per deploy than "
        "blue-green — and their gates, comparing the canary with the baseline, see only the baseline "
        "get worse: the whole-service burn-rate alert is what notices. Recreate stops the old binary "
        "before migrating and fails the fewest, only when it has to roll back. Split into four "
        "compatible deploys, no request fails because of the schema; the cost moves into the time the "
        "plan takes to reach everyone."
    ),
    why=(
        "Every strategy except recreate has a period where two versions share one schema, and a canary "
        "makes that period long on purpose. A change only one version understands breaks the other; "
        "rolling the binary back makes it worse until the schema is restored. Expand and contract keeps "
        "each schema readable by the versions on both sides of each deploy."
    ),
    chart=lambda rows, summary: plots.means(summary, ["migration_failed_requests", "sequence_lead_time_s"]),
    readings=(
        Reading("migration_failed_requests", "mean", "requests failed by the schema, per deploy (mean)"),
        Reading("downtime_s", "mean", "downtime per deploy (mean)", "duration"),
        Reading("sequence_lead_time_s", "median", "until the plan reached everyone (median)", "duration"),
        Reading("rollback_rate", "rate", "deploys rolled back", "share"),
    ),
    scenario=lambda value: value,
    default="schema-rename-breaking",
    deploys=500,
)


def knob(key: str) -> str:
    return st.radio(
        "The rename ships",
        list(PLANS),
        index=list(PLANS).index(LESSON.default),
        format_func=PLANS.get,
        key=key,
        persist_state=PERSIST,
    )


# Streamlit runs a page as __main__; the tests import it for LESSON alone.
if __name__ == "__main__":
    page(LESSON, knob)
