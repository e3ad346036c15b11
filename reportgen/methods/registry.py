"""The map methods, by name, in the order the report shows them: the built-in ones, then the
plugins of the ``reportgen.methods`` entry point (looked up once, on first use).

Everything that names maps reads this: the analysis (what it computes), the maps file (what it
keeps and what it recomputes on reading), the figures (panels, labels, colour scales, sprites),
``--spread-by`` (its choices), "How the maps are made" (each method's bullet) and the cache
keys (each method's module).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from reportgen import plugins
from reportgen.methods.aggregates import Max, Mean, Min
from reportgen.methods.base import GRID, INPUTS, SCALES, MapMethod
from reportgen.methods.features import Features
from reportgen.methods.layers import LayerMaps
from reportgen.methods.norms import TokenNorms
from reportgen.methods.probe import Probe
from reportgen.methods.relevance import Relevance
from reportgen.methods.rollout import Rollout

BUILT_IN: dict[str, MapMethod] = {
    method.name: method
    for method in (
        LayerMaps(),
        Max(),
        Min(),
        Mean(),
        Rollout(),
        Relevance(),
        Probe(),
        TokenNorms(),
        Features(),
    )
}
# Names a plugin cannot take: the other entries of a maps file, the random baseline of the
# faithfulness scores and the ``layer:K`` choice of ``--spread-by``.
RESERVED = (
    "meta",
    "seen_image",
    "seen_image_webp",
    "cls_heads",
    "cls_heads_range",
    "artifact_mask",
    "random",
    "layer",
)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
RANGE_SUFFIX = "_range"  # a maps file keeps the range of an 8-bit map under NAME_range
# The modules the methods build on, besides their own: part of the cache keys.
SHARED_MODULES = ("methods.base", "methods.registry", "methods.maps", "methods.artifacts")


def _checked(name: str, loaded: Any) -> MapMethod:
    """A plugin's method (a :class:`MapMethod` subclass or instance), or why it is refused."""
    method = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(method, MapMethod):
        raise TypeError(f"{type(method).__name__} is not a reportgen.methods.base.MapMethod")
    if getattr(method, "name", None) != name:
        raise ValueError(f"its method is named {getattr(method, 'name', None)!r}, not {name!r}")
    if not _NAME.fullmatch(name) or name.endswith(RANGE_SUFFIX):
        raise ValueError(
            f"a method's name is lower-case letters, digits and _, not ending {RANGE_SUFFIX}"
        )
    if not isinstance(method.description, str) or "\n" in method.description:
        raise ValueError("its description must be one line of text")
    if not method.inputs or not set(method.inputs) <= set(INPUTS):
        raise ValueError(f"its inputs must be some of {', '.join(INPUTS)}")
    if method.scale not in SCALES:
        raise ValueError(f"its scale must be one of {', '.join(SCALES)}")
    if method.kind != GRID or method.bits is not None:
        raise ValueError("a plugin's map is one float32 grid (kind grid, bits None)")
    return method


@functools.cache
def methods() -> dict[str, MapMethod]:
    """Every map method by name: ``layers`` first, the plugins last."""
    found = plugins.discover(plugins.METHODS, taken=(*BUILT_IN, *RESERVED), check=_checked)
    return {**BUILT_IN, **found}


def grid_methods() -> list[MapMethod]:
    """The methods that make one (gh, gw) map per image (not ``layers``, ``norms`` or
    ``features``), in panel order."""
    return [method for method in methods().values() if method.kind == GRID]


def grid_maps(maps: dict[str, Any]) -> dict[str, Any]:
    """The maps of a record that are one grid each (:func:`grid_methods`), in panel order."""
    return {method.name: maps[method.name] for method in grid_methods() if method.name in maps}


def stored_names() -> list[str]:
    """The maps the maps file keeps; the others are recomputed from the layer maps on reading."""
    return [name for name, method in methods().items() if not method.recomputed]


def code_modules() -> list[str]:
    """The modules whose code makes the maps, for cache keys: what the methods build on, then
    each method's module (dotted, below the ``reportgen`` package for the built-in ones)."""
    own = [type(method).__module__.removeprefix("reportgen.") for method in methods().values()]
    return list(dict.fromkeys([*SHARED_MODULES, *own]))


def bullets() -> dict[str, str]:
    """The "How the maps are made" bullets by template name, ``methods/NAME.j2``, in registry
    order; a bullet that methods share (max, min and mean) once, named after the first."""
    by_text: dict[str, str] = {}
    for name, method in methods().items():
        by_text.setdefault(method.bullet, f"methods/{name}.j2")
    return {template: text for text, template in by_text.items() if text}
