"""What monitoring sees: per-window aggregates of each version, and the queries judges and alerts make.

Counts add up exactly. A latency percentile over some windows is one order statistic of all their
requests: the k-th smallest of n i.i.d. latencies is Q(U) with U ~ Beta(k, n - k + 1), so one Beta
draw and the quantile function give it, whatever n is. Synthetic requests are the fastest
(answered without app code), so a percentile of the mix is a user percentile at
(U - π_syn) / (1 - π_syn). Windows differ only by a latency multiplier (queueing, noise) and by
whether a fault's latency profile is in force; the pooled percentile averages the windows'
quantiles weighted by their user requests, which is exact when they share one distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ..config.fleet import Latency
from ..core import sampling
from .fleet import SYNTHETIC_LATENCY_MS, log_profile, quantile_ms, share_slower_mixed
from .serving import Served

#: Up to this many ticks a look is worked out number by number; numpy's fixed cost per call pays
#: only past it (measured in instructions per look: about 15 ticks when one version has enough
#: traffic for its percentiles, 9 when both have).
FEW_TICKS = 10

#: The percentiles a look may ask for, in the order their draws are taken.
_PERCENTILES = ((0.5, "p50_ms"), (0.99, "p99_ms"))


@dataclass
class Stats:
    """Aggregate of one version over an interval, as a monitoring query would return it."""

    requests: int
    errors: int
    user_requests: int
    error_rate: float
    p50_ms: float
    p99_ms: float
    saturation: float


@dataclass
class SlowCounts:
    """Requests slower than one threshold, per window and version: drawn for windows before `drawn`."""

    counts: np.ndarray  # (windows, 2)
    drawn: int


class Telemetry:
    #: Per-window, per-version sums, side by side so one slice sums them all.
    FIELDS = ("user", "syn", "err", "latw", "latw_on")
    USER, SYN, ERR, LATW, LATW_ON = range(5)

    def __init__(
        self, windows: int, lat: Latency, kind: int, severity: float, rng: np.random.Generator
    ) -> None:
        self.lat, self.kind, self.severity, self.rng = lat, kind, severity, rng
        self.acc = np.zeros((windows, 2, len(self.FIELDS)))
        self.util = np.zeros((windows, 2))  # maximum over the window's pieces
        # Whole-service user traffic (downtime failures included): what the SLO alert watches.
        self.svc = np.zeros((windows, 2))  # user requests, failures
        self.svc_user, self.svc_err = self.svc[:, 0], self.svc[:, 1]
        self.history: np.ndarray | None = None  # service traffic an earlier phase served, kept on rewinds
        self._slow: dict[float, SlowCounts] = {}

    @classmethod
    def holding(
        cls,
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
        lat: Latency,
        kind: int,
        severity: float,
        rng: np.random.Generator,
    ) -> Telemetry:
        """Telemetry over arrays drawn elsewhere (acc, util, svc: the array engine's, read in place)."""
        tel = cls.__new__(cls)
        tel.lat, tel.kind, tel.severity, tel.rng = lat, kind, severity, rng
        tel.acc, tel.util, tel.svc = arrays
        tel.svc_user, tel.svc_err = tel.svc[:, 0], tel.svc[:, 1]
        tel.history = None
        tel._slow = {}
        return tel

    def extend(self, windows: int) -> None:
        """Room for more windows after the last."""
        self.acc = np.concatenate([self.acc, np.zeros((windows, *self.acc.shape[1:]))])
        self.util = np.concatenate([self.util, np.zeros((windows, 2))])
        self.svc = np.concatenate([self.svc, np.zeros((windows, 2))])
        self.svc_user, self.svc_err = self.svc[:, 0], self.svc[:, 1]
        if self.history is not None:
            self.history = np.concatenate([self.history, np.zeros((windows, 2))])

    def carry(self, svc: np.ndarray) -> None:
        """Whole-service traffic an earlier phase served in these windows (what an alert's long
        window still holds when this phase begins)."""
        self.history = svc
        self.svc += svc

    @property
    def user(self) -> np.ndarray:
        return self.acc[:, :, self.USER]

    @property
    def syn(self) -> np.ndarray:
        return self.acc[:, :, self.SYN]

    @property
    def err(self) -> np.ndarray:
        return self.acc[:, :, self.ERR]

    def add(self, served: Served) -> None:
        """Add served rows, in time order; several rows may fall in one window (a state change inside it)."""
        k = served.k
        k0, k1 = int(k[0]), int(k[-1]) + 1
        sl = slice(k0, k1)
        if k1 - k0 == len(k):  # one row per window, the usual case: every field in one addition
            self.acc[sl] += self.fields_of(served)  # (adding a field's 0.0 leaves a sum as it is)
            np.maximum(self.util[sl], served.util, out=self.util[sl])
            self.svc_user[sl] += served.svc_user
            self.svc_err[sl] += served.svc_err
            return
        rows = self.fields_of(served)
        # Rows sharing a window are summed first, so a window adds up in one step whatever its pieces.
        first = np.searchsorted(k, np.arange(k0, k1))
        self.acc[sl] += np.add.reduceat(rows, first, axis=0)
        np.maximum(self.util[sl], np.maximum.reduceat(served.util, first, axis=0), out=self.util[sl])
        self.svc_user[sl] += np.add.reduceat(served.svc_user, first)
        self.svc_err[sl] += np.add.reduceat(served.svc_err, first)

    @classmethod
    def fields_of(cls, served: Served) -> np.ndarray:
        """Served rows as the telemetry sums them: (rows, version, field)."""
        rows = np.empty((len(served.user), 2, len(cls.FIELDS)))
        by_field = rows.transpose(2, 0, 1)  # a view: each field's (rows, version) plane
        # Shadow requests run the app's code as a user's do: monitoring counts them, and their latency
        # and errors, with the slot's user requests (see `serving.Served.shadow`).
        seen = served.user if served.shadow is None else served.user + served.shadow
        by_field[cls.USER] = seen
        by_field[cls.SYN] = served.syn
        by_field[cls.ERR] = served.err if served.shadow_err is None else served.err + served.shadow_err
        latw = np.multiply(served.mult, seen, out=by_field[cls.LATW])
        by_field[cls.LATW_ON] = 0.0 if served.profile is None else np.where(served.profile, latw, 0.0)
        return rows

    def clear_from(self, k: int) -> None:
        for slow in self._slow.values():  # the windows are served again: their slow requests too
            slow.drawn = min(slow.drawn, k)
        self.acc[k:] = 0.0
        self.util[k:] = 0.0
        self.svc[k:] = 0.0 if self.history is None else self.history[k:]

    def stats(
        self, k_from: int, k_to: int, quantiles: tuple[float, ...] = (0.5, 0.99), min_tail: float = 0.0
    ) -> tuple[Stats, Stats]:
        """(stable, new) over windows k_from..k_to-1. Percentiles are drawn only when asked for and
        only when at least `min_tail` requests are expected beyond them."""
        sums = self.acc[k_from:k_to].sum(0).tolist()  # [version][field]
        util = self.util[k_from:k_to].max(0).tolist() if k_to > k_from else [0.0, 0.0]
        out = []
        for v in (0, 1):
            nu, ns, e, latw, latw_on = sums[v]
            nu, ns, e = int(nu), int(ns), int(e)
            n = nu + ns
            p50 = p99 = math.nan
            if nu and quantiles:
                on = latw_on / nu
                off = latw / nu - on
                for q in quantiles:
                    if n * (1.0 - q) >= min_tail:
                        x = self._pooled(q, nu, ns, on, off)
                        if q == 0.5:
                            p50 = x
                        else:
                            p99 = x
            out.append(Stats(n, e, nu, e / n if n else math.nan, p50, p99, util[v] if n else math.nan))
        return out[0], out[1]

    def stats_many(
        self,
        k_from: list[int],
        k_to: list[int],
        quantiles: tuple[float, ...],
        min_tail: float,
        with_saturation: bool,
        *,
        rng: np.random.Generator | None = None,
    ) -> dict[str, tuple[list[float], list[float]]]:
        """`stats` for many intervals at once, one per analysis tick in time order: per quantity
        (requests, error rate, and those of p50_ms, p99_ms and saturation asked for: what judges
        read) the stable and the new version's values, one per tick. A percentile is NaN where
        it is not drawn; the error rate and saturation are NaN where a version has no requests.

        A percentile takes one Beta draw from `rng` (an analysis run's own stream; else the
        telemetry's) per (tick, quantile, version) with at least `min_tail` requests expected
        beyond it, in that order: tick by tick, so a run's looks draw alike however its ticks are
        split between calls. A look of a few ticks is worked out in plain Python (numpy's cost per
        call would dominate); many ticks with numpy."""
        sums = self._sums(k_from, k_to)
        draw = self.rng if rng is None else rng
        out = (self._few if len(k_to) <= FEW_TICKS else self._many)(sums, quantiles, min_tail, draw)
        if with_saturation:
            sat: tuple[list[float], list[float]] = ([], [])
            for a, b, n_stable, n_new in zip(k_from, k_to, *out["requests"], strict=True):
                top = self.util[a:b].max(0).tolist() if b > a else [math.nan, math.nan]
                sat[0].append(top[0] if n_stable > 0 else math.nan)
                sat[1].append(top[1] if n_new > 0 else math.nan)
            out["saturation"] = sat
        return out

    def _sums(self, k_from: list[int], k_to: list[int]) -> np.ndarray:
        """Each interval's sums of every field, shape (intervals, 2, fields): differences of running
        sums from the first interval's start (neither bound ever goes back)."""
        lo = k_from[0]
        if len(k_to) == 1:  # a running sum's last value is exactly the plain sum, window after window
            return self.acc[lo : k_to[0]].sum(0)[None]
        cs = np.zeros((k_to[-1] - lo + 1, 2, len(self.FIELDS)))
        self.acc[lo : k_to[-1]].cumsum(axis=0, out=cs[1:])
        ends = cs.take([b - lo for b in k_to] + [a - lo for a in k_from], axis=0)
        return ends[: len(k_to)] - ends[len(k_to) :]

    def _few(
        self, sums: np.ndarray, quantiles: tuple[float, ...], min_tail: float, rng: np.random.Generator
    ) -> dict[str, tuple[list[float], list[float]]]:
        """`stats_many` of a few ticks from their sums, number by number."""
        T = len(sums)
        rows = sums.reshape(2 * T, -1).tolist()  # (tick, version) pairs: tick 0 stable, tick 0 new, ...
        requests, rate = [], []
        for nu, ns, err, _, _ in rows:
            n = nu + ns
            requests.append(n)
            rate.append(err / n if n > 0 else math.nan)
        out = {"requests": requests, "error_rate": rate}
        asked = [(q, name, 1.0 - q) for q, name in _PERCENTILES if q in quantiles]
        for _, name, _ in asked:
            out[name] = [math.nan] * (2 * T)
        picks: list[tuple[list[float], int, float]] = []  # per draw, in draw order: its output, pair, k
        for t in range(T):
            for q, name, tail in asked:
                column = out[name]
                for j in (2 * t, 2 * t + 1):
                    n = requests[j]
                    if rows[j][0] > 0 and n * tail >= min_tail:
                        picks.append((column, j, max(1.0, math.ceil(q * n))))
        if picks:
            ks = [k for *_, k in picks]
            draws = sampling.beta(rng, ks, [requests[j] - k + 1 for _, j, k in picks])
            p_user = []
            for d, (_, j, _) in zip(draws, picks, strict=True):
                nu, ns, n = rows[j][0], rows[j][1], requests[j]
                p_user.append((d - ns / n) / (nu / n))
            p = np.array(p_user)
            ms = quantile_ms(self.lat, p).tolist()
            bent = quantile_ms(self.lat, p, self.kind, self.severity).tolist() if self.kind else None
            for i, (column, j, _) in enumerate(picks):
                nu, _, _, latw, latw_on = rows[j]
                on = latw_on / nu
                x = ms[i] * (latw / nu - on)
                if bent is not None:
                    x = x + bent[i] * on
                column[j] = SYNTHETIC_LATENCY_MS if p_user[i] <= 0 else x
        return {key: (values[0::2], values[1::2]) for key, values in out.items()}

    def _many(
        self, sums: np.ndarray, quantiles: tuple[float, ...], min_tail: float, rng: np.random.Generator
    ) -> dict[str, tuple[list[float], list[float]]]:
        """`stats_many` of many ticks from their sums, in arrays of shape (ticks, 2)."""
        nu, ns, err = sums[..., self.USER], sums[..., self.SYN], sums[..., self.ERR]
        n = nu + ns
        out = {"requests": n, "error_rate": np.divide(err, n, out=np.full(n.shape, np.nan), where=n > 0)}
        asked = [(q, name) for q, name in _PERCENTILES if q in quantiles]
        if asked:
            qs = np.array([q for q, _ in asked])[None, :, None]  # (1, quantiles, 1)
            nq = np.broadcast_to(n[:, None, :], (len(n), len(asked), 2))
            ok = (nu[:, None, :] > 0) & (nq * (1.0 - qs) >= min_tail)  # (ticks, quantiles, versions)
            k = np.maximum(1.0, np.ceil(qs * nq))
            u = np.full(ok.shape, np.nan)
            if ok.any():  # tick by tick, then quantile, then version: C order
                u[ok] = sampling.beta(rng, k[ok], (nq - k + 1)[ok])
            with np.errstate(divide="ignore", invalid="ignore"):
                on = sums[..., self.LATW_ON] / nu
                off = sums[..., self.LATW] / nu - on
                p_user = (u - ns[:, None, :] / nq) / (nu[:, None, :] / nq)
            for i, (_, name) in enumerate(asked):
                sel, p = ok[:, i], p_user[:, i]
                x = np.full(n.shape, np.nan)
                if sel.any():
                    picked = quantile_ms(self.lat, p[sel]) * off[sel]
                    if self.kind:
                        picked = picked + quantile_ms(self.lat, p[sel], self.kind, self.severity) * on[sel]
                    picked[p[sel] <= 0] = SYNTHETIC_LATENCY_MS
                    x[sel] = picked
                out[name] = x
        return {key: tuple(values.T.tolist()) for key, values in out.items()}  # (stable, new) each

    def _pooled(self, q: float, n_user: int, n_syn: int, on: float, off: float) -> float:
        n = n_user + n_syn
        k = max(1, math.ceil(q * n))
        u = float(self.rng.beta(k, n - k + 1))
        p_user = (u - n_syn / n) / (n_user / n)
        if p_user <= 0.0:
            return SYNTHETIC_LATENCY_MS
        lat = self.lat
        z = float(ndtri(min(p_user, 1 - 1e-12)))
        base = lat.p50_ms * math.exp(lat.sigma * z)
        x = base * off
        if on:
            bend = float(log_profile(np.array(z), self.kind, self.severity, lat.sigma))
            x += base * math.exp(bend) * on
        return x

    def counts(self, k_from: int, k_to: int) -> np.ndarray:
        """Per window over windows k_from..k_to-1, what a sequential test reads (no draws): the
        new version's requests and errors, then the stable one's (windows × 4)."""
        a = self.acc[k_from:k_to]
        n = a[:, :, self.USER] + a[:, :, self.SYN]
        return np.stack([n[:, 1], a[:, 1, self.ERR], n[:, 0], a[:, 0, self.ERR]], axis=1)

    def slow_counts(self, k_from: int, k_to: int, threshold_ms: float) -> np.ndarray:
        """Per window over windows k_from..k_to-1, what a sequential test of latency reads: the new
        version's user requests and those slower than `threshold_ms`, then the stable one's
        (windows × 4, like `counts`). Windows not drawn yet are drawn now, all in one binomial call
        (synthetic requests, answered in a millisecond without app code, are left out of both)."""
        slow = self._slow.get(threshold_ms)
        if slow is None:
            slow = self._slow[threshold_ms] = SlowCounts(np.zeros((len(self.acc), 2)), 0)
        if len(slow.counts) < len(self.acc):
            slow.counts = np.concatenate([slow.counts, np.zeros((len(self.acc) - len(slow.counts), 2))])
        if k_to > slow.drawn:
            a = self.acc[slow.drawn : k_to]
            user = a[:, :, self.USER]
            safe = np.maximum(user, 1.0)
            on = a[:, :, self.LATW_ON] / safe
            off = a[:, :, self.LATW] / safe - on
            p = share_slower_mixed(self.lat, threshold_ms, off, on, self.kind, self.severity)
            p = np.where(user > 0, p, 0.0)
            slow.counts[slow.drawn : k_to] = self.rng.binomial(user.astype(np.int64), p)
            slow.drawn = k_to
        user = self.acc[k_from:k_to, :, self.USER]
        s = slow.counts[k_from:k_to]
        return np.stack([user[:, 1], s[:, 1], user[:, 0], s[:, 0]], axis=1)

    def series(self, version: int, k_from: int, k_to: int) -> dict[str, np.ndarray]:
        """Per-window values of one version over windows k_from..k_to-1: requests, errors, error rate,
        p50 and p99 (one Beta draw per window and percentile), saturation. NaN where no requests."""
        sl = slice(k_from, k_to)
        a = self.acc[sl, version]
        n_user, n_syn, err = a[:, self.USER], a[:, self.SYN], a[:, self.ERR]
        n = n_user + n_syn
        has = n > 0
        safe_n, safe_u = np.maximum(n, 1), np.maximum(n_user, 1)
        out = {
            "requests": n,
            "errors": err,
            "user": n_user,
            "error_rate": np.where(has, err / safe_n, np.nan),
            "saturation": np.where(has, self.util[sl, version], np.nan),
        }
        on = a[:, self.LATW_ON] / safe_u
        off = a[:, self.LATW] / safe_u - on
        pi_syn = n_syn / safe_n
        for q, name in ((0.5, "p50_ms"), (0.99, "p99_ms")):
            k = np.maximum(1.0, np.ceil(q * safe_n))
            u = self.rng.beta(k, safe_n - k + 1)
            p_user = np.where(n_user > 0, (u - pi_syn) / np.maximum(1 - pi_syn, 1e-12), 0.0)
            x = quantile_ms(self.lat, p_user) * off
            if self.kind:
                x = x + quantile_ms(self.lat, p_user, self.kind, self.severity) * on
            out[name] = np.where(has, np.where(p_user <= 0, SYNTHETIC_LATENCY_MS, x), np.nan)
        return out
