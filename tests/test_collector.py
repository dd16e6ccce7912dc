"""The engine's collector setting: raised while it works, put back as it was after, whatever happens."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import sim
from sim.core import collector
from sim.core.collector import ENGINE_THRESHOLD, fewer_collections
from sim.engine import rows


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_raised_inside_and_restored_after(thresholds: tuple[int, int, int]) -> None:
    with fewer_collections():
        assert gc.get_threshold() == (ENGINE_THRESHOLD, 10, 10)
        with fewer_collections():  # nested: still raised
            assert gc.get_threshold()[0] == ENGINE_THRESHOLD
        assert gc.get_threshold()[0] == ENGINE_THRESHOLD  # the inner end leaves the outer's raise
    assert gc.get_threshold() == thresholds


def test_restored_after_an_error(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a failing batch")
    assert gc.get_threshold() == thresholds


def test_a_higher_setting_is_never_lowered(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(ENGINE_THRESHOLD * 5, 3, 4)
    with fewer_collections():
        assert gc.get_threshold() == (ENGINE_THRESHOLD * 5, 3, 4)
    assert gc.get_threshold() == (ENGINE_THRESHOLD * 5, 3, 4)


def test_threads_share_one_raise(thresholds: tuple[int, int, int]) -> None:
    """Two threads whose uses overlap: the setting is put back only when the second one ends."""
    entered, release = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def other() -> None:
        with fewer_collections():
            entered.set()
            release.wait(10)
        seen.append(gc.get_threshold())

    t = threading.Thread(target=other)
    with fewer_collections():
        t.start()
        assert entered.wait(10)
    assert gc.get_threshold()[0] == ENGINE_THRESHOLD  # the other thread is still inside
    release.set()
    t.join(10)
    assert gc.get_threshold() == thresholds == seen[0]
    assert collector._inside == 0


def test_a_batch_runs_with_it_and_leaves_the_setting(
    thresholds: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's chunks run inside it (what a worker or a cluster computes too), and the caller's
    setting is back afterwards; a batch's rows do not depend on when the collector runs."""
    scn = sim.load_scenario("default")
    seen: list[tuple[int, int, int]] = []
    inner = rows._simulate_deploys

    def watched(*args: Any) -> Any:
        seen.append(gc.get_threshold())
        return inner(*args)

    monkeypatch.setattr(rows, "_simulate_deploys", watched)
    gc.set_threshold(1, 1, 1)  # a collection at nearly every allocation
    with_few = sim.run_batch(scn, deploys=8, seed=3, jobs=1)
    assert gc.get_threshold() == (1, 1, 1)
    assert seen and all(t == (ENGINE_THRESHOLD, 1, 1) for t in seen)
    monkeypatch.setattr(collector, "ENGINE_THRESHOLD", 1)  # the collector as often as it goes
    plain = sim.run_batch(scn, deploys=8, seed=3, jobs=1)
    assert with_few.equals(plain)
