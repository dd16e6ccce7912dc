"""Replay one deploy of the last run: traffic, errors and latency per version, noise, verdicts, undo."""

import math

import pandas as pd
import streamlit as st

from sim import plots
from webapp import runs, show

PERSIST = "session"

#: How to pick the deploy: label → (filter on the strategy's rows, column whose largest value wins).
PICKS = {
    "the largest blast radius": (lambda r: r["faulty_requests"].notna(), "faulty_requests"),
    "the slowest restore": (lambda r: r["time_to_restore_s"].notna(), "time_to_restore_s"),
    "the worst escaped defect": (lambda r: r["escaped"].fillna(False).astype(bool), "faulty_requests"),
    "a false rollback": (lambda r: r["false_rollback"].fillna(False).astype(bool), "deploy"),
    "a deploy by number": (None, None),
}

st.title("Replay a deploy")
st.markdown(
    "One deploy of the last run, window by window: its events, the share of user traffic on the new "
    "version, the judges' verdicts, error rate and latency of each version against the limits the "
    "strategy's judges set, noisy-neighbour episodes shaded. It opens on the rollout; zoom out for "
    "the whole run, the follow-up of a release nobody caught included."
)
res = st.session_state.get("results")
if res is None:
    st.info("No results yet: run a comparison first.")
    st.page_link("webapp/pages/compare.py", label="Compare strategies", icon=":material/bar_chart:")
    st.stop()

if st.session_state.get("replay.strategy") not in res.strategies:
    st.session_state.pop("replay.strategy", None)
strategy = st.selectbox("Strategy", res.strategies, key="replay.strategy", persist_state=PERSIST)
rows = res.rows[res.rows["strategy"] == strategy]
st.caption("Every deploy of this strategy: hover for its details, click one to replay it.")
chosen = show.deploy_picker(rows, key=f"replay.points.{strategy}")
if chosen is not None:
    deploy = chosen
    st.caption(f"Deploy {deploy}, clicked on the chart (click an empty spot to choose by the list again).")
else:
    pick = st.selectbox("Deploy", list(PICKS), key="replay.pick", persist_state=PERSIST)
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
            # The largest value wins; for "a false rollback" (column deploy) the last, all being alike.
            deploy = int(hits.loc[hits[column].idxmax(), "deploy"])

whole = st.toggle(
    "Zoom out: the whole followed run",
    key="replay.whole",
    help="From the deploy's start until the release was restored, or its follow-up ended.",
    persist_state=PERSIST,
)
span = "all" if whole else "rollout"
image, events, row = runs.replay(res.yaml, strategy, deploy, res.seed, span)


def _n(v: object) -> float:
    return math.nan if v is None else float(v)


def story(row: dict) -> str:
    """What happened to this deploy, in one line, from its row."""
    if not row.get("release_bad"):
        parts = ["A good release"]
        parts.append(
            "rolled back all the same (a false rollback)" if row.get("false_rollback") else "promoted"
        )
    else:
        parts = [f"A bad release (**{row.get('fault_kind') or 'fault'}**)"]
        ttd, ttr = _n(row.get("time_to_detect_s")), _n(row.get("time_to_repair_s"))
        restore, followed = _n(row.get("time_to_restore_s")), _n(row.get("censored_after_s"))
        if row.get("detected"):
            after = "" if math.isnan(ttd) else f" after {ttd:,.0f} s"
            parts.append(f"detected by **{row.get('detected_by')}**{after}")
        else:
            parts.append("never detected")
        if row.get("escaped"):
            parts.append("reached everyone")
        if not math.isnan(ttr):
            parts.append(f"repaired in **{ttr:,.0f} s** after detection")
        if not math.isnan(restore):
            parts.append(f"restored **{plots.duration(restore)}** after it first hurt a user")
        elif not math.isnan(followed):
            after = plots.duration(followed)
            parts.append(f"still not restored when its follow-up ended, {after} after it first hurt a user")
        faulty, users = _n(row.get("faulty_requests")), _n(row.get("affected_users"))
        if not math.isnan(faulty):
            parts.append(f"**{faulty:,.0f}** faulty requests, **{users:,.0f}** users affected")
    return " · ".join(parts) + "."


st.markdown(story(row))
show.png(image, f"replay-{strategy}-{deploy}-{span}", res.name)

with st.expander("Events", expanded=True):
    st.dataframe(events.assign(minute=(events["t_s"] / 60).round(2)), width="stretch", hide_index=True)
with st.expander("This deploy's row"):
    st.dataframe(pd.DataFrame([row]).T.rename(columns={0: "value"}).astype(str), width="stretch")
st.caption("The same deploy from Python:")
zoom = ", span='all'" if whole else ""
st.code(
    f"scn = sim.load_scenario('{res.name}.yaml')  # the scenario the Compare page downloads\n"
    f"run = sim.run_deploy(scn, {strategy!r}, deploy={deploy}, seed={res.seed})\n"
    f"fig = plots.replay(sim.timeline(run){zoom})  # from sim import plots",
    language="python",
)
