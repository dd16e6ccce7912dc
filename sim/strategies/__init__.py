"""Deployment strategies, each a SimPy rollout and rollback built from the shared mechanics in `base`."""

from .base import Deploy, Strategy, StrategyConfig
from .blue_green import BlueGreen, BlueGreenConfig
from .canary import Canary, CanaryConfig, ManualStep
from .flag import CanaryFlag, CanaryFlagConfig, Flag, FlagConfig, FlagStep
from .progressive import Progressive, ProgressiveConfig, Step
from .recreate import Recreate, RecreateConfig

BUILT_IN = ("recreate", "blue_green", "canary", "progressive", "flag", "canary_flag")

__all__ = [
    "BUILT_IN",
    "BlueGreen",
    "BlueGreenConfig",
    "Canary",
    "CanaryConfig",
    "CanaryFlag",
    "CanaryFlagConfig",
    "Deploy",
    "Flag",
    "FlagConfig",
    "FlagStep",
    "ManualStep",
    "Progressive",
    "ProgressiveConfig",
    "Recreate",
    "RecreateConfig",
    "Step",
    "Strategy",
    "StrategyConfig",
]
