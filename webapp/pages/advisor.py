"""The advisor: state what you can live with — sourced defaults from the scenario's SLO, each one
changeable or cleared — and read the cheapest strategy of the last run that meets it."""

import re
from dataclasses import dataclass

import streamlit as st

import sim
from sim import ConfigError, advisor, plots
from webapp import runs, show

PERSIST = "session"


@dataclass(frozen=True)
class Field:
    """One limit's widgets: an on/off toggle and the value, in the unit `advisor.LIMITS` shows."""

    toggle: str
    label: str
    step: float
    help: str


FIELDS: dict[str, Field] = {
    "time_to_restore_s": Field(
        toggle="Limit time to restore",
        label="minutes, median per bad release that hurt users",
        step=5.0,
        help="From the first user the fault reached until none does. Default 1 hour: DORA's boundary "
        "between elite (less than one hour) and high (less than one day) performers, State of DevOps "
        "2023 and 2024. The median, as DORA asks how long it generally takes to restore service: a "
        "mean would grow with the follow-up whenever a bad release is never restored.",
    ),
    "escaped_rate": Field(
        toggle="Limit escaped defects",
        label="% of bad releases that reach every user",
        step=5.0,
        help="Default 25%: most bad releases must be stopped before they reach everyone — that is what "
        "a strategy beyond recreate is for. One in four leaves room for faults no gate sees at a small "
        "slice (slow leaks, one segment's bugs), while a strategy that meets it with 95% confidence "
        "still stops a clear majority.",
    ),
    "error_budget_per_bad_release": Field(
        toggle="Limit error budget per bad release",
        label="% of the error budget one bad release burns (mean)",
        step=5.0,
        help="Default 20%, from the SRE Workbook's example error budget policy (Appendix B): a single "
        "incident that consumes more than 20% of the error budget over four weeks requires a "
        "postmortem. Here it is a share of the scenario's own budget: its SLO over its budget period.",
    ),
    "downtime_s": Field(
        toggle="Limit planned downtime",
        label="seconds per deploy with no version up (mean)",
        step=30.0,
        help="Default 0 s: no planned outage unless you allow one. Raise it if your users can take the "
        "service going down for a deploy (recreate stops the old version before starting the new).",
    ),
    "blast_radius": Field(
        toggle="Limit blast radius",
        label="per bad release (mean)",
        step=1000.0,
        help="Off by default: how many faulty requests or affected users you can accept depends on the "
        "service. The error budget limit states the same worry in the SLO's terms.",
    ),
    "false_rollback_rate": Field(
        toggle="Limit false rollbacks",
        label="% of good releases rolled back",
        step=1.0,
        help="Default 10%, a judgement rather than a published figure: a gate that rolls back more than "
        "one good release in ten costs more deploys than it saves and teaches people to override it.",
    ),
    "extra_instance_hours": Field(
        toggle="Limit extra cost",
        label="instance-hours per deploy (mean)",
        step=0.5,
        help="Off by default: the advisor already picks the cheapest strategy that meets the rest. "
        "A second fleet or canary replicas cost these hours.",
    ),
}
# Left: what a bad release does to users; right: what deploys cost, then the blast radius, which is
# off by default and asks which unit first.
SAFETY = ("time_to_restore_s", "escaped_rate", "error_budget_per_bad_release")
COST = ("downtime_s", "false_rollback_rate", "extra_instance_hours")

st.title("Which strategy should we pick?")
st.markdown(
    "The cheapest strategy that is safe enough. The limits start from the scenario's SLO and published "
    "practice — no planned downtime, at most 20% of the error budget per bad release (the SRE "
    "Workbook's postmortem trigger), at most one bad release in four reaching everyone, time to "
    "restore within an hour (DORA's elite tier), at most one good release in ten rolled back — and "
    "every one can be changed or switched off. The advisor reads the last run of the **Compare** page."
)
res = st.session_state.get("results")
if res is None:
    st.info("No results yet: run a comparison first.")
    st.page_link("webapp/pages/compare.py", label="Compare strategies", icon=":material/bar_chart:")
    st.stop()
st.caption(
    f"Results: {res.name}, {res.deploys:,} deploys × {len(res.strategies)} strategies, seed {res.seed}."
)

scenario = sim.Scenario.from_yaml(res.yaml)
defaults = advisor.Limits.defaults(scenario)


