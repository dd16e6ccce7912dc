"""A scenario: every section of the model in one frozen record, loaded from a dict or a YAML file.

Loading follows define → fill defaults → validate → build. Errors name the file, the key path and,
where the YAML tells it, the line. The model never reads files: it is handed a Scenario.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core import yamlsafe
from ..core.errors import ConfigError, PathPart
from ..core.schema import Config, build, num, section, text, to_plain, unknown_key
from ..core.yamlsafe import line_for
from .faults import ReleasesConfig
from .flags import FlagsConfig
from .fleet import FleetConfig
from .humans import HumansConfig
from .judges import BaselineJudge, BurnRateJudge, FixedJudge, GateJudge, JudgeConfig, MannWhitneyJudge
from .migration import MigrationConfig
from .noise import NoiseConfig
from .reports import ReportsConfig
from .routing import RoutingConfig
from .strategies import BlueGreenConfig, CanaryConfig, ProgressiveConfig, RecreateConfig, StrategyConfig
from .traffic import TrafficConfig

SCHEMA_VERSION = 1
#: The shipped scenarios: package data (sim/scenarios/), found wherever the package is installed.
#: The repository's scenarios/ folder is a link to it.
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class RunConfig(Config):
    deploys: int = num(500, 1, 10_000_000, doc="simulated deploys per strategy")
    seed: int = num(42, 0, 2**63 - 1, doc="root seed; deploy i uses the i-th child of its SeedSequence")
    window_s: float = num(10.0, 0.1, 3600.0, unit="s", doc="traffic is aggregated per window of this length")
    horizon_s: float = num(
        10_800.0,
        60.0,
        30 * 86400.0,
        unit="s",
        doc="each deploy is watched this long in windows of window_s (rollout, detection, repair)",
    )
    follow_s: float = num(
        7 * 86400.0,
        0.0,
        90 * 86400.0,
        unit="s",
        doc="a bad release nobody caught within horizon_s is followed on, in windows of follow_window_s, "
        "until it is caught and undone or this long after its deploy began (then it is censored); "
        "at most horizon_s: no follow-up",
    )
    follow_window_s: float = num(
        300.0, 1.0, 86400.0, unit="s", doc="traffic is aggregated per window of this length after horizon_s"
    )

    def validate(self) -> None:
        if self.window_s > self.horizon_s:
            raise ConfigError(f"{self.window_s:g} is longer than horizon_s {self.horizon_s:g}", ("window_s",))
        if self.horizon_s / self.window_s > 1_000_000:
            raise ConfigError("more than 1,000,000 windows per deploy; use longer windows", ("window_s",))
        if self.follow_window_s < self.window_s:
            raise ConfigError(
                f"{self.follow_window_s:g} is shorter than window_s {self.window_s:g}", ("follow_window_s",)
            )
        if self.follow_s / self.follow_window_s > 1_000_000:
            raise ConfigError(
                "more than 1,000,000 follow-up windows per deploy; use longer ones", ("follow_window_s",)
            )


def _default_judges() -> dict[str, JudgeConfig]:
    return {
        "fixed": FixedJudge(),
        "baseline": BaselineJudge(),
        "mann_whitney": MannWhitneyJudge(),
        "slo": BurnRateJudge(),
    }


def _default_strategies() -> dict[str, StrategyConfig]:
    return {
        "recreate": RecreateConfig(),
        "blue_green": BlueGreenConfig(),
        "canary": CanaryConfig(),
        "progressive": ProgressiveConfig(),
    }


@dataclass(frozen=True)
class Scenario(Config):
    schema_version: int = num(SCHEMA_VERSION, 1, 1, doc="version of this file format")
    name: str = text("default", doc="short name, used in result folders")
    description: str = text("", doc="what the scenario shows")
    fleet: FleetConfig = section(FleetConfig)
    traffic: TrafficConfig = section(TrafficConfig)
    releases: ReleasesConfig = section(ReleasesConfig)
    migration: MigrationConfig = section(MigrationConfig, doc="the schema change releases carry, if any")
    flags: FlagsConfig = section(FlagsConfig, doc="feature-flag mechanics, for the flag strategies")
    noise: NoiseConfig = section(NoiseConfig)
    routing: RoutingConfig = section(RoutingConfig)
    judges: dict[str, JudgeConfig] = section(_default_judges)
    humans: HumansConfig = section(HumansConfig)
    reports: ReportsConfig = section(ReportsConfig, doc="users who tell support about a bad release")
    safety_net: str | None = text("slo", doc="burn-rate judge watching the whole service; null for none")
    strategies: dict[str, StrategyConfig] = section(_default_strategies)
    run: RunConfig = section(RunConfig)

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise ConfigError(f"{self.name!r} is not a plain name (letters, digits, _ . -)", ("name",))
        segments = self.traffic.segment_names
        for kind, spec in self.releases.faults.items():
            if spec.segment is not None and spec.segment not in segments:
                raise ConfigError(
                    f"{spec.segment!r} is not a segment: {', '.join(segments)}",
                    ("releases", "faults", kind, "segment"),
                )
        for seg in self.routing.canary_bias.segments:
            if seg not in segments:
                raise ConfigError(
                    f"{seg!r} is not a segment: {', '.join(segments)}",
                    ("routing", "canary_bias", "segments", seg),
                )
        if self.routing.session_affinity and self.routing.mode != "router":
            raise ConfigError(
                "session affinity needs a traffic router (routing mode router)",
                ("routing", "session_affinity"),
            )
        if not self.strategies:
            raise ConfigError("needs at least one strategy", ("strategies",))
        gates = sorted(k for k, j in self.judges.items() if isinstance(j, GateJudge))
        for name, strat in self.strategies.items():
            for seg in strat.routing_for(self.routing).canary_bias.segments:
                if seg not in segments:
                    raise ConfigError(
                        f"{seg!r} is not a segment: {', '.join(segments)}",
                        ("strategies", name, "routing", "canary_bias", "segments", seg),
                    )
            own = strat.routing_for(self.routing)
            if own is not self.routing and own.session_affinity and own.mode != "router":
                raise ConfigError(
                    "session affinity needs a traffic router (routing mode router)",
                    ("strategies", name, "routing", "session_affinity"),
                )
            for i, step in enumerate(getattr(strat, "steps", ())):
                for seg in getattr(step, "header_route", None) or ():
                    if seg not in segments:
                        raise ConfigError(
                            f"{seg!r} is not a segment: {', '.join(segments)}",
                            ("strategies", name, "steps", i, "header_route"),
                        )
                if (
                    getattr(step, "header_route", None) is not None
                    and strat.routing_for(self.routing).mode != "router"
                ):
                    raise ConfigError(
                        "a header route needs a traffic router (routing mode router)",
                        ("strategies", name, "steps", i, "header_route"),
                    )
                mirror = getattr(step, "mirror_route", None)
                for seg in mirror.segments if mirror is not None else ():
                    if seg not in segments:
                        raise ConfigError(
                            f"{seg!r} is not a segment: {', '.join(segments)}",
                            ("strategies", name, "steps", i, "mirror_route", "segments"),
                        )
                if mirror is not None and strat.routing_for(self.routing).mode != "router":
                    raise ConfigError(
                        "a mirror route needs a traffic router (routing mode router)",
                        ("strategies", name, "steps", i, "mirror_route"),
                    )
            for used in strat.judges_used():
                if used not in self.judges or not isinstance(self.judges[used], GateJudge):
                    raise ConfigError(
                        f"{used!r} is not a gate judge of this scenario: {', '.join(gates)}",
                        ("strategies", name),
                    )
        if self.safety_net is not None and not isinstance(self.judges.get(self.safety_net), BurnRateJudge):
            burn = sorted(k for k, j in self.judges.items() if isinstance(j, BurnRateJudge))
            raise ConfigError(
                f"{self.safety_net!r} is not a burn_rate judge: {', '.join(burn) or 'none defined'}",
                ("safety_net",),
            )

    def only(self, strategies: Sequence[str]) -> Scenario:
        """The same scenario with a subset of its strategies, in the order given."""
        for s in strategies:
            if s not in self.strategies:
                raise ConfigError(
                    f"{s!r} is not a strategy of this scenario: {', '.join(self.strategies)}", ("strategies",)
                )
        if not strategies:
            raise ConfigError("no strategy selected", ("strategies",))
        return dataclasses.replace(self, strategies={s: self.strategies[s] for s in strategies})

    @property
    def slo(self) -> BurnRateJudge:
        j = self.judges.get(self.safety_net) if self.safety_net else None
        return j if isinstance(j, BurnRateJudge) else BurnRateJudge()

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        return to_plain(self, compact)

    def to_yaml(self) -> str:
        """The resolved scenario as YAML that loads back to an equal scenario."""
        return yaml.safe_dump(self.to_dict(compact=True), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_yaml(cls, text: str, source: str | None = None) -> Scenario:
        """A scenario from YAML text (what `to_yaml` writes, or an upload), read by the one capped YAML
        reader; a ConfigError names `source` and the line otherwise."""
        data, lines = yamlsafe.parse(text, source)
        return _build(data if data is not None else {}, lines, source, ())


# ---- loading ----


def parse_yaml(text_: str, source: str) -> tuple[Any, dict[tuple[PathPart, ...], int]]:
    """YAML text → (plain data, key path → line), or a ConfigError naming the line."""
    return yamlsafe.parse(text_, source)


def resolve_path(ref: str | Path) -> Path:
    """A scenario file, or the name of a shipped scenario (`default` → scenarios/default.yaml)."""
    p = Path(ref)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(ref):
        return p
    shipped = SCENARIO_DIR / f"{ref}.yaml"
    return shipped if shipped.exists() else p


def load_scenario(ref: str | Path | Mapping[str, Any] | Scenario, overrides: Sequence[str] = ()) -> Scenario:
    """Build a Scenario from a dict, a YAML file path, or a shipped scenario's name.

    `overrides` are "key.path=value" strings (value in YAML syntax) applied before validation.
    """
    if isinstance(ref, Scenario):
        if not overrides:
            return ref
        ref = ref.to_dict()
    lines: dict[tuple[PathPart, ...], int]
    if isinstance(ref, Mapping):
        data, lines, source = dict(ref), {}, None
    else:
        path = resolve_path(ref)
        source = str(path)
        if not path.exists() and not path.is_symlink():
            shipped = ", ".join(shipped_scenarios())
            raise ConfigError(f"no such file (shipped scenarios: {shipped})", source=source)
        data, lines = parse_yaml(yamlsafe.read_text(path, source), source)
        if data is None:
            data = {}
    return _build(data, lines, source, overrides)


def _build(
    data: Any, lines: dict[tuple[PathPart, ...], int], source: str | None, overrides: Sequence[str]
) -> Scenario:
    """Overrides applied to parsed data, then validated; errors located in the file or at --set."""
    try:
        set_paths = [override_path(item) for item in overrides]
    except ConfigError as err:
        raise err.located("--set") from None
    try:
        for item in overrides:
            data = apply_override(data, item)
        return build(Scenario, data)  # type: ignore[return-value]
    except ConfigError as err:
        if err.path and any(err.path[: len(p)] == p or p[: len(err.path)] == err.path for p in set_paths):
            # The value came from an override, not from the file: no line of the file holds it.
            raise err.located("--set") from None
        line = line_for(lines, err.path) if err.line is None else err.line
        raise err.located(source, line) from None
    except RecursionError:
        raise ConfigError("nested too deeply", source=source) from None


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(key: str) -> tuple[PathPart, ...]:
    """'strategies.progressive.steps[2].weight' → ('strategies', 'progressive', 'steps', 2, 'weight')."""
    parts: list[PathPart] = []
    pos = 0
    for m in _TOKEN.finditer(key):
        gap = key[pos : m.start()]
        if gap not in ("", "."):
            raise ConfigError(f"{key!r} is not a key path like a.b[2].c")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts or pos != len(key):
        raise ConfigError(f"{key!r} is not a key path like a.b[2].c")
    return tuple(parts)


def override_path(item: str) -> tuple[PathPart, ...]:
    """The key path a "key.path=value" override sets."""
    if "=" not in item:
        raise ConfigError(f"{item!r} is not key.path=value")
    return parse_key_path(item.split("=", 1)[0].strip())


def apply_override(data: Any, item: str) -> Any:
    """Return a copy of plain scenario data with one "key.path=value" override applied."""
    path = override_path(item)
    raw = item.split("=", 1)[1]
    try:
        value, _ = yamlsafe.parse(raw, "--set")
    except yamlsafe.YamlSyntaxError:
        value = raw  # not YAML: the text as it is (a limit broken is still refused)
    full = to_plain(build(Scenario, data)) if not _is_full(data) else data
    return _set_in(full, path, value, ())


def _is_full(data: Any) -> bool:
    return isinstance(data, Mapping) and "run" in data and "strategies" in data and "judges" in data


def _set_in(node: Any, path: tuple[PathPart, ...], value: Any, seen: tuple[PathPart, ...]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        if isinstance(head, int):
            raise ConfigError("is a mapping, not a list", (*seen,))
        out = dict(node)
        if head not in out and rest:
            raise unknown_key(head, [str(k) for k in out], seen)
        out[head] = _set_in(out.get(head), rest, value, (*seen, head))
        return out
    if isinstance(node, list):
        if not isinstance(head, int) or not (0 <= head < len(node)):
            raise ConfigError(f"no item {head} (the list has {len(node)})", (*seen, head))
        out_l = list(node)
        out_l[head] = _set_in(node[head], rest, value, (*seen, head))
        return out_l
    raise ConfigError(f"cannot set {head!r} inside a {type(node).__name__}", (*seen, head))
