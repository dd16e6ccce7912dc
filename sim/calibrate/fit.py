"""Scenario values fitted from a service's series, each with its uncertainty, source and method.

Every fit is of the simulator's own mechanism (`sim.engine.exogenous`): the daily curve
rate × (1 + amplitude·cos(2π(h − peak)/24)) on user traffic plus a flat synthetic share, surges
that multiply whole windows of user traffic, a lognormal latency fixed by its p50 and p99, and
noisy-neighbour episodes that multiply latency. A value the data cannot give keeps the scenario's
default and says why (`Kept`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config.scenario import Scenario
from ..core.errors import ConfigError
from .histogram import Histogram, histogram_of, quantile_bucket
from .prom import MAX_SAMPLES, Series

Z95 = 1.959963984540054
#: An excursion starts this many robust standard deviations above the fitted curve.
EXCURSION_SIGMAS = 5.0


@dataclass(frozen=True)
class Fit:
    """A fitted scenario value: `value` is a number, or (low, high) of a uniform distribution."""

    key: str
    value: float | tuple[float, float]
    se: float  # standard error of the value (of the distribution's mean for a range)
    source: str
    method: str

    @property
    def centre(self) -> float:
        v = self.value
        return (v[0] + v[1]) / 2 if isinstance(v, tuple) else float(v)


@dataclass(frozen=True)
class Kept:
    """A value left at the scenario's default, and why."""

    key: str
    reason: str


Result = Fit | Kept


def _grid(series: Sequence[Series]) -> tuple[np.ndarray, float]:
    step = series[0].step
    t0 = min(float(s.timestamps[0]) for s in series)
    t1 = max(float(s.timestamps[-1]) for s in series)
    for s in series:
        off = (float(s.timestamps[0]) - t0) / step
        if abs(off - round(off)) > 0.01:
            raise ConfigError(
                f"samples are not on the {step:g} s grid of the other files", ("timestamp",), source=s.source
            )
    n = round((t1 - t0) / step) + 1
    if n > MAX_SAMPLES:
        raise ConfigError(
            f"the files together span {n} steps of {step:g} s, more than {MAX_SAMPLES}; query one range",
            ("timestamp",),
            source=", ".join(sorted({s.source for s in series})),
        )
    return t0 + step * np.arange(n), step


def _on(grid: np.ndarray, step: float, s: Series) -> np.ndarray:
    out = np.full(len(grid), np.nan)
    k = round((float(s.timestamps[0]) - grid[0]) / step)
    out[k : k + len(s.values)] = s.values
    return out


def summed(series: Sequence[Series], grid: np.ndarray, step: float) -> np.ndarray:
    """The series added up step by step (a step missing in any of them is missing in the sum)."""
    return np.sum([_on(grid, step, s) for s in series], axis=0)


def _sources(series: Sequence[Series]) -> str:
    return ", ".join(sorted({f"{s.source} ({s.name})" for s in series}))


# ---- the daily curve and surges ----


@dataclass(frozen=True)
class Curve:
    """The fitted daily curve of the total request rate, and which steps lay on it."""

    fitted: np.ndarray  # req/s at every step, no surges
    on_curve: np.ndarray  # bool: steps the fit used (finite, no excursion)
    sigma: float  # robust relative spread of the steps about the curve
    synthetic_rps: float


def _design(ts: np.ndarray) -> np.ndarray:
    theta = 2 * np.pi * (ts % 86400.0) / 86400.0
    return np.column_stack([np.ones(len(ts)), np.cos(theta), np.sin(theta)])


