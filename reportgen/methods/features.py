"""The feature view: the first three principal components of the last layer's patch tokens,
shown as RGB (the "what does the backbone see" picture of the DINO papers). Pure numpy, no I/O.

The components are fitted per report (``--pca per-report``, the default: once, on the tokens
of the report's first images, then kept by its rebuilds, so a colour means the same in every
image; see :mod:`reportgen.analysis.features`) or per image (``--pca per-image``). Each
component is scaled to [0, 1] between the 1st and 99th percentiles of the projections it was
fitted on (a few high-norm tokens do not wash out the rest) and clipped. Signs are fixed so the
largest loading of each component is positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from reportgen.methods.base import COLOURS, OWN, TOKENS, MapInputs, MapMethod

FEATURES = "features"
PCA_MODES = ("per-report", "per-image")
COMPONENTS = 3
PERCENTILES = (1.0, 99.0)


def principal_components(tokens: np.ndarray, k: int = COMPONENTS) -> tuple[np.ndarray, np.ndarray]:
    """The mean (D,) and the first ``k`` principal directions (k, D) of ``tokens`` (N, D), each
    signed so its largest loading is positive. Fewer tokens or dimensions than ``k``: the
    missing directions are zero. More tokens than dimensions (a report's): the eigenvectors of
    the centred tokens' (D, D) scatter matrix, which are the SVD's directions without its
    (N, D) left factor (64 images of ViT-B: a tenth of the SVD's time); else the SVD."""
    tokens = np.asarray(tokens, dtype=np.float64)
    mean = tokens.mean(axis=0)
    centred = tokens - mean
    if len(centred) > centred.shape[1]:
        _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
        directions = vectors[:, ::-1].T
    else:
        _, _, directions = np.linalg.svd(centred, full_matrices=False)
    directions = directions[:k]
    signs = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
    components = np.zeros((k, tokens.shape[1]))
    components[: len(directions)] = directions * np.where(signs == 0, 1.0, signs)[:, None]
    return mean, components


@dataclass(frozen=True)
class FeatureBasis:
    """Where the colours come from: tokens minus ``mean``, onto ``components``, scaled from
    ``low`` (0) to ``high`` (1) per component."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (3, D)
    low: np.ndarray  # (3,)
    high: np.ndarray  # (3,)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "components": self.components, "range": self.range}

    @property
    def range(self) -> np.ndarray:
        return np.stack([self.low, self.high], axis=-1)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> FeatureBasis:
        bounds = np.asarray(arrays["range"], dtype=np.float64)
        return cls(
            np.asarray(arrays["mean"], dtype=np.float64),
            np.asarray(arrays["components"], dtype=np.float64),
            bounds[:, 0],
            bounds[:, 1],
        )


def project(tokens: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The tokens (N, D) on the components: (k, N)."""
    return components @ (np.asarray(tokens, dtype=np.float64) - mean).T


def fit_basis(tokens: np.ndarray) -> FeatureBasis:
    """The basis of ``tokens`` (N, D): its principal components and their display range."""
    mean, components = principal_components(tokens)
    low, high = np.percentile(project(tokens, mean, components), PERCENTILES, axis=1)
    return FeatureBasis(mean, components, low, high)


def colours(tokens: np.ndarray, basis: FeatureBasis) -> np.ndarray:
    """The tokens (N, D) as colours in [0, 1]: (3, N), one row per channel."""
    projected = project(tokens, basis.mean, basis.components)
    span = np.where(basis.high > basis.low, basis.high - basis.low, 1.0)
    return np.clip((projected - basis.low[:, None]) / span[:, None], 0.0, 1.0)


class Features(MapMethod):
    """The first three principal components of the last layer's patch tokens as RGB,
    (3, gh, gw) in [0, 1]; stored 8-bit."""

    name = FEATURES
    description = "the first three principal components of the last layer's tokens, as RGB"
    inputs = (TOKENS,)
    scale = OWN
    kind = COLOURS
    bits = 8
    bullet = """\
{% if report.token_views %}
{% set per_image = report.params.get("pca") == "per-image" %}
{% set basis = report.feature_basis %}
{% call m.item() %}
{{ m.strong("Features") }}: the first three principal components of the last layer's patch
tokens, shown as red, green and blue (the picture of the DINO papers: patches the model
represents alike get alike colours). The components are fitted
{% if per_image %}on each image's own tokens, so colours are not comparable across images
{%- elif basis %}once for this report, on the {{ basis.tokens|number }} tokens of the
first {{ basis.images }} images of the build that made it, and kept by its rebuilds with the same
model (basis {{ m.code(basis.basis) }}), so a colour means the same in every image and an image
keeps its colours when images are added
{%- else %}on the tokens of the report's images together, so a colour means the same in every
image{% endif %}; each is scaled between its 1st and 99th percentiles.
{% endcall %}
{% endif %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        tokens = np.asarray(inputs.tokens, dtype=np.float64)
        basis = inputs.feature_basis or fit_basis(tokens)
        return colours(tokens, basis).reshape(COMPONENTS, *inputs.grid)
