"""The probe map: where the attention-pooling head of a model without a CLS token looks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods import artifacts
from reportgen.methods.base import PROBE, MapInputs, MapMethod

PROBE_MAP = "probe"


class Probe(MapMethod):
    """The pooling head's probe attention to the patches, heads averaged: the final map of a
    model that pools with an attention head (SigLIP), as the last layer's CLS row is of a CLS
    model. With artifacts masked, it is filled at the last layer's masked patches."""

    name = PROBE_MAP
    description = "the attention-pooling head's probe attention to the patches, heads averaged"
    inputs = (PROBE,)
    bullet = """\
{% if report.model.pooling == "attention pool" %}
{% call m.item() %}
{{ m.strong("The pooling head") }} ({{ m.code("probe") }}): this model has no
{{ m.code("CLS") }} token; its embedding is pooled by an attention head whose learnt query, the
probe, attends to the last layer's tokens. That attention to the patches, its heads averaged,
is the probe map: the model's own answer to which patches make the embedding.
{% endcall %}
{% endif %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        probe = np.asarray(inputs.probe, dtype=np.float64)[inputs.n_prefix :]
        probe = probe.reshape(inputs.grid)
        return probe if inputs.mask is None else artifacts.fill_masked(probe, inputs.mask[-1])

    def spread_words(self, rollout_start_layer: int) -> str:
        return "the attention-pooling head's probe attention (heads averaged)"
