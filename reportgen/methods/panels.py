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
    maps made from the layer maps alone are recomputed (in float64, then as ``dtype``). A file
    before format 6 did not keep ``min``: it is recomputed as that file meant it, over every
    layer, each relative to its peak (format 5) or, ``relative_min`` False, the plain minimum
    (before 5), so that a report published before keeps its maps when it is re-rendered."""
    layers = np.asarray(stored[LAYERS], dtype=np.float64)
    named: dict[str, np.ndarray] = {}
    for name, method in registry.methods().items():
        if name in stored:
            named[name] = stored[name]
        elif method.recomputed:
            named[name] = method.compute(None, {LAYERS: layers}).astype(dtype)
        elif name == Min.name:
            named[name] = Min.as_made_before_format_6(layers, relative_min).astype(dtype)
    return named
