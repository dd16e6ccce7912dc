"""The one YAML reader for scenarios, manifests and uploads: parsed once, under hard caps, with lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, PathPart

#: Bytes read from a file at most. The shipped scenarios are 1–6 KB and a `kubectl get -o yaml` of a
#: few hundred rollouts is well under a megabyte; 4 MiB leaves room for both while keeping the read,
#: the decode and a scan of the text to tens of milliseconds (a larger file is generated, not written).
MAX_BYTES = 4 * 1024 * 1024
#: Distinct nodes per file. Composing and constructing costs ~20 µs and ~0.5 KB a node on the shared
#: development machine, so the cap holds the worst accepted file to ~2 s and ~80 MB. The default
#: scenario has about 500 nodes, an Argo Rollout with its templates a few hundred.
MAX_NODES = 100_000
#: Alias uses (`*name`) per file; people write a handful, and each one is work that caps must follow.
MAX_ALIASES = 10_000
#: Collections nested in one another; a deep manifest is ~15 levels, and the readers downstream recurse.
MAX_DEPTH = 100
#: Nodes counted as if every alias were expanded: what the code after the parser walks. A YAML "billion
#: laughs" of a few hundred bytes expands to 10⁹ nodes; refused here before any of it is built.
MAX_EXPANDED = 1_000_000

_TOO_MANY_EXPANDED = f"more than {MAX_EXPANDED:,} nodes with aliases expanded (the limit)"

Lines = dict[tuple[PathPart, ...], int]


class YamlSyntaxError(ConfigError):
    """The text is not YAML at all (as opposed to YAML over a limit)."""


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain data, its composed node and each key path's line."""

    data: Any
    node: Node | None
    lines: Lines


# Subclasses, so the resolver added below is theirs alone: the yaml module's loaders stay as they are.
if yaml.__with_libyaml__:

    class _Loader(yaml.CSafeLoader):
        """libyaml's parser, the safe constructor; composed by _Composer, not by the loader."""

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(yaml.SafeLoader):  # type: ignore[no-redef]
        """The pure-Python parser, the safe constructor; composed by _Composer, not by the loader."""


# YAML 1.1 reads numbers in exponent notation without a dot or a signed exponent (`1e5`, `2.5E3`) as
# strings; people mean numbers.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def read_text(path: str | Path, source: str | None = None) -> str:
    """A file's UTF-8 text, reading at most MAX_BYTES + 1 bytes (so /dev/zero ends at once)."""
    source = source or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.__class__.__name__}", source=source) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"larger than the limit of {MAX_BYTES:,} bytes for a YAML file", source=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", source=source) from None


