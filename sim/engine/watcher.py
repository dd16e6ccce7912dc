"""Watchers: observers that scan traffic as the tape draws it for the first moment they must act.

The burn-rate alerts and the users who report trouble are both watchers. A watcher never changes
the world while it scans, so the tape may draw far ahead of it; it sleeps until the first instant
its condition holds in what is drawn and acts then. When a state change rewinds the tape, what it
was sleeping towards may no longer happen: it is woken to scan again.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from .world import World


class Watcher:
    """Base of the watchers: subclasses say what a scan finds (`scan`) and what firing does (`fire`)."""

    def __init__(self, env: simpy.Environment, world: World) -> None:
        self.env, self.world = env, world
        self.proc: simpy.Process | None = None
        self.fired_at: float | None = None
        self._sleeping = False
        world.rewind_listeners.append(self._rewound)

    def start(self) -> simpy.Process:
        self.proc = self.env.process(self._run())
        self.world.observers.add(self.proc)
        return self.proc

    def scan(self) -> tuple[float | None, float | None]:
        """Over the traffic drawn so far: (the first instant from now on at which the watcher fires,
        or None; when to look again if it does not, or None when nothing more can come)."""
        raise NotImplementedError  # every watcher overrides this

    def fire(self, at: float) -> bool:
        """Act on the firing `scan` found; True when there is nothing more to watch for (False: a
        page refused inside a maintenance silence, or one tier of several done)."""
        raise NotImplementedError  # every watcher overrides this

    def rewound(self, k: int) -> None:
        """The tape was redrawn from window k: forget what was scanned from there on."""

    def _rewound(self, k: int) -> None:
        self.rewound(k)
        self.wake()

    def wake(self) -> None:
        """Scan again now (what it was sleeping towards may have changed)."""
        if self._sleeping and self.proc is not None and self.proc.is_alive:
            self._sleeping = False
            self.proc.interrupt("rewound")

    def _run(self) -> Generator[Any, Any, None]:
        env = self.env
        while True:
            self.world.ensure(env.now)
            hit, again = self.scan()
            wake = hit if hit is not None else again
            if wake is None:
                return
            try:
                self._sleeping = True
                if wake > env.now:
                    yield env.timeout(wake - env.now)
                self._sleeping = False
            except simpy.Interrupt:
                continue  # redrawn: scan again from the first affected instant
            if hit is not None and self.fire(hit):
                self.fired_at = env.now
                return
