"""The config floor: the scenario and every record in it — what is simulated, not how.

`scenario` holds the `Scenario` (every section in one frozen record), its `run:` section
(`RunConfig`), loading from YAML or a dict, and `--set` overrides. One module per section holds its
records: `traffic`, `fleet`, `faults`, `noise`, `routing`, `judges` (every judge kind, the SLO
burn-rate judge included), `analysis`, `humans`, `reports`, `flags`, `migration`, `strategies`
(every strategy kind's settings); `schemadoc` generates the scenario reference from them.

This floor stands on `sim.core` only and imports nothing that runs: no SimPy, no engine. The judge
and strategy kinds are families (`sim.core.registry.Kinds`) whose records are registered here and
whose implementations the engine registers.
"""
