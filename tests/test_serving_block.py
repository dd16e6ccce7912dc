"""A block's deploys served along the same pieces: the parameters broadcast over the deploys give the
rows, and leave the stream, exactly as the pieces repeated deploy after deploy do through `serve`; and
windows served again are spliced into a ledger as dropping, joining and sorting its rows would."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.engine.arrays import BLOCK, covered
from sim.engine.arrays import serve as block_serve
from sim.engine.arrays.plan import pieces_of
from sim.engine.arrays.tail import Tail, draw_failures, in_time_order
from sim.engine.exogenous import draw_exogenous, exogenous_streams
from sim.engine.rows import block_plans
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


@st.composite
def runs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows of a few numbers of any size and sign (signed zeros among them) in runs of 1 to 12 (a
    window's pieces; past 9, reduceat's pairwise summation), and the axis they run along."""
    sizes = draw(st.lists(st.integers(1, 12), min_size=1, max_size=40))
    if draw(st.booleans()):
        sizes = [min(s, 4) for s in sizes]  # the usual case: no run long enough to fall back
    M = sum(sizes)
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = gen.standard_normal((M, 2, 5)) * 10.0 ** gen.integers(-12, 12, (M, 2, 5))
    x[gen.random(x.shape) < 0.1] = 0.0
    x[gen.random(x.shape) < 0.1] = -0.0
    first = np.cumsum([0, *sizes[:-1]])
    axis = draw(st.sampled_from([0, 1]))
    return (x if axis == 0 else np.stack([x, -x])), first, axis


@settings(max_examples=400, deadline=None)
@given(runs())
def test_runs_summed_as_reduceat_sums_them(case) -> None:
    """`serve.sum_runs` gives `np.add.reduceat`'s sums bit for bit, zeros' signs included (each run's
    first element plus the rest summed left to right: adding a run's elements one after the other
    differs in the last bit, and so does letting a run of nine through)."""
    x, first, axis = case
    want = np.add.reduceat(x, first, axis=axis)
    got = block_serve.sum_runs(x, first, axis=axis)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def _lean_case(seed: int) -> tuple[list[list[tuple[float, Snapshot]]], list[int | None], np.ndarray]:
    """Deploys' states (their last ones' failure probabilities alike, or not), their lean stretches'
    starts (long and short ones: a short one's binomials are drawn number by number) and requests."""
    gen = np.random.default_rng(seed)
    D, K = 7, 90
    p = [0.01, 0.01, 0.2, 0.0, 0.01, 0.5, 0.01] if seed % 2 else [0.01] * D
    segments = [
        [(0.0, plain(0.0, 0.0, (500.0, 500.0), (0.3, 0.3))), (5.0, plain(1.0, 1.0, (500.0, 500.0), (0.3, q)))]
        for q in p
    ]
    lean: list[int | None] = [int(k) for k in gen.integers(1, K, D)]
    lean[1] = K - 3  # a few windows: drawn number by number
    counts = gen.poisson(gen.choice([0.5, 40.0, 3000.0]), (D, K, S + 1))
    return segments, lean, counts


def _tails_one_by_one(
    members: list[int], where: Any, counts: np.ndarray, into: Any, tails: list[Any], *, rng
) -> None:
    """The reference: each deploy's lean stretch drawn in a call of its own (the draw before the
    stretches of a block's own plans were laid end to end)."""
    segments, lean, end_k = where
    for j in members:
        k0, snap = lean[j], segments[j][-1][1]
        assert k0 is not None
        k1 = int(end_k)
        c = counts[[j], k0:k1]
        users = np.add.reduce(c[..., :-1], axis=-1)
        err = draw_failures(snap, users, rng)
        into.svc[[j], k0:k1, 0] = users
        into.svc[[j], k0:k1, 1] = err
        into.rem[[j], k0:k1] = 0
        tails[j] = Tail(k0, c[0], err[0], snap)


