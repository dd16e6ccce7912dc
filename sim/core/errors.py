"""The one error type for a user's bad input: it names the file, key path, line and what is allowed."""

from __future__ import annotations

from collections.abc import Sequence

PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """("strategies", "progressive", "steps", 2, "weight") → strategies.progressive.steps[2].weight."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class ConfigError(ValueError):
    """A scenario, manifest or argument the user supplied is not valid.

    The message is one line, fit to print as it is: ``file: key.path: what is wrong (line N)``.
    """

    def __init__(
        self,
        message: str,
        path: Sequence[PathPart] = (),
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = tuple(path)
        self.source = source
        self.line = line
        super().__init__(str(self))

    def at(self, *prefix: PathPart) -> ConfigError:
        """The same error seen from an enclosing section."""
        return ConfigError(self.message, (*prefix, *self.path), self.source, self.line)

    def located(self, source: str | None, line: int | None = None) -> ConfigError:
        return ConfigError(self.message, self.path, source or self.source, line or self.line)

    def __str__(self) -> str:
        parts = []
        if self.source:
            parts.append(self.source)
        if self.path:
            parts.append(format_path(self.path))
        text = ": ".join([*parts, self.message])
        if self.line is not None:
            text += f" (line {self.line})"
        # One line whatever a key or value held (a YAML key may be "\n"): escape what is not printable.
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
