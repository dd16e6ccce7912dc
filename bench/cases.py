"""The bench's scenarios: the default scenario at another request rate, followed for a chosen horizon."""

from __future__ import annotations

import sim


def scenario_at(rate_rps: float, horizon_s: float | None = None) -> sim.Scenario:
    """The default scenario at another request rate, with the fleet scaled to keep its utilisation
    (and, for the target case, followed for `horizon_s` instead of the scenario's 3 h — and no
    longer: a bad release not caught by then is not followed on for days)."""
    base = sim.load_scenario("default")
    scale = rate_rps / base.traffic.rate_rps
    overrides = [
        f"traffic.rate_rps={rate_rps}",
        f"fleet.capacity_rps={base.fleet.capacity_rps * scale}",
        f"traffic.users.population={max(1000, int(base.traffic.users.population * scale))}",
    ]
    if horizon_s is not None:
        overrides += [f"run.horizon_s={horizon_s}", f"run.follow_s={horizon_s}"]
    return sim.load_scenario(base, overrides=overrides)
