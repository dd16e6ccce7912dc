"""A block's deploys served along the same pieces: the parameters broadcast over the deploys give the
rows, and leave the stream, exactly as the pieces repeated deploy after deploy do through `serve`; and
windows served again are spliced into a ledger as dropping, joining and sorting its rows would."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.arrays import serve as block_serve
from sim.engine.arrays.plan import pieces_of
from sim.engine.arrays.tail import in_time_order
from sim.engine.serving import ServingFixed, Snapshot, Stretch, serve, serve_plain_block

S = 3  # user segments
SHARES = (0.0, 1.0, 0.05, 0.5, 0.97)  # of the new slot: none, all, and draws either side of one half
FIXED = ServingFixed(np.zeros(S), np.zeros(S), 0.0, False, 0.6, 4)


def plain(user: float, syn: float, caps: tuple[float, float], p_bg: tuple[float, float]) -> Snapshot:
    return Snapshot(
        down=False,
        share=np.array([user] * S + [syn]),
        cap=np.array(caps),
        noise_lat=np.array([1.0, 1.7]),
        p_bg=np.array(p_bg),
        fault=np.zeros(2),
        p_schema=np.zeros(2),
        shared=False,
        leak_from=math.nan,
    )


@st.composite
def blocks(draw: st.DrawFn) -> tuple[list[Snapshot], np.ndarray, np.ndarray, np.ndarray, int]:
    """Plain states (a slot without capacity, an overloaded one, no failures at all among them),
    pieces under them (an empty one among them), and several deploys' requests."""
    states = []
    for _ in range(draw(st.integers(1, 4))):
        cap = draw(st.sampled_from([(500.0, 500.0), (0.0, 300.0), (300.0, 0.0), (2.0, 2.0)]))
        p_bg = draw(st.sampled_from([(0.0, 0.0), (0.01, 0.01), (0.002, 0.3)]))
        states.append(plain(draw(st.sampled_from(SHARES)), draw(st.sampled_from(SHARES)), cap, p_bg))
    m = draw(st.integers(1, 30))
    which = np.array(draw(st.lists(st.integers(0, len(states) - 1), min_size=m, max_size=m)))
    dt = np.array(draw(st.lists(st.sampled_from([10.0, 3.5, 0.0]), min_size=m, max_size=m)))
    D = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    taken = np.random.default_rng(seed).poisson(draw(st.sampled_from([0.5, 40.0, 3000.0])), (D, m, S + 1))
    return states, which, dt, taken, D


@settings(max_examples=300, deadline=None)
@given(blocks(), st.integers(0, 2**32 - 1))
def test_a_block_served_at_once_is_its_pieces_served_deploy_after_deploy(block, seed):
    states, which, dt, taken, D = block
    m = len(which)
    k = np.arange(m)
    start = k * 10.0
    got_rng, want_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    got = serve_plain_block(got_rng, Stretch(states, which, k, start, dt, taken), FIXED)
    want = serve(
        want_rng,
        Stretch(
            states,
            np.tile(which, D),
            np.tile(k, D),
            np.tile(start, D),
            np.tile(dt, D),
            taken.reshape(D * m, -1),
        ),
        FIXED,
    )
    assert got is not None
    for name in ("k", "user", "syn", "err", "mult", "util", "svc_user", "svc_err"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    np.testing.assert_array_equal(
        np.broadcast_to(got.share, (D * m, S)), np.broadcast_to(want.share, (D * m, S))
    )
    assert (got.caused, got.schema_failed, got.faulty, got.down, got.profile) == (0, 0, 0, False, None)
    assert got_rng.bit_generator.state == want_rng.bit_generator.state  # the stream moved on alike


def test_a_state_with_trouble_is_left_to_serve():
    troubled = plain(0.5, 0.5, (500.0, 500.0), (0.01, 0.01))
    faulty = Snapshot(**_fields(troubled, fault=np.array([0.0, 1.0])))
    taken = np.ones((2, 3, S + 1), np.int64)
    stretch = Stretch(
        [faulty], np.zeros(3, np.int64), np.arange(3), np.arange(3) * 10.0, np.full(3, 10.0), taken
    )
    assert serve_plain_block(np.random.default_rng(0), stretch, FIXED) is None


def _fields(snap: Snapshot, **changed: object) -> dict[str, object]:
    names = ("down", "share", "cap", "noise_lat", "p_bg", "fault", "p_schema", "shared", "leak_from")
    return {name: changed.get(name, getattr(snap, name)) for name in names}


def test_a_blocks_plain_pieces_take_the_broadcast_form(monkeypatch):
    """The block's serve goes through the broadcast form for plain states (the property above would
    pass unexercised if the block always repeated its pieces)."""

    def repeated(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pieces were repeated deploy after deploy")

    monkeypatch.setattr(block_serve, "serve", repeated)
    states = [plain(0.0, 0.0, (500.0, 500.0), (0.01, 0.01)), plain(0.05, 0.05, (500.0, 500.0), (0.01, 0.01))]
    cut = pieces_of([(0.0, states[0]), (25.0, states[1])], 100.0, 10.0)
    counts = np.random.default_rng(1).poisson(200.0, (5, 10, S + 1))
    acc, *_ = block_serve.serve_block(cut, FIXED, counts, np.random.default_rng(2), 10.0)
    assert acc[:, :, 1, 0].sum() > 0  # the new slot took users after its weight was set


@st.composite
def splices(draw: st.DrawFn):
    """A ledger in time order, a row or more per window, some windows served again: their new rows
    (more or fewer than before, in time order within each window, a window of no rows before too)."""
    W = draw(st.sampled_from([10.0, 0.1]))
    n = draw(st.integers(1, 30))

    def rows(ks: list[int]) -> dict[str, np.ndarray]:
        t0, k = [], []
        for w in ks:
            cuts = sorted(draw(st.sets(st.floats(0.0, 0.99), min_size=1, max_size=3)))
            t0 += [w * W + c * W for c in cuts]
            k += [w] * len(cuts)
        m = len(k)
        taken = np.arange(m * 4).reshape(m, 4) + 1000 * len(ks)  # which rows these are, told apart
        return {"t0": np.array(t0), "k": np.array(k, np.int64), "taken": taken}

    old_ks = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1)))
    again = sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=5)))
    return rows(old_ks), rows(again), again


@settings(max_examples=300, deadline=None)
@given(splices())
def test_windows_served_again_are_spliced_in_time_order(case) -> None:
    """`serve._spliced` gives the rows `tail.in_time_order` gives of the ledger without those windows'
    rows and with the new ones (the reference: drop, join and sort)."""
    ledger, rows, ks = case
    keep = ~np.isin(ledger["k"], ks)
    want = in_time_order({name: np.concatenate([col[keep], rows[name]]) for name, col in ledger.items()})
    got = block_serve._spliced(ledger, rows, ks)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(got[name], want[name])
