"""Deployment strategies, each a SimPy rollout and rollback built from the shared mechanics in `base`."""

from .base import Deploy, Strategy, StrategyConfig
from .blue_green import BlueGreen, BlueGreenConfig
from .canary import Canary, CanaryConfig, ManualStep
from .progressive import Progressive, ProgressiveConfig, Step
from .recreate import Recreate, RecreateConfig

BUILT_IN = ("recreate", "blue_green", "canary", "progressive")

__all__ = [
    "BUILT_IN",
    "BlueGreen",
    "BlueGreenConfig",
    "Canary",
    "CanaryConfig",
    "Deploy",
    "ManualStep",
    "Progressive",
    "ProgressiveConfig",
    "Recreate",
    "RecreateConfig",
    "Step",
    "Strategy",
    "StrategyConfig",
]
