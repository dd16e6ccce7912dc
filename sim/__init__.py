"""deploysim: how deployment strategies trade blast radius against time to recover, with numbers.

The public API — the app, the CLI and the notebooks use nothing else:

    scn = sim.load_scenario("default")               # or a path, or a dict
    df = sim.run_batch(scn, deploys=500, seed=7)      # one row per (deploy, strategy)
    table = sim.summarize(df)                         # means, percentiles, 95% CIs, rates
    run = sim.run_deploy(scn, "canary", deploy=3)     # one deploy, with its timeline
    fig = sim.plots.replay(sim.timeline(run))         # the charts: `from sim import plots`

Its names (`__all__`) are functions and records, and namespaces: modules of the floors below,
reached as `sim.plots` or `from sim import plots` (not `import sim.plots`), whose own public names
are theirs to state:

- `errors` (`sim.core.errors`): `ConfigError`, `PathPart`, `format_path`;
- `plots`, `report`, `advisor` (`sim.results`): the charts, the comparison table, the advisor;
- `batch`, `store`, `sweep`, `workers` (`sim.runs`): batches and their limits, result folders, sweeps,
  the local worker processes (a pool the caller starts before its own imports);
- `power`, `latency`, `evidence` (`sim.workshop`): the lessons' helpers;
- `calibrate` (a scenario fitted to a service's Prometheus data);
- `importer` (Argo Rollouts and Flagger manifests in and out) and `validation` (`make validate`);
- `incidents` (`sim.calibrate.incidents`): a release history's fit, DORA's figures off the rows.

Every name is imported on first use: `import sim` loads only the version and the error type, so
loading a scenario loads no simulation code, and only the charts load matplotlib.

The package is a house of floors, each importing only the floors below it:

    sim             this API, `__main__`, `cli` (the `deploysim` command)
    runs | workshop | importer | validation | calibrate
    results         summaries, tables, timelines, the advisor, charts
    engine          one deploy in SimPy and numpy
    config          the scenario and its records
    core            errors, the config schema, distributions, random streams, the version
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.errors import ConfigError
from .core.version import __version__

if TYPE_CHECKING:
    from . import calibrate, importer, validation
    from .calibrate import incidents
    from .config.scenario import Scenario, load_scenario, resolve_path, shipped_scenarios
    from .config.schemadoc import schema_reference
    from .core import errors
    from .core.columns import COLUMNS, METRICS
    from .engine.exogenous import draw_exogenous
    from .engine.rows import run_deploy
    from .engine.simulate import simulate
    from .results import advisor, plots, report
    from .results.summary import summarize
    from .results.timeline import Timeline, timeline
    from .runs import batch, store, sweep, workers
    from .runs.batch import run_batch
    from .workshop import evidence, latency, power

#: Public name → the module that defines it.
_NAMES = {
    "COLUMNS": "sim.core.columns",
    "METRICS": "sim.core.columns",
    "Scenario": "sim.config.scenario",
    "Timeline": "sim.results.timeline",
    "draw_exogenous": "sim.engine.exogenous",
    "load_scenario": "sim.config.scenario",
    "resolve_path": "sim.config.scenario",
    "run_batch": "sim.runs.batch",
    "run_deploy": "sim.engine.rows",
    "schema_reference": "sim.config.schemadoc",
    "shipped_scenarios": "sim.config.scenario",
    "simulate": "sim.engine.simulate",
    "summarize": "sim.results.summary",
    "timeline": "sim.results.timeline",
}

#: Public namespace → the module it is.
_NAMESPACES = {
    "advisor": "sim.results.advisor",
    "batch": "sim.runs.batch",
    "calibrate": "sim.calibrate",
    "errors": "sim.core.errors",
    "evidence": "sim.workshop.evidence",
    "importer": "sim.importer",
    "incidents": "sim.calibrate.incidents",
    "latency": "sim.workshop.latency",
    "plots": "sim.results.plots",
    "power": "sim.workshop.power",
    "report": "sim.results.report",
    "store": "sim.runs.store",
    "sweep": "sim.runs.sweep",
    "validation": "sim.validation",
    "workers": "sim.runs.workers",
}

__all__ = [
    "COLUMNS",
    "METRICS",
    "ConfigError",
    "Scenario",
    "Timeline",
    "__version__",
    "advisor",
    "batch",
    "calibrate",
    "draw_exogenous",
    "errors",
    "evidence",
    "importer",
    "incidents",
    "latency",
    "load_scenario",
    "plots",
    "power",
    "report",
    "resolve_path",
    "run_batch",
    "run_deploy",
    "schema_reference",
    "shipped_scenarios",
    "simulate",
    "store",
    "summarize",
    "sweep",
    "timeline",
    "validation",
    "workers",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use, and keep it."""
    if name in _NAMESPACES:
        value = importlib.import_module(_NAMESPACES[name])
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
