"""Attention rollout (Abnar & Zuidema 2020): the attention followed through the layers.

The maths is :func:`reportgen.methods.maps.rollout_fused`; this is the map the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods import artifacts
from reportgen.methods.base import ATTENTION, OWN, MapInputs, MapMethod
from reportgen.methods.maps import rollout_fused

ROLLOUT = "rollout"


class Rollout(MapMethod):
    """The CLS row of the product of the head-fused layers (a model without a CLS token: its
    pooling head's probe attention times the product). With artifacts masked, it is filled at
    the patches masked in any layer it multiplies (the start layer onwards)."""

    name = ROLLOUT
    description = "the attention followed through the layers (Abnar and Zuidema, 2020)"
    inputs = (ATTENTION,)
    scale = OWN
    half = True  # in [0, 1]: float16 keeps it within 4.9e-4 of its peak
    bullet = """\
{% set start = report.rollout_start_layer %}
{% set pooled = not report.model.has_cls %}
{% set attended = "received" if pooled else m.code("CLS") %}
{% set discard = report.params["discard_ratio"] %}
{% call m.item() %}
{{ m.strong("Attention rollout") }}
({{ m.link("Abnar and Zuidema, 2020", "https://arxiv.org/abs/2005.00928") }}) follows the
attention through the layers: in each layer the heads are fused by their
{{ report.params["head_fusion"]|text }}{% if discard %}, a fraction {{ discard|param_value|text }}
of the lowest attention weights is discarded{% endif %}, the identity is added for the residual
connection (½ A + ½ I) and the rows are normalised; the matrices of layers {{ start + 1 }} to
{{ report.model.layers }} are multiplied, and the map is {% if pooled -%}
the pooling head's probe attention (heads averaged) times the product: the probe's attention
followed back through the layers.
{% else %}the {{ m.code("CLS") }} row of the product.
{% endif %}
{% if report.rollout_auto and start %}It starts after layer {{ start }}: chosen automatically,
because in this model's first layers artifact patches take a large share of the
{{ attended }} attention, and rollout would multiply those spikes through every later
layer.{% elif report.rollout_auto %}It uses every layer: the automatic check found no early
layer dominated by artifact patches.{% endif %}
{% endcall %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        options = inputs.rollout
        rollout = rollout_fused(
            inputs.attention,
            inputs.n_prefix,
            inputs.grid,
            options.discard_ratio,
            options.start_layer,
            query=inputs.probe,
        )
        if inputs.mask is None:
            return rollout
        return artifacts.fill_masked(rollout, inputs.mask[options.start_layer :].any(axis=0))

    def spread_words(self, rollout_start_layer: int) -> str:
        start = f", starting after layer {rollout_start_layer}" if rollout_start_layer else ""
        return f"attention rollout{start}"
