"""Entropy, spread-map choice, quantile levels, ties and featured images."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reportgen.methods import panels, spread


def test_entropy_extremes():
    one_hot = np.zeros((4, 4))
    one_hot[1, 2] = 5.0
    assert spread.entropy(one_hot) == 0.0
    assert spread.entropy(np.ones((4, 4))) == pytest.approx(1.0)


def test_entropy_hand_computed():
    # p = [0.5, 0.5, 0, 0]: H = log 2, normalised by log 4 -> 0.5
    assert spread.entropy(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.5)
    # scale does not matter
    assert spread.entropy(np.array([[3.0, 3.0], [0.0, 0.0]])) == pytest.approx(0.5)


def test_entropy_is_comparable_across_resolutions():
    assert spread.entropy(np.ones((14, 14))) == pytest.approx(spread.entropy(np.ones((37, 37))))


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), np.array([[1.0, -0.1]]), np.array([np.nan])])
def test_entropy_rejects_bad_maps(bad):
    with pytest.raises(ValueError):
        spread.entropy(bad)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (3, 5), elements=st.floats(0, 1e6)).filter(lambda a: a.sum() > 0))
def test_entropy_in_unit_interval(values):
    assert 0.0 <= spread.entropy(values) <= 1.0


def test_levels_are_equal_quantile_groups():
    entropies = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4])
    levels = spread.assign_levels(entropies, 4)
    # ranks by entropy: 0.1 0.2 | 0.3 0.4 | 0.5 0.7 | 0.8 0.9
    assert levels.tolist() == [4, 1, 3, 2, 3, 1, 4, 2]


def test_uneven_group_sizes_differ_by_at_most_one():
    levels = spread.assign_levels(np.linspace(0, 1, 10), 4)
    sizes = np.bincount(levels)[1:]
    assert sizes.tolist() == [3, 2, 3, 2]


def test_ties_share_a_level():
    entropies = np.array([0.1, 0.2, 0.2, 0.2, 0.9, 0.95])
    levels = spread.assign_levels(entropies, 3)
    # ranks 0..5 -> 1 1 2 2 3 3, but the three 0.2 share the first one's level (1)
    assert levels.tolist() == [1, 1, 1, 1, 3, 3]


def test_fewer_images_than_levels():
    levels = spread.assign_levels(np.array([0.4, 0.2]), 4)
    assert levels.tolist() == [2, 1]
    assert spread.assign_levels(np.array([]), 4).size == 0


def test_levels_are_deterministic_and_monotone():
    rng = np.random.default_rng(1)
    entropies = rng.random(50)
    levels = spread.assign_levels(entropies, 5)
    assert levels.tolist() == spread.assign_levels(entropies.copy(), 5).tolist()
    order = np.argsort(entropies)
    assert np.all(np.diff(levels[order]) >= 0)


def test_featured_is_nearest_the_median():
    entropies = np.array([0.10, 0.12, 0.30, 0.20, 0.50, 0.9])
    levels = np.array([1, 1, 1, 1, 1, 2])
    assert spread.featured_index(entropies, levels, 1) == 3  # median 0.20
    assert spread.featured_index(entropies, levels, 2) == 5
    # an even count ties the two middle values: the more focused one is featured
    assert spread.featured_index(np.array([0.75, 0.25]), np.array([1, 1]), 1) == 1


def test_ranges_and_boundaries():
    entropies = np.array([0.1, 0.2, 0.5, 0.6])
    levels = np.array([1, 1, 2, 2])
    assert spread.level_ranges(entropies, levels) == {1: (0.1, 0.2), 2: (0.5, 0.6)}
    assert spread.level_boundaries(entropies, levels) == [pytest.approx(0.35)]


@pytest.mark.parametrize("text", ["mean", "max", "min", "rollout", "layer:3"])
def test_spread_spec_round_trip(text):
    assert str(spread.SpreadSpec.parse(text)) == text


@pytest.mark.parametrize("text", ["median", "layer:0", "layer:x", "layer:", ""])
def test_spread_spec_rejects(text):
    with pytest.raises(ValueError):
        spread.SpreadSpec.parse(text)


def test_spread_spec_selects_the_right_stored_map():
    layer_maps = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)])
    stored = panels.complete({panels.LAYERS: layer_maps, panels.ROLLOUT: np.full((2, 2), 7.0)})
    stored["mean"][0, 0] = 5.0  # the stored map is read, not recomputed from the layers
    assert spread.SpreadSpec.parse("mean").select(stored)[0, 0] == 5.0
    assert spread.SpreadSpec.parse("max").select(stored)[0, 0] == 3.0
    assert spread.SpreadSpec.parse("layer:1").select(stored)[0, 0] == 1.0
    assert spread.SpreadSpec.parse("rollout").select(stored)[0, 0] == 7.0
    with pytest.raises(ValueError, match="has 2"):
        spread.SpreadSpec.parse("layer:3").select(stored)
    with pytest.raises(ValueError, match="relevance map was not computed"):
        spread.SpreadSpec.parse("relevance").select(stored)
    assert math.isclose(spread.entropy(layer_maps[0]), 1.0)


def test_typical_images_are_the_nearest_the_median_in_entropy_order():
    entropies = np.array([0.125, 0.25, 0.5, 0.375, 0.625, 0.875, 0.4375])
    levels = np.array([1, 1, 1, 1, 1, 2, 1])
    # level 1 by entropy: 0.125 0.25 0.375 0.4375 0.5 0.625; median 0.40625, where 0.375 and
    # 0.4375 tie (exactly: the values are binary fractions): the more focused one comes first
    assert spread.typical_indices(entropies, levels, 1, 1) == [3]
    assert spread.featured_index(entropies, levels, 1) == 3
    assert spread.typical_indices(entropies, levels, 1, 3) == [3, 6, 2]  # 0.5 nearer than 0.25
    assert spread.typical_indices(entropies, levels, 1, 99) == [0, 1, 3, 6, 2, 4]
    assert spread.typical_indices(entropies, levels, 2, 3) == [5]
    with pytest.raises(ValueError):
        spread.typical_indices(entropies, levels, 3, 1)
