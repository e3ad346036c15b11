"""The named maps a report shows for one image, after artifact handling. Pure numpy, no I/O.

Every figure, entropy, level and outside check reads these same arrays, which the results store
keeps under their names: ``layers`` (layers, gh, gw), then one (gh, gw) map per method of the
registry (:mod:`reportgen.methods.registry`), in its order: ``max``, ``min``, ``mean``,
``rollout``, ``relevance`` when computed, then the plugins'.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reportgen.methods import registry
from reportgen.methods.aggregates import Min
from reportgen.methods.base import MapInputs
from reportgen.methods.layers import LAYERS
from reportgen.methods.maps import aggregate
from reportgen.methods.relevance import RELEVANCE
from reportgen.methods.rollout import ROLLOUT

__all__ = ["LAYERS", "RELEVANCE", "ROLLOUT", "complete", "report_maps"]


def report_maps(inputs: MapInputs) -> dict[str, np.ndarray]:
    """The named maps of one image, float64, by every method whose inputs it has.

    With an artifact ``mask`` in the inputs, each layer map is filled at its own masked patches
    before max, min and mean are taken over layers, and rollout is filled at the patches masked
    in any layer it multiplies.
    """
    available = inputs.available()
    named: dict[str, np.ndarray] = {}
    for name, method in registry.methods().items():
        if set(method.inputs) <= available:
            named[name] = np.asarray(method.compute(inputs, named), dtype=np.float64)
    return named


def complete(
    stored: Mapping[str, np.ndarray], dtype: type = np.float64, relative_min: bool = True
) -> dict[str, np.ndarray]:
    """The named maps from those a maps file keeps (``layers`` and the others it stores): the
    maps made from the layer maps alone are recomputed (in float64, then as ``dtype``).
    ``relative_min`` False: ``min`` as maps files before format 5 meant it, the plain minimum
    over the layer maps (today's takes each layer relative to its peak: methods.aggregates),
    so that a report published before keeps its maps when it is re-rendered."""
    layers = np.asarray(stored[LAYERS], dtype=np.float64)
    named: dict[str, np.ndarray] = {}
    for name, method in registry.methods().items():
        if name in stored:
            named[name] = stored[name]
        elif name == Min.name and not relative_min:
            named[name] = aggregate(layers, Min.name).astype(dtype)
        elif method.recomputed:
            named[name] = method.compute(None, {LAYERS: layers}).astype(dtype)
    return named
