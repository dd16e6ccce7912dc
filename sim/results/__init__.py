"""The results floor: what the rows of many simulations say, as tables, charts and advice.

- `frame`: the per-deploy rows as a pandas frame, with fixed column types.
- `summary`: per strategy, each metric over its own population with 95% intervals
  (`summarize`), rates with Wilson intervals, Kaplan–Meier durations; `pareto_front`.
- `report`: the comparison table every front end shows, and its `--json` form.
- `timeline`: one deploy window by window, read from a finished simulation.
- `advisor`: the cheapest strategy that is safe enough.
- `plots`: the charts the CLI, the app and the notebooks share.

It reads rows and simulations; it runs nothing (beyond the engine's own types) and touches no disk.
"""
