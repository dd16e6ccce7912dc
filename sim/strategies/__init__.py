"""Deployment strategies, each a SimPy rollout and rollback built from the shared mechanics in `base`.

Importing this package registers every built-in kind's implementation in the strategies' family
(`sim.config.strategies.STRATEGIES`); their settings are records of `sim.config.strategies`.
"""

from .base import Deploy, Strategy
from .blue_green import BlueGreen
from .canary import Canary
from .flag import CanaryFlag, Flag
from .progressive import Progressive
from .recreate import Recreate

__all__ = ["BlueGreen", "Canary", "CanaryFlag", "Deploy", "Flag", "Progressive", "Recreate", "Strategy"]
