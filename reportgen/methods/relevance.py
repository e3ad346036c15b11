"""Class-specific relevance (Chefer, Gur & Wolf, ICCV 2021): the propagation rule, pure numpy.

The gradients come from the model (``reportgen.analysis.relevance``); here only eq. 6 of
"Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder
Transformers" (arXiv 2103.15679), which turns per-layer gradient-weighted attention into a map,
and the method the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods.base import GRADIENTS, OWN, MapInputs, MapMethod
from reportgen.methods.maps import check_tokens
from reportgen.record import ImageRecord

RELEVANCE = "relevance"
LABEL_CHARS = 24  # a panel's title at most


def relevance_map(weighted: np.ndarray, n_prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """The CLS token's relevance to each patch: float64 shaped ``grid``, not rescaled.

    ``weighted`` is (layers, T, T): per layer, first to last, A_bar = mean over heads of
    (grad_A * A) clipped at 0 (eq. 5). R starts as the identity and every layer adds
    A_bar @ R (eq. 6). The first ``n_prefix`` tokens are CLS (index 0) plus any distillation or
    register tokens; the rest are the patches of ``grid = (grid_h, grid_w)`` in row-major order.
    """
    weighted = np.asarray(weighted, dtype=np.float64)
    if weighted.ndim != 3 or weighted.shape[-1] != weighted.shape[-2]:
        raise ValueError(f"weighted attention must be (layers, T, T), got {weighted.shape}")
    check_tokens(weighted.shape[-1], n_prefix, grid)
    relevance = np.eye(weighted.shape[-1])
    for layer in weighted:
        relevance = relevance + layer @ relevance
    return relevance[0, n_prefix:].reshape(grid)


class Relevance(MapMethod):
    """The class relevance map, made only with ``--relevance``. It is kept as computed when
    artifacts are masked: its gradient weighting already discounts attention that does not move
    the class logit."""

    name = RELEVANCE
    description = "class-specific relevance (Chefer, Gur and Wolf, 2021)"
    inputs = (GRADIENTS,)
    scale = OWN
    bullet = """\
{% if report.params.get("relevance") %}
{% set target = report.params.get("target_class") %}
{% call m.item() %}
{{ m.strong("Relevance") }}
({{ m.link("Chefer, Gur and Wolf, 2021", "https://arxiv.org/abs/2103.15679") }}) is specific to a
class: {{ "the class named in each panel" if not target else "class " ~ m.code(target|text) }}.
Each layer's attention is weighted by the gradient of that class's logit, negative parts are
clipped, heads are averaged, and relevance is propagated from the first layer to the last
(R ← R + Ā R); the map is the {{ m.code("CLS") }} row of R.
{% endcall %}
{% endif %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        return relevance_map(inputs.gradients, inputs.n_prefix, inputs.grid)

    def label(self, record: ImageRecord) -> str:
        """``relevance: CLASS``, shortened to fit a panel."""
        label = f"relevance: {record.relevance_target}" if record.relevance_target else "relevance"
        if len(label) <= LABEL_CHARS:
            return label
        return label[: LABEL_CHARS - 1].rstrip() + "…"

    def spread_words(self, rollout_start_layer: int) -> str:
        return "the class-specific relevance map"
