"""The rank comparison of two groups: scipy's Mann-Whitney U, the rank-biserial sign, medians."""

import sys

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from reportgen.methods import compare_groups


def test_the_figures_equal_scipys_on_the_same_numbers():
    rng = np.random.default_rng(5)
    first, second = rng.normal(0.95, 0.01, 37), rng.normal(0.94, 0.02, 23)
    comparison = compare_groups.compare(list(first), list(second))
    expected = mannwhitneyu(first, second, alternative="two-sided")
    assert comparison.test.statistic == float(expected.statistic)
    assert comparison.test.p_value == float(expected.pvalue)
    assert comparison.test.rank_biserial == pytest.approx(
        2 * expected.statistic / (37 * 23) - 1, abs=1e-15
    )
    assert comparison.sizes == (37, 23)
    assert comparison.medians == (float(np.median(first)), float(np.median(second)))
    assert comparison.no_test == ""


def test_rank_biserial_is_positive_when_the_first_group_is_larger():
    # Every pair (first, second) has first > second: U = 2 * 3 = 6, r = 1; reversed, r = -1.
    larger = compare_groups.mann_whitney([5.0, 6.0], [1.0, 2.0, 3.0])
    assert (larger.statistic, larger.rank_biserial) == (6.0, 1.0)
    smaller = compare_groups.mann_whitney([1.0, 2.0, 3.0], [5.0, 6.0])
    assert (smaller.statistic, smaller.rank_biserial) == (0.0, -1.0)
    # Pairs by hand: 2>1, 2=2 (half), 2<3, 4>1, 4>2, 4>3: U = 4.5 of 6, r = 2*4.5/6 - 1 = 0.5.
    mixed = compare_groups.mann_whitney([2.0, 4.0], [1.0, 2.0, 3.0])
    assert (mixed.statistic, mixed.rank_biserial) == (4.5, 0.5)


@pytest.mark.parametrize("sizes", [(0, 5), (1, 5), (5, 1)])
def test_too_few_values_in_a_group_give_no_test(sizes):
    first, second = [0.5 + 0.01 * i for i in range(sizes[0])], [0.6] * sizes[1]
    comparison = compare_groups.compare(first, second)
    assert comparison.test is None
    assert comparison.no_test == "it needs at least 2 images in each group"
    assert comparison.sizes == sizes
    assert comparison.medians[0] == (np.median(first) if first else None)


def test_without_scipy_the_medians_stay_and_the_hint_says_how_to_get_the_test(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)  # import scipy.stats fails
    comparison = compare_groups.compare([1.0, 2.0, 3.0], [4.0, 5.0])
    assert comparison.test is None
    assert comparison.no_test == "it needs scipy (pip install 'reportgen[stats]')"
    assert comparison.medians == (2.0, 4.5)
