"""Runs compared image by image: matching, resampling, rank correlation, transitions, movers."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from reportgen.methods import compare_runs

KEYS = (lambda item: item.sha, lambda item: item.source, lambda item: item.name)


def item(name, sha, source=None):
    return SimpleNamespace(name=name, sha=sha, source=source)


def test_images_match_by_content_then_source_id_then_name():
    first = [item("a.png", "1"), item("b.png", "2", "s2"), item("c.png", "3"), item("d.png", "4")]
    second = [
        item("renamed.png", "1"),  # same content, another name
        item("b2.png", "20", "s2"),  # re-encoded, same source id
        item("c.png", "30"),  # re-encoded, same name
        item("e.png", "5"),  # only here
    ]
    matched, unmatched = compare_runs.match([first, second], KEYS)
    assert [(a.name, b.name) for a, b in matched] == [
        ("a.png", "renamed.png"),
        ("b.png", "b2.png"),
        ("c.png", "c.png"),
    ]
    assert [[x.name for x in run] for run in unmatched] == [["d.png"], ["e.png"]]


def test_an_image_matches_only_when_every_run_has_it():
    runs = [[item("a", "1"), item("b", "2")], [item("a", "1"), item("b", "2")], [item("b", "2")]]
    matched, unmatched = compare_runs.match(runs, KEYS)
    assert [group[0].name for group in matched] == ["b"]
    assert [[x.name for x in run] for run in unmatched] == [["a"], ["a"], []]


def test_no_image_in_common_matches_nothing():
    matched, unmatched = compare_runs.match([[item("a", "1")], [item("b", "2")]], KEYS)
    assert matched == [] and [len(run) for run in unmatched] == [1, 1]


def test_resampling_keeps_a_map_on_its_own_grid_and_a_constant_map_constant():
    rng = np.random.default_rng(0)
    grid = rng.random((4, 4))
    assert np.array_equal(compare_runs.resample(grid, (4, 4)), grid)
    assert np.allclose(compare_runs.resample(np.full((2, 2), 3.0), (4, 4)), 3.0)


def test_upsampling_doubles_a_grid_with_patch_centres_aligned():
    coarse = np.array([[0.0, 1.0], [2.0, 3.0]])
    fine = compare_runs.resample(coarse, (4, 4))
    assert fine.shape == (4, 4)
    # the outer cells keep the nearest patch's value; inner ones are the linear blend
    assert fine[0, 0] == 0.0 and fine[3, 3] == 3.0
    assert np.allclose(fine[0], [0.0, 0.25, 0.75, 1.0])
    assert np.allclose(fine[:, 0], [0.0, 0.5, 1.5, 2.0])


def test_the_common_grid_is_the_finest_of_each_axis():
    assert compare_runs.common_grid([(4, 4), (2, 2), (3, 5)]) == (4, 5)


@pytest.mark.parametrize("seed", range(5))
def test_rank_correlation_equals_scipys_spearmanr_ties_included(seed):
    rng = np.random.default_rng(seed)
    a = rng.random((6, 6))
    b = a + rng.normal(0, 0.3, a.shape)
    b[0, :3] = b[1, :3] = 0.5  # ties
    a[2] = 0.1
    expected = stats.spearmanr(a.ravel(), b.ravel()).statistic
    assert compare_runs.rank_correlation(a, b) == pytest.approx(expected, abs=1e-12)


def test_a_constant_map_has_no_correlation():
    assert np.isnan(compare_runs.rank_correlation(np.ones((3, 3)), np.arange(9.0)))


def test_ranks_average_ties():
    assert compare_runs.ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_transitions_count_each_pair_of_levels():
    counts = compare_runs.transitions([1, 1, 2, 3], [1, 2, 2, 1], 3, 2)
    assert counts.tolist() == [[1, 1], [0, 1], [1, 0]]


def test_movers_rank_level_change_then_entropy_change():
    levels = np.array([[1, 1], [1, 3], [2, 1], [4, 4]])
    entropies = np.array([[0.1, 0.5], [0.2, 0.3], [0.4, 0.45], [0.6, 0.6]])
    assert compare_runs.movers(levels, entropies, 3) == [1, 2, 0]


def test_as_distribution_sums_to_one():
    assert compare_runs.as_distribution(np.array([[1.0, 3.0]])).tolist() == [[0.25, 0.75]]
