"""deploysim's Streamlit app (placeholder until the app issue): compare strategies on a shipped scenario."""

import streamlit as st

import sim

st.set_page_config(page_title="deploysim", layout="wide")
st.title("deploysim")
st.caption("How deployment strategies trade blast radius against time to recover.")
name = st.selectbox("Scenario", sim.shipped_scenarios(), key="scenario")
deploys = st.number_input("Deploys per strategy", 10, 1000, 100, key="deploys")
if st.button("Run", key="run"):
    try:
        df = sim.run_batch(sim.load_scenario(name), deploys=int(deploys))
    except sim.ConfigError as err:
        st.error(str(err))
    else:
        from sim.report import how_to_choose

        st.dataframe(how_to_choose(sim.summarize(df)))