def _two_blocks(scn: Any, seed: int) -> dict[int, Any]:
    """The exogenous draws of the first two blocks' deploys (128) of a scenario and seed."""
    return {
        i: draw_exogenous(scn, seed, i, r)
        for i, r in zip(range(128), exogenous_streams(seed, range(128)), strict=True)
    }


def _tails_both_ways(
    members: list[int], case: tuple[Any, list[Any], np.ndarray], seed: int
) -> list[tuple[Any, list[Any], int]]:
    """`_draw_tails` and `_tails_one_by_one` over the same case, each from a stream of `seed`: the
    arrays, the stretches and the stream's next number, at once first."""
    segments, lean, counts = case
    K = counts.shape[1]
    out = []
    for at_once in (True, False):
        rng = np.random.default_rng(seed)
        into = block_serve.Arrays.empty(counts)
        tails: list[Any] = [None] * len(lean)
        if at_once:
            block_serve._draw_tails(members, (segments, lean, K), counts, into, tails, rng=rng)
        else:
            _tails_one_by_one(members, (segments, lean, K), counts, into, tails, rng=rng)
        out.append((into, tails, int(rng.integers(2**62))))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_lean_stretches_drawn_at_once_are_drawn_deploy_after_deploy(seed: int) -> None:
    """The lean stretches of deploys each with its own start and state (a manual canary's), drawn
    in one binomial call, give the arrays, stretches and stream the deploys' draws one by one give."""
    segments, lean, counts = _lean_case(seed)
    members = [0, 2, 1, 4, 5, 6, 3]
    (got, got_tails, got_next), (want, want_tails, want_next) = _tails_both_ways(
        members, (segments, lean, counts), seed
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got_tails, want_tails, strict=True):
        assert (a.k0, a.snap) == (b.k0, b.snap)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.err, b.err)
    assert got_next == want_next  # the stream moved on alike


