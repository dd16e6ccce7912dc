"""Deployment strategies, each a SimPy rollout and rollback built from shared mechanics.

`base` holds the mechanics (`Deploy`: replicas, routing, people, judgment, detection) and the
`Strategy` base; `analysis` the analysis loops (Argo's AnalysisRun, Flagger's checks); `driver` runs
a release's deploys through a strategy and takes it back once it is called bad. One module per
kind. Importing this package registers every built-in kind's implementation in the strategies'
family (`sim.config.strategies.STRATEGIES`); their settings are records of `sim.config.strategies`.
"""

from .base import Deploy, Strategy
from .blue_green import BlueGreen
from .canary import Canary
from .flag import CanaryFlag, Flag
from .progressive import Progressive
from .recreate import Recreate

__all__ = ["BlueGreen", "Canary", "CanaryFlag", "Deploy", "Flag", "Progressive", "Recreate", "Strategy"]
