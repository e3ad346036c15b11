"""Max, min and mean: for every patch, the largest, smallest and average of the layer maps.

The min compares each layer in units of its own peak (:func:`maps.relative_to_peak`): in plain
attention the flattest layers, where every patch gets about a uniform share, are the smallest
almost everywhere, so the min followed their position-bound pattern instead of the patches
every layer attends to. It is taken over the layers rollout multiplies: a minimum follows its
weakest layer, and the early layers rollout leaves out (``--rollout-start-layer``) point at the
object least often (layer 1 of DINOv2-S alone: 0.33). Pointing game, tuning split, objects of
48-96 px: 0.58 plain, 0.90 relative to each peak, 0.94 from rollout's start on (docs/maps.md).
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
average attention over the {{{{ report.model.layers }}}} layer maps.
{{% if report.relative_min %}}For the smallest, each layer map is first divided by its
{PEAK_PERCENTILE:g}th percentile over the patches, so that each layer counts in units of its own
peak: otherwise the flattest layers, which
give every patch about the same share, would be the smallest almost everywhere and decide the
map.{{% if report.min_from_rollout_start and report.rollout_start_layer %}} The smallest is taken
over layers {{{{ report.rollout_start_layer + 1 }}}} to {{{{ report.model.layers }}}} only, the
layers rollout multiplies: a minimum follows its weakest layer, and the early layers rollout
leaves out are the weakest at pointing at what the image shows.{{% endif %}}{{% endif %}}
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
    description = (
        "for every patch, the smallest over the layer maps rollout multiplies, each relative to "
        "its peak"
    )
    scale = OWN  # in units of each layer's peak, not attention
    # It needs rollout's start layer, which a maps file does not record beside the layer maps:
    # the file keeps it (format 6 on) instead of recomputing it.
    recomputed = False
    half = True  # in units of each layer's peak, about [0, 1]: float16 (format 7 on)

    def compute(self, inputs: MapInputs, maps: Mapping[str, np.ndarray]) -> np.ndarray:
        return aggregate(relative_to_peak(maps[LAYERS][inputs.rollout.start_layer :]), self.name)

    @staticmethod
    def as_made_before_format_6(layer_maps: np.ndarray, relative: bool) -> np.ndarray:
        """The min of a maps file before format 6, which did not keep it, as that file meant
        it: over every layer, each relative to its peak (``relative``: format 5) or the plain
        minimum (before)."""
        return aggregate(relative_to_peak(layer_maps) if relative else layer_maps, "min")

    def spread_words(self, rollout_start_layer: int) -> str:
        layers = f", from layer {rollout_start_layer + 1} on" if rollout_start_layer else ""
        return (
            "the min over layers of the CLS attention (heads averaged, each layer relative to "
            f"its peak{layers})"
        )


class Mean(Aggregate):
    name = "mean"
    description = "for every patch, the average attention over the layer maps"