def fit_curve(
    rate: np.ndarray, ts: np.ndarray, step: float, synthetic_share: float, source: str
) -> tuple[list[Result], Curve | None]:
    """Least squares of the simulator's daily curve on the steps not in a surge (found by iterating:
    fit, drop the steps far above the fit, refit). `ts`: each rate's time, shifted to local time."""
    ok = np.isfinite(rate)
    if ok.sum() < 10:
        keys = ("traffic.rate_rps", "traffic.diurnal.amplitude", "traffic.diurnal.peak_hour")
        return [Kept(k, f"fewer than 10 request-rate steps in {source}") for k in keys], None
    X = _design(ts)
    days = (ts[-1] - ts[0] + step) / 86400.0
    whole_day = days >= 1.0
    cols = 3 if whole_day else 1
    use = ok.copy()
    for _ in range(20):
        beta, *_ = np.linalg.lstsq(X[use, :cols], rate[use], rcond=None)
        fitted = X[:, :cols] @ beta
        rel = rate / fitted - 1.0
        mad = float(np.median(np.abs(rel[use] - np.median(rel[use]))))
        sigma = max(1.4826 * mad, 1e-9)
        again = ok & (rel <= EXCURSION_SIGMAS * sigma)
        if (again == use).all():
            break
        use = again
    resid = rate[use] - fitted[use]
    n, p = int(use.sum()), cols
    s2 = float(resid @ resid) / max(n - p, 1)
    cov = s2 * np.linalg.inv(X[use, :cols].T @ X[use, :cols])
    R = float(beta[0])
    out: list[Result] = [
        Fit(
            "traffic.rate_rps",
            R,
            math.sqrt(cov[0, 0]),
            source,
            f"mean of the daily curve, least squares over {n} steps off surges",
        )
    ]
    user = 1.0 - synthetic_share
    if whole_day:
        b = np.asarray(beta)

        def amp(v: np.ndarray) -> float:
            return float(math.hypot(v[1], v[2]) / (v[0] * user))

        def peak(v: np.ndarray) -> float:
            return float(math.atan2(v[2], v[1]) * 24 / (2 * np.pi) % 24.0)

        a, h = amp(b), peak(b)
        out.append(
            Fit(
                "traffic.diurnal.amplitude",
                a,
                _delta_se(amp, b, cov),
                source,
                f"least squares, swing of user traffic (synthetic share {synthetic_share:g} is flat)",
            )
        )
        out.append(
            Fit(
                "traffic.diurnal.peak_hour",
                h,
                _delta_se(peak, b, cov, period=24.0),
                source,
                "least squares, local hour (the timestamps' UTC hour plus --utc-offset)",
            )
        )
    else:
        reason = f"{source} spans {days * 24:.1f} h; the daily curve needs a whole day"
        out += [Kept("traffic.diurnal.amplitude", reason), Kept("traffic.diurnal.peak_hour", reason)]
    return out, Curve(fitted, use, sigma, R * synthetic_share)


def _delta_se(
    fn: Callable[[np.ndarray], float], b: np.ndarray, cov: np.ndarray, period: float | None = None
) -> float:
    """Standard error of fn(b) by the delta method (a numerical gradient; `period`: fn wraps round)."""
    g = np.zeros(len(b))
    base = fn(b)
    for i in range(len(b)):
        d = np.zeros(len(b))
        d[i] = 1e-6 * max(abs(b[0]), 1.0)
        diff = fn(b + d) - base
        if period is not None:
            diff = (diff + period / 2) % period - period / 2
        g[i] = diff / d[i]
    return float(math.sqrt(max(g @ cov @ g, 0.0)))


