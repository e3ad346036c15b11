"""What goes into a report's pictures: the panels of each image's figure and the two charts.

Turns records and summaries into encoded image bytes via ``render`` (pixels) and ``plots``
(charts); knows nothing about files or pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from reportgen.errors import ReportgenError
from reportgen.methods import panels as named_maps
from reportgen.methods import registry, spread
from reportgen.methods.base import COLOURS, GRID, PANEL
from reportgen.methods.features import FEATURES
from reportgen.methods.norms import NORMS
from reportgen.methods.probe import PROBE_MAP
from reportgen.publish import plots, render
from reportgen.record import ImageRecord

NORMALISATIONS = ("panel", "shared")


@dataclass(frozen=True)
class FigureStyle:
    """How overlays look; part of a report's parameters."""

    colormap: str = "jet"
    alpha: float = 0.5
    image_format: str = "webp"
    quality: int = 35  # WebP quality of the figures (see render.encode_image)
    panel_size: int = 160
    normalise: str = "panel"  # "panel": each overlay min-max; "shared": one scale per image

    # What 0.1 did for style fields its manifests do not record.
    LEGACY_DEFAULTS: ClassVar[dict[str, str]] = {"normalise": "panel"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FigureStyle:
        return cls(**{**cls.LEGACY_DEFAULTS, **data})

    @property
    def extension(self) -> str:
        return render.FORMAT_EXTENSIONS[self.image_format]


def panels(record: ImageRecord, normalise: str = "panel") -> list[render.Panel]:
    """The overlays of one figure: L1..LN, then the record's other maps in the registry's order
    (max, min, mean, rollout, relevance, the plugins'); see :func:`named_panels`."""
    return list(named_panels(record, normalise).values())


def named_panels(record: ImageRecord, normalise: str = "panel") -> dict[str, render.Panel]:
    """The overlays of one figure by map name (``L1``..``LN`` for the layers).

    ``shared`` puts the layers and the maps of CLS attention (max/min/mean: the methods of
    ``panel`` scale) on one colour scale per image, so a flat layer looks flat; rollout and
    relevance have other units and keep their own min-max. Layer panels outline that layer's
    artifact patches. The token norms, when the record has them, are the panels N1..NN, each
    on its own scale; the feature view is drawn in its own colours.
    """
    stored = record.maps
    layers = np.asarray(stored[named_maps.LAYERS], dtype=np.float64)
    mask = record.artifact_mask
    shared = (float(layers.min()), float(layers.max())) if normalise == "shared" else None
    result = {
        f"L{number}": render.Panel(
            f"L{number}", layer, shared, None if mask is None else mask[number - 1]
        )
        for number, layer in enumerate(layers, start=1)
    }
    for method in registry.grid_methods():
        if method.name in stored:
            scale = shared if method.scale == PANEL else None
            result[method.name] = render.Panel(method.label(record), stored[method.name], scale)
    for method in registry.methods().values():
        if method.kind == COLOURS and method.name in stored:
            result[method.name] = render.Panel(method.label(record), stored[method.name])
    for number, norms in enumerate(stored.get(NORMS, ()), start=1):
        result[f"N{number}"] = render.Panel(f"N{number}", norms)
    return result


def _attention(record: ImageRecord) -> str:
    """What the layer maps are: the CLS rows, or (a model without a CLS token, which has a
    probe map) the attention each patch receives."""
    return "received attention" if PROBE_MAP in record.maps else "CLS attention"


def colorbar(record: ImageRecord, normalise: str) -> render.Colorbar:
    """What the colours of this image's figure mean."""
    outlined = record.artifact_mask is not None and bool(record.artifact_mask.any())
    note = "; framed in layer panels: artifact patches" if outlined else ""
    if normalise == "shared":
        layers = record.maps[named_maps.LAYERS]
        methods = registry.methods().values()
        on_one_scale = [
            method.name
            for method in methods
            if method.scale == PANEL and method.name in record.maps
        ]
        own_scale = [
            method.name
            for method in methods
            if method.scale != PANEL
            and (method.kind == GRID or (method.kind != COLOURS and method.name in record.maps))
        ]
        return render.Colorbar(
            f"{float(layers.min()):.3g}",
            f"{float(layers.max()):.3g}",
            f"{_attention(record)}: {', '.join(on_one_scale)} on one scale; "
            f"{', '.join(own_scale)}: own min-max{note}",
        )
    return render.Colorbar("min", "max", f"each panel from its own minimum to its maximum{note}")


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int


def _encoded(image, style: FigureStyle) -> EncodedImage:
    return EncodedImage(render.encode_image(image, style.image_format, style.quality), *image.size)


def figure_picture(record: ImageRecord, style: FigureStyle) -> Image.Image:
    """The figure of one image, not yet encoded: the input as the model saw it, then every
    overlay."""
    return render.compose_figure(
        record.seen_image,
        panels(record, style.normalise),
        cmap=style.colormap,
        alpha=style.alpha,
        panel_size=style.panel_size,
        colorbar=colorbar(record, style.normalise),
    )


def image_figure(record: ImageRecord, style: FigureStyle) -> EncodedImage:
    """The figure of one image, encoded as ``style`` says (what a report publishes)."""
    return _encoded(figure_picture(record, style), style)


GALLERY_THUMBNAIL = 160  # longer side of the thumbnails of gallery pages, in pixels
INDEX_THUMBNAIL = 320  # longer side of a report's thumbnail on the archive index


def thumbnail(
    record: ImageRecord, spread_map: np.ndarray, style: FigureStyle, max_side: int = INDEX_THUMBNAIL
) -> EncodedImage:
    """A small overlay of the map the levels use (for the archive index and the galleries)."""
    overlay = render.overlay(record.seen_image, spread_map, style.colormap, style.alpha)
    return _encoded(render.thumbnail(overlay, max_side), style)


SPRITE_PANEL = 96  # longer side of a sprite's panels at most, in pixels
# A sprite's pixels and WebP/JPEG quality at most: a gallery page of 200 thumbnails keeps within
# 3 MB with every sprite loaded (measured in docs/outputs.md), whatever the model's depth.
SPRITE_PIXELS = 16 * 48 * 48
SPRITE_QUALITY = 50


def sprite_labels(
    layers: int, token_views: bool = False, norm_layer: int | None = None
) -> list[str]:
    """The panels of a sprite, left to right: L1..LN, then the maps every report has (max, min,
    mean, rollout, and the plugins' that need no gradients), in the registry's order; then, in
    a report with the token views, the token norms of the layer the artifact score reads
    (``--norm-layer``; by default the last, ``NN``, where high-norm artifact tokens stand out)
    and the feature view: one panel each, so the strip stays small."""
    always = [method.name for method in registry.grid_methods() if not method.optional]
    views = [f"N{norm_layer or layers}", FEATURES] if token_views else []
    return [f"L{number}" for number in range(1, layers + 1)] + always + views


def has_token_views(record: ImageRecord) -> bool:
    """Whether the record has the token norms and the feature view (methods.norms, features)."""
    return NORMS in record.maps and FEATURES in record.maps


def sprite_panel_side(panels: int, image_hw: tuple[int, int]) -> int:
    """Longer side of a sprite's panels: the strip within :data:`SPRITE_PIXELS` (deeper models
    get smaller panels), at most :data:`SPRITE_PANEL`, and never larger than the image."""
    return min(SPRITE_PANEL, math.isqrt(SPRITE_PIXELS // panels), max(image_hw))


def sprite(record: ImageRecord, style: FigureStyle, norm_layer: int | None = None) -> EncodedImage:
    """Every layer's overlay, then max, min, mean and rollout, and one layer's token norms (the
    last, or ``norm_layer``) and the feature view where the record has them
    (:func:`sprite_labels`), side by side (no artifact frames): what the report-wide control
    switches thumbnails and figures to. Small and coarse on purpose (see :data:`SPRITE_PIXELS`):
    the control is an overview, the figures and the explorer show the detail."""
    layers = len(record.maps[named_maps.LAYERS])
    labels = sprite_labels(layers, has_token_views(record), norm_layer)
    drawn = named_panels(record, style.normalise)
    missing = [label for label in labels if label not in drawn]
    if missing:  # a plugin installed after the analysis: every sprite must show the same maps
        raise ReportgenError(
            f"{record.name} has no {', '.join(missing)} map (a method installed after the "
            "analysis): analyse the images again"
        )
    strip = render.strip(
        record.seen_image,
        [replace(drawn[label], outline=None) for label in labels],
        cmap=style.colormap,
        alpha=style.alpha,
        panel_size=sprite_panel_side(len(labels), record.seen_image.shape[:2]),
    )
    return _encoded(strip, replace(style, quality=min(style.quality, SPRITE_QUALITY)))


def charts(
    entropies: Sequence[float],
    layer_entropies: np.ndarray,
    levels: Sequence[int],
    colours: Sequence[str],
) -> dict[str, bytes]:
    """The report's two SVG charts: entropy histogram with level boundaries, entropy by depth."""
    values = np.asarray(entropies)
    level_array = np.asarray(levels)
    return {
        "entropy-histogram.svg": plots.entropy_histogram(
            values, spread.level_boundaries(values, level_array), colours
        ),
        "entropy-by-layer.svg": plots.layer_entropy_plot(layer_entropies, level_array),
    }
