"""Kubernetes manifests as read: multi-document YAML with line numbers, and errors and warnings that
name the file, the object and the field."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import yamlsafe
from ..core.errors import ConfigError, PathPart, format_path
from ..core.yamlsafe import line_for

#: The controller API versions this importer understands, by kind.
SUPPORTED = {
    "Rollout": ("argoproj.io/v1alpha1",),
    "AnalysisTemplate": ("argoproj.io/v1alpha1",),
    "ClusterAnalysisTemplate": ("argoproj.io/v1alpha1",),
    "Canary": ("flagger.app/v1beta1",),
    "MetricTemplate": ("flagger.app/v1beta1",),
}
STRATEGY_KINDS = ("Rollout", "Canary")


@dataclass(frozen=True)
class ManifestWarning:
    """A field that matters but could not be mapped exactly, and the assumption made instead."""

    source: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        return ": ".join(p for p in (self.source, self.obj, self.field, self.message) if p)


@dataclass
class Manifest:
    """One Kubernetes object of a manifest file."""

    body: dict[str, Any]
    source: str
    lines: dict[tuple[PathPart, ...], int] = field(default_factory=dict)
    #: What reading the text took beyond YAML (a quoted `{{ placeholder }}`), for the import's warnings.
    notes: list[ManifestWarning] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every reader below takes metadata for a mapping: anything else is refused here, once.
        metadata = self.body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ConfigError(
                f"is {_what(metadata)}, not a mapping (name, labels, annotations)",
                ("metadata",),
                f"{self.source}: {self.kind}",
                line_for(self.lines, ("metadata",)),
            )

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def name(self) -> str:
        name = self.get("metadata", "name")
        return str(name) if isinstance(name, str | int | float) and not isinstance(name, bool) else "unnamed"

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    def get(self, *path: PathPart, default: Any = None) -> Any:
        node: Any = self.body
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or not (0 <= part < len(node)):
                    return default
            elif not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return default if node is None else node

    def error(self, path: Sequence[PathPart], message: str) -> ConfigError:
        return ConfigError(
            message, tuple(path), f"{self.source}: {self.label}", line_for(self.lines, tuple(path))
        )

    def warning(self, path: Sequence[PathPart], message: str) -> ManifestWarning:
        return ManifestWarning(self.source, self.label, format_path(path), message)

    def annotation(self, key: str) -> str | None:
        value = self.get("metadata", "annotations", key)
        return str(value) if value is not None else None


def _what(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"{value!r}"[:40]


def read_manifests(paths: Iterable[str | Path]) -> list[Manifest]:
    """Every Kubernetes object in the files, in order; a file that is not YAML is a ConfigError."""
    out: list[Manifest] = []
    for path in paths:
        out += parse_manifests(yamlsafe.read_text(path), str(path))
    return out


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """The Kubernetes objects of one multi-document YAML text."""
    quoted: list[tuple[int, str]] = []
    try:
        docs = yamlsafe.parse_all(text, source)
    except yamlsafe.YamlSyntaxError:
        # Argo's examples carry unquoted placeholders (`value: {{args.name}}`), which are not YAML;
        # quoted, they read as the text Argo substitutes at run time. Tried only when the text as it
        # stands fails, so a file that is YAML is read exactly as written.
        fixed, quoted = quote_placeholders(text)
        if not quoted:
            raise
        docs = yamlsafe.parse_all(fixed, source)
    out: list[Manifest] = []
    for i, doc in enumerate(docs):
        body, node = doc.data, doc.node
        if body is None or node is None:
            continue
        if not isinstance(body, dict) or not body.get("kind") or not body.get("apiVersion"):
            raise ConfigError(
                f"document {i + 1} is not a Kubernetes object (a mapping with apiVersion and kind)",
                source=source,
                line=node.start_mark.line + 1,
            )
        first, last = node.start_mark.line + 1, (node.end_mark or node.start_mark).line + 1
        if body.get("kind") == "List" and isinstance(body.get("items"), list):  # `kubectl get -o yaml`
            out += _items(body["items"], doc.lines, source)
            continue
        m = Manifest(body, source, doc.lines)
        m.notes += [
            ManifestWarning(
                source,
                m.label,
                f"line {line}",
                f"{value} is not YAML as written: read as the text {value!r} (quote it in the file)",
            )
            for line, value in quoted
            if first <= line <= last
        ]
        out += _checked(m)
    return out


#: A value that opens with `{{` after `key: ` or `- `, up to a comment or the end of the line.
_PLACEHOLDER = re.compile(
    r"^(?P<lead>\s*(?:-\s+)*(?:[^\s#'\"{\[-][^#]*?:\s+|-\s+))(?P<value>\{\{.*?)(?P<tail>(?:\s+#.*)?\s*)$"
)
_BLOCK_SCALAR = re.compile(r"^(?P<indent>\s*)(?:-\s+)*(?:[^#]*?:\s+)?[|>][-+0-9]*\s*(?:#.*)?$")


def quote_placeholders(text: str) -> tuple[str, list[tuple[int, str]]]:
    """The text with each bare `{{ ... }}` value single-quoted, line by line (so every line keeps its
    number), and (line, value) of each one quoted. Block scalars (`|`, `>`) are left as they are."""
    lines = text.split("\n")
    quoted: list[tuple[int, str]] = []
    block: int | None = None  # the indent of the key that opened a block scalar we are inside
    for n, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if block is not None and (not line.strip() or indent > block):
            continue
        block = None
        opens = _BLOCK_SCALAR.match(line)
        if opens is not None:
            block = len(opens["indent"])
            continue
        m = _PLACEHOLDER.match(line)
        if m is None or "}}" not in m["value"]:
            continue
        value = m["value"]
        lines[n] = m["lead"] + "'" + value.replace("'", "''") + "'" + m["tail"]
        quoted.append((n + 1, value))
    return "\n".join(lines), quoted


def _items(items: list[Any], lines: dict[tuple[PathPart, ...], int], source: str) -> list[Manifest]:
    """The objects of a v1 List, each with its own line numbers (the List's, re-rooted at the item)."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("kind") and item.get("apiVersion"):
            prefix = ("items", i)
            own = {path[2:]: line for path, line in lines.items() if path[:2] == prefix}
            out += _checked(Manifest(item, source, own))
    return out


def _checked(m: Manifest) -> list[Manifest]:
    allowed = SUPPORTED.get(m.kind)
    if allowed is not None and m.body["apiVersion"] not in allowed:
        raise m.error(
            ("apiVersion",),
            f"unsupported apiVersion {m.body['apiVersion']!r} for a {m.kind}"
            f" (supported: {', '.join(allowed)})",
        )
    return [m]


# ---- field readers: each names the object and the field when the value is wrong ----

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_s(m: Manifest, path: Sequence[PathPart], value: Any, bare_seconds: bool = False) -> float:
    """A Go duration ("90s", "1m30s", "1h") in seconds; a bare number is seconds where the API allows
    it (Argo's pause duration: "Defaults to s if not specified")."""
    if isinstance(value, bool):
        raise m.error(path, f"{value!r} is not a duration like 30s, 5m or 1h")
    bare = isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip())
    )
    if bare and bare_seconds:
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and _GO_DURATION.sub("", value.strip()) == "":
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _GO_DURATION.findall(value.strip()))
    else:
        raise m.error(path, f"{value!r} is not a duration like 30s, 5m or 1h")
    if seconds < 0 or math.isnan(seconds):
        raise m.error(path, f"{value!r} is not a duration >= 0")
    return seconds


