"""The world: exact timelines of tiny deploys, conservation of requests, rewinds."""

from __future__ import annotations

import types

import numpy as np
import simpy

import sim
from sim.engine import tape as tape_mod
from sim.engine.exogenous import draw_exogenous
from sim.engine.simulate import simulate
from tests.conftest import QUIET, scenario


def _good(patch=None):
    return scenario({**QUIET, "releases": {"bad_probability": 0}, **(patch or {})})


def test_recreate_timeline_is_exact():
    scn = _good()
    run = sim.run_deploy(scn, "recreate", deploy=0, seed=1)
    assert run.deploy.events == [
        (0.0, "step", "stop every stable replica"),
        (15.0, "step", "start the new version"),
    ]
    # Down from the stop (endpoints go at once) until the new replicas are ready: stop + start + warm-up.
    assert run.row["downtime_s"] == 15 + 40 + 30
    assert run.row["lead_time_s"] == 85
    assert run.row["extra_instance_hours"] == 0
    assert not run.row["rolled_back"]


def test_blue_green_timeline_and_cost_are_exact():
    scn = _good()
    run = sim.run_deploy(scn, "blue_green", deploy=0, seed=1)
    kinds = [(t, k, d) for t, k, d in run.deploy.events]
    assert kinds == [
        (0.0, "step", "provision green"),
        (190.0, "smoke test", "passed"),
        (190.0, "step", "cut over to green"),
        (192.0, "weight", "100%"),
    ]
    assert run.row["lead_time_s"] == 192 and run.row["downtime_s"] == 0
    # A second fleet of 10 from its start until blue is gone (delay 1800 s, then 15 s to stop).
    assert run.row["extra_instance_hours"] == 10 * (192 + 1800 + 15) / 3600


def test_every_user_request_is_served_or_fails_exactly_once():
    for strategy in ("recreate", "blue_green", "canary", "progressive"):
        run = sim.run_deploy(scenario(), strategy, deploy=2, seed=3)
        w = run.world
        drawn = int(w.ledger["taken"][:, :-1].sum())
        n_windows = int(np.ceil(w.materialized / w.window_s))
        remaining = int(w.tape.rem[:n_windows, :-1].sum())
        assert drawn + remaining == int(run.exo.traffic.user[:n_windows].sum())
        tel = w.telemetry
        # Monitoring saw every drawn request once: served by a version, or failed for want of one.
        assert tel.user.sum() + w.ledger["caused"][w.ledger["down"]].sum() == drawn


def test_drawing_ahead_changes_no_statistics(monkeypatch):
    # How far ahead traffic is drawn only changes which random numbers are used, never what is
    # counted: totals of the exogenous traffic are identical, and served totals agree.
    totals = []
    for lookahead in (60.0, 3600.0):
        monkeypatch.setattr(tape_mod.Tape, "next_change", lambda self, la=lookahead: self.env.now + la)
        run = sim.run_deploy(scenario(QUIET), "progressive", deploy=1, seed=9)
        totals.append(int(run.world.ledger["taken"][:, :-1].sum()))
    assert totals[0] == totals[1]


def test_common_random_numbers_across_strategies():
    df = sim.run_batch(scenario(), deploys=6, seed=4)
    per_deploy = df.groupby("deploy")
    assert (per_deploy["release_bad"].nunique() == 1).all()
    assert (per_deploy["fault_kind"].nunique(dropna=False) == 1).all()


