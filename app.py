"""deploysim in a browser: `make app` or `streamlit run app.py`.

Compare strategies on a shipped or uploaded scenario, ask the advisor, replay a deploy, or walk the
workshop pages. Every page is a thin client of the `sim` package and its shared charts (`sim.plots`).
"""

EXPLORE = (
    ("webapp/pages/compare.py", "Compare strategies", ":material/bar_chart:"),
    ("webapp/pages/advisor.py", "Advisor", ":material/explore:"),
    ("webapp/pages/replay.py", "Replay a deploy", ":material/movie:"),
)
WORKSHOP = (
    ("webapp/pages/lesson_blast_recovery.py", "1 · Blast radius vs restore", ":material/scatter_plot:"),
    ("webapp/pages/lesson_noisy_neighbours.py", "2 · Noisy neighbours", ":material/groups:"),
    ("webapp/pages/lesson_representative.py", "3 · Representative canaries", ":material/filter_alt:"),
    ("webapp/pages/lesson_gate_watches.py", "4 · What the gate watches", ":material/timer:"),
    ("webapp/pages/lesson_database.py", "5 · Two versions, one database", ":material/database:"),
    ("webapp/pages/lesson_flags.py", "6 · Flags vs canaries", ":material/flag:"),
    ("webapp/pages/lesson_peeking.py", "7 · Peeking at every look", ":material/visibility:"),
)


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="deploysim", page_icon=":material/traffic:", layout="wide")
    pages = {
        section: [
            st.Page(path, title=title, icon=icon, default=path == EXPLORE[0][0])
            for path, title, icon in entries
        ]
        for section, entries in (("Explore", EXPLORE), ("Workshop", WORKSHOP))
    }
    st.navigation(pages).run()


# Streamlit runs this file as __main__. The batch's spawn-context worker processes import it as
# __mp_main__: they must not draw the app (nor import Streamlit).
if __name__ == "__main__":
    main()
