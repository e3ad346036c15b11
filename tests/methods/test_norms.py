"""The token-norm view's artifact rule: a two-component mixture on the log-norms."""

import numpy as np
import pytest

from reportgen.methods import mixture, norms


def planted(seed: int, count: int = 256, high: int = 5, factor: float = 8.0) -> np.ndarray:
    """Log-normal token norms around 40 with ``high`` of them ``factor`` times longer."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(np.log(40.0), 0.15, count)
    values[rng.choice(count, high, replace=False)] *= factor
    return values


@pytest.mark.parametrize("seed", range(5))
def test_the_mixture_finds_exactly_the_planted_high_norm_tokens(seed):
    values = planted(seed)
    found = norms.high_norm_tokens(values)
    np.testing.assert_array_equal(found, values > 200)  # planted: 320 and more; the rest < 80
    assert norms.artifact_score(values[None]) == pytest.approx(5 / 256)


@pytest.mark.parametrize("seed", range(5))
def test_unimodal_norms_score_zero(seed):
    rng = np.random.default_rng(seed)
    for values in (
        rng.lognormal(np.log(40.0), 0.15, 256),  # one population
        rng.lognormal(np.log(40.0), 0.6, 256),  # one wide, skewed population
        np.exp(rng.standard_t(4, 256) * 0.1 + 3),  # heavy tails
    ):
        assert not norms.high_norm_tokens(values).any()
        assert norms.artifact_score(values[None]) == 0.0


def test_two_halves_of_similar_norms_are_no_artifacts():
    """Object and background: bimodal, but neither a minority nor far longer."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(30, 1, 128), rng.normal(45, 1, 128)])
    assert mixture.is_bimodal(np.log(values), mixture.fit(np.log(values)))
    assert norms.artifact_score(values[None]) == 0.0


def test_the_bimodality_tests_and_the_crossover():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1, 900), rng.normal(8, 1, 100)])
    fitted = mixture.fit(values)
    assert fitted.weights == pytest.approx((0.9, 0.1), abs=0.02)
    assert fitted.means == pytest.approx((0, 8), abs=0.2)
    assert fitted.ashman_d > 7 and mixture.is_bimodal(values, fitted)
    # equal variances: the crossover is where w1 N(x; 0, 1) = w2 N(x; 8, 1), 4 + ln(9) / 8
    equal = mixture.Mixture((0.9, 0.1), (0.0, 8.0), (1.0, 1.0), 0.0)
    assert mixture.crossover(equal) == pytest.approx(4 + np.log(9) / 8)
    overlapping = np.concatenate([rng.normal(0, 1, 500), rng.normal(1, 1, 500)])
    assert not mixture.is_bimodal(overlapping, mixture.fit(overlapping))  # Ashman's D < 2


def test_degenerate_samples_have_no_mixture():
    assert mixture.fit(np.ones(10)) is None
    assert mixture.fit(np.arange(3.0)) is None
    assert not norms.high_norm_tokens(np.full(16, 3.0)).any()
    assert norms.high_norm_layers(np.stack([planted(0), np.full(256, 2.0)])).sum(
        axis=1
    ).tolist() == [5, 0]