def parse_all(text: str, source: str | None) -> list[Document]:
    """Every document of a YAML text, parsed once with safe tags only, or one ConfigError line."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"larger than the limit of {MAX_BYTES:,} characters for a YAML text", source=source)
    loader = _Loader(text)
    try:
        nodes = _Composer(loader, source).stream()
        docs = []
        for node in nodes:
            # Lines first: construction flattens merge keys (`<<: *base`) into the node in place.
            lines = line_map(node) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
            docs.append(Document(data, node, lines))
        return docs
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "not valid YAML"
        raise YamlSyntaxError(
            f"not valid YAML: {problem}", source=source, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as err:
        raise YamlSyntaxError(f"not valid YAML: {str(err).splitlines()[0]}", source=source) from None
    except (ValueError, TypeError, OverflowError) as err:
        # A safe tag with a value it cannot hold: `!!int x`, a 13th month, an int of 10,000 digits.
        raise YamlSyntaxError(f"not valid YAML: {str(err).splitlines()[0]}", source=source) from None
    finally:
        loader.dispose()


def parse(text: str, source: str | None) -> tuple[Any, Lines]:
    """A single-document YAML text → (plain data, key path → line)."""
    docs = parse_all(text, source)
    if len(docs) > 1:
        raise ConfigError(
            "holds more than one YAML document (`---`); a scenario is one",
            source=source,
            line=docs[1].node.start_mark.line + 1 if docs[1].node is not None else None,
        )
    if not docs:
        return None, {}
    return docs[0].data, docs[0].lines


class _Composer:
    """Events → nodes without recursion, counting nodes, aliases, depth and expanded size as it goes,
    so a file over a cap is refused before the rest of it is parsed."""

    def __init__(self, loader: _Loader, source: str | None) -> None:
        self.loader = loader
        self.source = source
        self.nodes = 0
        self.aliases = 0
        self.expanded = 0

    def refuse(self, message: str, line: int | None) -> ConfigError:
        return ConfigError(message, source=self.source, line=line)

    def stream(self) -> list[Node | None]:
        loader = self.loader
        loader.get_event()  # StreamStart
        out: list[Node | None] = []
        while not loader.check_event(StreamEndEvent):
            loader.get_event()  # DocumentStart
            out.append(self.document())
            loader.get_event()  # DocumentEnd
        loader.get_event()
        return out

    def document(self) -> Node:
        anchors: dict[str, Node] = {}  # anchors are scoped to their document
        size: dict[int, int] = {}  # id(node) → its expanded node count, memoised over the DAG
        open_ids: set[int] = set()
        stack: list[tuple[Node, list[Any], list[int]]] = []  # node, pending key, [expanded size]
        while True:
            event: Any = self.loader.get_event()
            line = event.start_mark.line + 1
            child: Node
            if isinstance(event, AliasEvent):
                if event.anchor not in anchors:
                    raise self.refuse(f"alias *{event.anchor} has no anchor &{event.anchor} before it", line)
                child = anchors[event.anchor]
                if id(child) in open_ids:
                    raise self.refuse(f"alias *{event.anchor} refers to a node that holds it (a cycle)", line)
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise self.refuse(f"more than {MAX_ALIASES:,} aliases (the limit)", line)
            elif isinstance(event, ScalarEvent | SequenceStartEvent | MappingStartEvent):
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    raise self.refuse(f"more than {MAX_NODES:,} YAML nodes (the limit)", line)
                child = self._node(event)
                if event.anchor is not None:
                    if event.anchor in anchors:
                        first = anchors[event.anchor].start_mark.line + 1
                        raise self.refuse(
                            f"anchor &{event.anchor} defined twice, first on line {first}", line
                        )
                    anchors[event.anchor] = child
                if isinstance(child, ScalarNode):
                    size[id(child)] = 1
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise self.refuse(f"nested deeper than {MAX_DEPTH} levels (the limit)", line)
                    stack.append((child, [], [1]))
                    open_ids.add(id(child))
                    continue
            elif isinstance(event, SequenceEndEvent | MappingEndEvent):
                child, pending, total = stack.pop()
                open_ids.discard(id(child))
                child.end_mark = event.end_mark
                if isinstance(child, MappingNode):
                    _no_duplicate_keys(child, self.source)
                size[id(child)] = total[0]
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise yaml.composer.ComposerError(None, None, f"unexpected {event}", event.start_mark)
            if not stack:
                self.expanded += size[id(child)]
                if self.expanded > MAX_EXPANDED:
                    raise self.refuse(_TOO_MANY_EXPANDED, line)
                return child
            parent, pending, total = stack[-1]
            total[0] += size[id(child)]
            if self.expanded + total[0] > MAX_EXPANDED:
                raise self.refuse(_TOO_MANY_EXPANDED, line)
            if isinstance(parent, SequenceNode):
                parent.value.append(child)
            elif pending:
                parent.value.append((pending.pop(), child))
            else:
                pending.append(child)

    def _node(self, event: Any) -> Node:
        loader = self.loader
        tag = event.tag
        # libyaml's marks are not yaml.Mark to a type checker, though they serve alike.
        start: Any = event.start_mark
        end: Any = event.end_mark
        if isinstance(event, ScalarEvent):
            if tag is None or tag == "!":
                tag = loader.resolve(ScalarNode, event.value, event.implicit)
            return ScalarNode(tag, event.value, start, end, style=event.style)
        if tag is None or tag == "!":
            kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
            tag = loader.resolve(kind, None, event.implicit)
        if isinstance(event, SequenceStartEvent):
            return SequenceNode(tag, [], start, None, flow_style=event.flow_style)
        return MappingNode(tag, [], start, None, flow_style=event.flow_style)


def _no_duplicate_keys(node: MappingNode, source: str | None) -> None:
    """A key given twice is an error naming both lines (YAML loaders otherwise keep the last quietly)."""
    seen: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode):
            continue
        line = key.start_mark.line + 1
        first = seen.get((key.tag, key.value))
        if first is not None:
            raise ConfigError(
                f"duplicate key {key.value!r}, first given on line {first}; give each key once",
                source=source,
                line=line,
            )
        seen[(key.tag, key.value)] = line


def line_map(node: Node) -> Lines:
    """Key path → the line it is on, for a composed YAML node; each node is visited once, so a node
    reached again through an alias maps only the key that refers to it (its nearest line)."""
    lines: Lines = {(): node.start_mark.line + 1}
    seen = {id(node)}
    todo: list[tuple[Node, tuple[PathPart, ...]]] = [(node, ())]
    while todo:
        parent, path = todo.pop()
        if isinstance(parent, MappingNode):
            children = [
                (key.start_mark.line + 1, (*path, key.value), value)
                for key, value in parent.value
                if isinstance(key, ScalarNode)
            ]
        elif isinstance(parent, SequenceNode):
            children = [(item.start_mark.line + 1, (*path, i), item) for i, item in enumerate(parent.value)]
        else:
            continue
        for line, child_path, child in children:
            lines.setdefault(child_path, line)
            if id(child) not in seen:
                seen.add(id(child))
                todo.append((child, child_path))
    return lines


def line_for(lines: Mapping[tuple[PathPart, ...], int], path: tuple[PathPart, ...]) -> int | None:
    """The line of a key path, or of its nearest ancestor that has one."""
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None
