"""Counts the random variates a deploy draws, by sub-stream, method and array shape: the floor's source.

`bench/floor.py` draws, for a chunk of deploys at once, what one deploy of the bench's target case
draws one by one. When the engine changes its draws, rerun this and update the floor:

    .venv/bin/python bench/draws.py [--deploys N] [--rate R]

It swaps `sim.core.rng.stream` — the one function every engine stream is built by, `lazy` ones
included — for one that wraps each Generator in a counting proxy, for the length of a `with`
block, and checks that the rows come out bit-identical to an uncounted run (so the proxy changed
nothing the model sees). No engine code is edited. A stream the engine built some other way (a
Generator of its own, or `stream` imported by name) would go uncounted: the engine builds every
one through `rng.stream` today (`grep -rn "stream(" sim/engine`), and a run that counts nothing stops.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import scenario_at

import sim
from sim.core import rng as streams
from sim.engine.exogenous import draw_exogenous
from sim.engine.simulate import simulate

STREAM_NAMES = {
    streams.RELEASE: "release",
    streams.TRAFFIC: "traffic",
    streams.NOISE: "noise",
    streams.OBSERVE: "observe",
    streams.PEOPLE: "people",
    streams.CONTROL: "control",
    streams.MARGIN: "margin",
    streams.FOLLOW: "follow",
    streams.FOLLOW_NOISE: "follow_noise",
    streams.FOLLOW_OBSERVE: "follow_observe",
    streams.REPORTS: "reports",
    streams.METRICS: "metrics",
    streams.FAULTED: "faulted",
}


@dataclass
class Tally:
    """Calls and variates per (stream, method), how many calls drew each output shape, and calls
    and variates per call site."""

    calls: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    variates: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    shapes: collections.Counter[tuple[str, str, tuple[int, ...]]] = field(default_factory=collections.Counter)
    sites: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)
    site_variates: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)

    def add(self, stream: str, method: str, out: Any, site: str) -> None:
        shape = tuple(np.shape(out))
        size = int(np.prod(shape)) if shape else 1
        self.calls[stream, method] += 1
        self.variates[stream, method] += size
        self.shapes[stream, method, shape] += 1
        self.sites[stream, method, site] += 1
        self.site_variates[stream, method, site] += size


def call_site() -> str:
    """The engine function that asked for a draw: the first caller outside this file and the
    small-array helpers (`sim.core.sampling`), as module:function."""
    frame = inspect.currentframe()
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module not in (__name__, "sim.core.sampling"):
            return f"{module.rsplit('.', 1)[-1]}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class CountingGenerator:
    """A numpy Generator that tells a Tally about every draw; everything else passes through."""

    __slots__ = ("_gen", "_name", "_tally")

    def __init__(self, gen: np.random.Generator, name: str, tally: Tally) -> None:
        self._gen, self._name, self._tally = gen, name, tally

    def __getattr__(self, method: str) -> Any:
        attr = getattr(self._gen, method)
        if method.startswith("_") or not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            self._tally.add(self._name, method, out, call_site())
            return out

        return counted


@contextlib.contextmanager
def counting(tally: Tally) -> Iterator[None]:
    """Within the block, every stream the engine builds counts its draws into `tally`."""
    original = streams.stream

    def stream(seed: int, deploy: int, which: int) -> np.random.Generator:
        gen = original(seed, deploy, which)
        return CountingGenerator(gen, STREAM_NAMES.get(which, str(which)), tally)  # type: ignore[return-value]

    streams.stream = stream
    try:
        yield
    finally:
        streams.stream = original


def _event_rows(scn: sim.Scenario, strategy: str, deploys: int, seed: int) -> pd.DataFrame:
    # The event engine, deploy by deploy: the variates the model needs per deploy, which the floor
    # is derived from (the array engine draws the same kinds, a block of deploys per call).
    return pd.DataFrame(
        [simulate(scn, strategy, draw_exogenous(scn, seed, i), seed, i).row for i in range(deploys)]
    )


def count(scn: sim.Scenario, strategy: str, deploys: int, seed: int = 1) -> Tally:
    """The event engine's draws for `deploys` deploys of one strategy, checked not to change the rows."""
    plain = _event_rows(scn, strategy, deploys, seed)
    tally = Tally()
    with counting(tally):
        counted = _event_rows(scn, strategy, deploys, seed)
    pd.testing.assert_frame_equal(plain, counted)
    if not tally.calls:
        raise SystemExit("no draws counted: the engine no longer builds its streams with sim.core.rng.stream")
    return tally