def limit_input(name: str, blast_metric: str = "faulty_requests") -> float | None:
    """A limit's toggle and value; its value in `Limits` units, None when off or left empty."""
    f, m = FIELDS[name], defaults.measure(name)
    start = getattr(defaults, name)
    on = st.toggle(
        f.toggle, value=start is not None, key=f"adv.{name}.on", help=f.help, persist_state=PERSIST
    )
    label = f.label
    if name == "blast_radius":
        label = f"{advisor.BLAST_METRICS[blast_metric].split(' per ')[0]} {label}"
    if name == "error_budget_per_bad_release":
        label += f", {defaults.budget_text()}"
    value = st.number_input(
        label,
        min_value=0.0,
        max_value=100.0 if name in advisor.SHARES else None,
        value=None if start is None else start * m.scale,
        step=f.step,
        format="%g",
        placeholder="no limit",
        disabled=not on,
        key=f"adv.{name}",
        persist_state=PERSIST,
    )
    if on and value is None:
        st.caption("Enter a value to apply this limit.")
    return None if not on or value is None else value / m.scale


left, right = st.columns(2)
values: dict[str, float | None] = {}
with right:
    for name in COST:
        values[name] = limit_input(name)
    blast_metric = st.radio(
        "Blast radius counted in",
        list(advisor.BLAST_METRICS),
        format_func=lambda m: advisor.BLAST_METRICS[m],
        key="adv.blast_metric",
        horizontal=True,
        persist_state=PERSIST,
    )
    values["blast_radius"] = limit_input("blast_radius", blast_metric)
with left:
    for name in SAFETY:
        values[name] = limit_input(name)

try:
    limits = advisor.Limits.defaults(scenario, **values, blast_metric=blast_metric)
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

# A static table wraps its cells, so it fits a 1,280 px window; an interval is kept on one line.
st.table(advice.table().map(lambda text: re.sub(r"\[([^,\]]*), ", "[\\1,\u00a0", text)))
st.caption(
    "Each cell: the estimate [its 95% interval], with the verdict where you set a limit. Time to "
    "restore in minutes; escapes in % of bad releases; error budget burned per bad release in % of "
    f"the error budget ({limits.budget_text()}); downtime in seconds per deploy. "
    "Bad releases never restored within the follow-up are counted in the time to restore and left "
    "out of the per-bad-release means (which they would only raise). Cheapest first: "
    + " < ".join(advice.ranking)
    + " (mean extra instance-hours, then lead time)."
)

# The chart draws means and rates with their intervals; a median's limit (time to restore) is read in
# the table only, since a mean's bar would not be what that limit judges.
charted = [n for n in limits.given() if limits.measure(n).stat != "median"]
if charted:
    metrics = [limits.metric(n) for n in charted]
    bounds = {limits.metric(n): v for n, v in limits.given().items() if n in charted}
    fig = plots.means(res.summary, metrics, bounds, advice.choice or advice.candidate)
    show.png(
        runs.figure_png(fig),
        "advisor",
        res.name,
        "Dashed lines: your limits on means and rates (time to restore, a median, is in the table). "
        "Outlined: the pick.",
    )

with st.expander("How the advisor decides, and where the defaults come from"):
    st.markdown(
        """
- Each limit reads the statistic its question asks for: the **median** time to restore (DORA: how long
  it generally takes to restore service), the **mean** downtime, error budget, blast radius and cost
  per deploy or per bad release, the **rate** of escaped defects and false rollbacks.
- A strategy **meets** a limit when the whole 95% interval lies within it — the median's interval for
  time to restore, the mean's for a mean, the Wilson interval for a rate — so more deploys would not
  overturn the verdict. It is **likely** to when only the estimate does: run more deploys to tell. It
  **misses** when the estimate is past the limit; with **no data** (no bad release hurt users, or more
  than half were never restored, so there is no median) it cannot be said to meet it.
- **Cheapest** means the fewest extra instance-hours per deploy (a second fleet, canary replicas);
  equal costs go to the shorter lead time.
- When nothing fits, each limit that alone keeps the cheapest candidate out **binds**: the advisor
  says what it would take to relax it.

Defaults, each one yours to change or switch off:

- **Planned downtime 0 s per deploy**: no outage for a deploy unless you allow one.
- **Error budget per bad release ≤ 20%** of the scenario's budget: the SRE Workbook's example error
  budget policy (Appendix B) requires a postmortem for a single incident that consumes more than 20%
  of the error budget over four weeks (its SLO window; here, the scenario's own budget period).
- **Escaped defects ≤ 25%**: most bad releases must be stopped before they reach everyone; one in four
  leaves room for faults no gate sees at a small slice.
- **Time to restore ≤ 1 hour (median)**: DORA's elite tier (less than one hour; high: less than a
  day), State of DevOps 2023 and 2024.
- **False rollbacks ≤ 10%**: a judgement — a gate that rejects more than one good release in ten
  gets overridden.
- **Blast radius** and **extra cost**: off; their right values depend on the service.

`sim.advisor.advise(summary, sim.advisor.Limits.defaults(scenario))` gives the same answer from Python.
"""
    )
