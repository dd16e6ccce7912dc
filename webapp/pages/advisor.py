"""The advisor: state what you can live with; the cheapest strategy of the last run that meets it."""

import streamlit as st

from sim import advisor, plots
from sim.errors import ConfigError
from webapp import runs, show

st.title("Which strategy should we pick?")
st.markdown(
    "Pick the cheapest strategy whose blast radius and recovery time you can live with. State your "
    "limits below; leave a field empty for no limit. The advisor reads the last run of the "
    "**Compare** page."
)
res = st.session_state.get("results")
if res is None:
    st.info("No results yet: run a comparison first.")
    st.page_link("webapp/pages/compare.py", label="Compare strategies", icon=":material/bar_chart:")
    st.stop()
st.caption(
    f"Results: {res.name}, {res.deploys:,} deploys × {len(res.strategies)} strategies, seed {res.seed}."
)

PERSIST = "session"
left, right = st.columns(2)
with left:
    metric = st.radio(
        "Blast radius counted in",
        list(advisor.BLAST_METRICS),
        format_func=lambda m: advisor.BLAST_METRICS[m],
        key="adv.blast_metric",
        horizontal=True,
        persist_state=PERSIST,
    )
    blast = st.number_input(
        "Max blast radius (mean per bad release)",
        min_value=0.0,
        value=None,
        step=1000.0,
        format="%g",
        placeholder="no limit",
        key="adv.blast_radius",
        persist_state=PERSIST,
    )
    ttr = st.number_input(
        "Max time to restore, s (mean per bad release that hurt users)",
        min_value=0.0,
        value=120.0,
        step=10.0,
        format="%g",
        placeholder="no limit",
        key="adv.time_to_restore_s",
        persist_state=PERSIST,
    )
with right:
    cost = st.number_input(
        "Max extra cost, instance-hours per deploy",
        min_value=0.0,
        value=None,
        step=0.5,
        format="%g",
        placeholder="no limit",
        key="adv.extra_instance_hours",
        persist_state=PERSIST,
    )
    false_rb = st.number_input(
        "Max false rollbacks, % of good releases",
        min_value=0.0,
        max_value=100.0,
        value=10.0,
        step=1.0,
        format="%g",
        placeholder="no limit",
        key="adv.false_rollback_rate",
        persist_state=PERSIST,
    )

try:
    limits = advisor.Limits(
        blast_radius=blast,
        time_to_restore_s=ttr,
        extra_instance_hours=cost,
        false_rollback_rate=None if false_rb is None else false_rb / 100,
        blast_metric=metric,
    )
    advice = advisor.advise(res.summary, limits)
except ConfigError as err:
    st.error(str(err))
    st.stop()

if advice.choice is not None:
    st.success(f"**Pick {advice.choice}.** {advice.message}")
elif advice.candidate is not None:
    st.warning(f"**Perhaps {advice.candidate}.** {advice.message}")
else:
    st.warning(f"**No strategy fits.** {advice.message}")

if limits.given():
    st.dataframe(advice.table(), width="stretch")
st.caption("Cheapest first: " + " < ".join(advice.ranking) + " (mean extra instance-hours, then lead time).")

given = limits.given()
shown = [limits.metric(n) for n in advisor.LIMITS]
bounds = {limits.metric(n): v for n, v in given.items()}
fig = plots.means(res.summary, shown, bounds, advice.choice or advice.candidate)
show.png(runs.figure_png(fig), "advisor", res.name, "Dashed lines: your limits. Outlined: the pick.")

with st.expander("How the advisor decides"):
    st.markdown(
        """
- A strategy **meets** a limit when the whole 95% confidence interval of its mean lies within it, so
  more deploys would not overturn the verdict. It is **likely** to when only the mean does: run more
  deploys to tell. It **misses** when its mean is past the limit; with **no data** (say, it never
  detected a bad release, so it has no recovery time) it cannot be said to meet it.
- **Cheapest** means the fewest extra instance-hours per deploy (a second fleet, canary replicas);
  equal costs go to the shorter lead time.
- When nothing fits, each limit that alone keeps the cheapest candidate out **binds**: the advisor
  says what it would take to relax it. `sim.advisor.advise(summary, limits)` gives the same answer
  from Python.
"""
    )
