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

from reportgen.methods import panels as named_maps
from reportgen.methods import spread
from reportgen.publish import plots, render
from reportgen.record import ImageRecord

AGGREGATE_PANELS = ("max", "min", "mean")
NORMALISATIONS = ("panel", "shared")
RELEVANCE_LABEL_CHARS = 24


@dataclass(frozen=True)
class FigureStyle:
    """How overlays look; part of a report's parameters."""

    colormap: str = "jet"
    alpha: float = 0.5
    image_format: str = "webp"
    quality: int = 80
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
    """The overlays of one figure: L1..LN, then max, min, mean, rollout and relevance.

    ``shared`` puts the layers and max/min/mean (all CLS attention) on one colour scale per
    image, so a flat layer looks flat; rollout and relevance have other units and keep their
    own min-max. Layer panels outline that layer's artifact patches.
    """
    stored = record.maps
    layers = np.asarray(stored[named_maps.LAYERS], dtype=np.float64)
    mask = record.artifact_mask
    shared = (float(layers.min()), float(layers.max())) if normalise == "shared" else None
    result = [
        render.Panel(f"L{number}", layer, shared, None if mask is None else mask[number - 1])
        for number, layer in enumerate(layers, start=1)
    ]
    result += [render.Panel(how, stored[how], shared) for how in AGGREGATE_PANELS]
    result.append(render.Panel(named_maps.ROLLOUT, stored[named_maps.ROLLOUT]))
    if named_maps.RELEVANCE in stored:
        result.append(render.Panel(relevance_label(record), stored[named_maps.RELEVANCE]))
    return result


def relevance_label(record: ImageRecord) -> str:
    """``relevance: CLASS``, shortened to fit a panel."""
    label = f"relevance: {record.relevance_target}" if record.relevance_target else "relevance"
    if len(label) <= RELEVANCE_LABEL_CHARS:
        return label
    return label[: RELEVANCE_LABEL_CHARS - 1].rstrip() + "…"


def colorbar(record: ImageRecord, normalise: str) -> render.Colorbar:
    """What the colours of this image's figure mean."""
    outlined = record.artifact_mask is not None and bool(record.artifact_mask.any())
    note = "; framed in layer panels: artifact patches" if outlined else ""
    if normalise == "shared":
        layers = record.maps[named_maps.LAYERS]
        return render.Colorbar(
            f"{float(layers.min()):.3g}",
            f"{float(layers.max()):.3g}",
            "CLS attention: layers, max, min, mean on one scale; "
            f"rollout, relevance: own min-max{note}",
        )
    return render.Colorbar("min", "max", f"each panel from its own minimum to its maximum{note}")


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int


def _encoded(image, style: FigureStyle) -> EncodedImage:
    return EncodedImage(render.encode_image(image, style.image_format, style.quality), *image.size)


def image_figure(record: ImageRecord, style: FigureStyle) -> EncodedImage:
    """The figure of one image: the input as the model saw it, then every overlay."""
    figure = render.compose_figure(
        record.seen_image,
        panels(record, style.normalise),
        cmap=style.colormap,
        alpha=style.alpha,
        panel_size=style.panel_size,
        colorbar=colorbar(record, style.normalise),
    )
    return _encoded(figure, style)


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
# 3 MB with every sprite loaded (measured in the README), whatever the model's depth.
SPRITE_PIXELS = 16 * 48 * 48
SPRITE_QUALITY = 50
SPRITE_MAPS = (*AGGREGATE_PANELS, named_maps.ROLLOUT)  # after the layers, in this order


def sprite_labels(layers: int) -> list[str]:
    """The panels of a sprite, left to right: L1..LN, max, min, mean, rollout."""
    return [f"L{number}" for number in range(1, layers + 1)] + list(SPRITE_MAPS)


def sprite_panel_side(panels: int, image_hw: tuple[int, int]) -> int:
    """Longer side of a sprite's panels: the strip within :data:`SPRITE_PIXELS` (deeper models
    get smaller panels), at most :data:`SPRITE_PANEL`, and never larger than the image."""
    return min(SPRITE_PANEL, math.isqrt(SPRITE_PIXELS // panels), max(image_hw))


def sprite(record: ImageRecord, style: FigureStyle) -> EncodedImage:
    """Every layer's overlay, then max, min, mean and rollout, side by side (no artifact frames):
    what the report-wide control switches thumbnails and figures to. Small and coarse on purpose
    (see :data:`SPRITE_PIXELS`): the control is an overview, the figures and the explorer show
    the detail."""
    labels = sprite_labels(len(record.maps[named_maps.LAYERS]))
    drawn = panels(record, style.normalise)
    chosen = {panel.label: replace(panel, outline=None) for panel in drawn}
    strip = render.strip(
        record.seen_image,
        [chosen[label] for label in labels],
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
