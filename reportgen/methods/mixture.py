"""Two populations in one sample: a two-component Gaussian mixture, fitted by EM in numpy, its
bimodality test and the crossover between its components. Pure numpy, no I/O.

The token-norm artifact rule (:mod:`reportgen.methods.norms`) fits it to the log-norms of a
layer's patch tokens, as vit-xray does after Darcet et al. (ICLR 2024): the high-norm tokens
are a second population, with no hard-coded cutoff.

Bimodal means both (stated tests, so a skewed or heavy-tailed single population is not split):

1. the Bayesian information criterion prefers two components to one:
   BIC(2) < BIC(1), with BIC = k ln(n) - 2 ln L (k = 5 parameters against 2);
2. the components are well separated: Ashman's D = sqrt(2) |mu1 - mu2| / sqrt(s1^2 + s2^2)
   is at least ``ASHMAN_D`` (2; D > 2 is the usual threshold for a clean separation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ASHMAN_D = 2.0
ITERATIONS = 200
TOLERANCE = 1e-9
# Starting splits of EM (quantiles of the sample; the best likelihood wins): a minority of a few
# tokens starts from the top quantiles.
STARTS = (0.5, 0.9, 0.98)
SD_FLOOR = 1e-3  # of the sample's standard deviation: no component collapses onto one value


@dataclass(frozen=True)
class Mixture:
    """A fitted two-component mixture, components ordered by mean (low first)."""

    weights: tuple[float, float]
    means: tuple[float, float]
    sds: tuple[float, float]
    log_likelihood: float

    @property
    def ashman_d(self) -> float:
        """Separation of the components in pooled standard deviations (Ashman et al. 1994)."""
        spread = np.sqrt(self.sds[0] ** 2 + self.sds[1] ** 2)
        return float(np.sqrt(2.0) * abs(self.means[1] - self.means[0]) / spread)


def _log_densities(values: np.ndarray, means, sds, weights) -> np.ndarray:
    """(2, n) log of weight x normal density of each value under each component."""
    means, sds, weights = (
        np.asarray(item, dtype=np.float64)[:, None] for item in (means, sds, weights)
    )
    return (
        np.log(weights)
        - np.log(sds)
        - 0.5 * np.log(2 * np.pi)
        - 0.5 * ((values - means) / sds) ** 2
    )


def _em(values: np.ndarray, split: float, floor: float) -> Mixture:
    """EM from the split of ``values`` at ``split``: below and above start the two components."""
    low, high = values[values <= split], values[values > split]
    means = np.array([low.mean(), high.mean()])
    sds = np.maximum([low.std(), high.std()], floor)
    weights = np.array([low.size, high.size], dtype=np.float64) / values.size
    previous = -np.inf
    for _ in range(ITERATIONS):
        log_joint = _log_densities(values, means, sds, weights)
        total = np.logaddexp(log_joint[0], log_joint[1])
        likelihood = float(total.sum())
        responsibilities = np.exp(log_joint - total)
        counts = responsibilities.sum(axis=1)
        if np.any(counts < 1e-9):  # a component emptied: one population
            break
        weights = counts / values.size
        means = (responsibilities @ values) / counts
        sds = np.maximum(
            np.sqrt((responsibilities * (values - means[:, None]) ** 2).sum(1) / counts), floor
        )
        if likelihood - previous < TOLERANCE * abs(likelihood):
            break
        previous = likelihood
    total = np.logaddexp(*_log_densities(values, means, sds, weights))
    order = np.argsort(means)
    return Mixture(
        tuple(float(w) for w in weights[order]),
        tuple(float(m) for m in means[order]),
        tuple(float(s) for s in sds[order]),
        float(total.sum()),
    )


def fit(values: np.ndarray) -> Mixture | None:
    """The two-component mixture of ``values`` with the best likelihood over :data:`STARTS`;
    None when the sample cannot hold two components (fewer than 4 values, or all equal)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 4 or not values.std() > 0:
        return None
    floor = SD_FLOOR * float(values.std())
    splits = {float(np.quantile(values, quantile)) for quantile in STARTS}
    fits = [_em(values, split, floor) for split in sorted(splits) if split < values.max()]
    return max(fits, key=lambda mixture: mixture.log_likelihood) if fits else None


def one_gaussian_log_likelihood(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64).ravel()
    sd = max(float(values.std()), 1e-300)
    return float(
        np.sum(-np.log(sd) - 0.5 * np.log(2 * np.pi) - 0.5 * ((values - values.mean()) / sd) ** 2)
    )


def is_bimodal(values: np.ndarray, mixture: Mixture | None) -> bool:
    """The two tests of the module doc: BIC prefers two components, and Ashman's D >= 2."""
    if mixture is None:
        return False
    n = np.asarray(values).size
    bic_one = 2 * np.log(n) - 2 * one_gaussian_log_likelihood(values)
    bic_two = 5 * np.log(n) - 2 * mixture.log_likelihood
    return bool(bic_two < bic_one and mixture.ashman_d >= ASHMAN_D)


def crossover(mixture: Mixture) -> float:
    """The value between the two means where both weighted densities are equal: above it a value
    more likely belongs to the high component. The midpoint when the curves do not cross there."""
    (w1, w2), (m1, m2), (s1, s2) = mixture.weights, mixture.means, mixture.sds
    a = 1 / (2 * s2**2) - 1 / (2 * s1**2)
    b = m1 / s1**2 - m2 / s2**2
    c = m2**2 / (2 * s2**2) - m1**2 / (2 * s1**2) + np.log(w1 * s2 / (w2 * s1))
    roots = [-c / b] if abs(a) < 1e-12 else np.roots([a, b, c])
    between = [
        float(np.real(root)) for root in roots if np.isreal(root) and m1 <= np.real(root) <= m2
    ]
    return between[0] if between else (m1 + m2) / 2
