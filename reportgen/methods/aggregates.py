"""Max, min and mean: for every patch, the largest, smallest and average of the layer maps.

The min compares each layer in units of its own peak (:func:`maps.relative_to_peak`): in plain
attention the flattest layers, where every patch gets about a uniform share, are the smallest
almost everywhere, so the min followed their position-bound pattern instead of the patches
every layer attends to (pointing game, tuning split, objects of 48-96 px: 0.58 before, 0.90
after; see docs/maps.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods.base import LAYER_MAPS, OWN, MapInputs, MapMethod
from reportgen.methods.layers import LAYERS
from reportgen.methods.maps import PEAK_PERCENTILE, aggregate, relative_to_peak


class Aggregate(MapMethod):
    """One aggregate of the layer maps over the layers; made from them alone, so the maps file
    does not keep it."""

    inputs = (LAYER_MAPS,)
    bullet = f"""\
{{% call m.item() %}}
{{{{ m.strong("Max, min and mean") }}}} take, for every patch, the largest, the smallest and the
average attention over the {{{{ report.model.layers }}}} layer maps.{{% if report.relative_min %}}
For the smallest, each layer map is first divided by its {PEAK_PERCENTILE:g}th percentile over the
patches, so that each layer counts in units of its own peak: otherwise the flattest layers, which
give every patch about the same share, would be the smallest almost everywhere and decide the
map.{{% endif %}}
{{% endcall %}}
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
    description = "for every patch, the smallest over the layer maps, each relative to its peak"
    scale = OWN  # in units of each layer's peak, not attention

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        return aggregate(relative_to_peak(maps[LAYERS]), self.name)

    def spread_words(self, rollout_start_layer: int) -> str:
        return (
            "the min over layers of the CLS attention (heads averaged, each layer relative to "
            "its peak)"
        )


class Mean(Aggregate):
    name = "mean"
    description = "for every patch, the average attention over the layer maps"
