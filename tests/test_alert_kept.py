"""The alert's kept answers (`alert.Scanned`): every scan answers as a scan from scratch would."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.judges import BurnRateJudge
from sim.engine.alert import Scanned, ServiceWindows, SteadyPast, firings, first_firing

JUDGE = BurnRateJudge(
    slo=0.999,
    windows=(
        {"long_s": 600, "short_s": 60, "burn_rate": 14.4},
        {"long_s": 1200, "short_s": 300, "burn_rate": 6},
    ),
    tickets=({"long_s": 3600, "short_s": 600, "burn_rate": 1},),
)
N = 160  # windows of 10 s

# One step of an alert's life: scan instants from `start` (in steps) for `span` steps, or redraw the
# windows from `at` on (a rewind: the same windows again, or other failures from some window on).
scans = st.tuples(st.just("scan"), st.integers(1, N // 2), st.integers(1, N // 2))
redraws = st.tuples(st.just("redraw"), st.integers(0, N - 1), st.integers(-4, 4))


@settings(max_examples=300, deadline=None)
@given(
    level=st.integers(0, 20),
    wobble=st.lists(st.integers(-3, 3), min_size=N, max_size=N),
    steps=st.lists(st.one_of(scans, redraws), min_size=1, max_size=25),
    step=st.sampled_from([1, 2, 6]),
    tier=st.sampled_from(["page", "ticket"]),
    history_error=st.sampled_from([0.0, 0.001, 0.02]),
)
def test_kept_answers_are_those_of_a_scan_from_scratch(level, wobble, steps, step, tier, history_error):
    # Windows hover around a limit, so that instants fire and stop firing; scans ask about the same
    # instants again, go on where the last ended, skip ahead or reach back, with windows redrawn
    # between them. Each answer must be `first_firing`'s over the windows as they stand.
    user = np.full(N, 1000.0)
    err = np.clip(level + np.array(wobble, float), 0, None)
    service, past = ServiceWindows(user, err, 10.0), SteadyPast(1000.0, history_error)
    kept = Scanned()
    for what, a, b in steps:
        if what == "redraw":
            err[a:] = np.clip(err[a:] + b, 0, None)  # in place: the windows the service reads
            continue
        start = a * step
        eval_ks = range(start, min(N, start + b * step) + 1, step)
        got = kept.first(service, eval_ks, lambda ks: firings(JUDGE, service, ks, past, tier))
        assert got == first_firing(JUDGE, service, eval_ks, past, tier)


def test_a_rescan_after_a_refused_firing_reads_the_kept_answers():
    # A page refused in a silence asks again from the next instant: nothing is worked out again.
    user, err = np.full(N, 1000.0), np.zeros(N)
    err[50:] = 100.0
    service, past = ServiceWindows(user, err, 10.0), SteadyPast(1000.0, 0.0)
    asked: list[range] = []

    def fires_in(ks: range) -> list[int]:
        asked.append(ks)
        return firings(JUDGE, service, ks, past, "page")

    kept = Scanned()
    first = kept.first(service, range(6, N + 1, 6), fires_in)
    assert first is not None
    assert kept.first(service, range(first + 6, N + 1, 6), fires_in) == first + 6
    assert len(asked) == 1
    err[first + 6 :] = 0.0  # redrawn: the instants reading those windows are worked out again
    assert kept.first(service, range(first + 12, N + 1, 6), fires_in) == first_firing(
        JUDGE, service, range(first + 12, N + 1, 6), past
    )
    assert len(asked) == 2


def test_a_scan_reaching_back_finds_the_firings_before_the_last_scan():
    # A burst fires the page at some instants only; a scan past them extends what is kept, and a
    # scan from the start again (as after an acknowledgement rearms the tier) still finds them.
    user, err = np.full(N, 1000.0), np.zeros(N)
    err[20:25] = 900.0
    service, past = ServiceWindows(user, err, 10.0), SteadyPast(1000.0, 0.0)
    asked: list[range] = []

    def fires_in(ks: range) -> list[int]:
        asked.append(ks)
        return firings(JUDGE, service, ks, past, "page")

    everywhere = firings(JUDGE, service, range(1, N + 1), past, "page")
    assert everywhere and everywhere[-1] < 60  # the burst's instants, and none after
    kept = Scanned()
    assert kept.first(service, range(1, 60), fires_in) == everywhere[0]
    assert kept.first(service, range(everywhere[-1] + 1, 120), fires_in) is None
    assert kept.first(service, range(1, 120), fires_in) == everywhere[0]
    assert len(asked) == 2
