"""The named maps a report shows for one image, after artifact handling. Pure numpy, no I/O.

Every figure, entropy, level and outside check reads these same arrays, which the results store
keeps under their names: ``layers`` (layers, gh, gw), then ``max``, ``min``, ``mean`` (over the
layers), ``rollout`` and, when computed, ``relevance`` (each gh, gw).
"""

from __future__ import annotations

import numpy as np

from reportgen.methods import artifacts
from reportgen.methods.maps import AGGREGATES, aggregate

LAYERS = "layers"
ROLLOUT = "rollout"
RELEVANCE = "relevance"
AGGREGATE_NAMES = (*AGGREGATES, ROLLOUT, RELEVANCE)  # the one-grid maps, in panel order


def report_maps(
    layer_maps: np.ndarray,
    rollout_map: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    rollout_start_layer: int = 0,
    relevance: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The named maps of one image, float64.

    With an artifact ``mask`` (bool, layers x gh x gw), each layer map is filled at its own
    masked patches before max, min and mean are taken over layers, and rollout is filled at
    the patches masked in any layer it multiplies (``rollout_start_layer`` onwards). Relevance
    is kept as computed: its gradient weighting already discounts attention that does not move
    the class logit.
    """
    layers = np.asarray(layer_maps, dtype=np.float64)
    rollout = np.asarray(rollout_map, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        layers = artifacts.fill_layers(layers, mask)
        rollout = artifacts.fill_masked(rollout, mask[rollout_start_layer:].any(axis=0))
    named = {LAYERS: layers, **{how: aggregate(layers, how) for how in AGGREGATES}}
    named[ROLLOUT] = rollout
    if relevance is not None:
        named[RELEVANCE] = np.asarray(relevance, dtype=np.float64)
    return named
