"""Statistical equivalence of two engines: every summary metric within the Monte Carlo error of the other.

An engine that draws its variates in another order (issue 17's vectorised engine) cannot reproduce
today's rows, only their distribution. The check compares the summary tables (`sim.summarize`)
of both engines, run on many deploys of every shipped scenario with different seeds: for each
(scenario, strategy, metric) the two means — and the two medians where the summary has an
interval for them — must agree within their joint Monte Carlo error.

Each estimate's standard error is read off its own 95% interval (half-width / 1.96: Student-t or
bootstrap for means, Wilson for rates, Kaplan–Meier for durations), and the two are independent
(different seeds), so |new − old| / √(se_old² + se_new²) is a z statistic. The family of checks
is held to one false alarm in `1 / family_alpha` comparisons of equal engines by Bonferroni: each
check's two-sided limit is z at `family_alpha / (2 · checks)`.

Usage: python -m sim.validation.equivalence BASELINE.csv [--deploys N] [--seed S] [--out NEW.csv]
[--new NEW.csv] (BASELINE: the old engine's summaries, as `baseline()` makes them; `make
equivalence` compares today's engine with the stored baseline of the engine before issue 17).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..config.scenario import load_scenario, shipped_scenarios
from ..results.summary import summarize
from .common import batch

KEY = ["scenario", "strategy", "metric"]
Z95 = float(stats.norm.ppf(0.975))
#: Below this relative difference two estimates are equal whatever their errors (a metric that is
#: the same constant in both engines, e.g. zero downtime, has no interval to compare within).
SAME = 1e-9


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison of two summary tables.

    Attributes:
        checks: one row per comparison: key, statistic ("mean" or "p50"), both values, z, limit, ok.
        limit: the z limit every check was held to.
    """

    checks: pd.DataFrame
    limit: float

    @property
    def ok(self) -> bool:
        return bool(self.checks["ok"].all())

    @property
    def failures(self) -> pd.DataFrame:
        return self.checks[~self.checks["ok"]]


def baseline(deploys: int, seed: int, scenarios: Sequence[str] | None = None) -> pd.DataFrame:
    """Summaries of `deploys` deploys of each scenario (every shipped one by default), every strategy,
    with a `scenario` column first: what `compare` reads.

    Args:
        deploys: deploys per scenario.
        seed: the root seed.
        scenarios: scenario names or paths; None for every shipped scenario.

    Returns:
        The summary rows of all scenarios.
    """
    parts = []
    for name in scenarios if scenarios is not None else shipped_scenarios():
        part = summarize(batch(load_scenario(name), deploys, seed))  # in this process, one core
        part.insert(0, "scenario", name)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _se(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return (hi - lo) / (2 * Z95)


def compare(old: pd.DataFrame, new: pd.DataFrame, family_alpha: float = 0.01) -> Verdict:
    """Compare two engines' summaries metric by metric.

    Args:
        old: summaries of the old engine (`baseline`'s columns).
        new: summaries of the new engine, from another seed.
        family_alpha: the chance, if the engines are equal, that any check of the family fails.

    Returns:
        The verdict: every check, and whether all passed. A metric estimated by one engine and
        not by the other (NaN in one table only, or missing) fails, unless it rests on fewer
        than 30 deploys in both (too few to tell).
    """
    both = old.merge(new, on=KEY, how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for stat, lo, hi in (("mean", "ci95_lo", "ci95_hi"), ("p50", "p50_lo", "p50_hi")):
        a, b = both[f"{stat}_old"].to_numpy(float), both[f"{stat}_new"].to_numpy(float)
        se = np.hypot(
            _se(both[f"{lo}_old"].to_numpy(float), both[f"{hi}_old"].to_numpy(float)),
            _se(both[f"{lo}_new"].to_numpy(float), both[f"{hi}_new"].to_numpy(float)),
        )
        diff = np.abs(a - b)
        same = diff <= SAME * np.maximum(np.abs(a), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(same, 0.0, diff / se)
        n = np.minimum(both["n_old"].fillna(0).to_numpy(float), both["n_new"].fillna(0).to_numpy(float))
        has_old, has_new = ~np.isnan(a), ~np.isnan(b)
        if stat == "p50":  # only where both summaries give the median an interval
            keep = has_old & has_new & ~np.isnan(se)
        else:
            keep = has_old | has_new | (both["_merge"] != "both").to_numpy()
        for i in np.flatnonzero(keep).tolist():
            rows.append(
                {
                    **{k: both[k].iat[i] for k in KEY},
                    "stat": stat,
                    "old": a[i],
                    "new": b[i],
                    "n_old": both["n_old"].iat[i],
                    "n_new": both["n_new"].iat[i],
                    "z": z[i],
                    "few": n[i] < 30,
                    "one_sided_nan": bool(has_old[i] != has_new[i]),
                }
            )
    checks = pd.DataFrame(rows)
    m = max(1, len(checks))
    limit = float(stats.norm.isf(family_alpha / (2 * m)))
    if len(checks):
        z = checks["z"].to_numpy(float)
        comparable = ~checks["one_sided_nan"].to_numpy(bool)
        # A zero-width interval on both sides with unequal values (z = inf) is a real difference;
        # NaN z (no interval at all) cannot be judged and passes only on few deploys.
        within = np.where(np.isnan(z), False, z <= limit)
        checks["ok"] = np.where(comparable, within | checks["few"], checks["few"])
    else:
        checks["ok"] = pd.Series(dtype=bool)
    checks["limit"] = limit
    return Verdict(checks, limit)


def _report(verdict: Verdict) -> str:
    lines = [f"{len(verdict.checks)} checks, each held to |z| ≤ {verdict.limit:.2f}"]
    for _, r in verdict.failures.iterrows():
        lines.append(
            f"  DIFFERS {r['scenario']} / {r['strategy']} / {r['metric']} ({r['stat']}): "
            f"old {r['old']:.6g} (n={r['n_old']}), new {r['new']:.6g} (n={r['n_new']}), z = {r['z']:.2f}"
        )
    lines.append("equivalent" if verdict.ok else f"{len(verdict.failures)} of the checks differ")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run today's engine and compare it with a stored baseline; exit 1 on a difference."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.validation.equivalence", description=__doc__.splitlines()[0]
    )
    parser.add_argument("baseline", help="CSV of the old engine's summaries (baseline())")
    parser.add_argument("--deploys", type=int, default=10_000, help="deploys per scenario (default 10,000)")
    parser.add_argument("--seed", type=int, default=7, help="root seed; use another than the baseline's")
    parser.add_argument("--new", help="compare this CSV of summaries instead of running today's engine")
    parser.add_argument("--out", help="also write this engine's summaries to this CSV")
    parser.add_argument("--family-alpha", type=float, default=0.01)
    args = parser.parse_args(argv)
    old = pd.read_csv(args.baseline)
    scenarios = list(dict.fromkeys(old["scenario"]))
    new = pd.read_csv(args.new) if args.new else baseline(args.deploys, args.seed, scenarios)
    if args.out:
        new.to_csv(args.out, index=False)
    verdict = compare(old, new, args.family_alpha)
    print(_report(verdict))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
