"""Your service, not a made-up one: a scenario fitted to a service's Prometheus data, and its release history.

    read = calibrate.read_files(["requests.json", "latency_bucket.json"])   # checked series
    results, notes = calibrate.fit_all(read.series, scenario)                # fits with uncertainty
    text = calibrate.scenario_yaml(results, "my-service", paths, notes)     # commented YAML

Modules: `prom` (query_range JSON and CSV in, counters to rates), `histogram` (buckets and
histogram_quantile), `fit` (the daily curve, surges, error rate, latency, noise, replicas),
`write` (the scenario text, loaded back before it is returned), `incidents` (a release history's
fit: `deploysim incidents`), `export` (a scenario's traffic and monitoring simulated and written as
query_range JSON: the round trip's data), `replay` (a judge and its analysis run over recorded
per-version series), `cli` and `judgecli` (the `calibrate` and `judge` commands). It stands on the
engine floor: it reads the engine's draws and judges, it runs no deploy.
"""

from . import cli, judgecli
from .cli import Calibration, Subcommands, calibrate
from .export import export_series, monitor, write_monitored, write_versions
from .fit import Fit, Kept, Trace, fit_all, fit_traced
from .histogram import bucket_quantile
from .judgecli import pick_judge, pick_run
from .prom import Read, Series, read_file, read_files
from .replay import Recorded, Replay, Versions, replay, split_versions
from .write import scenario_yaml

__all__ = [
    "Calibration",
    "Fit",
    "Kept",
    "Read",
    "Recorded",
    "Replay",
    "Series",
    "Trace",
    "Versions",
    "bucket_quantile",
    "calibrate",
    "export_series",
    "fit_all",
    "fit_traced",
    "monitor",
    "pick_judge",
    "pick_run",
    "read_file",
    "read_files",
    "register",
    "replay",
    "scenario_yaml",
    "split_versions",
    "write_monitored",
    "write_versions",
]


def register(sub: Subcommands) -> None:
    """Add the calibrate and judge commands to the `deploysim` parser."""
    cli.register(sub)
    judgecli.register(sub)
