"""Which version serves a request: traffic weights, replica-approximated weights, sticky users, biased slices.

The routing of a whole world state (`route`) is a pure function of plain values (a few small
records of them), worked out once per distinct state: the same states recur deploy after deploy.

With a traffic router (service mesh, ingress) the weight is exact. Without one, the share of
traffic a version gets is its share of ready replicas, and the weight a rollout asks for is
approximated by replica counts the way Argo Rollouts does it for a basic canary.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .serving import NEW, STABLE, Snapshot


def argo_replica_split(spec_replicas: int, weight: int, max_surge: int) -> tuple[int, int]:
    """(canary, stable) replicas for a basic canary at `weight` percent, as Argo Rollouts picks them.

    Candidates are the floor and ceiling of replicas × weight, over spec.replicas and, when surge is
    allowed, spec.replicas + 1; the candidate whose actual weight is nearest the asked one wins, the
    first listed winning ties; a split exactly halfway between floor and ceiling takes the ceiling.
    For weights 1-99 neither side is left at zero unless there is a single replica and no surge —
    except in one corner Argo's code falls into and we reproduce: a tie whose ceiling is every
    replica, with no surge (2 replicas at 75%, 5 at 90%, 10 at 95%), gives the canary nothing.
    """
    if spec_replicas == 0:
        return 0, 0
    exact = spec_replicas * weight / 100.0
    ceil_c, floor_c = math.ceil(exact), math.floor(exact)
    zero_ok = weight in (0, 100) or (spec_replicas == 1 and max_surge == 0)

    def tied(total: int) -> bool:
        return math.modf(total * weight / 100.0)[0] == 0.5

    options: list[tuple[int, int]] = []
    if ceil_c < spec_replicas or zero_ok:
        options.append((ceil_c, spec_replicas))
    if not tied(spec_replicas) and (floor_c != 0 or zero_ok):
        options.append((floor_c, spec_replicas))
    if max_surge > 0:
        options.append((ceil_c, spec_replicas + 1))
        if not tied(spec_replicas + 1) and (floor_c != 0 or zero_ok):
            options.append((floor_c, spec_replicas + 1))
    if not options:  # Argo's own "should not get here": a tie whose ceiling would empty stable
        return 0, spec_replicas
    best = min(options, key=lambda o: abs(o[0] * 100.0 / o[1] - weight))
    return best[0], best[1] - best[0]


def canary_replicas_for_router(spec_replicas: int, weight: float) -> int:
    """With a traffic router the canary is scaled to its weight's share of spec.replicas (rounded up)."""
    return math.ceil(spec_replicas * weight / 100.0 - 1e-9)


def segment_shares(weight: float, bias: np.ndarray) -> np.ndarray:
    """Share of each segment's users routed to the new version when it holds `weight` (0-1) of traffic.

    Sticky routing hashes user ids into [0, 1) and sends the users below the share to the new
    version, so as the weight grows a user only ever moves from stable to new, never back.
    """
    if weight >= 1.0:
        return np.ones_like(bias)
    return np.minimum(1.0, weight * bias)


