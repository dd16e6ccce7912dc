"""The engine floor: how one deploy runs — SimPy's control plane over numpy's traffic.

- `rows`: rows of many deploys (`simulate_deploys`, `run_deploy`); `arrays`: the array engine,
  a block of deploys served along their strategy's plan at once; `simulate`: one (deploy,
  strategy) in the event engine, start to end (`simulate`, `Simulation`);
  `exogenous`: what happens to a deploy whatever the strategy (its release, traffic, noise).
- `world`: the service's state as the control plane sets it; `routing`: where a state sends
  traffic; `tape`: traffic drawn lazily from the states; `serving`: one stretch served;
  `fleet`: the latency model; `telemetry`: what monitoring sees; `ledger`: what only the
  simulator knows; `metrics`: the per-deploy row measured from them.
- `judging`: how each gate judge kind measures; `watcher`, `alert` (the SLO burn-rate alert),
  `user_reports`: observers that act when what they watch happens; `people`: the on-call and
  the operators; `followup`: a bad release nobody caught, followed on in coarse windows.
- `strategies/`: the mechanics every strategy is built from, the analysis loops, the driver, and
  one module per kind.

It stands on `sim.config` (what to simulate) and `sim.core`, and nothing above: it reads no
files and knows no results folders, charts or tables.
"""
