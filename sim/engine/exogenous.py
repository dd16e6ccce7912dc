"""What happens to a deploy whatever the strategy: its release, its traffic, its noisy neighbours.

All three are exogenous: drawn once per deploy, before any strategy runs, from the deploy's own
streams (`sim.core.rng`), so every strategy in a deploy meets exactly the same release, requests
and noise (common random numbers). What comes after the watch — the margin's traffic, the
follow-up's, the users' reports' clock — is drawn on first need and then shared too (`Exogenous`).

- Traffic: the daily curve, regional surges, users and segments, synthetic traffic, per window.
- The release: whether it is bad, which fault it carries, how severe, and when it bites. A fault
  acts only on user requests served by the new version, and only once active: from the first user
  request the new version serves plus the onset delay. Synthetic traffic never reaches application
  code, so no fault touches it.
- Noisy neighbours: episodes of latency (and optionally error) inflation that no release caused,
  hitting both versions or the hosts of one; the world replays them (`world.noise_process`).
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config.faults import LATENCY_PROFILE, ReleasesConfig
from ..config.fleet import PROFILE_NONE
from ..config.noise import TARGETS, NoiseConfig
from ..config.traffic import TrafficConfig
from ..core import rng as streams

if TYPE_CHECKING:
    from ..config.scenario import Scenario


# ---- traffic ----


@dataclass(frozen=True)
class TrafficDraw:
    """One deploy's requests, per time window (exogenous: the same for every strategy)."""

    window_s: float
    start_hour: float  # local time of day at t = 0
    counts: np.ndarray  # (windows, segments + 1): user requests by segment, then synthetic requests
    user_rate: np.ndarray  # (windows,) expected user requests per second
    surges: tuple[tuple[float, float, float], ...]  # (start_s, end_s, factor)

    @property
    def user(self) -> np.ndarray:
        return self.counts[:, :-1]

    @property
    def synthetic(self) -> np.ndarray:
        return self.counts[:, -1]

    @property
    def windows(self) -> int:
        return len(self.counts)

    def hour_at(self, t: float) -> float:
        return (self.start_hour + t / 3600.0) % 24.0


def rate_profile(cfg: TrafficConfig, start_hour: float, t_mid: np.ndarray) -> np.ndarray:
    """Expected total request rate (req/s) at times t_mid without surges: the daily curve."""
    return _daily_curve(cfg, start_hour, t_mid / 3600.0)


def _daily_curve(cfg: TrafficConfig, start_hour: float, t_hours: np.ndarray) -> np.ndarray:
    hours = (start_hour + t_hours) % 24.0
    return cfg.rate_rps * (
        1.0 + cfg.diurnal.amplitude * np.cos(2 * np.pi * (hours - cfg.diurnal.peak_hour) / 24)
    )


def _curve_along(cfg: TrafficConfig, start_hour: float, t_hours: np.ndarray) -> np.ndarray:
    """`_daily_curve` over ascending times from 0 on (windows' mid-times): `_curves_along`'s."""
    rates = _curves_along(cfg, np.array([start_hour]), t_hours)
    return _daily_curve(cfg, start_hour, t_hours) if rates is None else rates[0]


