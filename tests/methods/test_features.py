"""The feature view: principal components of the last layer's tokens, as colours."""

import numpy as np
import pytest

from reportgen.methods import features
from reportgen.methods.base import MapInputs


def tokens(seed: int, count: int = 64, dims: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.linspace(5, 0.5, dims)  # distinct variances: the components are well defined
    return rng.normal(0, 1, (count, dims)) * scales + rng.normal(0, 3, dims)


@pytest.mark.parametrize("count", [64, 8])  # more tokens than dimensions (a report's), fewer
def test_the_components_equal_numpys_svd_up_to_sign(count):
    given = tokens(0, count=count)
    mean, components = features.principal_components(given)
    np.testing.assert_allclose(mean, given.mean(axis=0))
    _, _, rows = np.linalg.svd(given - given.mean(axis=0))
    for component, row in zip(components, rows[:3], strict=True):
        assert np.allclose(component, row) or np.allclose(component, -row)
        assert component[np.abs(component).argmax()] > 0  # the sign is fixed


def test_colours_are_the_scaled_projections():
    given = tokens(1)
    basis = features.fit_basis(given)
    projected = (given - basis.mean) @ basis.components.T
    np.testing.assert_allclose(basis.low, np.percentile(projected, 1, axis=0))
    np.testing.assert_allclose(basis.high, np.percentile(projected, 99, axis=0))
    colours = features.colours(given, basis)
    assert colours.shape == (3, 64) and colours.min() == 0.0 and colours.max() == 1.0
    expected = np.clip((projected.T - basis.low[:, None]) / (basis.high - basis.low)[:, None], 0, 1)
    np.testing.assert_allclose(colours, expected)


def test_a_report_basis_colours_every_image_alike():
    """Per report, the same token gets the same colour in every image; per image, not."""
    first, second = tokens(2, count=16), tokens(3, count=16)
    second[0] = first[0]
    shared = features.fit_basis(np.concatenate([first, second]))

    def view(values, basis=None):
        inputs = MapInputs(1, (4, 4), None, None, tokens=values, feature_basis=basis)
        return features.Features().compute(inputs, {}).reshape(3, 16)

    np.testing.assert_array_equal(view(first, shared)[:, 0], view(second, shared)[:, 0])
    assert not np.allclose(view(first)[:, 0], view(second)[:, 0])
    assert view(first).shape == (3, 16)


def test_a_basis_round_trips_through_its_arrays():
    basis = features.fit_basis(tokens(4))
    again = features.FeatureBasis.from_arrays(basis.to_arrays())
    for name in ("mean", "components", "low", "high"):
        np.testing.assert_array_equal(getattr(again, name), getattr(basis, name))