def test_quiet_pauses_keep_their_promise_and_are_drawn_past(monkeypatch):
    # A quiet pause promises that the process it wakes changes no traffic for quiet_for seconds,
    # so the tape may draw on past the pause's end. Check the promise on every shipped scenario's
    # progressive strategies: no state the woken rollout sets falls inside its quiet spell.
    quiet: list[tuple[object, float, float]] = []  # (the waiting process, pause end, quiet until)
    breaches: list[tuple[str, float]] = []
    cut_at: list[float] = []  # where draws ended

    original_init, original_record, original_draw = (
        tape_mod.QuietTimeout.__init__,
        tape_mod.Tape.record,
        tape_mod.Tape._draw,
    )

    def init(self, env, delay, quiet_for):
        quiet.append((env.active_process, env.now + delay, env.now + delay + quiet_for))
        original_init(self, env, delay, quiet_for)

    def record(self, snap):
        now, who = self.env.now, self.env.active_process
        breaches.extend((name, now) for p, a, b in quiet if p is who and a - 1e-9 <= now < b - 1e-9)
        original_record(self, snap)

    def draw(self, t1, need=None):
        cut_at.append(t1)
        original_draw(self, t1, need)

    monkeypatch.setattr(tape_mod.QuietTimeout, "__init__", init)
    monkeypatch.setattr(tape_mod.Tape, "record", record)
    monkeypatch.setattr(tape_mod.Tape, "_draw", draw)
    from sim.config.scenario import shipped_scenarios

    for name in shipped_scenarios():
        scn = sim.load_scenario(name, overrides=["run.horizon_s=7200"])
        for strategy, spec in scn.strategies.items():
            if spec.kind == "progressive":
                for deploy in range(4):  # the event engine's own tape (no array engine's fill)
                    simulate(scn, strategy, draw_exogenous(scn, 5, deploy), 5, deploy)
    assert len(quiet) > 20 and not breaches
    # The point of it: in a plain progressive rollout no draw stops where a pause ends.
    quiet.clear(), cut_at.clear()
    default = sim.load_scenario("default")
    simulate(default, "progressive", draw_exogenous(default, 1, 0), 1, 0)
    ends = [a for _, a, _ in quiet]
    assert len(ends) == 4 and not any(abs(t - a) < 1e-6 for t in cut_at for a in ends)


def test_every_query_puts_a_time_in_the_same_window(monkeypatch):
    # 29.999999999999996 s is a rounding error short of window 3's start (10 s windows): the one
    # look and the many looks must both count it as in window 3, or they would judge other data.
    run = sim.run_deploy(scenario(QUIET), "progressive", deploy=0, seed=1)
    tape, t = run.world.tape, 29.999999999999996
    asked = []
    monkeypatch.setattr(
        tape.telemetry, "stats_many", lambda k_from, k_to, *a, **kw: asked.append((k_from, k_to))
    )
    tape.stats_many([t], 10.0, (0.99,), 0.0, False, rng=np.random.default_rng(1))
    assert tape.windows(t - 10.0, t) == (2, 3) and asked == [([2], [3])]


def test_the_environment_keeps_its_own_record_of_what_is_scheduled():
    # The tape looks ahead through the environment's record, not SimPy's private queue: it must list
    # exactly the events not yet processed, with the times they are due, however many come and go.
    env = tape_mod.DeployEnvironment(initial_time=5.0)
    later = [env.timeout(d) for d in (1.0, 2.0, 3.0)]
    now = env.event().succeed()

    def ticker():
        for _ in range(1000):  # many events, no look ahead: the record must not keep them all
            yield env.timeout(0.001)

    env.process(ticker())
    _step_to(env, 6.5)
    assert sorted(t for t, _ in env.scheduled()) == [7.0, 8.0]
    assert [e for _, e in sorted(env.scheduled(), key=lambda p: p[0])] == later[1:]
    assert now.processed and later[0].processed and len(env._pending) < 200


def test_the_look_ahead_skips_observers_wake_ups():
    # Observers only read: their wake-ups never end a draw. A quiet wait counts from the end of its
    # calm; any other event may change the state. An observer woken early (interrupted) waits for
    # nothing while it runs, and the wake-up it no longer waits for still counts, as it always has.
    env = tape_mod.DeployEnvironment()
    seen: list[float] = []

    def observer():
        try:
            yield env.timeout(10.0)
        except simpy.Interrupt:
            seen.append(tape_mod.Tape.next_change(look))

    def rollout():
        yield tape_mod.QuietTimeout(env, 5.0, quiet_for=30.0)

    def change():
        yield env.timeout(1.0)
        obs.interrupt()
        yield env.timeout(50.0)

    obs = env.process(observer())
    env.process(rollout())
    look = types.SimpleNamespace(env=env, observers={obs})
    _step_to(env, 0.5)
    assert tape_mod.Tape.next_change(look) == 35.0  # the observer's wake-up at 10 s is skipped
    env.process(change())
    _step_to(env, 2.0)
    assert seen == [10.0]


def _step_to(env: simpy.Environment, t: float) -> None:
    """Process every event due before t (`run(until=t)` would leave its stop event scheduled)."""
    while env.peek() < t:
        env.step()
