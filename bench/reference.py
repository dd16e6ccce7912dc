"""A per-request SimPy model of a progressive canary: one event per request, the baseline for `make bench`.

It runs the same plan as the default scenario's progressive strategy (setWeight 1/5/25/50, pauses,
an error-rate baseline check every interval) but simulates every request as its own SimPy event:
exponential inter-arrival times, a routing coin and a failure coin per request. That is how a
naive discrete-event model would be written; deploysim draws the same traffic per window instead.

Like a deploysim deploy, the rollout is followed for the whole horizon: after the plan the new
version takes all traffic (after an abort, the old one) until the horizon ends, so both models
simulate the same hour of requests.
"""

from __future__ import annotations

import random

import simpy


def reference_canary(
    rate_rps: float,
    plan: list[tuple[float, float]],
    interval_s: float = 60.0,
    base_error: float = 0.001,
    canary_error: float = 0.001,
    seed: int = 0,
    horizon_s: float | None = None,
) -> dict[str, float]:
    """Simulate one rollout request by request. plan: (weight %, pause s) steps; horizon_s: how long
    to follow it (default: until the plan ends). Returns counts."""
    env = simpy.Environment()
    rnd = random.Random(seed)
    state = {"weight": 0.0, "n": [0, 0], "err": [0, 0], "events": 0, "aborted": 0.0}

    def arrivals():  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(rnd.expovariate(rate_rps))
            state["events"] += 1
            v = 1 if rnd.random() < state["weight"] else 0
            state["n"][v] += 1
            if rnd.random() < (canary_error if v else base_error):
                state["err"][v] += 1

    def controller():  # type: ignore[no-untyped-def]
        for weight, pause in plan:
            state["weight"] = weight / 100.0
            for _ in range(int(pause // interval_s)):
                state["n"], state["err"] = [0, 0], [0, 0]
                yield env.timeout(interval_s)
                n, e = state["n"], state["err"]
                if n[1] and n[0] and e[1] / n[1] > 2 * e[0] / n[0] + 0.01:
                    state["aborted"] = env.now
                    state["weight"] = 0.0  # rolled back
                    return
        state["weight"] = 1.0

    env.process(arrivals())
    done = env.process(controller())
    env.run(until=done)
    if horizon_s is not None and horizon_s > env.now:
        env.run(until=horizon_s)
    return {"requests": float(state["events"]), "sim_time_s": env.now, "aborted_at": state["aborted"]}