def cookie_shares(weight: np.ndarray, exposure: np.ndarray, shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each segment's traffic and users on the canary under Flagger's session affinity.

    A user without the canary's cookie is routed per request, each request to the canary with
    probability `weight`; the first such request sets the cookie, and from then on every request
    of theirs goes to the canary. A user sending requests at rate λ holds no cookie after an
    exposure X (canary requests an average user would have sent by weight) with probability
    exp(−λX); with λ Gamma-distributed over users (shape k, mean 1), the share of users without a
    cookie is E[exp(−λX)] = (1 + X/k)^−k, and the share of the traffic they send is
    E[λ exp(−λX)] = (1 + X/k)^−(k+1) — the heavy users get the cookie first. So the canary's share
    of traffic is 1 − (1 − w)(1 + X/k)^−(k+1): it grows past the weight while the weight stands still.

    Returns:
        (traffic share, users share) by segment: users share is the share holding the cookie.
    """
    base = 1.0 + exposure / shape
    return 1.0 - (1.0 - weight) * base ** -(shape + 1.0), 1.0 - base**-shape


def synthetic_share(mode: str, weight: float, ready: Sequence[int]) -> float:
    """Share of synthetic traffic (health checks, bots) that reaches the new version.

    Probes hit every ready replica alike, so a one-replica canary beside ten stable replicas gets a
    ninth of the health checks while it may hold only 1% of user traffic.
    """
    if mode == "weighted":
        return weight
    total = sum(ready)
    return ready[1] / total if total > 0 else 0.0


class Plain(NamedTuple):
    """A snapshot's contents as plain numbers: hashable, so each distinct state is made into a
    `Snapshot` once (see `snapshot`)."""

    down: bool
    share: tuple[float, ...]
    cap: tuple[float, float]
    noise_lat: tuple[float, float]
    p_bg: tuple[float, float]
    fault: tuple[float, float]
    p_schema: tuple[float, float]
    shared: bool
    leak_from: float
    users: tuple[float, ...] | None = None
    shadow: tuple[float, ...] = ()


@functools.lru_cache(maxsize=512)
def snapshot(plain: Plain) -> Snapshot:
    """The snapshot of a state, given as plain numbers. States recur deploy after deploy (the same
    weights over the same fleet), and a snapshot is never changed once made, so one is shared by
    every recurrence."""
    # Its six arrays are slices of one (one numpy call instead of six; each number is converted to
    # a float on its own either way), read-only like it.
    n = len(plain.share)
    values = np.array(
        (*plain.share, *plain.cap, *plain.noise_lat, *plain.p_bg, *plain.fault, *plain.p_schema), float
    )
    values.flags.writeable = False
    users = None
    if plain.users is not None:
        users = np.array(plain.users, float)
        users.flags.writeable = False
    return Snapshot(
        down=plain.down,
        share=values[:n],
        cap=values[n : n + 2],
        noise_lat=values[n + 2 : n + 4],
        p_bg=values[n + 4 : n + 6],
        fault=values[n + 6 : n + 8],
        p_schema=values[n + 8 : n + 10],
        shared=plain.shared,
        leak_from=plain.leak_from,
        users=users,
        shadow=plain.shadow,
    )


@functools.lru_cache(maxsize=1024)
def user_split(
    flag: bool, weight: float, bias: tuple[float, ...], shares: tuple[float, ...]
) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Share of each segment's users on slot 1 (frozen, and as plain numbers) and of all users: the
    flag's percentage of every segment in a flag ramp, else the routing weight's slice. The same few
    weights recur deploy after deploy, and numpy calls on three numbers cost more than their work."""
    seg = np.full(len(shares), weight) if flag else segment_shares(weight, np.array(bias))
    seg.flags.writeable = False
    return seg, tuple(seg.tolist()), float(seg @ np.array(shares))


class RoutingFixed(NamedTuple):
    """What routing reads that stays put for a world's life."""

    bias: tuple[float, ...]  # canary bias by segment
    shares: tuple[float, ...]  # segment shares of user traffic
    capacity: float  # req/s one replica serves
    synthetic: str  # how probes spread over replicas
    touch_share: float  # share of old-binary requests a broken schema fails
    uses_flag: bool  # the release ships dark behind a flag
    dormant: bool  # its faulty path lies behind that flag, off until the flag phase
    bug_segment: int | None  # the one segment a segment-only bug hits
    bad: bool
    full_reach: float  # the shares of every segment summed (1 up to rounding): every user reached
    activity_shape: float = 1.0  # Gamma shape of users' request rates (session affinity reads it)


class RoutingState(NamedTuple):
    """What the control plane and the release have set at an instant: the world's state as routing
    reads it, built once per state change (never per window)."""

    mode: str  # "router": the weight is exact; "replicas": traffic follows ready replicas
    phase: str  # "binary", or "flag": both slots run the new binary, split by the flag
    flag_share: float  # the flag's percentage (0-1) in a flag phase
    weight: float  # router weight of the new binary (0-1)
    ready: tuple[int, int]  # ready replicas, by slot
    up: tuple[bool, bool]  # whether each slot's version is up
    fault_active: bool  # the release's fault has begun to bite
    armed: bool  # this deploy carries the release's behaviour (and so its fault)
    schema_broken: bool  # the old binary reads a column now gone
    leak_from: float  # when the leaking binary started (NaN: no leak in force)
    # Argo's setHeaderRoute: per segment, 1 where a header match sends all its users to the canary
    # whatever the weight (empty: no header route)
    header: tuple[float, ...] = ()
    # Flagger's session affinity: per segment, the canary requests an average user of the segment
    # would have sent had every request been routed by weight since the cookie route was set (the
    # exposure X that `cookie_shares` reads), at the middle of the stretch until the split next moves
    # (its traffic) and at its end (the users it reached); empty: no affinity, or none in force
    cookie: tuple[float, ...] = ()
    # Argo's setMirrorRoute, Flagger's mirror: per segment, the chance a user request is copied to the
    # canary (the route's percentage where its match selects the segment; empty: no mirror)
    mirror: tuple[float, ...] = ()
    load_rps: float = 0.0  # a load test's requests per second on the canary (Flagger's rollout webhook)


class Background(NamedTuple):
    """What each slot (stable, new) meets whatever the release does: noisy neighbours' latency, and
    background failures (the fleet's own and the neighbours'). Changes only with noise episodes."""

    lat: tuple[float, float]  # latency multiplier from noisy neighbours
    p_bg: tuple[float, float]  # background failure probability


class Routed(NamedTuple):
    """Where traffic goes in a state, and what it reaches."""

    down: bool
    seg_share: np.ndarray  # share of each segment's users on slot 1 (read-only)
    user_share: float  # share of all users on slot 1
    weight: float  # share of traffic routed to the new binary
    reach: float  # share of user traffic the faulty path serves (of its segment, for a segment bug)
    released: float  # share of users the release reached
    snapshot: Snapshot
    shadowed: bool = False  # shadow traffic runs the release's faulty path (its onset starts)


@functools.lru_cache(maxsize=2048)
def route(fixed: RoutingFixed, state: RoutingState, background: Background) -> Routed:
    """The routing of a state, given as records of plain values. States recur deploy after deploy
    (the same steps over the same fleet), so each is worked out once."""
    # Only the snapshot reads the background: a noisy neighbour's (one of a kind per deploy) meets
    # states whose routing was worked out already.
    plain, (down, seg, user_share, weight, reach, released, shadowed) = _placed(fixed, state)
    snap = snapshot(plain._replace(noise_lat=background.lat, p_bg=background.p_bg))
    return Routed(down, seg, user_share, weight, reach, released, snap, shadowed)


def clear_caches() -> None:
    """Forget every state's routing worked out so far (`route` and the placement it reads): a test
    that patches how routing works starts afresh."""
    route.cache_clear()
    _placed.cache_clear()


_Placed = tuple[bool, np.ndarray, float, float, float, float, bool]  # `Routed`'s fields but the snapshot


@functools.lru_cache(maxsize=2048)
def _placed(fixed: RoutingFixed, state: RoutingState) -> tuple[Plain, _Placed]:
    """`route` but for the background: the snapshot's numbers with the background's left at none
    (`route` puts them in), and the routing's other fields."""
    mode, phase, flag_share, weight, ready, up, fault_active, armed, schema_broken, leak_from = state[:10]
    header, mirror, load_rps, cookie = state.header, state.mirror, state.load_rps, state.cookie
    f = fixed
    S = len(f.shares)
    active = fault_active and armed
    p_schema = (0.0, 0.0)
    users: tuple[float, ...] | None = None  # share of users on slot 1, where it is not the traffic's
    if phase == "flag":
        down = not up[NEW]
        seg, seg_values, user_share = user_split(True, float(flag_share), f.bias, f.shares)
        eff_weight = 1.0  # every user is on the new binary; the flag splits them
        share = (*seg_values, 0.0)  # probes never carry a user, so never the flag
        cap = (ready[NEW] * f.capacity * up[NEW],) * 2
        fault = (float(active and not f.dormant), float(active))
        # A fault outside the flagged path runs for every user of the new binary.
        seg_reach = (seg_values, user_share) if f.dormant else None
        released = flag_share
    else:
        down = not (up[STABLE] or up[NEW])
        if not up[NEW]:
            w = 0.0
        elif not up[STABLE]:
            w = 1.0
        elif mode == "router":
            w = weight
        else:  # without a router, traffic spreads evenly over ready replicas
            w = ready[NEW] / sum(ready)
        seg, seg_values, user_share = user_split(False, float(w), f.bias, f.shares)
        if header and up[NEW] and w < 1:  # a header route's users reach the canary at any weight
            seg = np.maximum(seg, np.array(header))
            seg.flags.writeable = False
            seg_values, user_share = tuple(seg.tolist()), float(seg @ np.array(f.shares))
        if cookie and up[NEW] and 0 < w < 1:  # cookie holders reach the canary whatever the weight
            exposure = np.array(cookie).reshape(2, S)
            seg, _ = cookie_shares(seg, exposure[0], f.activity_shape)
            _, held = cookie_shares(seg, exposure[1], f.activity_shape)
            seg.flags.writeable = False
            seg_values, user_share = tuple(seg.tolist()), float(seg @ np.array(f.shares))
            users = tuple(held.tolist())
        eff_weight = w
        serving = (ready[STABLE] * up[STABLE], ready[NEW] * up[NEW])  # ready replicas of live slots
        syn_share = float(w >= 1) if w <= 0 or w >= 1 else synthetic_share(f.synthetic, w, serving)
        share = (*seg_values, syn_share)
        cap = (serving[STABLE] * f.capacity, serving[NEW] * f.capacity)
        fault = (0.0, float(active and not f.dormant))
        if schema_broken:  # the old binary reads a column now gone
            p_schema = (f.touch_share, 0.0)
        seg_reach = ((0.0,) * S, 0.0) if f.dormant else (seg_values, user_share)
        released = 0.0 if f.uses_flag else user_share
    if down:
        users = None
        share = (0.0,) * (S + 1)
        seg_reach = ((0.0,) * S, 0.0)
        released = 0.0
    # Reach: the share of user traffic the faulty path serves (of its segment, for a segment-only
    # bug), whether or not the fault has begun to bite. (seg_reach None: every user; else by segment
    # and of all users.)
    if f.bug_segment is not None:
        reach = 1.0 if seg_reach is None else seg_reach[0][f.bug_segment]
    else:
        reach = f.full_reach if seg_reach is None else seg_reach[1]
    # Shadow traffic reaches the new binary while it is up, in a rollout of binaries (a flag ramp
    # runs the new binary in both slots: there is nothing to mirror to).
    shadow: tuple[float, ...] = ()
    if (mirror or load_rps > 0) and phase == "binary" and up[NEW] and not down:
        shadow = (*(mirror or (0.0,) * S), *(load_rps * x for x in f.shares))
    shadowed = bool(shadow) and armed and f.bad and not f.dormant
    if shadowed and f.bug_segment is not None:  # a segment-only bug runs for that segment's copies only
        shadowed = shadow[f.bug_segment] > 0 or shadow[S + f.bug_segment] > 0
    flag = phase == "flag"
    no_background = (1.0, 1.0), (0.0, 0.0)  # noise_lat, p_bg: `route` puts the background's in
    plain = Plain(down, share, cap, *no_background, fault, p_schema, flag, leak_from, users, shadow)
    return plain, (
        down,
        seg,
        user_share,
        eff_weight,
        reach if (armed and f.bad) else 0.0,
        released if armed else 0.0,
        shadowed,
    )
