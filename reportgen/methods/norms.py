"""The token-norm view: per layer, the L2 norm of every patch token, and the artifact score it
gives. Pure numpy, no I/O.

Darcet et al. ("Vision Transformers Need Registers", ICLR 2024) define artifact tokens by their
norm: a few patch tokens with norms far above the rest, which carry global information. The
norms are read from the model's hidden states (each layer's output, prefix tokens left out).
The artifact score of an image is the share of its patch tokens in the high-norm population of
:data:`SCORE_LAYER` (the last layer's output; ``--norm-layer`` picks another): a
two-component Gaussian mixture on the log-norms, thresholded at the crossover
(:mod:`reportgen.methods.mixture`). It is 0 unless the log-norms hold a high-norm population,
which means all of:

1. they are bimodal (the mixture module's two tests: BIC and Ashman's D >= 2);
2. the high component is the minority (weight under :data:`MINORITY`): artifacts are a few
   tokens, not the object or the background;
3. its tokens are far longer: its median norm is at least :data:`MIN_RATIO` times the other's
   (Darcet et al. see ten times; objects and background differ by far less).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods import mixture
from reportgen.methods.base import LAYERED, OWN, TOKEN_NORMS, MapInputs, MapMethod

NORMS = "norms"
SCORE_LAYER = -1  # the layer whose norms give the artifact score: the last
MINORITY = 0.5
MIN_RATIO = 2.0


def log_norms(norms: np.ndarray) -> np.ndarray:
    """Natural log of norms, float64; a zero norm (never seen in a real model) as the smallest
    positive one, so the log stays finite."""
    norms = np.asarray(norms, dtype=np.float64)
    positive = norms[norms > 0]
    floor = positive.min() if positive.size else 1.0
    return np.log(np.maximum(norms, floor))


def high_norm_tokens(norms: np.ndarray) -> np.ndarray:
    """Bool mask of the tokens in the high-norm population of one layer's norms (any shape):
    above the crossover of a two-component mixture on the log-norms; all False when there is no
    such population (see the module doc)."""
    values = log_norms(norms)
    fitted = mixture.fit(values)
    found = (
        mixture.is_bimodal(values, fitted)
        and fitted.weights[1] < MINORITY
        and fitted.means[1] - fitted.means[0] >= np.log(MIN_RATIO)
    )
    return values > mixture.crossover(fitted) if found else np.zeros(values.shape, dtype=bool)


def high_norm_layers(norms: np.ndarray) -> np.ndarray:
    """:func:`high_norm_tokens` layer by layer: bool, shaped as ``norms`` (layers, ...)."""
    return np.stack([high_norm_tokens(layer) for layer in np.asarray(norms)])


NORM_RULE = (
    "in the high-norm population of the layer's patch tokens: above the crossover of a "
    "two-component Gaussian mixture on the log-norms, bimodal (BIC, Ashman's D >= 2), a minority "
    f"with a median norm >= {MIN_RATIO:g}x the rest's"
)


def artifact_score(norms: np.ndarray, layer: int = SCORE_LAYER) -> float:
    """The share of patch tokens in the high-norm population of ``layer`` of ``norms``
    (layers, ...): 0 when its log-norms are not bimodal."""
    return float(high_norm_tokens(np.asarray(norms)[layer]).mean())


class TokenNorms(MapMethod):
    """Per layer, the L2 norm of each patch token of the layer's output (layers, gh, gw), as
    the model gave it: never masked (it is what the norm rule detects artifacts from). Stored
    8-bit per layer grid, as the heads are; figures show it as the row of panels N1..NN."""

    name = NORMS
    description = "per layer, the L2 norm of every patch token (Darcet et al., 2024)"
    inputs = (TOKEN_NORMS,)
    scale = OWN
    kind = LAYERED
    bits = 8
    bullet = """\
{% if report.token_views %}
{% set chosen = report.params.get("norm_layer") %}
{% set scored = "layer %d"|format(chosen) if chosen else "the last layer" %}
{% call m.item() %}
{{ m.strong("Token norms") }} (the panels N1 to N{{ report.model.layers }}): the length (L2 norm)
of every patch token as each layer outputs it. A few patches with far larger norms than the rest
are the artifact tokens of
{{ m.link("Darcet et al., 2024", "https://arxiv.org/abs/2309.16588") }}: they carry global
information, not their patch. The artifact score of an image is the share of its patches in the
high-norm population of {{ scored }}: a two-component Gaussian mixture fitted to the
log-norms, split where the two components are equally likely; 0 when the norms are not bimodal
(the Bayesian information criterion prefers one component, or the components overlap:
Ashman's D under 2).
{% if report.artifact_images %}Here {{ report.artifact_images|number }} of the
{{ report.n_images|number }} images score above 0; their scores are charted below, with the
spread across the images.
{% else %}Here every image scores 0, so no chart of the scores is drawn.
{% endif %}
{% endcall %}
{% endif %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        norms = np.asarray(inputs.norms, dtype=np.float64)
        return norms.reshape(norms.shape[0], *inputs.grid)