def _curves_along(cfg: TrafficConfig, start_hours: np.ndarray, t_hours: np.ndarray) -> np.ndarray | None:
    """`_daily_curve` of each start hour (a row each) over ascending times from 0 on, with less
    work: the hour of day without numpy's remainder, which costs more than the rest of the curve,
    and the steps in place. The same numbers, bit for bit (a test holds it to `_daily_curve`);
    None where numpy's remainder decides (a start hour that is NaN, zero or negative)."""
    hours = start_hours[:, None] + t_hours  # ascending rows: a rounded sum never passes a larger one
    if not (hours.size and hours[:, 0].min() > 0.0 and hours[:, -1].max() < 2.0**40):
        return None
    last = hours[:, -1].max()
    if last >= 24.0:
        # a % 24 is a − 24k for a in [24k, 24k + 24), and that difference is exact (both are
        # multiples of a's last place, and it is smaller than a); k counts the days a has passed.
        midnights = 24.0 * np.arange(1, int(last // 24.0) + 2)
        hours -= 24.0 * np.searchsorted(midnights, hours, side="right")
    # The steps of `_daily_curve`, in place (2π·x as x·2π: a product does not depend on order);
    # not the cosine's, whose `out=` costs more in argument parsing than its array.
    hours -= cfg.diurnal.peak_hour
    hours *= 2 * np.pi
    hours /= 24
    rate = np.cos(hours)
    rate *= cfg.diurnal.amplitude
    rate += 1.0
    rate *= cfg.rate_rps
    return rate


@functools.lru_cache(maxsize=64)
def _window_mids(n: int, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Mid-times of n windows, in seconds and in hours: the same for every deploy of a scenario."""
    t_mid = (np.arange(n) + 0.5) * window_s
    t_hours = t_mid / 3600.0
    t_mid.flags.writeable = t_hours.flags.writeable = False
    return t_mid, t_hours


def request_means(
    user_rate: np.ndarray, shares: np.ndarray, synthetic_rps: float, window_s: float
) -> np.ndarray:
    """Mean requests per window (windows, segments + 1): users by segment, then synthetic.

    Built segment by segment (a window-long row each), which numpy does far faster than window by
    window; the result is the transposed view, and numpy draws from it in row-major order whatever
    its memory layout."""
    lam = np.empty((len(shares) + 1, len(user_rate)))
    np.multiply(shares[:, None], user_rate, out=lam[:-1])
    lam[:-1] *= window_s
    lam[-1] = synthetic_rps * window_s
    return lam.T


def draw_traffic(
    cfg: TrafficConfig, window_s: float, horizon_s: float, rng: np.random.Generator
) -> TrafficDraw:
    lo, hi = cfg.deploy_hours
    start_hour = float(rng.uniform(lo, hi))
    return draw_span(cfg, window_s, 0, math.ceil(horizon_s / window_s), start_hour, rng)


def draw_span(
    cfg: TrafficConfig, window_s: float, k0: int, k1: int, start_hour: float, rng: np.random.Generator
) -> TrafficDraw:
    """Windows k0..k1-1 of a deploy that started at `start_hour` (the rows for earlier windows are
    zero and never served): the traffic a deploy meets after the part drawn up front."""
    t_mid, t_hours = _window_mids(k1, window_s)
    rate = _curve_along(cfg, start_hour, t_hours)
    surges = _draw_surges(cfg, window_s, (k0, k1), rng)
    if surges:  # most deploys meet none, and a product with ones changes nothing
        rate = _surged(rate, t_mid, surges)
    user_rate = rate * (1.0 - cfg.synthetic_share)
    # Health checks and bots arrive at a steady rate: probes do not follow the daily curve.
    lam = request_means(user_rate[k0:], cfg.shares, cfg.rate_rps * cfg.synthetic_share, window_s)
    counts = rng.poisson(lam)
    if k0:
        counts = np.concatenate([np.zeros((k0, counts.shape[1]), counts.dtype), counts])
    return TrafficDraw(window_s, start_hour, counts, user_rate, tuple(surges))


def _draw_surges(
    cfg: TrafficConfig, window_s: float, span: tuple[int, int], rng: np.random.Generator
) -> list[tuple[float, float, float]]:
    """The regional surges over windows k0..k1-1 (`span`): (start_s, end_s, factor) each."""
    k0, k1 = span
    surges = []
    s = cfg.surges
    t0, horizon_s = k0 * window_s, k1 * window_s
    # Surges already under way at t0 count too: look back one maximal surge length.
    look_back = min(s.duration_s.bounds()[1], 86400.0)
    reach = horizon_s - t0 + look_back
    for _ in range(rng.poisson(s.per_day * reach / 86400.0)):
        start = float(rng.uniform(t0 - look_back, horizon_s))
        end = start + float(s.duration_s.sample(rng))
        factor = float(s.factor.sample(rng))
        surges.append((start, end, factor))
    return surges


def _surged(rate: np.ndarray, t_mid: np.ndarray, surges: Sequence[tuple[float, float, float]]) -> np.ndarray:
    surge_mult = np.ones(len(rate))
    for start, end, factor in surges:
        surge_mult[(t_mid >= start) & (t_mid < end)] *= factor
    return rate * surge_mult


def user_requests_before(
    cfg: TrafficConfig, start_hour: float | np.ndarray, seconds: np.ndarray
) -> np.ndarray:
    """Expected user requests in the `seconds` before t = 0, on the daily curve (no surges): the
    steady history an alert's long window reaches back into (for many deploys at once, a column of
    start hours against rows of seconds)."""
    a, day = cfg.diurnal.amplitude, 86400.0
    phase = 2 * np.pi * (start_hour - cfg.diurnal.peak_hour) / 24.0
    # ∫ (1 + A cos(θ0 + 2πt/day)) dt over [-s, 0] = s + A·day/2π·(sin θ0 − sin(θ0 − 2πs/day))
    wave = a * day / (2 * np.pi) * (np.sin(phase) - np.sin(phase - 2 * np.pi * seconds / day))
    return cfg.rate_rps * (1.0 - cfg.synthetic_share) * (seconds + wave)


def hit_probability(requests_per_user: np.ndarray, shape: float) -> np.ndarray:
    """Chance that a user of a group meets at least one of the group's requests.

    Per-user rates are gamma distributed with the given shape, so the number of requests one user
    sends is Poisson with a gamma mean; its zero-probability is the gamma Laplace transform
    (1 + r/k)^(-k), where r is the group's mean requests per user.
    """
    r = np.asarray(requests_per_user, dtype=float)
    return 1.0 - np.power(1.0 + r / shape, -shape)


# ---- the release ----


@dataclass(frozen=True)
class Release:
    """One deploy's release, drawn before any strategy runs."""

    bad: bool
    kind: str | None = None
    severity: float = 0.0
    onset_s: float = 0.0
    segment: int | None = None  # index of the segment a segment_bug hits
    smoke_u: float = 1.0  # uniform draw; the smoke test catches the fault when smoke_u < smoke_catch
    smoke_catch: float = 0.0
    layer: str | None = None  # "flag": the fault lies behind the feature flag; "binary": anywhere else
    shadow_u: float = 1.0  # uniform draw for dark-launch shadow calls

    @property
    def caught_by_smoke_test(self) -> bool:
        return self.bad and self.smoke_u < self.smoke_catch

    @property
    def latency_profile(self) -> int:
        return LATENCY_PROFILE.get(self.kind or "", PROFILE_NONE) if self.bad else PROFILE_NONE

    @property
    def leak_per_s(self) -> float:
        return self.severity / 3600.0 if self.kind == "saturation_leak" else 0.0

    def failure_probability(self, n_segments: int) -> np.ndarray:
        """Per segment: chance the active fault fails a user request on the new version."""
        p = np.zeros(n_segments)
        if self.kind in ("error_rate", "crash"):
            p[:] = self.severity
        elif self.kind == "segment_bug":
            p[self.segment] = self.severity
        return p

    def touches(self, n_segments: int) -> np.ndarray:
        """Per segment: whether the segment's requests run the faulty code (True for all but segment bugs)."""
        hit = np.full(n_segments, self.bad)
        if self.kind == "segment_bug":
            hit[:] = False
            hit[self.segment] = True
        return hit


def draw_release(cfg: ReleasesConfig, segment_names: tuple[str, ...], rng: np.random.Generator) -> Release:
    u_bad, u_kind, u_smoke, u_layer, u_shadow = rng.random(5).tolist()
    kinds, cdf = cfg.kind_cdf
    if not kinds or u_bad >= cfg.bad_probability:
        return Release(bad=False, smoke_u=u_smoke, shadow_u=u_shadow)
    kind = kinds[bisect.bisect_right(cdf, u_kind)]
    spec = cfg.faults[kind]
    severity = float(spec.severity.sample(rng))
    onset = float(spec.onset_s.sample(rng))
    segment = segment_names.index(spec.segment) if spec.segment is not None else None
    layer = "flag" if u_layer < cfg.flagged_share else "binary"
    return Release(True, kind, severity, onset, segment, u_smoke, spec.smoke_catch, layer, u_shadow)


# ---- noisy neighbours ----


@dataclass(frozen=True)
class Episode:
    start: float
    end: float
    latency_factor: float
    error_rate: float
    target: str  # one of TARGETS

    def hits(self, version: int) -> bool:
        """Version 0 is stable, 1 is new."""
        return self.target == "both" or self.target == ("stable", "new")[version]


def draw_episodes(cfg: NoiseConfig, horizon_s: float, rng: np.random.Generator) -> tuple[Episode, ...]:
    if cfg.episodes_per_hour <= 0:
        return ()
    # Episodes already under way at t = 0 count too: look back one maximal episode length.
    look_back = min(cfg.duration_s.bounds()[1], 86400.0)
    span = horizon_s + look_back
    n = rng.poisson(cfg.episodes_per_hour * span / 3600.0)
    out = []
    for _ in range(n):
        start = float(rng.uniform(-look_back, horizon_s))
        end = start + float(cfg.duration_s.sample(rng))
        factor = float(cfg.latency_factor.sample(rng))
        err = float(cfg.error_rate.sample(rng))
        target = TARGETS[bisect.bisect_right(cfg.targets.cdf, rng.random())]
        if end > 0:
            out.append(Episode(max(start, 0.0), end, factor, err, target))
    return tuple(sorted(out, key=lambda e: e.start))


# ---- one deploy's exogenous draws ----


#: How long past the horizon a repair, or a rollout, under way there is followed in fine windows.
MARGIN_S = 3600.0


@dataclass(frozen=True)
class Exogenous:
    """What happens to a deploy whatever the strategy: the release, the traffic, the noise — and,
    drawn on first need and then shared by every strategy, what comes after the horizon."""

    release: Release
    traffic: TrafficDraw
    episodes: tuple[Episode, ...]
    seed: int = 0
    deploy: int = 0
    _later: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._later:
            self._later[key] = make()
        return self._later[key]

    def margin(self, scn: Scenario) -> TrafficDraw:
        """Traffic of the hour after the horizon, in the horizon's windows."""
        W, n = scn.run.window_s, len(self.traffic.counts)

        def make() -> TrafficDraw:
            rng = streams.stream(self.seed, self.deploy, streams.MARGIN)
            return draw_span(scn.traffic, W, n, n + math.ceil(MARGIN_S / W), self.traffic.start_hour, rng)

        return self._once("margin", make)

    def follow(self, scn: Scenario) -> tuple[TrafficDraw, tuple[Episode, ...]]:
        """Traffic and noise of the follow-up, in its coarse windows, from the horizon's on."""
        run = scn.run

        def make() -> tuple[TrafficDraw, tuple[Episode, ...]]:
            W = run.follow_window_s
            rng = streams.stream(self.seed, self.deploy, streams.FOLLOW)
            k0 = math.floor(run.horizon_s / W + 1e-9)
            traffic = draw_span(scn.traffic, W, k0, math.ceil(run.follow_s / W), self.traffic.start_hour, rng)
            episodes: tuple[Episode, ...] = ()
            if scn.noise.error_rate.bounds()[1] > 0:  # latency noise changes nothing the follow-up reads
                noise = streams.stream(self.seed, self.deploy, streams.FOLLOW_NOISE)
                episodes = tuple(
                    e for e in draw_episodes(scn.noise, run.follow_s, noise) if e.end > run.horizon_s
                )
            return traffic, episodes

        return self._once("follow", make)

    def report_threshold(self, scn: Scenario) -> float:
        """Where on the reports' clock the escalating report falls (shared by every strategy)."""
        n = scn.reports.escalate_after
        return self._once(
            "reports", lambda: float(streams.stream(self.seed, self.deploy, streams.REPORTS).gamma(n))
        )


#: A deploy's exogenous streams, in the order `draw_exogenous` takes them.
EXOGENOUS = (streams.RELEASE, streams.TRAFFIC, streams.NOISE)


def draw_exogenous(
    scn: Scenario, seed: int, deploy: int, rngs: Sequence[np.random.Generator] | None = None
) -> Exogenous:
    """A deploy's release, traffic and noise, each from its own stream (`rngs`: those streams, if
    built already: `exogenous_streams` builds a block's at once)."""
    release_rng, traffic_rng, noise_rng = rngs or [streams.stream(seed, deploy, w) for w in EXOGENOUS]
    release = draw_release(scn.releases, scn.traffic.segment_names, release_rng)
    traffic = draw_traffic(scn.traffic, scn.run.window_s, scn.run.horizon_s, traffic_rng)
    episodes = draw_episodes(scn.noise, scn.run.horizon_s, noise_rng)
    return Exogenous(release, traffic, episodes, seed, deploy)


def draw_exogenous_many(scn: Scenario, seed: int, deploys: Sequence[int]) -> list[Exogenous | Exception]:
    """`draw_exogenous` of each deploy (or the exception its draws raised), with what costs most
    besides the Poisson draws — the daily curve and the request means — worked out for all the
    deploys at once: each deploy's streams draw the same numbers in the same order, and every
    number is the same, bit for bit (a test holds it to `draw_exogenous`)."""
    out: list[Exogenous | Exception] = []
    for j in range(0, len(deploys), _MANY):  # a block's arrays at a time: they stay in the caches
        part = deploys[j : j + _MANY]
        try:
            out += _draw_many(scn, seed, part)
        except Exception:  # say which deploy's draws fail, and how, as drawn one by one
            for i, rngs in zip(part, exogenous_streams(seed, part), strict=True):
                try:
                    out.append(draw_exogenous(scn, seed, i, rngs))
                except Exception as err:
                    out.append(err)
    return out


#: Deploys whose curves and means `draw_exogenous_many` works out together (`arrays.BLOCK`'s).
_MANY = 64


def _draw_many(scn: Scenario, seed: int, deploys: Sequence[int]) -> list[Exogenous | Exception]:
    cfg, W = scn.traffic, scn.run.window_s
    k1 = math.ceil(scn.run.horizon_s / W)
    t_mid, t_hours = _window_mids(k1, W)
    lo, hi = cfg.deploy_hours
    made = exogenous_streams(seed, deploys)
    # Each stream's draws before its Poisson counts (the release's are all of its own), deploy by
    # deploy, as `draw_traffic` and `draw_span` make them.
    releases, starts, surges = [], [], []
    for release_rng, traffic_rng, _ in made:
        releases.append(draw_release(scn.releases, cfg.segment_names, release_rng))
        starts.append(float(traffic_rng.uniform(lo, hi)))
        surges.append(_draw_surges(cfg, W, (0, k1), traffic_rng))
    # `_curve_along` and `request_means` for every deploy at once: a row's numbers are its own.
    rates = _curves_along(cfg, np.array(starts), t_hours)
    if rates is None:
        raise ValueError("start hours the block's curves do not cover")  # then drawn one by one
    user_rates = rates * (1.0 - cfg.synthetic_share)
    synthetic_rps, shares = cfg.rate_rps * cfg.synthetic_share, cfg.shares
    lams = np.empty((len(deploys), len(shares) + 1, k1))
    np.multiply(shares[:, None], user_rates[:, None, :], out=lams[:, :-1])
    lams[:, :-1] *= W
    lams[:, -1] = synthetic_rps * W
    out: list[Exogenous | Exception] = []
    for n, (i, (_, traffic_rng, noise_rng)) in enumerate(zip(deploys, made, strict=True)):
        user_rate, lam = user_rates[n], lams[n].T
        if surges[n]:
            user_rate = _surged(rates[n], t_mid, surges[n]) * (1.0 - cfg.synthetic_share)
            lam = request_means(user_rate, shares, synthetic_rps, W)
        try:
            counts = traffic_rng.poisson(lam)
            traffic = TrafficDraw(W, starts[n], counts, user_rate, tuple(surges[n]))
            episodes = draw_episodes(scn.noise, scn.run.horizon_s, noise_rng)
            out.append(Exogenous(releases[n], traffic, episodes, seed, i))
        except Exception as err:  # as `draw_exogenous` would raise it for this deploy
            out.append(err)
    return out


def exogenous_streams(seed: int, deploys: Sequence[int]) -> list[list[np.random.Generator]]:
    """Each deploy's exogenous streams (`EXOGENOUS`), built for all of them at once."""
    made = streams.streams_of(seed, [(i, w) for i in deploys for w in EXOGENOUS])
    return [made[3 * n : 3 * n + 3] for n in range(len(deploys))]
