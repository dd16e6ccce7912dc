"""Compare strategies: configure a scenario in the sidebar, run its deploys, read the table and the charts."""

import streamlit as st

from sim import ConfigError
from webapp import calibrate, runs, settings, show

RESULTS = "results"

st.title("Compare deployment strategies")
st.markdown(
    "How many requests and users meet a bad release before it is pulled back, how long until nobody "
    "does, and what each strategy costs. Pick a scenario and adjust it in the sidebar, then **Run**: "
    "every strategy meets the same releases, traffic and noisy neighbours."
)

calibrated = calibrate.section()
chosen = None
try:
    chosen = settings.sidebar(calibrated)
except settings.NoUpload:
    st.info("Upload a scenario file in the sidebar: `deploysim schema` describes the format.")
except ConfigError as err:
    st.error(str(err))

current = None
if chosen is not None:
    with st.sidebar:
        settings.download(chosen)
    deploys, note = runs.cap(chosen.scenario, chosen.deploys, len(chosen.strategies))
    left, right = st.columns([1, 4], vertical_alignment="center")
    with left:
        clicked = st.button("Run", key="run", type="primary", width="stretch")
    with right:
        what = f"{deploys:,} deploys × {len(chosen.strategies)} strategies of **{chosen.scenario.name}**"
        if calibrated is not None:
            what += f" (calibrated from your metrics: {calibrated.files})"
        moved = f"; changed: {', '.join(chosen.changed)}" if chosen.changed else ""
        st.markdown(f"{what}, seed {chosen.seed}{moved}.")
    current = (chosen.yaml, chosen.seed, deploys)
    runs.warm(deploys, len(chosen.strategies))
    if note:
        st.warning(note)
    if clicked:
        st.session_state[RESULTS] = runs.batch(chosen.scenario, deploys, chosen.seed, chosen.strategies)

res = st.session_state.get(RESULTS)
if res is None:
    if chosen is not None:
        st.info("Press **Run** to simulate the deploys.")
    st.stop()
if res.key != current:
    st.info("The settings changed since these results: press **Run** to update them.")

bad = int(res.rows.loc[res.rows["strategy"] == res.strategies[0], "release_bad"].sum())
source = "from the cache" if res.cached else f"in {res.seconds:.1f} s"
st.success(
    f"{res.name}: {res.deploys:,} deploys × {len(res.strategies)} strategies, seed {res.seed}, "
    f"{bad} bad releases — simulated {source}."
)
errors = res.rows["error"].notna().sum()
if errors:
    st.warning(f"{errors} runs failed and are left out of the table; their rows carry the error.")

st.subheader("How to choose")
show.choose_table(res.summary, res.follow_s)
st.subheader("Charts")
show.charts(res)
st.subheader("Downloads")
show.downloads(res)
st.page_link(
    "webapp/pages/advisor.py",
    label="Which strategy should I pick? Ask the advisor",
    icon=":material/explore:",
)
st.page_link("webapp/pages/replay.py", label="Replay one of these deploys", icon=":material/movie:")
