"""Max, min and mean: for every patch, the largest, smallest and average of the layer maps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods.base import LAYER_MAPS, MapInputs, MapMethod
from reportgen.methods.layers import LAYERS
from reportgen.methods.maps import aggregate


class Aggregate(MapMethod):
    """One aggregate of the layer maps over the layers; made from them alone, so the maps file
    does not keep it."""

    inputs = (LAYER_MAPS,)
    bullet = """\
{% call m.item() %}
{{ m.strong("Max, min and mean") }} take, for every patch, the largest, the smallest and the
average attention over the {{ report.model.layers }} layer maps.
{% endcall %}
"""

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        return aggregate(maps[LAYERS], self.name)

    def spread_words(self, rollout_start_layer: int) -> str:
        return f"the {self.name} over layers of the CLS attention (heads averaged)"


class Max(Aggregate):
    name = "max"
    description = "for every patch, the largest attention over the layer maps"


class Min(Aggregate):
    name = "min"
    description = "for every patch, the smallest attention over the layer maps"


class Mean(Aggregate):
    name = "mean"
    description = "for every patch, the average attention over the layer maps"