@pytest.mark.parametrize("name", ["default", "payments"])
def test_a_blocks_own_plans_lean_stretches_drawn_at_once_keep_the_block(name: str, monkeypatch) -> None:
    """Two blocks of a shipped manual canary (every deploy its own plan, most with a lean stretch):
    drawn with the lean stretches in one call, the block's arrays and stretches are those drawn
    deploy after deploy."""
    scn = sim.load_scenario(name)
    seed, lean_drawn = 4, 0
    exos = _two_blocks(scn, seed)
    for block in (0, 1):
        members = [(i, e) for i, e in exos.items() if i // BLOCK == block and covered(e)]
        plans, kept = block_plans(scn, "canary", members, seed)
        got = block_serve.draw_block(scn, plans, kept, seed, block)

        with monkeypatch.context() as m:
            m.setattr(block_serve, "_draw_tails", _tails_one_by_one)
            want = block_serve.draw_block(scn, plans, kept, seed, block)
        for field in ("acc", "util", "svc", "rem"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
        for a, b in zip(got.tails, want.tails, strict=True):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                lean_drawn += 1
                assert (a.k0, a.snap) == (b.k0, b.snap)
                np.testing.assert_array_equal(a.err, b.err)
                np.testing.assert_array_equal(a.counts, b.counts)
    assert lean_drawn >= 64


@st.composite
def apart(draw: st.DrawFn):
    """Deploys each along its own states (changes inside windows, on their edges or a sliver off),
    some ending inside a window, and their requests."""
    W = 10.0
    states = [plain(x, x, (500.0, 500.0), (0.01, 0.01)) for x in (0.0, 0.05, 0.5, 1.0)]
    cuts = []
    for _ in range(draw(st.integers(1, 5))):
        times = sorted(
            draw(st.sets(st.sampled_from([3.0, 10.0, 10.0 + 1e-12, 14.5, 17.0, 30.0, 41.0]), max_size=5))
        )
        segs = [(0.0, states[0]), *((t, states[(n + 1) % 4]) for n, t in enumerate(times))]
        cuts.append(pieces_of(segs, draw(st.sampled_from([60.0, 55.5, 47.0])), W))
    seed = draw(st.integers(0, 2**32 - 1))
    counts = np.random.default_rng(seed).poisson(
        draw(st.sampled_from([0.5, 40.0, 3000.0])), (len(cuts), 8, S + 1)
    )
    return cuts, counts


@settings(max_examples=200, deadline=None)
@given(apart(), st.integers(0, 2**32 - 1))
def test_deploys_served_apart_leave_what_their_pieces_did_not_take(case, seed) -> None:
    """Each window of each deploy keeps its requests less what its pieces took (the ledger's rows);
    the windows no piece reached keep all of theirs."""
    cuts, counts = case
    *_, rem, ledgers = block_serve.serve_apart(cuts, FIXED, counts, np.random.default_rng(seed), 10.0)
    for d, ledger in enumerate(ledgers):
        took = np.zeros_like(counts[d])
        np.add.at(took, ledger["k"], ledger["taken"])
        np.testing.assert_array_equal(rem[d], counts[d] - took)
        inner = ledger["k"][ledger["k"] < ledger["k"][-1]]  # every window but the last is taken whole
        np.testing.assert_array_equal(took[inner], counts[d][inner])


@settings(max_examples=300, deadline=None)
@given(runs(), st.integers(0, 3), st.integers(0, 3))
def test_runs_summed_into_a_view_as_reduceat_sums_them(case, before: int, after: int) -> None:
    """`sum_runs(..., out=view)` writes reduceat's sums bit for bit into a strided view of a larger
    array (its runs' first elements copied slice by slice) and leaves the rest of that array as it
    was (swapping two slices, or copying one too many, fails it)."""
    x, first, axis = case
    want = np.add.reduceat(x, first, axis=axis)
    shape = list(want.shape)
    shape[axis] += before + after
    big = np.full(shape, 7.0)
    idx: list[Any] = [slice(None)] * axis
    view = big[(*idx, slice(before, before + want.shape[axis]))]
    got = block_serve.sum_runs(x, first, axis=axis, out=view)
    assert got is view
    np.testing.assert_array_equal(view, want)
    np.testing.assert_array_equal(np.signbit(view), np.signbit(want))
    untouched = np.ones(shape[axis], bool)
    untouched[before : before + want.shape[axis]] = False
    assert (big[(*idx, untouched)] == 7.0).all()


@st.composite
def leaves(draw: st.DrawFn):
    """A block's pieces (windows from one past zero, changes inside them, on their edges or a sliver
    off, some ending inside a window, one with a window left without a piece), the deploys' requests
    and what each piece took (as `serve_block` makes it: a shared piece nothing yet, a short last
    piece part of its window)."""
    W = 10.0
    states = [plain(x, x, (500.0, 500.0), (0.01, 0.01)) for x in (0.0, 0.05, 0.5, 1.0)]
    times = sorted(
        draw(st.sets(st.sampled_from([3.0, 10.0, 10.0 + 1e-12, 14.5, 17.0, 30.0, 41.0]), max_size=5))
    )
    segs = [(0.0, states[0]), *((t, states[(n + 1) % 4]) for n, t in enumerate(times))]
    cut = pieces_of(segs, draw(st.sampled_from([60.0, 55.5, 47.0])), W)
    k = cut.k.copy()
    if draw(st.booleans()):  # windows from the second on
        k += 1
    if draw(st.booleans()) and len(set(k.tolist())) > 2:  # a window without a piece
        k[k >= k[-1]] += 1
    D = draw(st.integers(1, 4))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rem = gen.poisson(draw(st.sampled_from([0.5, 40.0, 3000.0])), (D, int(k[-1]) + 3, S + 1))
    taken = rem[:, k]
    last = len(k) - 1
    short = (not cut.shared or cut.shared[-1] != last) and draw(st.booleans())
    if short:
        taken[:, last] = gen.binomial(taken[:, last], 0.4)
    taken[:, cut.shared] = 0
    return rem, k, taken, (cut.shared, short)


@settings(max_examples=300, deadline=None)
@given(leaves())
def test_a_blocks_windows_are_left_what_its_pieces_did_not_take(case) -> None:
    """`serve._leave` leaves every window what `rem[:, k] -= taken` does (clearing a window that has
    no piece, or writing back a short last piece's whole window or no shared window, fails it)."""
    rem, k, taken, how = case
    want = rem.copy()
    want[:, k] -= taken
    block_serve._leave(rem, k, taken, how)
    np.testing.assert_array_equal(rem, want)


def _serve_block_before(cut, fixed, counts, rng, window_s, *, into=None):
    """`serve.serve_block` as it was before its windows were left at once and summed into the block's
    arrays (round 14), kept as the reference it is held to."""
    D, S1 = counts.shape[0], counts.shape[2]
    arrays, rows = into if into is not None else (block_serve.Arrays.empty(counts), slice(None))
    k, start, dt, shared = cut.k, cut.start, cut.dt, cut.shared
    m, W = len(k), window_s
    k0, k1 = int(k[0]), int(k[-1]) + 1
    rem = arrays.rem[rows, :k1]
    taken = rem[:, k]
    last = m - 1
    if not shared or shared[-1] != last:
        f = block_serve._share(float(dt[last]), (int(k[last]) + 1) * W - float(start[last]))
        if f < 1.0 - block_serve._EPS:
            taken[:, last] = block_serve.sampling.binomial(rng, taken[:, last], f)
    taken[:, shared] = 0
    rem[:, k] -= taken
    for i in shared:
        ki = int(k[i])
        f = block_serve._share(float(dt[i]), (ki + 1) * W - float(start[i]))
        taken[:, i] = (
            rem[:, ki] if f >= 1.0 - block_serve._EPS else block_serve.sampling.binomial(rng, rem[:, ki], f)
        )
        rem[:, ki] -= taken[:, i]
    if not isinstance(rows, slice):
        arrays.rem[rows, :k1] = rem
    served = serve_plain_block(rng, Stretch(cut.snaps, cut.which, k, start, dt, taken), fixed)
    if served is None:
        served = serve(
            rng,
            Stretch(
                cut.snaps,
                np.tile(cut.which, D),
                np.tile(k, D),
                np.tile(start, D),
                np.tile(dt, D),
                taken.reshape(D * m, S1),
            ),
            fixed,
        )
    S = S1 - 1

    def per_row(x, tail=(), dtype=np.int64):
        if isinstance(x, np.ndarray):
            return np.broadcast_to(x, (D * m, *tail)).reshape(D, m, *tail)
        return np.full((D, m, *tail), x, dtype)

    fields = len(block_serve.Telemetry.FIELDS)
    first = np.searchsorted(k, np.arange(k0, k1))
    per_piece = block_serve.Telemetry.fields_of(served).reshape(D, m, 2, fields)
    arrays.acc[rows, k0:k1] = np.add.reduceat(per_piece, first, axis=1)
    arrays.util[rows, k0:k1] = np.maximum.reduceat(served.util.reshape(D, m, 2), first, axis=1)
    arrays.svc[rows, k0:k1, 0] = np.add.reduceat(per_row(served.svc_user), first, axis=1)
    arrays.svc[rows, k0:k1, 1] = np.add.reduceat(per_row(served.svc_err), first, axis=1)
    down = served.down
    down_m = (
        np.broadcast_to(down, (D * m,))[:m].copy() if isinstance(down, np.ndarray) else np.full(m, bool(down))
    )
    caused, schema_failed = per_row(served.caused), per_row(served.schema_failed)
    faulty, share = per_row(served.faulty, (S,)), per_row(served.share, (S,), float)
    ledgers = [
        {
            "t0": start,
            "dt": dt,
            "k": k,
            "taken": taken[d],
            "caused": caused[d],
            "schema_failed": schema_failed[d],
            "faulty": faulty[d],
            "share": share[d],
            "down": down_m,
        }
        for d in range(D)
    ]
    return arrays.acc, arrays.util, arrays.svc, arrays.rem, ledgers


#: Shipped scenarios and strategies whose blocks are served along one plan for all (`serve_block`),
#: with noisy neighbours (some deploys served apart, some laid on afterwards) and lean stretches.
_SHARED = [
    ("default", "progressive"),
    ("default", "blue_green"),
    ("default", "recreate"),
    ("payments", "progressive"),
    ("noisy-cluster", "progressive_fixed"),
    ("flagged-release", "flag"),
    ("high-frequency", "progressive"),
]


@pytest.mark.parametrize(("name", "strategy"), _SHARED)
def test_a_blocks_shared_plan_served_as_before(name: str, strategy: str, monkeypatch) -> None:
    """Two blocks of a shipped strategy with one plan for all, with every release good (so no deploy
    is left out) and with the scenario's own releases: `draw_block`'s arrays, ledgers and lean
    stretches are those `serve_block` made before this round (reduceat's sums, every window's
    requests read, less its take, and written back), bit for bit, and the stream is left alike."""
    for overrides in ([], ["releases.bad_probability=0"]):
        scn = sim.load_scenario(name, overrides=overrides)
        seed, served = 6, 0
        exos = _two_blocks(scn, seed)
        for block in (0, 1):
            members = [(i, e) for i, e in exos.items() if i // BLOCK == block and covered(e)]
            plans, kept = block_plans(scn, strategy, members, seed)
            if plans is None or not kept:
                continue
            got = block_serve.draw_block(scn, plans, kept, seed, block)
            with monkeypatch.context() as m:
                m.setattr(block_serve, "serve_block", _serve_block_before)
                want = block_serve.draw_block(scn, plans, kept, seed, block)
            served += len(kept)
            for field in ("acc", "util", "svc", "rem"):
                a, b = getattr(got, field), getattr(want, field)
                np.testing.assert_array_equal(a, b, err_msg=field)
                np.testing.assert_array_equal(np.signbit(a), np.signbit(b), err_msg=field)
            for a, b in zip(got.ledgers, want.ledgers, strict=True):
                assert a.keys() == b.keys()
                for col in a:
                    assert np.asarray(a[col]).dtype == np.asarray(b[col]).dtype, col
                    np.testing.assert_array_equal(a[col], b[col], err_msg=col)
            for ta, tb in zip(got.tails, want.tails, strict=True):
                assert (ta is None) == (tb is None)
                if ta is not None and tb is not None:
                    np.testing.assert_array_equal(ta.err, tb.err)
        assert served >= 64


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("members", [list(range(7)), [0, 2, 3, 5], [6, 1]])
def test_lean_stretches_of_one_start_drawn_at_once_are_drawn_deploy_after_deploy(seed: int, members) -> None:
    """The lean stretches of a block's group along one plan (one start, one failure probability: the
    arrays written for all at once) give the arrays, stretches and stream the deploys' draws one by
    one give, for the whole block and for some of its deploys (the others untouched); so do those of
    one start whose last states fail unlike (odd seeds: drawn as deploys with their own plans are)."""
    segments, lean, counts = _lean_case(seed)
    start = lean[seed % len(lean)]
    lean = [start] * len(lean)
    (got, got_tails, got_next), (want, want_tails, want_next) = _tails_both_ways(
        members, (segments, lean, counts), seed
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got_tails, want_tails, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert (a.k0, a.snap) == (b.k0, b.snap)
            np.testing.assert_array_equal(a.counts, b.counts)
            np.testing.assert_array_equal(a.err, b.err)
    assert got_next == want_next  # the stream moved on alike


@pytest.mark.parametrize("x", [0, False, np.int64(0), np.False_, True, 3, 0.0, -0.0, 2.5, np.float64(-0.0)])
@pytest.mark.parametrize("dtype", [np.int64, float, bool])
def test_a_ledger_column_of_one_number_is_np_full(x, dtype) -> None:
    """`serve.filled` is `np.full`: its values, zeros' signs and dtype (a float zero taken for an
    integral one, which would turn -0.0 into +0.0, fails it)."""
    want = np.full((3, 4, 2), x, dtype)
    got = block_serve.filled((3, 4, 2), x, dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
