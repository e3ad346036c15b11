"""Two groups of numbers compared by rank: medians, the Mann-Whitney U test and its effect size.

The report asks whether misclassified images spread their attention more than correctly
classified ones. Spread entropies are bounded and rarely normal, so the groups are compared by
rank (Mann-Whitney U, two-sided, as scipy computes it) and the effect size is the rank-biserial
correlation ``r = 2 U / (n1 n2) - 1``: the share of pairs in which the first group's value is the
larger, minus the share in which it is the smaller (ties count half), from -1 to 1. scipy is the
optional extra ``stats``, imported only here and only when a test is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_GROUP = 2  # images a group needs for a rank test
STATS_HINT = "pip install 'reportgen[stats]'"  # what gives the test when scipy is missing


@dataclass(frozen=True)
class RankTest:
    """The Mann-Whitney U test of the first group against the second."""

    statistic: float  # U of the first group: pairs where it is larger, ties counting half
    p_value: float  # two-sided
    rank_biserial: float  # 2U/(n1 n2) - 1: > 0 when the first group tends to be larger


@dataclass(frozen=True)
class GroupComparison:
    """Two groups' sizes and medians, and their rank test, or why there is none."""

    sizes: tuple[int, int]
    medians: tuple[float | None, float | None]  # None for an empty group
    test: RankTest | None
    no_test: str = ""  # why there is no test ("" when there is one)


def rank_biserial(statistic: float, n_first: int, n_second: int) -> float:
    """The rank-biserial correlation of a Mann-Whitney U of the first group."""
    return 2.0 * statistic / (n_first * n_second) - 1.0


def mann_whitney(first: Sequence[float], second: Sequence[float]) -> RankTest:
    """The two-sided Mann-Whitney U test of ``first`` against ``second`` (scipy's, with its
    automatic choice of exact or asymptotic p-value); raises ImportError without scipy."""
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(first, second, alternative="two-sided")
    statistic = float(result.statistic)
    return RankTest(
        statistic, float(result.pvalue), rank_biserial(statistic, len(first), len(second))
    )


def compare(first: Sequence[float], second: Sequence[float]) -> GroupComparison:
    """Sizes, medians and the rank test of two groups; no test when a group has fewer than
    :data:`MIN_GROUP` values or scipy is missing (``no_test`` says which)."""
    sizes = (len(first), len(second))
    medians = tuple(float(np.median(group)) if len(group) else None for group in (first, second))
    if min(sizes) < MIN_GROUP:
        return GroupComparison(
            sizes, medians, None, f"it needs at least {MIN_GROUP} images in each group"
        )
    try:
        test = mann_whitney(first, second)
    except ImportError:
        return GroupComparison(sizes, medians, None, f"it needs scipy ({STATS_HINT})")
    return GroupComparison(sizes, medians, test)
