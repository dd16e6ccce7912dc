"""The SLO alert over a block's arrays: whether it fires for a deploy that follows its plan, deploy by
deploy through the alert's own scan, or for the block's deploys at once by the scan's quick exits."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...config.scenario import Scenario
from ..alert import ServiceWindows, fires_by, first_firing_past_exits, steady_past, tier_spans
from ..exogenous import Exogenous, user_requests_before
from .plan import Plan
from .serve import Block


def alert_fires(
    scn: Scenario, plan: Plan, block: Block, j: int, exo: Exogenous, *, anywhere: bool = False
) -> bool:
    """Whether the SLO alert watching deploy j of the block fires (a page or a ticket) by the end;
    `anywhere`: at any instant, inside a maintenance silence too."""
    if scn.safety_net is None:
        return False
    W = scn.run.window_s
    service = ServiceWindows(block.svc[j, :, 0], block.svc[j, :, 1], W)
    last_k = math.floor(plan.end / W + 1e-9)
    # A firing inside a maintenance silence (a recreate's planned outage) is refused and changes
    # nothing; what counts is a firing at or after the silence's end.
    silenced = 0.0 if anywhere else plan.run.deploy.silenced_until
    return fires_by(scn.slo, service, steady_past(scn, exo.traffic.start_hour, W), (silenced, last_k))


def alerts_fire(
    scn: Scenario,
    plans: Sequence[Plan],
    block: Block,
    deploys: Sequence[tuple[int, Exogenous]],
    *,
    anywhere: bool = False,
    until: Sequence[float] | None = None,
) -> np.ndarray:
    """`alert_fires` for many deploys of the block at once (`deploys`: each one's row in the block
    and exogenous draws; `plans`: each one's plan; `until`: if given, each one's last instant
    instead of its plan's end): the SLO scan's quick exits — no window near a tier's lowest limit,
    no long window that can burn while it still holds the steady past — worked out for all of
    them in a few array operations, the deploys they leave open scanned one by one
    (`alert.first_firing`'s span sums). Each exit is one the scan itself takes, so the answers are its own."""
    out = np.zeros(len(deploys), bool)
    if scn.safety_net is None or not len(deploys):
        return out
    judge, W = scn.slo, scn.run.window_s
    step = max(1, round(judge.eval_interval_s / W))
    rows = [j for j, _ in deploys]
    # (each deploy's requests and failures in a row of their own: the scans read them contiguous)
    svc = block.svc[rows, :, 0], block.svc[rows, :, 1]
    evals = _Evals(plans, W, step, anywhere, until)
    for tier in ("page", "ticket"):
        spans = tier_spans(judge, W, tier)
        if spans is None:
            continue
        open_ = evals.live & ~out
        if scn.fleet.error_rate < spans[3] * (1.0 - 1e-9):  # else every scan is the long way
            open_ &= ~_quiet(scn, spans, svc, evals, [exo.traffic.start_hour for _, exo in deploys])
        # The deploys left open passed the scan's own exits (`_quiet` takes them all): straight to
        # its span sums, rather than through the exits again one deploy at a time.
        for x in np.flatnonzero(open_).tolist():
            service = ServiceWindows(svc[0][x], svc[1][x], W)
            eval_ks = range(int(evals.first[x]), int(evals.last_k[x]) + 1, step)
            past = steady_past(scn, deploys[x][1].traffic.start_hour, W)
            out[x] = first_firing_past_exits(judge, service, eval_ks, past, tier) is not None
    return out


class _Evals:
    """Each deploy's alert evaluations, as `alert.fires_by` makes them: the first and the last
    instant (window indices; every `step` windows), the end of the plan, and whether there is any."""

    def __init__(
        self, plans: Sequence[Plan], W: float, step: int, anywhere: bool, until: Sequence[float] | None = None
    ) -> None:
        ends = [p.end for p in plans] if until is None else until
        spans = [
            (0.0 if anywhere else p.run.deploy.silenced_until, math.floor(end / W + 1e-9))
            for p, end in zip(plans, ends, strict=True)
        ]
        silent = np.array([math.isinf(after) for after, _ in spans], bool)  # silenced to the end
        self.first = np.array(
            [
                step
                if after <= 0 or math.isinf(after)
                else max(step, math.ceil(after / W / step - 1e-9) * step)
                for after, _ in spans
            ],
            np.int64,
        )
        self.last_k = np.array([k for _, k in spans], np.int64)
        self.k_last = self.first + (self.last_k - self.first) // step * step
        self.live = ~silent & (self.first <= self.last_k)


def _quiet(
    scn: Scenario,
    spans: tuple[np.ndarray, np.ndarray, int, float],
    svc: tuple[np.ndarray, np.ndarray],
    evals: _Evals,
    start_hours: list[float],
) -> np.ndarray:
    """Per deploy, whether a tier of the alert surely fires nowhere over its evaluations, by the
    scan's own quick exits (`alert.first_firing`): no window near the tier's lowest limit, or no
    long window that can burn while it still reaches back before t = 0. `svc`: the deploys'
    user requests and failures, a row each."""
    n, limit, longest, lowest = spans
    near = lowest * (1.0 - 1e-9)
    user, err = svc
    first, k_last = evals.first, evals.k_last
    width = user.shape[1]
    # The windows near the limit in [first − longest, k_last), counted from running counts: one
    # pass over the block instead of a mask per bound.
    hot = np.zeros((len(user), width + 1), np.int64)
    np.cumsum(err > near * user, axis=1, out=hot[:, 1:])
    at = np.arange(len(user))
    quiet = hot[at, np.clip(k_last, 0, width)] <= hot[at, np.clip(first - longest, 0, width)]
    longs, lims = n[0::2, 0], limit[0::2, 0]
    bounded = np.flatnonzero(~quiet & (k_last <= int(longs.min())))
    if len(bounded):  # `alert._no_long_window_burns`, for every deploy at once (counts: exact sums)
        # Running sums of the bounded deploys' rows, read at each one's bounds: one pass, whether
        # a few deploys are bounded (the default) or nearly all (the target case's tickets).
        at_b = np.arange(len(bounded))
        running = np.zeros((2, len(bounded), width + 1))
        np.cumsum(err[bounded], axis=1, out=running[0, :, 1:])
        np.cumsum(user[bounded], axis=1, out=running[1, :, 1:])
        errors = running[0, at_b, np.clip(k_last[bounded], 0, width)]
        requests = running[1, at_b, np.clip(first[bounded], 0, width)]
        hours = np.array(start_hours)[bounded, None]
        history = scn.fleet.error_rate
        W = scn.run.window_s
        most = user_requests_before(
            scn.traffic, hours, np.maximum(longs - first[bounded, None], 0).astype(float) * W
        )
        least = user_requests_before(
            scn.traffic, hours, np.maximum(longs - k_last[bounded, None], 0).astype(float) * W
        )
        cool = np.all(
            history * most + errors[:, None] < lims * (least + requests[:, None]) * (1.0 - 1e-9), axis=1
        )
        quiet[bounded[cool]] = True
    return quiet