def integer(m: Manifest, path: Sequence[PathPart], value: Any, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            raise m.error(path, f"expected a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f"within {lo}..{hi}" if hi is not None else f">= {lo}"
        raise m.error(path, f"{value} is not {allowed}")
    return value


def number(m: Manifest, path: Sequence[PathPart], value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(str(value))
        except ValueError:
            raise m.error(path, f"expected a number, got {value!r}") from None
    return float(value)


def int_or_percent(m: Manifest, path: Sequence[PathPart], value: Any, of: int) -> int:
    """An IntOrString such as maxSurge: 2 or "25%"; percentages round up, as Kubernetes does for surge."""
    if isinstance(value, str) and value.strip().endswith("%"):
        pct = number(m, path, value.strip()[:-1])
        return math.ceil(of * pct / 100.0 - 1e-9)
    return integer(m, path, value)


def mapping(m: Manifest, path: Sequence[PathPart]) -> dict[str, Any]:
    value = m.get(*path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise m.error(path, f"expected a mapping, got {value!r}")
    return value


def listing(m: Manifest, path: Sequence[PathPart]) -> list[Any]:
    value = m.get(*path)
    if value is None:
        return []
    if not isinstance(value, list):
        raise m.error(path, f"expected a list, got {value!r}")
    return value
