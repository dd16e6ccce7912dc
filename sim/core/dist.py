"""Random distributions a scenario names (fixed, uniform, log-uniform, lognormal, exponential)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from .errors import ConfigError, PathPart
from .schema import Config, num

#: z-score of the 90th percentile of a standard normal: a lognormal given by its median and p90
#: has sigma = ln(p90 / median) / Z90.
Z90 = 1.2815515655446004

DistKind = Literal["fixed", "uniform", "loguniform", "lognormal", "exponential"]


@dataclass(frozen=True)
class Dist(Config):
    """A distribution of one quantity. In YAML: a number (fixed), [low, high] (uniform) or a mapping.

    lognormal is given by median and p90 because those are what people can estimate ("usually five
    minutes, one time in ten a quarter of an hour"), not by mu and sigma.
    """

    kind: DistKind = "fixed"
    value: float | None = num(None, doc="the value, for kind fixed")
    low: float | None = num(None, doc="lower end, for uniform and loguniform")
    high: float | None = num(None, doc="upper end, for uniform and loguniform")
    median: float | None = num(None, doc="median, for lognormal")
    p90: float | None = num(None, doc="90th percentile, for lognormal")
    mean: float | None = num(None, doc="mean, for exponential")

    _needs: ClassVar[dict[str, tuple[str, ...]]] = {
        "fixed": ("value",),
        "uniform": ("low", "high"),
        "loguniform": ("low", "high"),
        "lognormal": ("median", "p90"),
        "exponential": ("mean",),
    }

    @classmethod
    def coerce_input(cls, value: Any, path: tuple[PathPart, ...]) -> Any:
        if isinstance(value, bool):
            raise ConfigError(f"expected a number, [low, high] or a mapping, got {value}", path)
        if isinstance(value, int | float):
            return {"kind": "fixed", "value": value}
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ConfigError("a [low, high] range needs exactly two numbers", path)
            return {"kind": "uniform", "low": value[0], "high": value[1]}
        return value

    def _given(self, name: str) -> float:
        """A parameter this kind takes: `validate` has made sure it is given."""
        value: float | None = getattr(self, name)
        assert value is not None, f"a {self.kind} distribution without {name}"
        return value

    def validate(self) -> None:
        needed = self._needs[self.kind]
        for name in ("value", "low", "high", "median", "p90", "mean"):
            given = getattr(self, name) is not None
            if name in needed and not given:
                raise ConfigError(f"a {self.kind} distribution needs {' and '.join(needed)}", (name,))
            if name not in needed and given:
                raise ConfigError(
                    f"not used by a {self.kind} distribution (it takes {' and '.join(needed)})", (name,)
                )
        if self.kind in ("uniform", "loguniform") and self._given("low") > self._given("high"):
            raise ConfigError(f"low {self.low} is above high {self.high}", ("low",))
        if self.kind == "loguniform" and self._given("low") <= 0:
            raise ConfigError(f"{self.low} is not > 0 (log-uniform needs positive ends)", ("low",))
        if self.kind == "lognormal":
            if self._given("median") <= 0:
                raise ConfigError(f"{self.median} is not > 0", ("median",))
            if self._given("p90") < self._given("median"):
                raise ConfigError(f"p90 {self.p90} is below the median {self.median}", ("p90",))
        if self.kind == "exponential" and self._given("mean") <= 0:
            raise ConfigError(f"{self.mean} is not > 0", ("mean",))
        # Finite parameters can still give infinite draws (uniform over ±1e308, a lognormal whose p90
        # is 1e300 times its median): the model would meet inf and NaN mid-run.
        try:
            spread = self._given("high") - self._given("low") if self.kind == "uniform" else 0.0
            mean = self.expected()
        except OverflowError:
            spread = mean = math.inf
        if not (math.isfinite(spread) and math.isfinite(mean)):
            raise ConfigError(
                f"a {self.kind} distribution this wide has no finite draws; narrow it", ("kind",)
            )

    def short_form(self) -> float | list[float] | None:
        if self.kind == "fixed":
            return self.value
        if self.kind == "uniform":
            return [self._given("low"), self._given("high")]
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        k = self.kind
        if k == "fixed":
            return self.value if size is None else np.full(size, self._given("value"))
        if k == "uniform":
            return rng.uniform(self._given("low"), self._given("high"), size)
        if k == "loguniform":
            return np.exp(rng.uniform(math.log(self._given("low")), math.log(self._given("high")), size))
        if k == "lognormal":
            median = self._given("median")
            sigma = math.log(self._given("p90") / median) / Z90
            return median * np.exp(sigma * rng.standard_normal(size))
        return rng.exponential(self._given("mean"), size)

    def expected(self) -> float:
        k = self.kind
        if k == "fixed":
            return float(self._given("value"))
        if k == "uniform":
            return (self._given("low") + self._given("high")) / 2
        if k == "loguniform":
            low, high = self._given("low"), self._given("high")
            if low == high:
                return float(low)
            return (high - low) / math.log(high / low)
        if k == "lognormal":
            median = self._given("median")
            sigma = math.log(self._given("p90") / median) / Z90
            return median * math.exp(sigma**2 / 2)
        return float(self._given("mean"))

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (inf where unbounded)."""
        k = self.kind
        if k == "fixed":
            return (self._given("value"), self._given("value"))
        if k in ("uniform", "loguniform"):
            return (self._given("low"), self._given("high"))
        if k == "lognormal" and self.p90 == self.median:
            return (self._given("median"), self._given("median"))
        return (0.0, math.inf)

    def check_within(self, lo: float, hi: float, unit: str = "") -> None:
        """Raise unless every draw lies in lo..hi (used by sections whose draws have a physical range)."""
        b_lo, b_hi = self.bounds()
        if b_lo < lo or b_hi > hi:
            bad = b_lo if b_lo < lo else b_hi
            u = f" {unit}" if unit else ""
            raise ConfigError(f"draws may reach {bad:g}, which is not within {lo:g}..{hi:g}{u}")


def fixed(value: float) -> Dist:
    return Dist(kind="fixed", value=value)


def uniform(low: float, high: float) -> Dist:
    return Dist(kind="uniform", low=low, high=high)


def loguniform(low: float, high: float) -> Dist:
    return Dist(kind="loguniform", low=low, high=high)


def lognormal(median: float, p90: float) -> Dist:
    return Dist(kind="lognormal", median=median, p90=p90)


def exponential(mean: float) -> Dist:
    return Dist(kind="exponential", mean=mean)
