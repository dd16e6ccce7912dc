"""deploysim: how deployment strategies trade blast radius against time to recover, with numbers.

The public API — the app, the CLI and the notebooks use nothing else:

    scn = sim.load_scenario("default")               # or a path, or a dict
    df = sim.run_batch(scn, deploys=500, seed=7)      # one row per (deploy, strategy)
    table = sim.summarize(df)                         # means, percentiles, 95% CIs, rates
    run = sim.run_deploy(scn, "canary", deploy=3)     # one deploy, with its timeline
"""

from .config.scenario import Scenario, load_scenario, shipped_scenarios
from .core.errors import ConfigError
from .core.version import __version__
from .engine.exogenous import draw_exogenous
from .engine.metrics import COLUMNS, METRICS
from .engine.simulate import run_deploy, simulate
from .results.summary import summarize
from .results.timeline import Timeline, timeline
from .runs.batch import run_batch

__all__ = [
    "COLUMNS",
    "METRICS",
    "ConfigError",
    "Scenario",
    "Timeline",
    "__version__",
    "draw_exogenous",
    "load_scenario",
    "run_batch",
    "run_deploy",
    "shipped_scenarios",
    "simulate",
    "summarize",
    "timeline",
]