def runs(flag: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True steps."""
    f = np.concatenate([[False], flag, [False]]).astype(np.int8)
    d = np.diff(f)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _spread(key: str, xs: np.ndarray, floor: float, source: str, what: str) -> Result:
    """A uniform distribution with the values' mean and spread (moment matching)."""
    if len(xs) == 0:
        return Kept(key, f"no {what} in {source}")
    m = float(xs.mean())
    if len(xs) == 1:
        return Fit(key, m, math.nan, source, f"the one {what}")
    sd = float(xs.std(ddof=1))
    half = math.sqrt(3.0) * sd
    lo, hi = max(m - half, floor), m + half
    return Fit(key, (lo, hi), sd / math.sqrt(len(xs)), source, f"uniform by moments of {len(xs)} {what}s")


def surging(rate: np.ndarray, curve: Curve) -> np.ndarray:
    """The steps over the curve by EXCURSION_SIGMAS robust sd: a surge's."""
    rel = rate / curve.fitted - 1.0
    return np.asarray(np.isfinite(rel) & (rel > EXCURSION_SIGMAS * curve.sigma))


def fit_surges(rate: np.ndarray, ts: np.ndarray, step: float, curve: Curve, source: str) -> list[Result]:
    """Surges: runs of steps above the curve; each one's factor on user traffic and its length."""
    found = runs(surging(rate, curve))
    days = (ts[-1] - ts[0] + step) / 86400.0
    n = len(found)
    user_curve = curve.fitted - curve.synthetic_rps
    factors = np.array([np.median((rate[a:b] - curve.synthetic_rps) / user_curve[a:b]) for a, b in found])
    durations = np.array([(b - a) * step for a, b in found], dtype=float)
    thresh = f"{EXCURSION_SIGMAS:g} robust sd ({EXCURSION_SIGMAS * curve.sigma:.2%})"
    out: list[Result] = [
        Fit(
            "traffic.surges.per_day",
            n / days,
            math.sqrt(max(n, 1)) / days,
            source,
            f"{n} runs of steps over the curve by {thresh} in {days:.2f} days (Poisson SE)",
        )
    ]
    out.append(_spread("traffic.surges.factor", factors, 1.0, source, "surge"))
    out.append(_spread("traffic.surges.duration_s", durations, step, source, "surge"))
    return out


# ---- errors and replicas ----


def fit_error_rate(
    requests: np.ndarray, errors: np.ndarray, step: float, synthetic_share: float, source: str
) -> Result:
    """Failed share of user requests (synthetic requests never fail), with a Wilson interval."""
    both = np.isfinite(requests) & np.isfinite(errors)
    n = float(requests[both].sum() * step * (1.0 - synthetic_share))
    e = float(errors[both].sum() * step)
    if n <= 0:
        return Kept("fleet.error_rate", f"no requests beside the errors in {source}")
    p = min(max(e / n, 0.0), 1.0)
    lo, hi = wilson(e, n)
    return Fit(
        "fleet.error_rate",
        p,
        (hi - lo) / (2 * Z95),
        source,
        f"errors / user requests, Wilson 95% [{lo:.3g}, {hi:.3g}]",
    )


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(mid - half, 0.0), min(mid + half, 1.0)


def fit_replicas(replicas: np.ndarray, source: str) -> Result:
    v = replicas[np.isfinite(replicas)]
    if not len(v):
        return Kept("fleet.replicas", f"no replica counts in {source}")
    med = round(float(np.median(v)))
    if med < 1:
        return Kept("fleet.replicas", f"{source}: median replica count {med} is below 1")
    return Fit("fleet.replicas", med, 0.0, source, f"median of the count (ranged {v.min():g} to {v.max():g})")


# ---- latency and noise ----


def fit_latency(hist: Histogram, source: str) -> tuple[list[Result], np.ndarray]:
    """p50 and p99 (histogram_quantile over the steps off noise episodes), then the episodes."""
    p50 = hist.per_step(0.5)
    ok = np.isfinite(p50)
    if ok.sum() < 3:
        return [Kept("fleet.latency", f"fewer than 3 steps with requests in {source}")], np.zeros(0, bool)
    log_ratio = np.log(p50 / np.median(p50[ok]))
    mad = float(np.median(np.abs(log_ratio[ok] - np.median(log_ratio[ok]))))
    sigma = max(1.4826 * mad, 1e-9)
    # An episode: p50 above the typical step by EXCURSION_SIGMAS robust sd, and by at least 5%
    # (a histogram's interpolation moves a step's p50 by less).
    noisy = ok & (log_ratio > max(EXCURSION_SIGMAS * sigma, math.log(1.05)))
    quiet = ok & ~noisy
    base = hist.total(quiet)
    out: list[Result] = []
    for q, key in ((0.5, "fleet.latency.p50_ms"), (0.99, "fleet.latency.p99_ms")):
        v, lo, hi = quantile_bucket(q, hist.les, base)
        if not math.isfinite(v):
            out.append(Kept(key, f"{source}: the quantile falls in the +Inf bucket or no requests"))
            continue
        out.append(
            Fit(
                key,
                v * hist.to_ms,
                (hi - lo) * hist.to_ms / 2,
                source,
                f"histogram_quantile({q:g}) over {int(quiet.sum())} steps off episodes; in bucket"
                f" ({lo * hist.to_ms:g}, {hi * hist.to_ms:g}] ms",
            )
        )
    return out, noisy


def fit_noise(hist: Histogram, noisy: np.ndarray, step: float, source: str) -> list[Result]:
    """Episodes: runs of slow steps; each one's latency factor (its steps' p50 over the quiet p50)
    and its length, the edge steps counted by the share of their requests the episode slowed
    (least squares of the step's buckets on a mix of the quiet histogram and it scaled by the factor)."""
    found = runs(noisy)
    hours = len(noisy) * step / 3600.0
    quiet = hist.total(np.isfinite(hist.per_step(0.5)) & ~noisy)
    base_p50 = quantile_bucket(0.5, hist.les, quiet)[0]
    p50 = hist.per_step(0.5)
    factors, durations = [], []
    for a, b in found:
        inner = p50[a + 1 : b - 1] if b - a > 2 else p50[a:b]
        f = float(np.median(inner)) / base_p50
        factors.append(f)
        covered = sum(hist.covered(k, quiet, f) for k in range(max(a - 1, 0), min(b + 1, len(noisy))))
        durations.append(covered * step)
    out: list[Result] = [
        Fit(
            "noise.episodes_per_hour",
            len(found) / hours,
            math.sqrt(max(len(found), 1)) / hours,
            source,
            f"{len(found)} runs of steps whose p50 rose over the quiet p50, in {hours:.1f} h (Poisson SE)",
        )
    ]
    out.append(_spread("noise.latency_factor", np.array(factors), 1.0, source, "episode"))
    out.append(_spread("noise.duration_s", np.array(durations), 1.0, source, "episode"))
    return out


# ---- everything ----


@dataclass(frozen=True)
class Trace:
    """What the fits saw and drew, step by step, for plotting a fit over its data (NaN: not there)."""

    t: np.ndarray  # unix seconds of every step on the common grid
    step: float
    requests: np.ndarray  # total request rate, req/s
    curve: np.ndarray  # the fitted daily curve, req/s
    surge: np.ndarray  # bool: steps in a surge
    p50_ms: np.ndarray  # each step's histogram_quantile(0.5)
    p99_ms: np.ndarray
    noisy: np.ndarray  # bool: steps in a noise episode

    def spans(self, flag: np.ndarray) -> list[tuple[float, float]]:
        """[start, end) unix seconds of each run of flagged steps (`surge`, `noisy`)."""
        return [(float(self.t[a]), float(self.t[b - 1] + self.step)) for a, b in runs(flag)]


def fit_all(
    series: Sequence[Series], scn: Scenario, utc_offset_h: float = 0.0
) -> tuple[list[Result], list[str]]:
    """Every value the series give, and what was kept at the scenario's default (`utc_offset_h`: the
    service's local time minus UTC, for the scenario's local peak hour)."""
    results, notes, _ = fit_traced(series, scn, utc_offset_h)
    return results, notes


def fit_traced(
    series: Sequence[Series], scn: Scenario, utc_offset_h: float = 0.0
) -> tuple[list[Result], list[str], Trace]:
    """`fit_all`, and the trace of its fits (the curve, surges, per-step latency, episodes)."""
    notes: list[str] = []
    by = {k: [s for s in series if s.kind == k] for k in ("requests", "errors", "latency", "replicas")}
    if not series:
        raise ConfigError("no series to calibrate from")
    grid, step = _grid(series)
    nan = np.full(len(grid), np.nan)
    no = np.zeros(len(grid), bool)
    trace = Trace(grid, step, nan, nan, no, nan, nan, no)
    share = scn.traffic.synthetic_share
    out: list[Result] = []
    requests = summed(by["requests"], grid, step) if by["requests"] else None
    if requests is not None:
        src = _sources(by["requests"])
        lag = by["requests"][0].lag
        fits, curve = fit_curve(requests, grid - lag + utc_offset_h * 3600.0, step, share, src)
        out += fits
        trace = replace(trace, requests=requests)
        if curve is not None:
            out += fit_surges(requests, grid, step, curve, src)
            trace = replace(trace, curve=curve.fitted, surge=surging(requests, curve))
    else:
        notes.append("no request-rate series: the traffic section keeps its defaults")
        out += [Kept("traffic", "no request-rate series")]
    if by["errors"] and requests is not None:
        errors = summed(by["errors"], grid, step)
        out.append(fit_error_rate(requests, errors, step, share, _sources(by["errors"] + by["requests"])))
    else:
        out.append(Kept("fleet.error_rate", "needs both an error series and a request series"))
    if by["latency"]:
        hist = histogram_of(by["latency"], lambda s: _on(grid, step, s))
        src = _sources(by["latency"])
        fits, noisy = fit_latency(hist, src)
        out += fits
        if len(noisy):
            trace = replace(
                trace,
                p50_ms=hist.per_step(0.5) * hist.to_ms,
                p99_ms=hist.per_step(0.99) * hist.to_ms,
                noisy=noisy,
            )
        if noisy.any():
            out += fit_noise(hist, noisy, step, src)
        elif len(noisy):
            hours = len(noisy) * step / 3600.0
            out.append(
                Fit("noise.episodes_per_hour", 0.0, 1.0 / hours, src, f"no slow runs in {hours:.1f} h")
            )
    else:
        out.append(Kept("fleet.latency", "no latency histogram (*_bucket with le)"))
        out.append(Kept("noise", "no latency histogram"))
    if by["replicas"]:
        out.append(fit_replicas(summed(by["replicas"], grid, step), _sources(by["replicas"])))
    else:
        out.append(Kept("fleet.replicas", "no replica-count series"))
    return out, notes, trace
