"""The layer maps: per layer, the CLS token's attention to the patches, heads averaged (for a
model without a CLS token, the stand-in of :func:`reportgen.analysis.extract.reduce_attention`:
the mean attention each patch receives)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods import artifacts
from reportgen.methods.base import CLS_ROWS, LAYERED, MapInputs, MapMethod

LAYERS = "layers"


class LayerMaps(MapMethod):
    """The one map per layer that every other CLS-attention map is made from: (layers, gh, gw),
    each layer filled at its own artifact patches when they are masked. Figures show it as the
    panels L1..LN; ``--spread-by layer:K`` picks one of them."""

    name = LAYERS
    description = "per layer, the CLS attention to the patches, heads averaged"
    inputs = (CLS_ROWS,)
    kind = LAYERED
    half = True  # in [0, 1]: float16 keeps it within 4.9e-4 of its peak
    bullet = """\
{% set patches = report.model.grid[0] * report.model.grid[1] %}
{% set heads = report.model.heads %}
{% call m.item() %}
{% if report.model.pooling == "attention pool" %}
{{ m.strong("Which attention?") }} An attention matrix scores every pair of tokens. This model
has no {{ m.code("CLS") }} token, so no row speaks for the image: each layer's map stands in
with the mean attention each of the {{ patches }} image patches receives from all tokens (the
mean of each column), which says which patches the layer's tokens draw on. The pooling head's
own attention is the probe map.
{% else %}
{{ m.strong("Which attention?") }} An attention matrix scores every pair of tokens. The maps show
one row of it: the attention of the {{ m.code("CLS") }} token to the {{ patches }} image patches
(the columns of the prefix tokens are left out).
{% endif %}
{% endcall %}
{% call m.item() %}
{{ m.strong("Which head?") }} Each layer has {{ heads }} heads; the map of a layer is the mean
of its heads' maps.
{% endcall %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        layers = np.asarray(inputs.cls_heads).astype(np.float64).mean(axis=1)
        return layers if inputs.mask is None else artifacts.fill_layers(layers, inputs.mask)
