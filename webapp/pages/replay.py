"""Replay one deploy of the last run: traffic, errors and latency per version, noise, verdicts, undo."""

import math

import pandas as pd
import streamlit as st

from webapp import runs, show

PERSIST = "session"

#: How to pick the deploy: label → (filter on the strategy's rows, column whose largest value wins).
PICKS = {
    "the largest blast radius": (lambda r: r["faulty_requests"].notna(), "faulty_requests"),
    "the slowest recovery": (lambda r: r["time_to_recover_s"].notna(), "time_to_recover_s"),
    "the worst escaped defect": (lambda r: r["escaped"].fillna(False).astype(bool), "faulty_requests"),
    "a false rollback": (lambda r: r["false_rollback"].fillna(False).astype(bool), "deploy"),
    "a deploy by number": (None, None),
}

st.title("Replay a deploy")
st.markdown(
    "One deploy of the last run, minute by minute: the share of user traffic on the new version, "
    "error rate and latency of each version against the stable one, noisy-neighbour episodes shaded, "
    "the rollout's steps and analysis verdicts, detection and rollback marked."
)
res = st.session_state.get("results")
if res is None:
    st.info("No results yet: run a comparison first.")
    st.page_link("webapp/pages/compare.py", label="Compare strategies", icon=":material/bar_chart:")
    st.stop()

if st.session_state.get("replay.strategy") not in res.strategies:
    st.session_state.pop("replay.strategy", None)
left, right = st.columns(2)
with left:
    strategy = st.selectbox("Strategy", res.strategies, key="replay.strategy", persist_state=PERSIST)
with right:
    pick = st.selectbox("Deploy", list(PICKS), key="replay.pick", persist_state=PERSIST)

rows = res.rows[res.rows["strategy"] == strategy]
which, column = PICKS[pick]
if which is None:
    deploy = int(
        st.number_input(
            f"Deploy number (0–{res.deploys - 1})",
            min_value=0,
            max_value=res.deploys - 1,
            value=0,
            step=1,
            key="replay.deploy",
        )
    )
else:
    hits = rows[which(rows)]
    if hits.empty:
        st.info(f"No deploy of {strategy} in this run had {pick}; showing deploy 0.")
        deploy = 0
    else:
        # The largest value wins; for "a false rollback" (column deploy) the last one, all being alike.
        deploy = int(hits.loc[hits[column].idxmax(), "deploy"])

image, events, row = runs.replay(res.yaml, strategy, deploy, res.seed)


def _value(v: object) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return "–" if v in ("", None) else str(v)


facts = [
    "release_bad",
    "fault_kind",
    "detected_by",
    "faulty_requests",
    "time_to_detect_s",
    "time_to_recover_s",
]
for col, name in zip(st.columns(len(facts)), facts, strict=True):
    col.metric(name.replace("_", " "), _value(row.get(name)))
show.png(image, f"replay-{strategy}-{deploy}", res.name)

with st.expander("Events", expanded=True):
    st.dataframe(events.assign(minute=(events["t_s"] / 60).round(2)), width="stretch", hide_index=True)
with st.expander("This deploy's row"):
    st.dataframe(pd.DataFrame([row]).T.rename(columns={0: "value"}).astype(str), width="stretch")
st.caption("The same deploy from Python:")
st.code(
    f"scn = sim.load_scenario('{res.name}.yaml')  # the scenario the Compare page downloads\n"
    f"run = sim.run_deploy(scn, {strategy!r}, deploy={deploy}, seed={res.seed})\n"
    "fig = plots.replay(sim.timeline(run))  # from sim import plots",
    language="python",
)
