"""Workshop: two versions, one database — a one-step rename breaks the old binary under every overlap."""

import streamlit as st

from sim import plots
from webapp.lesson import PERSIST, Lesson, page

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
        "In one step, every strategy that runs both binaries fails the old binary's requests that "
        "touch the column. The canary keeps the old binary serving longest, so it fails the most — and "
        "its gate, comparing canary with baseline, sees only the baseline get worse. Recreate stops "
        "the old binary before migrating, so it avoids the overlap (but not a rollback). Split into "
        "four compatible deploys, nothing fails; the cost moves into the plan's lead time."
    ),
    why=(
        "Every strategy except recreate has a period where two versions share one schema, and a "
        "canary makes that period long on purpose. A change only one version understands breaks the "
        "other; rolling the binary back makes it worse until the schema is restored. Expand and "
        "contract keeps each schema readable by the versions on both sides of each deploy."
    ),
    chart=lambda rows, summary: plots.means(summary, ["migration_failed_requests", "sequence_lead_time_s"]),
    metrics=("migration_failed_requests", "sequence_lead_time_s", "faulty_requests"),
    scenario=lambda value: value,
)


def knob(key: str) -> str:
    return st.radio("The rename ships", list(PLANS), format_func=PLANS.get, key=key, persist_state=PERSIST)


page(LESSON, knob)
