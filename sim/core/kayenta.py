"""Kayenta's canary score: the metrics' labels weighed into a summary score and classified against
the pass and marginal thresholds, as its Netflix ACA judge scores them.

Followed: spinnaker/kayenta, kayenta-judge `scorers/WeightedSumScorer.scala` (group scores, group
weights, critical failures, the NODATA rule) and `classifiers/score/ThresholdScoreClassifier.scala`;
its unit tests are `ScorerSuite.scala` (transliterated in `tests/test_kayenta.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

#: The share of metrics (%) whose NODATA fails the canary outright.
NODATA_THRESHOLD = 50.0

Label = Literal["Pass", "High", "Low", "Nodata", "NodataFailMetric", "Error"]
#: Labels a group's score counts (a Nodata or Error metric counts in neither numerator nor denominator).
_COUNTED = ("Pass", "High", "Low", "NodataFailMetric")


class MetricResult(NamedTuple):
    """One metric's classification: its label, its groups, and whether it is critical (a critical
    metric's failure, or its missing data, fails the canary)."""

    label: Label
    groups: tuple[str, ...]
    critical: bool = False


def group_scores(results: Sequence[MetricResult]) -> dict[str, float | None]:
    """Each group's score, the share (%) of its counted metrics that pass; None for a group with no
    counted metric (all NODATA), which the summary counts as a full score."""
    members: dict[str, list[str]] = {}
    for r in results:
        for g in r.groups:
            members.setdefault(g, []).append(r.label)
    out: dict[str, float | None] = {}
    for g, labels in members.items():
        counted = [x for x in labels if x in _COUNTED]
        out[g] = 100.0 * counted.count("Pass") / len(counted) if counted else None
    return out


def summary_score(results: Sequence[MetricResult], weights: Mapping[str, float]) -> float:
    """The canary's score (0–100, two decimals): 0 if a critical metric did not pass or if half the
    metrics or more returned NODATA; else the groups' scores weighted, groups without a weight of
    their own sharing what the weights given leave of 100."""
    if any(r.critical and r.label != "Pass" for r in results):
        return 0.0
    if results and 100.0 * sum(r.label == "Nodata" for r in results) / len(results) >= NODATA_THRESHOLD:
        return 0.0
    scores = group_scores(results)
    unweighted = [g for g in scores if g not in weights]
    share = (100.0 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    total = sum((100.0 if s is None else s) * weights.get(g, share) / 100.0 for g, s in scores.items())
    # Commons Math's Precision.round(x, 2): half up, on the number's decimal form.
    return float(Decimal(repr(total)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def classify(score: float, pass_score: float, marginal_score: float) -> Literal["Pass", "Marginal", "Fail"]:
    """The summary score's classification (`ThresholdScoreClassifier`)."""
    if score >= pass_score:
        return "Pass"
    return "Marginal" if score >= marginal_score else "Fail"
