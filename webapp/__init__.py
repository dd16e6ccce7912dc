"""deploysim's Streamlit app: the pages (webapp/pages) and the helpers they share, all thin clients of `sim`.

`knobs` (no Streamlit) maps a scenario's values to the app's controls and back; `settings` draws the
controls and validates every change through `sim.load_scenario`; `runs` runs and caches batches;
`show` draws tables, charts and downloads; `lesson` is the frame of the workshop pages.
"""