def report(tally: Tally, deploys: int) -> dict[str, Any]:
    """Per-deploy means of calls and variates per (stream, method), its commonest shapes, and its
    call sites (module:function → [calls, variates] per deploy)."""
    rows = {}
    for (stream, method), calls in sorted(tally.calls.items()):
        shapes = {s: n for (st, m, s), n in tally.shapes.items() if (st, m) == (stream, method)}
        top = sorted(shapes.items(), key=lambda kv: -kv[1])[:6]
        rows[f"{stream}.{method}"] = {
            "calls_per_deploy": round(calls / deploys, 2),
            "variates_per_deploy": round(tally.variates[stream, method] / deploys, 1),
            "commonest_shapes": {("x".join(map(str, s)) or "scalar"): round(n / deploys, 2) for s, n in top},
            "sites": {
                site: [round(n / deploys, 2), round(tally.site_variates[st, m, site] / deploys, 1)]
                for (st, m, site), n in sorted(tally.sites.items())
                if (st, m) == (stream, method)
            },
        }
    total_calls = sum(tally.calls.values()) / deploys
    total_variates = sum(tally.variates.values()) / deploys
    return {
        "deploys": deploys,
        "calls_per_deploy": round(total_calls, 1),
        "variates_per_deploy": round(total_variates, 1),
        "by_method": rows,
    }


@dataclass(frozen=True)
class Schedule:
    """The schedule every deploy of a strategy follows until something it saw changes it: when the
    new version's weight moves (s, fraction), and the analysis looks' intervals (s from, s to)."""

    weights: tuple[tuple[float, float], ...]
    looks: tuple[tuple[float, float], ...]


def schedule(scn: sim.Scenario, strategy: str = "progressive", seed: int = 1, tries: int = 50) -> Schedule:
    """Read from the timeline of the first deploy with a sound release and no person involved:
    its weight steps and its analysis looks (each covers the time since the one before, the first
    the time since the first weight was set)."""
    for deploy in range(tries):
        exo = draw_exogenous(scn, seed, deploy)
        run = simulate(scn, strategy, exo, seed, deploy, record=True)
        tl = sim.timeline(run)
        if run.row["release_bad"] or (tl.events["kind"] == "review").any():
            continue
        steps = tl.events[tl.events["kind"] == "weight"]
        # A weight event's detail is the new weight, e.g. "25%".
        pairs = zip(steps["t_s"], steps["detail"], strict=True)
        weights = tuple((float(t), float(str(w).rstrip("%")) / 100.0) for t, w in pairs)
        ends = [float(t) for t in tl.looks.loc[tl.looks["kind"] == "measurement", "t_s"]]
        if not weights or not ends:
            raise SystemExit(f"deploy {deploy} of {strategy}: no weight steps or no analysis looks to read")
        starts = [weights[0][0], *ends[:-1]]
        return Schedule(weights, tuple(zip(starts, ends, strict=True)))
    raise SystemExit(f"no deploy of {strategy} in {tries} ran with a sound release and no person")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deploys", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="request rate, req/s (default 100)")
    parser.add_argument("--strategy", default="progressive")
    args = parser.parse_args()
    scn = scenario_at(args.rate, 3600.0)
    out = report(count(scn, args.strategy, args.deploys), args.deploys)
    plan = schedule(scn, args.strategy)
    out["schedule"] = {"weights": plan.weights, "looks": len(plan.looks)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
